"""Infinite-width NTK (ntkmixed.kernels.analytic) against outside truths.

* the closed-form Gaussian moments against 2-D Gauss–Hermite quadrature, Monte Carlo, 1-D
  adaptive quadrature and values derived by hand (Stein's lemma, known arcsin values);
* the whole kernel against the empirical NTK of finite networks built by ``build_mlp`` in the
  NTK parameterization, whose error must shrink like 1/√width;
* stability (identical, zero, antiparallel, huge and tiny inputs) and input validation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate
from scipy.special import erf
from scipy.stats import norm

from ntkmixed.kernels.analytic import (
    ANALYTIC_ACTIVATIONS,
    MOMENTS,
    analytic_ntk,
    gelu_moments,
    relu_moments,
)
from ntkmixed.kernels.empirical import layerwise_ntk
from ntkmixed.kernels.networks import build_mlp

# φ and φ' written independently of the module under test.
PHI = {
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(float)),
    "erf": (erf, lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x)),
    "gelu": (lambda x: x * norm.cdf(x), lambda x: norm.cdf(x) + x * norm.pdf(x)),
}

# (k11, k22, ρ): different variances, nearly singular (ρ = ±0.999999) and singular (ρ = ±1).
COVARIANCES = [
    (1.0, 1.0, 0.3),
    (2.0, 0.5, 0.7),
    (0.3, 4.0, -0.8),
    (1.0, 1.0, 0.0),
    (0.01, 3.0, 0.5),
    (1.5, 1.5, 0.999999),
    (0.7, 2.0, -0.999999),
    (1.0, 1.0, 1.0),
    (2.5, 0.4, 1.0),
    (2.0, 2.0, -1.0),
    (0.6, 3.0, -1.0),
]


def _cholesky_2x2(k11: float, k22: float, k12: float) -> tuple[float, float, float]:
    """Lower Cholesky factor of [[k11, k12], [k12, k22]], also for singular matrices."""
    l11 = math.sqrt(k11)
    l21 = k12 / l11
    l22 = math.sqrt(max(k22 - l21 * l21, 0.0))
    return l11, l21, l22


def _gauss_hermite(f, g, k11, k22, k12, n=200):
    """E[f(u) g(v)] for (u, v) ~ N(0, K) by an n×n probabilists' Gauss–Hermite rule."""
    x, w = hermegauss(n)
    w = w / math.sqrt(2.0 * math.pi)
    l11, l21, l22 = _cholesky_2x2(k11, k22, k12)
    z1, z2 = np.meshgrid(x, x, indexing="ij")
    u, v = l11 * z1, l21 * z1 + l22 * z2
    return float(np.sum(np.outer(w, w) * f(u) * g(v)))


def _moments(act, k11, k22, k12):
    a, b = MOMENTS[act](np.array(k11), np.array(k22), np.array(k12))
    return float(a), float(b)


# ----------------------------------------------------------------------------------------
# 1. Gaussian moments against quadrature
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k11", "k22", "rho"), COVARIANCES)
@pytest.mark.parametrize("act", ["erf", "gelu"])
def test_smooth_moments_match_gauss_hermite(act, k11, k22, rho):
    # erf and GELU are entire functions, so 200×200 Gauss–Hermite converges geometrically:
    # measured errors ≤ 7e-16 for these covariances (80×80 still gives 1.3e-8 for erf's
    # derivative at variance 4, hence 200). 1e-11 is far above round-off and far below any
    # error in a formula.
    k12 = rho * math.sqrt(k11 * k22)
    f, fp = PHI[act]
    e_phi, e_dphi = _moments(act, k11, k22, k12)
    assert e_phi == pytest.approx(_gauss_hermite(f, f, k11, k22, k12), abs=1e-11)
    assert e_dphi == pytest.approx(_gauss_hermite(fp, fp, k11, k22, k12), abs=1e-11)


