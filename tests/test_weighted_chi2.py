"""Tests for ntkmixed.weighted_chi2 against outside truths.

Truths used: closed forms (a weight repeated twice with df 1 is an exponential variable, and
sums/differences of independent exponentials have partial-fraction survival functions),
scipy.stats.chi2 for a single weight, and Monte Carlo with a fixed seed.
"""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import ntkmixed.weighted_chi2 as wc
from ntkmixed.weighted_chi2 import (
    Chi2MixtureSF,
    chi2mix_sf,
    chi2mix_sf_liu,
    chi2mix_sf_saddlepoint,
    chi2mix_sf_satterthwaite,
    collapse_weights,
)

# The closed forms are exact, and the inversion targets rtol = 1e-9; 1e-6 leaves three
# orders of margin for roundoff in the closed form itself yet catches any real defect
# (a wrong sign, a lost residue or a truncated tail shows up as O(1e-3) or worse).
REL_TOL = 1e-6


def exp_mixture_sf(x: float, means) -> float:
    """P(sum_i s_i E_i > x) for independent exponentials with signed means m_i (distinct).

    Partial fractions of prod 1/(1 - m_i s): for x >= 0 the density is
    sum_{m_i > 0} prod_{j != i} m_i/(m_i - m_j) * exp(-x/m_i)/m_i.  Returns the upper tail
    for x >= 0 and the LOWER tail P(Q <= x) for x < 0 (sum over the negative means).
    """
    means = np.asarray(means, dtype=float)
    total = 0.0
    for i, mi in enumerate(means):
        if (mi > 0) != (x >= 0):
            continue
        others = np.delete(means, i)
        total += np.prod(mi / (mi - others)) * math.exp(-x / mi)
    return total


def log_solve(f, log_target, lo, hi):
    return optimize.brentq(lambda x: math.log(f(x)) - log_target, lo, hi, xtol=1e-12)


# --------------------------------------------------------------------------- closed forms

W_POS = [6.0, 6.0, 3.0, 3.0, 1.0, 1.0]  # exponentials with means 12, 6, 2


def sf_pos(x):
    return 2.4 * math.exp(-x / 12) - 1.5 * math.exp(-x / 6) + 0.1 * math.exp(-x / 2)


def test_partial_fraction_helper_matches_stated_closed_form():
    for x in (0.5, 10.0, 100.0):
        assert exp_mixture_sf(x, [12.0, 6.0, 2.0]) == pytest.approx(sf_pos(x), rel=1e-14)


@pytest.mark.parametrize("log10p", range(-1, -15, -1))
def test_closed_form_positive_weights(log10p):
    x = log_solve(sf_pos, log10p * math.log(10), 1e-3, 500.0)
    truth = sf_pos(x)
    res = chi2mix_sf(x, W_POS)
    assert res.method == "exact"
    assert res.pvalue == pytest.approx(truth, rel=REL_TOL)
    # the reported error must be honest (within a factor 10 of the actual error)
    assert abs(res.pvalue - truth) <= 10 * res.error + 1e-15 * truth


@pytest.mark.parametrize("log10p", [-30, -100, -200, -300])
def test_closed_form_extreme_tail_keeps_relative_accuracy(log10p):
    # dominant term 2.4 exp(-x/12); the others are below 1e-30 relative here
    x = 12.0 * (math.log(2.4) - log10p * math.log(10))
    truth = sf_pos(x)
    res = chi2mix_sf(x, W_POS)
    assert res.method == "exact"
    assert res.pvalue == pytest.approx(truth, rel=REL_TOL)


A, B = 2.0, 0.7  # Q = A chi2_2 - B chi2_2 = E1 - E2, means 2A and 2B


def indef_sf(x):
    return A / (A + B) * math.exp(-x / (2 * A)) if x >= 0 else 1 - B / (A + B) * math.exp(
        x / (2 * B)
    )


@pytest.mark.parametrize("x", [0.0, 0.3, 5.0, 30.0, 60.0, 120.0, 900.0])
def test_closed_form_indefinite_upper_tail(x):
    res = chi2mix_sf(x, [A, A, -B, -B])
    assert res.method == "exact"
    assert res.pvalue == pytest.approx(indef_sf(x), rel=REL_TOL)


