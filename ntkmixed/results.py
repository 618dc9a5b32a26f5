"""The results class: ``NTKMixedLMResults`` (cf. statsmodels' ``MixedLMResults``).

Everything beyond the estimates is computed lazily, on first access.
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .reml import TauEstimate
from .summary import build_summary
from .vctest import TrainingTestResult, null_eigenvalues, training_test

if TYPE_CHECKING:
    from statsmodels.iolib.summary2 import Summary

    from .model import NTKMixedLM

# Step of full-batch gradient descent per unit of learning rate, relative to ½·mean:
# the loss's gradient in f is c·(f − y)/n times n for the sums (DESIGN §2).
_LOSS_FACTOR = {"half_mse": lambda n: 1.0, "mse": lambda n: 2.0,
                "half_sum": lambda n: float(n), "sum": lambda n: 2.0 * n}
_LOSS_LABEL = {"half_mse": "½·mean sq. error", "mse": "mean sq. error",
               "half_sum": "½·sum sq. error", "sum": "sum sq. error"}


class LearningRateWarning(UserWarning):
    """The learning rate is too large for continuous time to describe gradient descent."""


class NTKMixedLMResults:
    """Results of :meth:`NTKMixedLM.fit`.

    Attributes
    ----------
    model : NTKMixedLM
    tau : float
        Estimated training time τ̂ (0: no training warranted).
    scale : float
        Noise variance σ̂².
    llf : float
        Maximized (restricted) log-likelihood, lme4/statsmodels constants.
    converged : bool
        False when τ̂ is at the end of the search range.
    method : str
        "REML" or "ML".
    """

    def __init__(self, model: NTKMixedLM, estimate: TauEstimate, reml: bool = True) -> None:
        self.model = model
        self.estimate = estimate
        self.reml = reml
        self.method = "REML" if reml else "ML"
        pt = estimate.point
        self.tau = float(pt.tau)
        self.scale = float(pt.scale)
        self.llf = float(pt.llf)
        self.converged = bool(estimate.converged)
        self.nobs = model.nobs
        self.k_fe = model.k_fe
        self._point = pt

    # -- fixed effects -----------------------------------------------------------------
    @cached_property
    def fe_params(self) -> pd.Series:
        """Fixed-effect estimates β̂ (GLS at τ̂)."""
        return pd.Series(self._point.beta, index=self.model.exog_names, dtype=float)

    @property
    def params(self) -> pd.Series:
        """Fixed-effect estimates (τ and σ² are ``tau`` and ``scale``)."""
        return self.fe_params

    def cov_params(self) -> pd.DataFrame:
        """Covariance of β̂: σ̂²(XᵀV⁻¹X)⁻¹ at τ̂ (V relative to σ²), as statsmodels."""
        names = self.model.exog_names
        return pd.DataFrame(self._point.cov_beta, index=names, columns=names)

    @cached_property
    def bse_fe(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._point.cov_beta)), index=self.model.exog_names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params``."""
        return self.bse_fe

    @cached_property
    def tvalues(self) -> pd.Series:
        """Wald z statistics β̂/se."""
        return self.fe_params / self.bse_fe

    @cached_property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values of the Wald z statistics (as statsmodels' MixedLM)."""
        return pd.Series(2.0 * stats.norm.sf(np.abs(self.tvalues)), index=self.tvalues.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals for the fixed effects, columns 0 (lower) and 1 (upper)."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        q = stats.norm.isf(alpha / 2)
        lo = self.fe_params - q * self.bse_fe
        hi = self.fe_params + q * self.bse_fe
        return pd.DataFrame({0: lo, 1: hi})

    # -- random effect, fit and residuals --------------------------------------------
    @cached_property
    def _shrink(self) -> np.ndarray:
        """1 − e^{−τ̂λ}: how far training has moved each spectral component."""
        return -np.expm1(-self.tau * self.model.spectrum.values)

    @cached_property
    def random_effects(self) -> pd.Series:
        """BLUP ĝ = (I − e^{−τ̂H})(y − o − Xβ̂): the network trained for τ̂ on the residual."""
        s = self.model.spectrum
        g = s.vectors @ (self._shrink * self._point.resid_rot)
        return pd.Series(g, index=self.model.data_index, name="ntk")

    @cached_property
    def fittedvalues(self) -> pd.Series:
        """Xβ̂ + o + ĝ (conditional on the random effect, as statsmodels)."""
        m = self.model
        fit = m.exog @ self._point.beta + m.offset + self.random_effects.to_numpy()
        return pd.Series(fit, index=m.data_index, name="fitted")

    @cached_property
    def resid(self) -> pd.Series:
        """y − fitted values."""
        r = self.model.endog - self.fittedvalues.to_numpy()
        return pd.Series(r, index=self.model.data_index, name="resid")

    @cached_property
    def edf(self) -> float:
        """Effective degrees of freedom: trace of the hat matrix of Xβ̂ + ĝ.

        edf(τ) = Σ(1 − e^{−τλᵢ}) + tr(A⁻¹X̃ᵀD⁻²X̃) = Σ(1 − sᵢ) + Σ sᵢhᵢ with sᵢ = e^{−τλᵢ}.
        """
        s = 1.0 - self._shrink
        return float(self._shrink.sum() + s @ self._point.leverage)

    @cached_property
    def signal_var(self) -> float:
        """Empirical variance of the BLUP ĝ (ddof=0), the variance the network explains."""
        return float(np.var(self.random_effects.to_numpy()))

    @cached_property
    def signal_share(self) -> float:
        """var(ĝ)/(var(ĝ) + σ̂²)."""
        return self.signal_var / (self.signal_var + self.scale)

    # -- information criteria ----------------------------------------------------------
    @property
    def df_modelwc(self) -> int:
        """Parameters counted by AIC/BIC under ML: β, σ² and τ."""
        return self.k_fe + 2

    @property
    def aic(self) -> float:
        """Akaike's criterion (ML fits only; NaN under REML, as statsmodels)."""
        if self.reml:
            warnings.warn("AIC is not defined for a REML fit (as in statsmodels); "
                          "refit with reml=False", UserWarning, stacklevel=2)
            return math.nan
        return -2.0 * self.llf + 2.0 * self.df_modelwc

    @property
    def bic(self) -> float:
        """Schwarz's criterion (ML fits only; NaN under REML, as statsmodels)."""
        if self.reml:
            warnings.warn("BIC is not defined for a REML fit (as in statsmodels); "
                          "refit with reml=False", UserWarning, stacklevel=2)
            return math.nan
        return -2.0 * self.llf + math.log(self.nobs) * self.df_modelwc

    # -- training time in epochs ---------------------------------------------------------
    def default_lr(self, loss: str = "half_mse") -> float:
        """η = 0.1/(c·λ_max): the largest learning rate at which continuous time describes
        full-batch gradient descent well (c = 1, 2, n, 2n for the losses of :meth:`epochs`)."""
        c = _loss_factor(loss, self.nobs)
        return 0.1 / (c * self.model.spectrum.lam_max)

    def epochs(self, lr: float | None = None, loss: str = "half_mse") -> float:
        """Epochs of full-batch gradient descent equal to the training time τ̂.

        Parameters
        ----------
        lr : float, optional
            Learning rate η; default :meth:`default_lr`.
        loss : {"half_mse", "mse", "half_sum", "sum"}
            ½·mean((f − y)²) (the model's convention: τ = η·epochs), mean, ½·sum, sum.

        Returns
        -------
        float
            τ̂/(c·η) with c = 1, 2, n, 2n.

        Warns
        -----
        LearningRateWarning
            When c·η·λ_max > 0.1 (the discrete steps then differ from continuous time).

        Raises
        ------
        ValueError
            When c·η·λ_max ≥ 2: gradient descent diverges.
        """
        c = _loss_factor(loss, self.nobs)
        if lr is None:
            lr = self.default_lr(loss)
        lr = float(lr)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        step = c * lr * self.model.spectrum.lam_max
        if step >= 2:
            raise ValueError(
                f"learning rate {lr:g} diverges: {_LOSS_LABEL[loss]} gradient descent needs "
                f"c·η·λ_max < 2, here {step:.3g} (λ_max(H) = {self.model.spectrum.lam_max:.4g})"
            )
        if step > 0.1:
            warnings.warn(
                f"c·η·λ_max = {step:.3g} > 0.1: continuous training time describes the "
                "discrete gradient-descent steps poorly at this learning rate",
                LearningRateWarning, stacklevel=2,
            )
        return self.tau / (c * lr)

    # -- the training test ---------------------------------------------------------------
    @cached_property
    def _null_eigenvalues(self) -> np.ndarray:
        return null_eigenvalues(self.model.spectrum, self.model.exog)

    @cached_property
    def _ols_resid(self) -> np.ndarray:
        m = self.model
        y = m.endog - m.offset
        if m.k_fe == 0:
            return y
        q, _ = np.linalg.qr(m.exog)
        return y - q @ (q.T @ y)

    def test_training(self, method: str = "exact") -> TrainingTestResult:
        """Test H₀: τ = 0 — is training the network warranted at all?

        Parameters
        ----------
        method : {"exact", "saddlepoint", "satterthwaite"}
            "exact": the finite-sample null distribution of T, a weighted sum of χ²₁ with
            weights of both signs, by characteristic-function inversion (DESIGN §3);
            "saddlepoint": Kuonen's approximation to it; "satterthwaite": the paper's
            P(κχ²_ν > T/2), which treats σ² as known.
        """
        cache = self.__dict__.setdefault("_tests", {})
        if method not in cache:
            r = self._ols_resid
            cache[method] = training_test(
                r, self.model.spectrum.rotate(r), self.model.spectrum,
                self._null_eigenvalues, method=method,
            )
        return cache[method]

    # -- reporting -----------------------------------------------------------------------
    def summary(self, alpha: float = 0.05, title: str | None = None) -> Summary:
        """A statsmodels ``Summary``: prints as text, ``as_html()`` and ``as_latex()``."""
        return build_summary(self, alpha=alpha, title=title)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __repr__(self) -> str:
        return (
            f"<NTKMixedLMResults: {self.method}, τ̂ = {self.tau:.4g}, σ̂² = {self.scale:.4g}, "
            f"llf = {self.llf:.4f}>"
        )


def _loss_factor(loss: str, n: int) -> float:
    if loss not in _LOSS_FACTOR:
        raise ValueError(f"loss must be one of {sorted(_LOSS_FACTOR)}, got {loss!r}")
    return _LOSS_FACTOR[loss](n)