@pytest.mark.parametrize(("k11", "k22", "rho"), COVARIANCES)
def test_relu_moments_match_quadrature(k11, k22, rho):
    k12 = rho * math.sqrt(k11 * k22)
    f, fp = PHI["relu"]
    e_phi, e_dphi = _moments("relu", k11, k22, k12)
    s = math.sqrt(k11 * k22)
    # (a) 2-D Gauss–Hermite: the kink of max(x, 0) limits convergence to an algebraic rate
    # (measured ≤ 6.6e-4·√(k11 k22) at 200×200), hence the loose 2e-3 relative tolerance. For
    # the step function φ' quadrature is useless (errors ~1.4e-2), so it is checked in (b), (c).
    assert e_phi == pytest.approx(_gauss_hermite(f, f, k11, k22, k12), abs=2e-3 * s)

    # (b) tight: integrate out v given u with the elementary rectified-normal mean
    # E[max(m + σZ, 0)] = mΦ(m/σ) + σφ(m/σ) (or P(m + σZ > 0) = Φ(m/σ)), then 1-D adaptive
    # quadrature over u > 0. Measured errors ≤ 2.2e-16 and 2.2e-14; tolerance 1e-9.
    l11, l21, l22 = _cholesky_2x2(k11, k22, k12)

    def rect_mean(m):
        return m * norm.cdf(m / l22) + l22 * norm.pdf(m / l22) if l22 > 0 else max(m, 0.0)

    def orthant(m):
        return norm.cdf(m / l22) if l22 > 0 else float(m > 0)

    ref_phi = integrate.quad(lambda z: norm.pdf(z) * l11 * z * rect_mean(l21 * z), 0, np.inf,
                             epsabs=1e-13, epsrel=1e-12)[0]
    ref_dphi = integrate.quad(lambda z: norm.pdf(z) * orthant(l21 * z), 0, np.inf,
                              epsabs=1e-13, epsrel=1e-12)[0]
    assert e_phi == pytest.approx(ref_phi, abs=1e-9 * max(s, 1.0))
    assert e_dphi == pytest.approx(ref_dphi, abs=1e-9)

    # (c) Monte Carlo with 10⁶ draws for E[φ'φ'] = P(u > 0, v > 0): standard error
    # √(p(1 − p)/10⁶) ≤ 5e-4; tolerance 5 standard errors (measured ≤ 1.7).
    z = np.random.default_rng(12345).standard_normal((2, 1_000_000))
    u, v = l11 * z[0], l21 * z[0] + l22 * z[1]
    mc = float(np.mean(fp(u) * fp(v)))
    assert abs(e_dphi - mc) <= 5 * max(math.sqrt(mc * (1 - mc) / 1e6), 1e-6)


@pytest.mark.parametrize("act", ANALYTIC_ACTIVATIONS)
def test_price_theorem(act):
    # ∂E[φ(u)φ(v)]/∂k12 = E[φ'(u)φ'(v)] (Price's theorem): ties each activation's two closed
    # forms together away from the quadrature points. Central differences with h = 1e-5 have
    # truncation error O(h²) ≈ 1e-10 and round-off ~1e-11; tolerance 1e-7.
    rng = np.random.default_rng(3)
    k11, k22 = rng.uniform(0.2, 3.0, 20), rng.uniform(0.2, 3.0, 20)
    k12 = rng.uniform(-0.95, 0.95, 20) * np.sqrt(k11 * k22)
    h = 1e-5
    up, _ = MOMENTS[act](k11, k22, k12 + h)
    dn, _ = MOMENTS[act](k11, k22, k12 - h)
    _, dot = MOMENTS[act](k11, k22, k12)
    np.testing.assert_allclose((up - dn) / (2 * h), dot, rtol=0, atol=1e-7)