@pytest.mark.parametrize("x", [-0.3, -5.0, -20.0, -40.0, -300.0])
def test_closed_form_indefinite_lower_tail(x):
    res = chi2mix_sf(x, [A, A, -B, -B])
    assert res.pvalue == pytest.approx(indef_sf(x), rel=REL_TOL)
    # 1 - p cannot resolve a tiny lower tail, so check it through the mirrored sum:
    # P(Q <= x) = P(-Q >= -x), an upper tail of the weights (-A, -A, B, B)
    lower = B / (A + B) * math.exp(x / (2 * B))
    mirrored = chi2mix_sf(-x, [-A, -A, B, B])
    assert mirrored.method == "exact"
    assert mirrored.pvalue == pytest.approx(lower, rel=REL_TOL)


@pytest.mark.parametrize("x", [0.0, 2.0, 40.0, 200.0, 400.0])
def test_closed_form_three_signed_terms(x):
    w = [6.0, 6.0, 3.0, 3.0, -2.0, -2.0]  # signed exponential means 12, 6, -4
    assert chi2mix_sf(x, w).pvalue == pytest.approx(exp_mixture_sf(x, [12, 6, -4]), rel=REL_TOL)
    # lower tail at -x through the mirror
    lower = exp_mixture_sf(-x - 1.0, [12, 6, -4])
    mirrored = chi2mix_sf(x + 1.0, [-v for v in w]).pvalue
    assert mirrored == pytest.approx(lower, rel=REL_TOL)


# --------------------------------------------------------------------------- chi2 and df


@pytest.mark.parametrize(("w", "k"), [(2.5, 3.0), (0.7, 1.0), (4.0, 0.4)])
@pytest.mark.parametrize("xs", [0.1, 1.0, 10.0, 60.0])
def test_single_weight_is_chi2(w, k, xs):
    res = chi2mix_sf(xs * w, [w], [k])
    assert res.method == "chi2"
    assert res.pvalue == pytest.approx(stats.chi2.sf(xs, k), rel=1e-12)
    # negative weight: P(-w chi2 > -xs w) = P(chi2 < xs)
    neg = chi2mix_sf(-xs * w, [-w], [k])
    assert neg.method == "chi2"
    assert neg.pvalue == pytest.approx(stats.chi2.cdf(xs, k), rel=1e-12)


def test_single_weight_after_merging_equal_weights():
    res = chi2mix_sf(7.0, [1.5, 0.0, 1.5, 1.5], [1.0, 2.0, 0.5, 2.5])
    assert res.method == "chi2"
    assert res.pvalue == pytest.approx(stats.chi2.sf(7.0 / 1.5, 4.0), rel=1e-12)


@pytest.mark.parametrize("x", [1.0, 20.0, 100.0, 300.0])
def test_df_argument_equals_repeated_weights(x):
    with_df = chi2mix_sf(x, [6.0, 3.0, 1.0], [2, 2, 2])
    mixed = chi2mix_sf(x, [6.0, 6.0, 3.0, 1.0], [1.0, 1.0, 2.0, 2.0])
    assert with_df.pvalue == pytest.approx(sf_pos(x), rel=REL_TOL)
    assert mixed.pvalue == pytest.approx(sf_pos(x), rel=REL_TOL)


def test_collapse_weights():
    w = [3.0, 0.0, -1.0, 3.0, -1.0 * (1 + 1e-14), 0.0, 2.0]
    lam, nu = collapse_weights(w, [1, 5, 2, 3, 1, 7, 1])
    np.testing.assert_allclose(lam, [-1.0, 2.0, 3.0], rtol=1e-13)
    np.testing.assert_array_equal(nu, [3.0, 1.0, 4.0])
    # tiny but non-zero weights are kept (they matter for P(Q > 0) with negative weights)
    lam, _ = collapse_weights([-1.0, 1e-13])
    assert lam.tolist() == [-1.0, 1e-13]


