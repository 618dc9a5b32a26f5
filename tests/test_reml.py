"""Spectral REML/ML against dense formulas, statsmodels' MixedLM and the stopping equation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import statsmodels.formula.api as smf
import torch
from scipy import optimize

from ntkmixed import ConvergenceWarning, NTKMixedLM
from ntkmixed.datasets import load_mcycle, load_sleepstudy
from ntkmixed.kernels import build_mlp, jacobian_ntk

from conftest import boundary_problem


def _small_problem(rng, n=40, p=3):
    z = rng.uniform(-2, 2, size=(n, 2))
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    net = build_mlp(2, depth=2, width=64, activation="tanh", seed=11)
    H = jacobian_ntk(net, z) / n
    y = X @ np.arange(1, p + 1) + np.sin(2 * z[:, 0]) * 1.5 + rng.normal(scale=0.5, size=n)
    return y, X, H


def _dense_reml(y, X, H, tau, reml=True):
    """Profile (restricted) log-likelihood by dense linear algebra with V = σ²·expm(τH),
    σ² maximized numerically: a check that shares no code or formula shortcut with ntkmixed."""
    n, p = X.shape
    E = scipy.linalg.expm(tau * H)
    Einv = np.linalg.inv(E)
    A = X.T @ Einv @ X
    beta = np.linalg.solve(A, X.T @ Einv @ y)
    r = y - X @ beta
    q = r @ Einv @ r
    logdet_e = np.linalg.slogdet(E)[1]
    logdet_a = np.linalg.slogdet(A)[1]

    def negll(log_s2):
        s2 = np.exp(log_s2)
        k = n - p if reml else n
        val = k * np.log(2 * np.pi * s2) + logdet_e + q / s2
        if reml:
            # log|V| + log|XᵀV⁻¹X| = n·log σ² + log|E| + log|A| − p·log σ²
            val += logdet_a
        return 0.5 * val

    res = optimize.minimize_scalar(negll, bounds=(-30, 30), method="bounded",
                                   options={"xatol": 1e-12})
    return -res.fun, np.exp(res.x), beta


@pytest.mark.parametrize("reml", [True, False])
def test_profile_likelihood_matches_dense_formula(rng, reml):
    y, X, H = _small_problem(rng)
    model = NTKMixedLM(y, X, kernel=H)
    for tau in [0.0, 0.1, 0.3, 1.0, 2.0]:  # λ_max(H) ≈ 6
        ll_dense, s2_dense, beta_dense = _dense_reml(y, X, H, tau, reml)
        res = model.fit(reml=reml, tau=tau)
        # dense expm/inverse at these τ·λ_max ≤ 12 is good to ~1e-11 relative
        assert res.llf == pytest.approx(ll_dense, rel=1e-9, abs=1e-9)
        assert res.scale == pytest.approx(s2_dense, rel=1e-7)
        assert np.allclose(res.fe_params, beta_dense, rtol=1e-8, atol=1e-10)


def test_score_is_derivative_of_likelihood(rng):
    y, X, H = _small_problem(rng)
    model = NTKMixedLM(y, X, kernel=H)
    for reml in (True, False):
        for tau in [0.05, 1.0, 7.0]:
            h = 1e-5 * tau
            fd = (model.loglike(tau + h, reml) - model.loglike(tau - h, reml)) / (2 * h)
            # central differences: error O(h²) plus round-off ~1e-16·|ℓ|/h
            assert model.score(tau, reml) == pytest.approx(fd, rel=1e-6, abs=1e-7)


def test_reml_maximum_matches_generic_optimizer(rng):
    y, X, H = _small_problem(rng)
    res = NTKMixedLM(y, X, kernel=H).fit()
    assert res.converged and res.tau > 0
    opt = optimize.minimize_scalar(
        lambda lt: -_dense_reml(y, X, H, np.exp(lt))[0],
        bounds=(np.log(0.01), np.log(5.0)), method="bounded",
        options={"xatol": 1e-10},
    )
    assert res.tau == pytest.approx(np.exp(opt.x), rel=1e-5)
    assert res.llf == pytest.approx(-opt.fun, rel=1e-10)
    # the stationarity condition of DESIGN §2: Σλᵢ(ℓᵢ/σ̂² + hᵢ − 1) = 0
    assert abs(res.model.score(res.tau)) < 1e-8 * res.model.spectrum.values.sum()


def test_blup_fitted_edf_match_dense_formulas(rng):
    y, X, H = _small_problem(rng)
    res = NTKMixedLM(y, X, kernel=H).fit()
    tau, s2 = res.tau, res.scale
    G = s2 * (scipy.linalg.expm(tau * H) - np.eye(len(y)))
    V = s2 * scipy.linalg.expm(tau * H)
    r = y - X @ res.fe_params.to_numpy()
    blup = G @ np.linalg.solve(V, r)  # textbook BLUP: G V⁻¹ (y − Xβ̂)
    assert np.allclose(res.random_effects, blup, rtol=1e-8, atol=1e-10)
    assert np.allclose(res.fittedvalues, X @ res.fe_params + blup, rtol=1e-10, atol=1e-8)
    assert np.allclose(res.resid, y - res.fittedvalues, rtol=0, atol=1e-12)
    S = scipy.linalg.expm(-tau * H)
    hat = np.eye(len(y)) - S + S @ X @ np.linalg.solve(X.T @ S @ X, X.T @ S)
    assert res.edf == pytest.approx(np.trace(hat), rel=1e-9)
    assert np.allclose(hat @ y, res.fittedvalues, atol=1e-8)


def test_cov_params_is_gls_covariance(rng):
    y, X, H = _small_problem(rng)
    res = NTKMixedLM(y, X, kernel=H).fit()
    V = res.scale * scipy.linalg.expm(res.tau * H)
    cov = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    assert np.allclose(res.cov_params(), cov, rtol=1e-8)
    assert np.allclose(res.bse_fe, np.sqrt(np.diag(cov)), rtol=1e-8)


@pytest.fixture(scope="module")
def sleepstudy_fits():
    d = load_sleepstudy()
    Z = pd.get_dummies(d["Subject"]).to_numpy(float)
    H = Z @ Z.T  # balanced: 18 subjects × m = 10 days
    fits = {}
    for reml in (True, False):
        ours = NTKMixedLM.from_formula("Reaction ~ Days", d, kernel=H).fit(reml=reml)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # statsmodels' default tolerances give ~6 digits of the group variance: tighten
            sm = smf.mixedlm("Reaction ~ Days", d, groups=d["Subject"]).fit(
                reml=reml, method="bfgs", gtol=1e-12
            )
        fits[reml] = (ours, sm, d)
    return fits


@pytest.mark.parametrize("reml", [True, False])
def test_sleepstudy_reproduces_statsmodels_random_intercept(sleepstudy_fits, reml):
    # DESIGN §6 item 4: e^{τZZᵀ} = I + ((e^{τm} − 1)/m)ZZᵀ, so the group variance is
    # σ²(e^{τm} − 1)/m. Required: ≥ 6 significant digits; measured: ~12.
    ours, sm, d = sleepstudy_fits[reml]
    m = 10
    group_var = ours.scale * np.expm1(ours.tau * m) / m
    rtol = 1e-7
    assert np.allclose(ours.fe_params, sm.fe_params, rtol=rtol)
    assert np.allclose(ours.bse_fe, sm.bse_fe, rtol=rtol)
    assert ours.scale == pytest.approx(sm.scale, rel=rtol)
    assert group_var == pytest.approx(sm.cov_re.iloc[0, 0], rel=rtol)
    assert ours.llf == pytest.approx(sm.llf, rel=1e-9)
    # BLUPs: every row's ĝ is its subject's predicted random intercept
    sm_blup = d["Subject"].map({k: v.iloc[0] for k, v in sm.random_effects.items()})
    assert np.allclose(ours.random_effects, sm_blup, rtol=1e-6, atol=1e-6)
    assert np.allclose(ours.fittedvalues, sm.fittedvalues, rtol=1e-8)


def test_sleepstudy_reml_values_from_lme4(sleepstudy_fits):
    # lme4 1.1: lmer(Reaction ~ Days + (1|Subject), sleepstudy) prints REML criterion
    # 1786.5, σ² = 960.46 (sd 30.99), subject variance 1378.18 (sd 37.12).
    ours, _, _ = sleepstudy_fits[True]
    assert -2 * ours.llf == pytest.approx(1786.465, abs=1e-3)
    assert ours.scale == pytest.approx(960.46, abs=0.01)
    assert ours.scale * np.expm1(10 * ours.tau) / 10 == pytest.approx(1378.18, abs=0.01)


def test_stopping_equation_without_fixed_effects():
    # DESIGN §6 item 6: with X = nothing and init="offset", REML = ML and τ̂ solves the
    # paper's stopping equation Σλᵢ(ℓᵢ(τ)/σ̂²(τ) − 1) = 0, ℓᵢ = (uᵢᵀr)²e^{−τλᵢ},
    # σ̂² = mean ℓ, r = y − f₀. Solved here from scratch with the torch.func kernel.
    d = load_mcycle()
    res = NTKMixedLM.from_formula(
        "accel ~ 0 + ntk(times, arch='mlp2', width=128, init='offset', seed=4)", d
    ).fit()
    t = d["times"].to_numpy()
    zs = ((t - t.mean()) / t.std())[:, None]
    net = build_mlp(1, depth=2, width=128, activation="relu", seed=4)
    H = jacobian_ntk(net, zs) / len(t)
    with torch.no_grad():
        f0 = net(torch.as_tensor(zs)).numpy().ravel()
    lam, U = np.linalg.eigh(H)
    lam = np.clip(lam, 0, None)
    r2 = (U.T @ (d["accel"].to_numpy() - f0)) ** 2

    def stopping(tau):
        loss = r2 * np.exp(-tau * (lam - lam.min()))
        return lam @ (loss / loss.mean() - 1.0)

    tau_star = optimize.brentq(stopping, 1e-6, 1e4 / lam[lam > 1e-10 * lam[-1]].min(),
                               xtol=1e-14)
    assert res.tau == pytest.approx(tau_star, rel=1e-6)
    assert res.converged


def test_boundary_zero_is_reported_not_failed(rng):
    # y − Xβ along the contrast with the smallest μ: the score at 0 is negative, τ̂ = 0.
    y, X, H = boundary_problem(rng)
    n = len(y)
    res = NTKMixedLM(y, X, kernel=H).fit()
    assert res.tau == 0.0 and res.converged and res.estimate.boundary == "zero"
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = np.sum((y - X @ ols) ** 2)
    assert res.scale == pytest.approx(rss / (n - 2), rel=1e-12)
    assert np.allclose(res.fe_params, ols, rtol=1e-10)
    assert np.all(res.random_effects == 0.0)
    assert res.edf == pytest.approx(2.0, abs=1e-12)
    assert "boundary" in res.summary().as_text()


def test_upper_end_warns_and_is_not_converged(rng):
    # y along the top eigenvector only: ℓ(τ) rises until the end of the search range
    # (50/λ⁺_min = 50 here; the eigenvalues span [1, 1.5] so round-off in the other
    # directions, ~1e-16, does not create a maximum before it).
    n = 25
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.linspace(1.0, 1.5, n)
    H = (U * lam) @ U.T
    y = 3.0 * U[:, -1]
    with pytest.warns(ConvergenceWarning, match="search range"):
        res = NTKMixedLM(y, None, kernel=H).fit()
    assert not res.converged
    assert res.estimate.boundary == "upper"
    assert res.tau == pytest.approx(50.0, rel=1e-6)