def test_special_values_of_moments():
    k = np.array([0.1, 0.5, 2.0, 7.0])
    # erf on the diagonal (Williams 1997): E[erf(u)²] = (2/π) arcsin(2k/(1+2k)); at k = 1/2 the
    # argument is 1/2 and the value is 1/3.
    e_phi, e_dphi = MOMENTS["erf"](k, k, k)
    np.testing.assert_allclose(e_phi, 2 / np.pi * np.arcsin(2 * k / (1 + 2 * k)), rtol=1e-14)
    np.testing.assert_allclose(e_dphi, 4 / np.pi / np.sqrt(1 + 4 * k), rtol=1e-14)
    assert float(MOMENTS["erf"](0.5, 0.5, 0.5)[0]) == pytest.approx(1 / 3, rel=1e-14)
    # GELU at k12 = 0 (independent u, v): by Stein's lemma E[uΦ(u)] = k E[φ_N(u)] =
    # k/√(2π(1+k)), and E[φ'(u)] = 1/2 + E[u φ_N(u)] = 1/2.
    k2 = k[::-1]
    e_phi, e_dphi = gelu_moments(k, k2, np.zeros(4))
    m1, m2 = k / np.sqrt(2 * np.pi * (1 + k)), k2 / np.sqrt(2 * np.pi * (1 + k2))
    np.testing.assert_allclose(e_phi, m1 * m2, rtol=1e-14)
    np.testing.assert_allclose(e_dphi, 0.25, rtol=1e-14)
    # ReLU: orthogonal → √(k11 k22)/(2π) and 1/4; parallel → √(k11k22)/2 and 1/2;
    # antiparallel → 0 and 0.
    s = np.sqrt(k * k2)
    for rho, want_phi, want_dot in [(0.0, s / (2 * np.pi), 0.25), (1.0, s / 2, 0.5),
                                    (-1.0, 0 * s, 0.0)]:
        e_phi, e_dphi = relu_moments(k, k2, rho * s)
        np.testing.assert_allclose(e_phi, want_phi, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(e_dphi, want_dot, rtol=1e-14, atol=1e-15)


# ----------------------------------------------------------------------------------------
# 2. Convergence of the empirical NTK of build_mlp(param="ntk") as the width grows
# ----------------------------------------------------------------------------------------

_Z_CONV = np.random.default_rng(20261203).standard_normal((12, 3))


@pytest.mark.parametrize("act", ANALYTIC_ACTIVATIONS)
def test_empirical_ntk_converges_to_analytic(act):
    # Measured (40 seeds per width, these inputs; OMP_NUM_THREADS=1, ~1.3 s per activation):
    #   act   mean rel. Frobenius error   ratio    ‖mean − Θ‖/‖Θ‖ at 1024   ‖mean − Θ‖/SE
    #         w = 256     w = 1024       1024/256
    #   relu  0.162       0.088          0.545    0.009                     0.60
    #   erf   0.120       0.065          0.542    0.012                     1.17
    #   gelu  0.169       0.094          0.556    0.010                     0.62
    # Fluctuations of the empirical NTK scale as 1/√width (Jacot et al. 2018; Lee et al. 2019),
    # so quadrupling the width should halve the error; the mean bias is O(1/width) and
    # negligible here. The accepted ratio [0.35, 0.65] allows ~±2 standard errors of the
    # seed-to-seed noise. A kernel off by a few percent (wrong bias term, Σ̇, depth, 1/d) fails
    # the mean-over-seeds check below: scaling Θ by 1.03 fails it for one activation, by 1.05
    # for all three.
    seeds = 40
    theta = analytic_ntk(_Z_CONV, depth=2, activation=act, sigma_w=1.5, sigma_b=0.3)
    norm_theta = np.linalg.norm(theta)
    errors, means, ses = {}, {}, {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: threading only adds overhead
    try:
        samples = {
            width: np.array([
                layerwise_ntk(
                    build_mlp(3, depth=2, width=width, activation=act, param="ntk",
                              seed=offset + s, sigma_w=1.5, sigma_b=0.3),
                    _Z_CONV,
                )
                for s in range(seeds)
            ])
            for width, offset in ((256, 0), (1024, 10_000))
        }
    finally:
        torch.set_num_threads(threads)
    for width, mats in samples.items():
        errors[width] = float(np.mean(np.linalg.norm(mats - theta, axis=(1, 2)))) / norm_theta
        means[width] = mats.mean(axis=0)
        # standard error of the seed mean, in Frobenius norm: √(Σ_ij Var_ij / seeds)
        ses[width] = math.sqrt(mats.var(axis=0, ddof=1).sum() / seeds)
    ratio = errors[1024] / errors[256]
    assert errors[1024] < 0.15, errors
    assert 0.35 <= ratio <= 0.65, (errors, ratio)
    # The mean over seeds approaches the analytic kernel: its distance is of the order of its
    # own standard error (measured 0.6–1.2 SE; E‖mean − Θ‖² = SE² for an unbiased mean), and
    # far below the error of a single network.
    dist = np.linalg.norm(means[1024] - theta)
    assert dist <= 3.0 * ses[1024], (dist, ses[1024])
    assert dist / norm_theta <= 0.5 * errors[1024]


# ----------------------------------------------------------------------------------------
# 3. Stability
# ----------------------------------------------------------------------------------------


def _awkward_inputs() -> np.ndarray:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 4))
    return np.vstack([
        x,
        x[0],          # identical to row 0
        np.zeros(4),   # zero input
        -x[1],         # antiparallel to row 1
        3.0 * x[2],    # parallel to row 2
        np.zeros(4),   # a second zero input
    ])