def test_tiny_positive_weight_is_not_dropped():
    # P(e chi2_1 - chi2_1 > 0) = (2/pi) arctan(sqrt(e))
    e = 1e-6
    res = chi2mix_sf(0.0, [-1.0, e])
    assert res.pvalue == pytest.approx(2 / math.pi * math.atan(math.sqrt(e)), rel=REL_TOL)


# --------------------------------------------------------------------------- Monte Carlo

MC_SETS = [
    (np.array([5.0, 2.0, 1.0, 0.5, 0.2, 0.1]), None),
    (np.array([3.0, -1.0, -1.0, 0.5, -0.2]), None),
    # score-test-like weights mu_j - q with zero eigenvalues
    (np.array([4.0, 2.5, 1.2, 0.7, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0]) - 1.0, None),
    (np.array([2.0, -1.5, 0.4]), np.array([3.0, 0.5, 1.5])),
]


@pytest.mark.parametrize("case", range(len(MC_SETS)))
def test_monte_carlo(case):
    w, df = MC_SETS[case]
    nu = np.ones_like(w) if df is None else df
    n = 1_000_000
    rng = np.random.default_rng(20240601 + case)
    if df is None:
        q = (rng.standard_normal((n, w.size)) ** 2) @ w
    else:
        q = rng.chisquare(nu, size=(n, w.size)) @ w
    mean, sd = float(nu @ w), math.sqrt(2 * float(nu @ w**2))
    for x in (mean - sd, mean, mean + sd, mean + 3 * sd, 0.0):
        p = chi2mix_sf(x, w, df).pvalue
        p_mc = float(np.mean(q > x))
        se = math.sqrt(p * (1 - p) / n)
        # 4.5 standard errors: with ~20 comparisons a 3-sigma rule would flag a correct
        # implementation by chance too often; 4.5 sigma still detects any error above ~0.2%
        assert abs(p - p_mc) <= 4.5 * se + 1e-12, (x, p, p_mc, se)


# --------------------------------------------------------------------------- approximations


@pytest.mark.parametrize(
    "w",
    [
        1.0 / np.arange(1, 21),
        np.concatenate([np.linspace(3.0, 0.2, 15), np.zeros(15)]) - 0.8,  # indefinite
    ],
)
@pytest.mark.parametrize("log10p", [-2, -4, -6, -8, -10])
def test_saddlepoint_close_to_exact_in_tail(w, log10p):
    # Kuonen's saddlepoint is an approximation: a few per cent here.  Its relative error
    # tends to a constant in the far tail (for a dominant df-1 weight the Stirling ratio of
    # Gamma(1/2), about 17%), so 10% is only claimed down to p = 1e-10.
    x = log_solve(lambda v: chi2mix_sf(v, w).pvalue, log10p * math.log(10), w.sum(), 5e3)
    exact = chi2mix_sf(x, w)
    assert exact.method == "exact"
    sp = chi2mix_sf_saddlepoint(x, w)
    assert sp == pytest.approx(exact.pvalue, rel=0.10)
    assert chi2mix_sf(x, w, method="saddlepoint").pvalue == sp


def test_saddlepoint_continuous_through_the_mean():
    mean = sum(W_POS)
    values = [chi2mix_sf_saddlepoint(mean + d, W_POS) for d in (-1e-3, -1e-9, 0.0, 1e-9, 1e-3)]
    assert np.all(np.diff(values) <= 0)
    assert values[0] - values[-1] < 1e-3  # no jump at the 0/0 point of the formula
    assert values[2] == pytest.approx(sf_pos(mean), rel=0.02)


def test_satterthwaite_is_anticonservative_far_in_the_tail():
    # Known property: matching two moments with a*chi2_b gives too light a tail for skewed
    # weights (the true tail decays like exp(-x / (2 max w))).
    w = np.array([10.0] + [1.0] * 9)
    x = log_solve(lambda v: chi2mix_sf(v, w).pvalue, math.log(1e-8), w.sum(), 5e3)
    exact = chi2mix_sf(x, w).pvalue
    assert exact == pytest.approx(1e-8, rel=1e-6)
    assert chi2mix_sf_satterthwaite(x, w) <= 0.7 * exact
    res = chi2mix_sf(x, w, method="satterthwaite")
    assert res.method == "satterthwaite" and math.isnan(res.error)


