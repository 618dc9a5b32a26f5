"""Inference for papers (issue 3): RLRT, the stopping-time interval, fixed-effect tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import statsmodels.api as sm
from scipy import optimize, stats

from ntkmixed import NTKMixedLM
from ntkmixed.datasets import load_sleepstudy
from ntkmixed.kernels import build_mlp, layerwise_ntk
from ntkmixed.vctest import simulate_rlrt_null

from conftest import boundary_problem, sim_size


@pytest.fixture(scope="module")
def sleep():
    d = load_sleepstudy()
    Z = pd.get_dummies(d["Subject"]).to_numpy(float)
    model = NTKMixedLM.from_formula("Reaction ~ Days", d, kernel=Z @ Z.T)
    return d, Z, model


def _crainiceanu_ruppert(X, Z, nsim, rng):
    """RLRT null draws for y = Xβ + Zb + ε, b ~ N(0, λσ²I), from Crainiceanu & Ruppert's
    (2004) spectral form: sup_λ (n−p)·log(Σw²/D(λ)) − Σ log(1 + λμ_s),
    D(λ) = Σ_{s≤K} w_s²/(1 + λμ_s) + Σ_{s>K} w_s², μ the eigenvalues of ZᵀP₀Z."""
    n, p = X.shape
    P0 = np.eye(n) - X @ np.linalg.solve(X.T @ X, X.T)
    mu = np.linalg.eigvalsh(Z.T @ P0 @ Z)
    mu = mu[mu > 1e-9 * mu.max()]
    K = mu.size
    w2 = rng.standard_normal((n - p, nsim)) ** 2
    total = w2.sum(axis=0)
    best = np.zeros(nsim)
    for lam in np.geomspace(1e-5, 1e5, 4000):
        D = (w2[:K] / (1 + lam * mu[:, None])).sum(axis=0) + w2[K:].sum(axis=0)
        best = np.maximum(best, (n - p) * np.log(total / D) - np.log1p(lam * mu).sum())
    return best


def test_rlrt_null_matches_crainiceanu_ruppert_in_the_random_intercept_case(sleep):
    # With H = ZZᵀ balanced, e^{τH} = I + λZZᵀ (λ = (e^{10τ} − 1)/10), so the RLRT null
    # distribution is the one of R's RLRsim. Two independent Monte Carlo samples of 20 000:
    # tail probabilities agree within 4.5 binomial SE; the point mass at 0 likewise.
    _, Z, model = sleep
    prof = model.profile()
    _, X_rot = model._rotated
    ours = simulate_rlrt_null(model.spectrum.values, X_rot, prof.grid(), 20_000,
                              np.random.default_rng(1))
    ref = _crainiceanu_ruppert(model.exog, Z, 20_000, np.random.default_rng(2))
    for q in (0.0, 0.5, 1.5, 3.0, 6.0):
        p1, p2 = (ours > q).mean(), (ref > q + 1e-9).mean()
        se = np.sqrt(p1 * (1 - p1) / 20_000 + p2 * (1 - p2) / 20_000)
        assert abs(p1 - p2) < 4.5 * se + 1e-4, (q, p1, p2)
    assert 0.5 < (ours == 0).mean() < 0.6  # the point mass exceeds the asymptotic ½


def test_rlrt_simulation_matches_full_fits_from_the_model(rng):
    # The batched REML profile of the simulation against complete fits by the package on
    # data simulated under H₀ (β ≠ 0, σ² ≠ 1): two-sample KS and the point mass at zero.
    n = 40
    z = rng.uniform(-2, 2, size=(n, 1))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    H = layerwise_ntk(build_mlp(1, depth=2, width=64, activation="tanh", seed=1), z) / n
    reps = 300
    fits = np.empty(reps)
    for i in range(reps):
        y = X @ [3.0, -1.0] + 2.5 * rng.normal(size=n)
        res = NTKMixedLM(y, X, kernel=H).fit()
        fits[i] = 2 * (res.llf - res.estimate.llf_zero)
    model = NTKMixedLM(y, X, kernel=H)
    _, X_rot = model._rotated
    sims = simulate_rlrt_null(model.spectrum.values, X_rot, model.profile().grid(), 20_000,
                              np.random.default_rng(9))
    assert stats.ks_2samp(fits, sims).pvalue > 1e-3
    se = np.sqrt(0.25 / reps)
    assert abs((fits < 1e-10).mean() - (sims == 0).mean()) < 4.5 * se
    # the public method returns the observed statistic and a Monte Carlo p-value
    test = res.test_training("rlrt", nsim=5000, seed=3)
    assert test.statistic == pytest.approx(fits[-1], abs=1e-10)
    expect = (np.count_nonzero(test.null_draws >= test.statistic - 1e-9) + 1) / 5001
    assert test.pvalue == pytest.approx(expect)
    mix = res.test_training("rlrt_mixture")
    if test.statistic > 0:
        assert mix.pvalue == pytest.approx(0.5 * stats.chi2.sf(test.statistic, 1))


def _dense_profile(y, X, H, tau):
    """REML profile by dense linear algebra (as in test_reml)."""
    n, p = X.shape
    E = scipy.linalg.expm(tau * H)
    Ei = np.linalg.inv(E)
    A = X.T @ Ei @ X
    r = y - X @ np.linalg.solve(A, X.T @ Ei @ y)
    s2 = r @ Ei @ r / (n - p)
    return -0.5 * ((n - p) * (1 + np.log(2 * np.pi * s2)) + np.linalg.slogdet(E)[1]
                   + np.linalg.slogdet(A)[1])


def test_tau_interval_endpoints_solve_the_profile_equation(rng):
    n = 50
    z = rng.uniform(-2, 2, size=(n, 2))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    H = layerwise_ntk(build_mlp(2, depth=2, width=64, activation="tanh", seed=2), z) / n
    lam, U = np.linalg.eigh(H)
    tau0 = 6.0 / lam[-1]  # data from the model itself, signal well above the noise
    y = X @ [1.0, 1.0] + 0.5 * (U * np.sqrt(np.exp(tau0 * np.clip(lam, 0, None)))) @ rng.normal(
        size=n)
    res = NTKMixedLM(y, X, kernel=H).fit()
    lo, hi = res.conf_int_tau(0.05)
    crit = stats.chi2.isf(0.05, 1)
    l_hat = _dense_profile(y, X, H, res.tau)
    assert 0 < lo < res.tau < hi
    for t in (lo, hi):
        assert 2 * (l_hat - _dense_profile(y, X, H, t)) == pytest.approx(crit, abs=1e-6)
    assert res.conf_int_tau(0.01)[0] < lo and res.conf_int_tau(0.01)[1] > hi
    assert np.allclose(res.epochs(0.01, tau=[lo, hi]), np.array([lo, hi]) / 0.01)


def test_tau_interval_at_the_boundary_is_one_sided(rng):
    y, X, H = boundary_problem(rng)
    res = NTKMixedLM(y, X, kernel=H).fit()
    assert res.tau == 0.0
    lo, hi = res.conf_int_tau(0.05)
    assert lo == 0.0 and hi > 0
    # the boundary cut-off χ²₁,₀.₉₀ (the 50:50 mixture's 95 % point)
    drop = 2 * (res.llf - res.model.loglike(hi))
    assert drop == pytest.approx(stats.chi2.isf(0.10, 1), abs=1e-6)


@pytest.mark.slow
def test_tau_interval_coverage_by_simulation():
    # Data simulated from the model (n = 60, 2 fixed effects, τ₀ = 0.5) with a kernel whose
    # spectrum spreads over [0.05, 5], so that many components inform τ: the 95 % profile
    # interval's coverage. CI: 400 replicates; full (NTKMIXED_FULL=1): 4000 replicates gave
    # 0.949. With an NTK whose spectrum has only ~3 large eigenvalues, τ is informed by
    # ~3 components and the interval under-covers (0.91 at n = 60 and at n = 200, 300–400
    # replicates): likelihood asymptotics need many informative components.
    rng = np.random.default_rng(5)
    n = 60
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.geomspace(0.05, 5, n)
    H = (U * lam) @ U.T
    tau0 = 0.5
    root = U * np.sqrt(np.exp(tau0 * lam))  # V^{1/2} with σ² = 1
    reps = sim_size(400, 4000)
    cover = 0
    for _ in range(reps):
        y = X @ [1.0, -1.0] + root @ rng.normal(size=n)
        lo, hi = NTKMixedLM(y, X, kernel=H).fit().conf_int_tau(0.05)
        cover += lo <= tau0 <= hi
    rate = cover / reps
    assert abs(rate - 0.95) < 3.5 * np.sqrt(0.95 * 0.05 / reps)


def test_spectral_decorrelation(rng):
    n = 50
    z = rng.uniform(-2, 2, size=(n, 1))
    H = layerwise_ntk(build_mlp(1, depth=2, width=64, activation="tanh", seed=5), z) / n
    y = np.sin(2 * z[:, 0]) + 0.3 * rng.normal(size=n)
    for X in (None, np.column_stack([np.ones(n), z[:, 0]])):
        for reml in (True, False):
            model = NTKMixedLM(y, X, kernel=H)
            res = model.fit(reml=reml)
            assert res.estimate.boundary is None
            assert abs(res.spectral_decorrelation) < 1e-8
            off = model.fit(reml=reml, tau=3 * res.tau)
            assert abs(off.spectral_decorrelation) > 1e-3
    # without fixed effects it is the plain correlation of λ and ℓᵢ(τ̂) (the paper's form)
    res = NTKMixedLM(y, None, kernel=H).fit()
    lam = res.model.spectrum.values
    loss = (res.model.spectrum.rotate(y)) ** 2 * np.exp(-res.tau * lam)
    assert abs(np.corrcoef(lam, loss)[0, 1]) < 1e-8


def test_satterthwaite_df_equal_classical_anova_values(sleep):
    # Balanced random intercept: Days is a within-subject contrast, ν = 180 − 18 − 1 = 161;
    # the intercept mixes the between and within mean squares, and Satterthwaite's classical
    # formula gives ν = (a·MSb + b·MSw)²/((a·MSb)²/17 + (b·MSw)²/161) = 22.81 (lmerTest
    # prints 22.81 for lmer(Reaction ~ Days + (1|Subject))).
    d, _, model = sleep
    res = model.fit(use_t=True)
    ybar_i = d.groupby("Subject")["Reaction"].transform("mean")
    msb = 10 * ((d.groupby("Subject")["Reaction"].mean() - d["Reaction"].mean()) ** 2).sum() / 17
    dd = d["Days"] - 4.5
    b1 = (dd * (d["Reaction"] - ybar_i)).sum() / (dd**2).sum()
    msw = ((d["Reaction"] - ybar_i - b1 * dd) ** 2).sum() / 161
    a, b = 1 / 180, 4.5**2 / (18 * (dd[:10] ** 2).sum())
    nu = (a * msb + b * msw) ** 2 / ((a * msb) ** 2 / 17 + (b * msw) ** 2 / 161)
    assert res.df_satterthwaite["Days"] == pytest.approx(161, rel=1e-9)
    assert res.df_satterthwaite["Intercept"] == pytest.approx(nu, rel=1e-8)
    assert nu == pytest.approx(22.81, abs=0.005)
    t = res.tvalues
    assert np.allclose(res.pvalues, 2 * stats.t.sf(np.abs(t), res.df_satterthwaite))
    assert "P>|t|" in res.summary().as_text() and "df" in res.summary().as_text()


def test_contrasts_reduce_to_ols_at_tau_zero(rng):
    # At τ held at 0 the model is OLS: t_test and wald_test (use_t) must equal statsmodels'.
    n = 40
    X = sm.add_constant(pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)}))
    y = X @ [1.0, 0.5, -0.2] + rng.normal(size=n)
    H = layerwise_ntk(build_mlp(2, depth=1, width=16, activation="relu", seed=0),
                      rng.normal(size=(n, 2))) / n
    ours = NTKMixedLM(y, X, kernel=H).fit(tau=0.0, use_t=True)
    ols = sm.OLS(y, X).fit()
    assert np.allclose(ours.df_satterthwaite, n - 3)
    for r in ("a = 0.3", "a - b = 0", "2*a + b = 1"):
        t1, t2 = ours.t_test(r), ols.t_test(r)
        assert np.allclose(t1.tvalue, t2.tvalue) and np.allclose(t1.pvalue, t2.pvalue)
        assert np.allclose(t1.conf_int(), t2.conf_int())
    w1, w2 = ours.wald_test("a = 0, b = 0"), ols.f_test("a = 0, b = 0")
    assert np.isclose(w1.fvalue, w2.fvalue) and np.isclose(w1.pvalue, w2.pvalue)
    assert w1.df_denom == pytest.approx(n - 3)
    z = ours.wald_test("a = 0, b = 0", use_t=False)
    assert np.isclose(z.statistic, 2 * w2.fvalue)
    assert np.isclose(z.pvalue, stats.chi2.sf(2 * w2.fvalue, 2))


def test_contrast_syntax_and_errors(sleep):
    _, _, model = sleep
    res = model.fit()
    single = res.t_test("Days")
    assert np.isclose(single.tvalue[0, 0] if np.ndim(single.tvalue) == 2 else single.tvalue,
                      res.tvalues["Days"])
    assert single.c_names == ["Days"]
    arr = res.t_test(np.array([[0.0, 1.0]]))
    assert np.allclose(arr.effect, res.fe_params["Days"])
    shifted = res.t_test(([0.0, 1.0], 10.0))
    assert np.allclose(shifted.effect - 10.0, res.fe_params["Days"] - 10.0)
    assert np.allclose(np.ravel(shifted.tvalue),
                       (res.fe_params["Days"] - 10) / res.bse_fe["Days"])
    with pytest.raises(ValueError, match="cannot read the contrast"):
        res.t_test("Nights = 0")
    with pytest.raises(ValueError, match="3 columns but the model has 2"):
        res.t_test(np.ones((1, 3)))
    with pytest.raises(ValueError, match="fixed"):
        model.fit(tau=0.1).conf_int_tau()


def test_stopping_time_interval_brackets_the_estimate_on_real_data(sleep):
    _, _, model = sleep
    res = model.fit()
    lo, hi = res.conf_int_tau()
    assert lo < res.tau < hi
    # the sleepstudy group variance σ²(e^{10τ} − 1)/10 at the limits equals the group
    # variance's profile-likelihood interval: the same profile ℓ_R at the same points
    f = optimize.brentq(lambda t: 2 * (res.llf - model.loglike(t)) - stats.chi2.isf(0.05, 1),
                        res.tau, 10 * res.tau)
    assert hi == pytest.approx(f, rel=1e-9)