def _assert_good_kernel(theta: np.ndarray) -> None:
    assert np.all(np.isfinite(theta))
    assert np.array_equal(theta, theta.T)
    lam = np.linalg.eigvalsh(theta)
    assert lam.min() >= -1e-12 * lam.max(), lam


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e8])
@pytest.mark.parametrize("sigma_b", [0.0, 0.4])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("act", ANALYTIC_ACTIVATIONS)
def test_stable_symmetric_psd(act, depth, sigma_b, scale):
    z = scale * _awkward_inputs()
    theta, nngp = analytic_ntk(z, depth=depth, activation=act, sigma_w=1.3, sigma_b=sigma_b,
                               return_nngp=True)
    _assert_good_kernel(theta)
    _assert_good_kernel(nngp)
    # identical rows give identical kernel rows (to round-off of the input dot products)
    big = np.abs(theta).max()
    np.testing.assert_allclose(theta[6], theta[0], rtol=0, atol=1e-13 * big)
    if sigma_b == 0.0:
        # a zero input has zero features at every layer (φ(0) = 0 for all three), so its NTK
        # row vanishes exactly
        assert np.all(theta[7] == 0.0) and np.all(theta[10] == 0.0)


@pytest.mark.parametrize("act", ANALYTIC_ACTIVATIONS)
def test_cross_kernel_is_block_of_joint_kernel(act):
    rng = np.random.default_rng(5)
    z1, z2 = rng.standard_normal((7, 3)), rng.standard_normal((4, 3))
    z2[0] = z1[2]  # a shared point
    z2[1] = -z1[3]
    kw = dict(depth=3, activation=act, sigma_w=1.4, sigma_b=0.2)
    joint = analytic_ntk(np.vstack([z1, z2]), **kw)
    cross = analytic_ntk(z1, z2, **kw)
    # Same formulas, only the dot products may be summed in another order: round-off level.
    np.testing.assert_allclose(cross, joint[:7, 7:], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(analytic_ntk(z2, z1, **kw), cross.T, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(analytic_ntk(z1, z1, **kw), joint[:7, :7], rtol=1e-12)


def test_relu_without_bias_is_homogeneous():
    # With σ_b = 0 every layer of a ReLU network is positively homogeneous, so
    # Θ(cx, cx') = c² Θ(x, x'): checks the huge/tiny-norm paths for accuracy, not just finiteness.
    z = _awkward_inputs()
    base = analytic_ntk(z, depth=3, activation="relu", sigma_w=1.2)
    for c in (1e-8, 1e8):
        np.testing.assert_allclose(analytic_ntk(c * z, depth=3, activation="relu",
                                                sigma_w=1.2) / c**2, base,
                                   rtol=1e-12, atol=1e-14 * np.abs(base).max())


def _mp_reference_ntk(z, depth, act, sigma_w, sigma_b):
    """The NTK recursion at 50 significant digits with mpmath (the float inputs are exact)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    rows = [[mp.mpf(float(v)) for v in row] for row in z]
    n, d = len(rows), len(rows[0])
    sw2, sb2 = mp.mpf(sigma_w) ** 2, mp.mpf(sigma_b) ** 2
    pi = mp.pi

    def moments(k11, k22, k12):
        if act == "relu":
            s = mp.sqrt(k11 * k22)
            if s == 0:
                return mp.mpf(0), mp.mpf(0.5)
            t = mp.acos(max(min(k12 / s, 1), -1))
            return s * (mp.sin(t) + (pi - t) * mp.cos(t)) / (2 * pi), (pi - t) / (2 * pi)
        if act == "erf":
            den = (1 + 2 * k11) * (1 + 2 * k22)
            return (2 / pi * mp.asin(2 * k12 / mp.sqrt(den)),
                    4 / pi / mp.sqrt(den - 4 * k12**2))
        a, b = 1 + k11, 1 + k22
        delta = a * b - k12**2
        p = mp.mpf(1) / 4 + mp.asin(k12 / mp.sqrt(a * b)) / (2 * pi)
        sm = 1 / a + 1 / b
        return (k12 * p + (k11 * k22 - k12**2 + k12**2 * sm) / (2 * pi * mp.sqrt(delta)),
                p + k12 * sm / (2 * pi * mp.sqrt(delta)) + k12 / (2 * pi * delta**1.5))

    sig = [[sw2 * mp.fsum(x * y for x, y in zip(rows[i], rows[j], strict=True)) / d + sb2
            for j in range(n)] for i in range(n)]
    theta = [row[:] for row in sig]
    for _ in range(depth):
        new_sig = [[None] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                e, ed = moments(sig[i][i], sig[j][j], sig[i][j])
                new_sig[i][j] = sw2 * e + sb2
                theta[i][j] = theta[i][j] * sw2 * ed + new_sig[i][j]
        sig = new_sig
    return np.array([[float(v) for v in row] for row in theta])


def _near_parallel_inputs() -> np.ndarray:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 3))
    return np.vstack([
        x,
        x[0] * (1 + 1e-12),                          # parallel, norm differs by 1e-12
        x[0] + 1e-11 * rng.standard_normal(3),       # near-duplicate
        2.5 * x[1] + 1e-10 * rng.standard_normal(3),  # nearly parallel, different norm
        -x[2] * (1 - 1e-13),                         # nearly antiparallel
    ])


@pytest.mark.parametrize(
    ("act", "scale"),
    [("relu", 1e-8), ("relu", 1.0), ("relu", 1e8), ("erf", 1.0), ("erf", 1e3),
     ("gelu", 1.0), ("gelu", 1e2)],
)
@pytest.mark.parametrize("sigma_b", [0.0, 0.4])
def test_nearly_parallel_inputs_match_high_precision(act, scale, sigma_b):
    # θ = arccos ρ turns a round-off ε in ρ into an error √ε ≈ 1e-8, which a naive float64
    # evaluation of the ReLU kernel shows for nearly parallel inputs. The implementation carries
    # k11 k22 − k12² exactly through the ReLU layers, so it must agree with a 50-digit mpmath
    # evaluation of the recursion to round-off: measured ≤ 2e-16 relative to the largest entry
    # (a naive evaluation is off by ~1e-9); tolerance 1e-13. erf and GELU are smooth at unit
    # scale (measured ≤ 5e-16). GELU's closed form loses ~ε·k for (nearly) parallel pairs at
    # pre-activation variance k (its kink at scale 1 sharpens relative to √k): measured 1.2e-13
    # at input scale 100 (k ≈ 1e4 … 1e5), hence 1e-12 there (a documented limitation).
    z = scale * _near_parallel_inputs()
    kw = dict(depth=3, activation=act, sigma_w=1.3, sigma_b=sigma_b)
    got = analytic_ntk(z, **kw)
    want = _mp_reference_ntk(z, 3, act, 1.3, sigma_b)
    tol = 1e-12 if (act == "gelu" and scale > 1) else 1e-13
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())
    _assert_good_kernel(got)


# ----------------------------------------------------------------------------------------
# 4. Hand-computed values
# ----------------------------------------------------------------------------------------


def test_relu_depth1_hand_values():
    # Depth 1, σ_b = 0, q = σ_w²|x|²/d. Σ² = σ_w² q/2, Σ̇² = σ_w²/2, so
    # Θ(x, x) = q·σ_w²/2 + σ_w² q/2 = σ_w⁴|x|²/d. x = (1, 2, 2), σ_w = 1.5: q = 2.25·9/3 = 6.75,
    # Θ = 2.25·6.75 = 15.1875.
    x = np.array([[1.0, 2.0, 2.0]])
    assert analytic_ntk(x, depth=1, sigma_w=1.5)[0, 0] == pytest.approx(15.1875, rel=1e-14)
    # With a bias: Σ¹ = q + σ_b², Θ = σ_w²(q + σ_b²) + σ_b² = 2.25·(6.75 + 0.09) + 0.09.
    got = analytic_ntk(x, depth=1, sigma_w=1.5, sigma_b=0.3)[0, 0]
    assert got == pytest.approx(2.25 * 6.84 + 0.09, rel=1e-14)
    # Orthogonal inputs: Θ¹ = 0, Σ² = σ_w²√(q₁q₂)/(2π).
    xy = np.array([[2.0, 0.0], [0.0, 1.0]])  # q₁ = 2.25·4/2 = 4.5, q₂ = 2.25/2 = 1.125
    want = 2.25 * math.sqrt(4.5 * 1.125) / (2 * math.pi)
    assert analytic_ntk(xy, depth=1, sigma_w=1.5)[0, 1] == pytest.approx(want, rel=1e-14)
    # Antiparallel inputs: the two ReLUs are never active together, so Σ² = Σ̇² = 0 → Θ = 0.
    assert analytic_ntk(np.array([[1.0, -2.0], [-1.0, 2.0]]), depth=1)[0, 1] == 0.0


def test_relu_he_init_diagonal():
    # With σ_w² = 2 (He initialization), σ_b = 0 the diagonal Σ(x, x) = 2|x|²/d is preserved
    # by every layer and Σ̇ = 1, so Θ(x, x) = (L + 1)·2|x|²/d (Arora et al. 2019, ReLU NTK).
    x = np.array([[0.5, -1.0, 2.0, 0.1]])
    q = 2 * float(x[0] @ x[0]) / 4
    for depth in (1, 2, 5):
        theta, nngp = analytic_ntk(x, depth=depth, sigma_w=math.sqrt(2), return_nngp=True)
        assert theta[0, 0] == pytest.approx((depth + 1) * q, rel=1e-13)
        assert nngp[0, 0] == pytest.approx(q, rel=1e-13)


def test_erf_and_gelu_depth1_hand_values():
    # erf, σ_w = 1, σ_b = 0, x = (1, 0) in d = 2: q = 1/2, so Σ² = (2/π) arcsin(1/2) = 1/3,
    # Σ̇² = (4/π)/√(1 + 4q) = 4/(π√3) and Θ = qΣ̇² + Σ² = 2/(π√3) + 1/3.
    x = np.array([[1.0, 0.0]])
    want = 2 / (math.pi * math.sqrt(3)) + 1 / 3
    assert analytic_ntk(x, depth=1, activation="erf")[0, 0] == pytest.approx(want, rel=1e-14)
    # GELU, orthogonal inputs, σ_b = 0: Θ¹ = 0 and u, v independent, so by Stein's lemma
    # Θ = Σ² = σ_w² E[uΦ(u)] E[vΦ(v)] = σ_w² q₁q₂/(2π√((1 + q₁)(1 + q₂))).
    xy = np.array([[2.0, 0.0], [0.0, 1.0]])
    q1, q2 = 1.5**2 * 4 / 2, 1.5**2 / 2
    want = 1.5**2 * q1 * q2 / (2 * math.pi * math.sqrt((1 + q1) * (1 + q2)))
    got = analytic_ntk(xy, depth=1, activation="GELU", sigma_w=1.5)[0, 1]
    assert got == pytest.approx(want, rel=1e-14)


# ----------------------------------------------------------------------------------------
# 5. Validation
# ----------------------------------------------------------------------------------------

_GOOD = np.ones((3, 2))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.ones(3),), {}, "2-D"),
        ((np.ones((2, 2, 2)),), {}, "2-D"),
        ((np.ones((3, 0)),), {}, "at least one column"),
        ((np.array([[1.0, np.nan]]),), {}, "NaN or infinite"),
        ((np.array([[1.0, np.inf]]),), {}, "NaN or infinite"),
        ((_GOOD, np.array([[1.0, -np.inf]])), {}, "z2 contains NaN"),
        ((np.array([["a", "b"]]),), {}, "real numeric"),
        ((np.array([[1 + 1j, 2.0]]),), {}, "real numeric"),
        ((_GOOD, np.ones((2, 3))), {}, "same number of columns"),
        ((_GOOD,), {"depth": 0}, "depth"),
        ((_GOOD,), {"depth": 1.5}, "depth"),
        ((_GOOD,), {"depth": True}, "depth"),
        ((_GOOD,), {"activation": "tanh"}, "unknown activation"),
        ((_GOOD,), {"sigma_w": float("nan")}, "sigma_w"),
        ((_GOOD,), {"sigma_b": float("inf")}, "sigma_b"),
        ((_GOOD,), {"sigma_w": "1.0"}, "sigma_w"),
        ((1e200 * _GOOD,), {}, "overflow"),
        ((1e80 * _GOOD,), {}, "overflow"),  # variance 1e160: finite, but its square is not
        ((1e70 * _GOOD,), {"depth": 10, "sigma_w": 1e3}, "overflow"),  # grows past 1e150
    ],
)
def test_bad_input_raises(args, kwargs, match):
    kw = {"depth": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        analytic_ntk(*args, **kw)


def test_accepts_integer_inputs_and_numpy_scalars():
    z = np.array([[1, 2], [3, -1]])
    a = analytic_ntk(z, depth=np.int64(2), sigma_w=np.float32(1.5))
    b = analytic_ntk(z.astype(float), depth=2, sigma_w=1.5)
    np.testing.assert_array_equal(a, b)
