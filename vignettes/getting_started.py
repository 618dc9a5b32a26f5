# %% [markdown]
# # Getting started with ntkmixed
#
# How long should a network train, and should it train at all? ntkmixed answers both with
# a linear mixed model: the network trained for time τ (learning rate × epochs) is exactly the
# BLUP of a random effect with covariance σ²(e^{τH} − I), H = Θ/n its neural tangent kernel.
# REML estimates τ; a score test asks whether τ > 0.
#
# Run with `python vignettes/getting_started.py` (or open it as a notebook with jupytext).

# %%
import ntkmixed
from ntkmixed import NTKMixedLM
from ntkmixed.datasets import load_penguins

penguins = load_penguins()

# %% [markdown]
# Species and sex enter as fixed effects; the three body measurements feed a 3-hidden-layer
# ReLU network of width 512 (the defaults). Rows with missing values are dropped and counted.

# %%
model = NTKMixedLM.from_formula(
    "body_mass_g ~ C(sex) + C(species)"
    " + ntk(bill_length_mm, bill_depth_mm, flipper_length_mm, arch='mlp3', seed=0)",
    penguins,
)
result = model.fit()  # REML
print(result.summary())

# %% [markdown]
# ## Is training warranted?
# The exact finite-sample test of H₀: τ = 0, and the paper's Satterthwaite approximation,
# which treats σ² as known and is far too small in the tail.

# %%
exact = result.test_training()
print(exact)
print(result.test_training("satterthwaite"))

# %% [markdown]
# ## How long to train?
# τ̂ is in units of learning rate × epochs for full-batch gradient descent on ½·mean squared
# error. At η = 0.01 that is τ̂/0.01 epochs; other losses rescale it (mean squared error
# doubles the gradient, so the same τ takes half the epochs at the same η).

# %%
print(f"tau = {result.tau:.4g}")
print(f"epochs at lr=0.01 (½·MSE): {result.epochs(0.01):.1f}")
print(f"epochs at lr=0.005 (MSE):  {result.epochs(0.005, loss='mse'):.1f}")

# %% [markdown]
# ## Compared with ordinary least squares
# The fixed effects keep their meaning; the network absorbs the non-linear signal in the
# measurements, and its BLUP is available as `random_effects`.

# %%
print(result.fe_params.round(2))
print(f"signal variance {result.signal_var:.0f}, noise variance {result.scale:.0f}, "
      f"edf {result.edf:.1f}")
print(f"ntkmixed {ntkmixed.__version__}")