def test_moment_matching_exact_for_equal_weights():
    # a*chi2_k is matched exactly by both moment-matching approximations
    for x in (0.5, 3.0, 20.0):
        truth = stats.chi2.sf(x / 2.0, 3.0)
        assert chi2mix_sf_satterthwaite(x, [2.0, 2.0 * (1 + 1e-9), 2.0]) == pytest.approx(
            truth, rel=1e-6
        )
        assert chi2mix_sf_liu(x, [2.0, 2.0 * (1 + 1e-9), 2.0]) == pytest.approx(truth, rel=1e-6)


def test_liu_matches_three_cumulants():
    # Liu et al. (2009) match mean, variance and skewness of Q, whose cumulants are
    # kappa_k = 2^(k-1) (k-1)! sum nu w^k.  Recover the moments of the approximating law from
    # its survival function by quadrature: E (Y-L)^k = k int_0^inf u^(k-1) sf(L+u) du.
    w, nu = np.array([5.0, 2.0, 1.0, 0.5, 0.2, 0.1]), np.array([1.0, 2.0, 1.0, 3.0, 1.0, 1.0])
    c1, c2, c3 = (float(nu @ w**k) for k in (1, 2, 3))
    lower = c1 - math.sqrt(2 * c2) * math.sqrt(c2**3 / c3**2 / 2)  # support starts here
    raw = []
    for k in (1, 2, 3):
        val, _ = integrate.quad(
            lambda u, k=k: k * u ** (k - 1) * chi2mix_sf_liu(lower + u, w, nu),
            0, np.inf, limit=200, epsrel=1e-10,
        )
        raw.append(val)
    m1 = raw[0]
    var = raw[1] - m1**2
    third = raw[2] - 3 * m1 * raw[1] + 2 * m1**3
    assert lower + m1 == pytest.approx(c1, rel=1e-7)
    assert var == pytest.approx(2 * c2, rel=1e-7)
    assert third == pytest.approx(8 * c3, rel=1e-6)


def test_liu_reasonable_in_the_body():
    # documents the approximation: within 5% of exact near p = 0.05 for a positive set
    w = np.array([5.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    x = log_solve(lambda v: chi2mix_sf(v, w).pvalue, math.log(0.05), w.sum(), 500.0)
    assert chi2mix_sf_liu(x, w) == pytest.approx(0.05, rel=0.05)
    assert chi2mix_sf(x, w, method="liu").method == "liu"


@pytest.mark.parametrize("fn", [chi2mix_sf_satterthwaite, chi2mix_sf_liu])
def test_moment_matching_rejects_negative_weights(fn):
    with pytest.raises(ValueError, match="weights >= 0"):
        fn(1.0, [1.0, -0.5])
    name = "satterthwaite" if fn is chi2mix_sf_satterthwaite else "liu"
    with pytest.raises(ValueError, match="weights >= 0"):
        chi2mix_sf(1.0, [1.0, -0.5], method=name)


# --------------------------------------------------------------------------- degenerate cases


def test_degenerate_cases_exact():
    r = chi2mix_sf(0.0, [-1.0, 0.0, -2.0, -0.5])
    assert r == Chi2MixtureSF(0.0, "degenerate", 0.0, r.note)
    assert chi2mix_sf(3.0, [-1.0, -2.0]).pvalue == 0.0
    assert chi2mix_sf(-1e-300, [1.0, 2.0, 0.0]).pvalue == 1.0
    assert chi2mix_sf(0.0, [1.0, 2.0]).pvalue == 1.0
    # no non-zero weight: Q = 0
    assert chi2mix_sf(-1.0, []).pvalue == 1.0
    assert chi2mix_sf(0.0, [0.0, 0.0]).pvalue == 0.0
    assert chi2mix_sf(1.0, [0.0]).method == "degenerate"
    # the approximations agree on these exact answers
    assert chi2mix_sf_saddlepoint(0.0, [-1.0, -2.0]) == 0.0
    assert chi2mix_sf_satterthwaite(-1.0, [1.0, 2.0]) == 1.0


def test_zero_weights_are_ignored():
    w = [6.0, 6.0, 3.0, 3.0, 1.0, 1.0]
    wz = [0.0, 6.0, 6.0, 0.0, 3.0, 3.0, 1.0, 0.0, 1.0]
    for x in (-1.0, 5.0, 50.0):
        assert chi2mix_sf(x, wz) == chi2mix_sf(x, w)
        assert chi2mix_sf(x, [*wz, 0.0], [*([1] * 9), 4]) == chi2mix_sf(x, w)


def test_never_nan_zero_or_negative_and_monotone():
    rng = np.random.default_rng(12345)
    methods = []
    for trial in range(12):
        m = int(rng.integers(2, 40))
        if trial % 3 == 0:
            w = rng.standard_normal(m)
        elif trial % 3 == 1:
            w = rng.standard_normal(m) * 10 ** rng.uniform(-4, 4, size=m)
        else:
            mu = np.sort(rng.exponential(size=m) ** 3)
            mu[: m // 2] = 0.0
            w = mu - rng.uniform(0.05, 0.9) * mu.max()  # indefinite, like a score test
        df = rng.choice([0.5, 1.0, 2.0, 3.5], size=m) if trial % 2 else None
        nu = np.ones(m) if df is None else df
        mean, sd = float(nu @ w), math.sqrt(2 * float(nu @ w**2))
        xs = np.sort(np.concatenate([mean + sd * np.linspace(-30, 30, 41), [0.0]]))
        prev = 1.0
        for x in xs:
            r = chi2mix_sf(x, w, df)
            methods.append(r.method)
            assert math.isfinite(r.pvalue) and 0.0 < r.pvalue <= 1.0, (trial, x, r)
            assert r.pvalue <= prev * (1 + 1e-7) + 1e-12, (trial, x, r, prev)
            prev = r.pvalue
    assert methods.count("exact") >= 0.98 * len(methods)


def test_fallback_to_saddlepoint_when_inversion_fails(monkeypatch):
    monkeypatch.setattr(wc, "_invert", lambda *args: (math.nan, math.nan, False, "forced"))
    r = chi2mix_sf(50.0, W_POS)
    assert r.method == "saddlepoint"
    assert "saddlepoint value reported" in r.note and "forced" in r.note
    assert 0.0 < r.pvalue < 1.0 and math.isnan(r.error)
    assert r.pvalue == pytest.approx(sf_pos(50.0), rel=0.1)


def test_underflow_reports_smallest_positive_double():
    r = chi2mix_sf(2e4, W_POS)  # true p ~ exp(-1667)
    assert r.pvalue == math.ulp(0.0) and "underflow" in r.note


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": float("nan"), "weights": [1.0, 2.0]}, "finite"),
        ({"x": float("inf"), "weights": [1.0, 2.0]}, "finite"),
        ({"x": [1.0, 2.0], "weights": [1.0, 2.0]}, "scalar"),
        ({"x": "a", "weights": [1.0, 2.0]}, "finite"),
        ({"x": 1.0, "weights": [1.0, float("nan")]}, "finite"),
        ({"x": 1.0, "weights": [[1.0, 2.0]]}, "1-D"),
        ({"x": 1.0, "weights": [1.0 + 1j]}, "real"),
        ({"x": 1.0, "weights": [1.0, 2.0], "df": [1.0]}, "same length"),
        ({"x": 1.0, "weights": [1.0, 2.0], "df": [1.0, 0.0]}, "> 0"),
        ({"x": 1.0, "weights": [1.0, 2.0], "df": [1.0, -2.0]}, "> 0"),
        ({"x": 1.0, "weights": [1.0, 2.0], "method": "imhof"}, "method"),
        ({"x": 1.0, "weights": [1.0, 2.0], "rtol": 0.0}, "rtol"),
    ],
)
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        chi2mix_sf(**kwargs)


def test_bad_input_raises_in_approximations_and_collapse():
    with pytest.raises(ValueError, match="finite"):
        chi2mix_sf_saddlepoint(float("nan"), [1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        collapse_weights(np.ones((2, 2)))
    with pytest.raises(ValueError, match="> 0"):
        chi2mix_sf_liu(1.0, [1.0, 2.0], [1.0, float("inf")])
