"""Distribution of a weighted sum of independent chi-square variables.

``Q = sum_j w_j * chi2(nu_j)`` with real weights of either sign (zero weights are ignored) and
positive degrees of freedom ``nu_j`` (default 1).  The main entry point is :func:`chi2mix_sf`,
which returns ``P(Q > x)`` by numerical inversion of the characteristic function along the
vertical line through the saddlepoint, with relative accuracy far into the tail.  Three labelled
approximations are also provided.

References
----------
Imhof, J. P. (1961). Computing the distribution of quadratic forms in normal variables.
    Biometrika 48, 419-426.
Lugannani, R. and Rice, S. (1980). Saddle point approximation for the distribution of the sum
    of independent random variables. Adv. Appl. Probab. 12, 475-490.
Kuonen, D. (1999). Saddlepoint approximations for distributions of quadratic forms in normal
    variables. Biometrika 86, 929-935.
Liu, H., Tang, Y. and Zhang, H. H. (2009). A new chi-square approximation to the distribution
    of non-negative definite quadratic forms in non-central normal variables. Comput. Stat.
    Data Anal. 53, 853-856.
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance components.
    Biometrics Bull. 2, 110-114.
Piessens, R. et al. (1983). QUADPACK (Gauss-Kronrod 7/15 rule and its error estimate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "Chi2MixtureSF",
    "chi2mix_sf",
    "chi2mix_sf_liu",
    "chi2mix_sf_saddlepoint",
    "chi2mix_sf_satterthwaite",
    "collapse_weights",
]

_METHODS = ("exact", "saddlepoint", "satterthwaite", "liu")
_TINY = math.ulp(0.0)  # smallest positive double, reported when P(Q > x) underflows
_EPS = float(np.finfo(float).eps)
_RTOL_FLOOR = 1e-12  # below this the double-precision roundoff of the inversion dominates
_LOG_A_MAX = 300.0  # |a t| is kept below exp(300) so that (a t)**2 cannot overflow
_UNDERFLOW_NOTE = "P(Q > x) underflows double precision; the smallest positive double is reported"

# Gauss-Kronrod 7/15 nodes and weights on [-1, 1] (QUADPACK qk15).
_XGK = np.array([
    0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
    0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
    0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
    0.207784955007898467600689403773245, 0.0,
])
_WGK = np.array([
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
])
_WG = np.array([
    0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
    0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
])
_X15 = np.concatenate([-_XGK[:7], [0.0], _XGK[6::-1]])
_WK15 = np.concatenate([_WGK[:7], [_WGK[7]], _WGK[6::-1]])
_WG15 = np.zeros(15)
_WG15[[1, 3, 5, 7, 9, 11, 13]] = [_WG[0], _WG[1], _WG[2], _WG[3], _WG[2], _WG[1], _WG[0]]


@dataclass(frozen=True)
class Chi2MixtureSF:
    """Result of :func:`chi2mix_sf`.

    Attributes
    ----------
    pvalue : float
        ``P(Q > x)``.
    method : str
        ``"exact"``, ``"saddlepoint"``, ``"satterthwaite"``, ``"liu"``, ``"chi2"`` (a single
        distinct weight) or ``"degenerate"`` (the answer is exactly 0 or 1).
    error : float
        Estimated absolute error of ``pvalue``; ``nan`` for the approximations.
    note : str
        Explanation when something unusual happened (fallback, underflow).
    """

    pvalue: float
    method: str
    error: float
    note: str = ""


# --------------------------------------------------------------------------- validation


def _check_x(x: float) -> float:
    if np.ndim(x) != 0:
        raise ValueError(f"x must be a scalar, got an array of shape {np.shape(x)}")
    try:
        xf = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"x must be a finite real scalar, got {x!r}") from exc
    if not math.isfinite(xf):
        raise ValueError(f"x must be finite, got {xf}")
    return xf


def _check_weights(weights, df) -> tuple[np.ndarray, np.ndarray]:
    if np.iscomplexobj(weights):
        raise ValueError("weights must be real")
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError("weights must be a 1-D array of finite real numbers") from exc
    if w.ndim != 1:
        raise ValueError(f"weights must be 1-D, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite (found nan or inf)")
    if df is None:
        nu = np.ones_like(w)
    else:
        if np.iscomplexobj(df):
            raise ValueError("df must be real")
        try:
            nu = np.asarray(df, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError("df must be a 1-D array of positive numbers") from exc
        if nu.ndim == 0:
            nu = np.full_like(w, float(nu))
        if nu.shape != w.shape:
            raise ValueError(
                f"df must have the same length as weights ({w.size}), got shape {nu.shape}"
            )
        if not np.all(np.isfinite(nu) & (nu > 0)):
            raise ValueError("df must be finite and > 0")
    return w, nu


def collapse_weights(
    weights, df=None, *, rtol: float = 1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """Merge equal weights and drop zero weights.

    ``a chi2(k1) + a chi2(k2)`` has the law of ``a chi2(k1 + k2)``, so weights that agree to
    relative tolerance ``rtol`` are merged (their df summed, the weight replaced by the
    df-weighted mean).  Exactly-zero weights contribute nothing and are dropped; tiny non-zero
    weights are kept because they can matter (e.g. for ``P(Q > 0)`` when all other weights
    are negative).

    Parameters
    ----------
    weights : array_like, 1-D
        Finite real weights.
    df : array_like or float, optional
        Positive degrees of freedom, same length as ``weights`` (default 1).
    rtol : float
        Relative tolerance for two weights to count as equal.

    Returns
    -------
    lam, nu : ndarray
        Distinct weights in ascending order and their summed degrees of freedom.
    """
    w, nu = _check_weights(weights, df)
    return _collapse(w, nu, rtol)


def _collapse(w: np.ndarray, nu: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    keep = w != 0.0
    w, nu = w[keep], nu[keep]
    if w.size <= 1:
        return w.copy(), nu.copy()
    order = np.argsort(w, kind="stable")
    w, nu = w[order], nu[order]
    gap = np.diff(w) > rtol * np.maximum(np.abs(w[:-1]), np.abs(w[1:]))
    starts = np.concatenate(([0], np.flatnonzero(gap) + 1))
    nu_sum = np.add.reduceat(nu, starts)
    lam = np.add.reduceat(nu * w, starts) / nu_sum
    return lam, nu_sum


# --------------------------------------------------------------------------- CGF


class _CGF:
    """K(s) = -1/2 sum nu log(1 - 2 s lam) and derivatives, for sorted distinct ``lam``."""

    def __init__(self, lam: np.ndarray, nu: np.ndarray):
        self.lam, self.nu = lam, nu
        self.two_lam = 2.0 * lam
        self.lo = 0.5 / lam[0] if lam[0] < 0 else -math.inf
        self.hi = 0.5 / lam[-1] if lam[-1] > 0 else math.inf
        self.mean = float(nu @ lam)
        self.n_df = float(nu.sum())

    def k(self, s: float) -> float:
        return -0.5 * float(self.nu @ np.log1p(-s * self.two_lam))

    def k1(self, s: float) -> float:
        return float(self.nu @ (self.lam / (1.0 - s * self.two_lam)))

    def k2(self, s: float) -> float:
        r = self.lam / (1.0 - s * self.two_lam)
        return 2.0 * float(self.nu @ (r * r))

    def k3(self, s: float) -> float:
        r = self.lam / (1.0 - s * self.two_lam)
        return 8.0 * float(self.nu @ (r * r * r))

    def sx_minus_k(self, s: float, x: float) -> float:
        """s x - K(s) >= 0 near the saddlepoint, without cancellation for small s."""
        u = s * self.two_lam / (1.0 - s * self.two_lam)  # u > -1
        g = u - np.log1p(u)
        small = np.abs(u) < 0.1
        if np.any(small):  # u - log1p(u) = sum_{k>=2} (-1)^k u^k / k
            us = u[small]
            acc = np.zeros_like(us)
            for kk in range(18, 1, -1):
                acc = acc * us + (1.0 if kk % 2 == 0 else -1.0) / kk
            g[small] = acc * us * us
        return s * (x - self.k1(s)) + 0.5 * float(self.nu @ g)


def _saddlepoint_root(cgf: _CGF, x: float) -> float | None:
    """Solve K'(s) = x on the open domain (lo, hi); ``None`` if x is astronomically far out."""
    if x == cgf.mean:
        return 0.0

    def f(s: float) -> float:
        return cgf.k1(s) - x

    if x > cgf.mean:
        a = 0.0
        if math.isfinite(cgf.hi):  # creep towards the pole, where K' -> +inf
            for k in range(1, 53):
                b = cgf.hi * (1.0 - 2.0**-k)
                if f(b) > 0:
                    break
            else:
                return None
        else:  # all weights negative, mean < x < 0: K'(s) > -n_df / (2 s)
            b = cgf.n_df / (2.0 * -x)
    else:
        b = 0.0
        if math.isfinite(cgf.lo):
            for k in range(1, 53):
                a = cgf.lo * (1.0 - 2.0**-k)
                if f(a) < 0:
                    break
            else:
                return None
        else:  # all weights positive, 0 < x < mean: K'(s) < n_df / (2 |s|)
            a = -cgf.n_df / (2.0 * x)
    span = b - a
    return float(optimize.brentq(f, a, b, xtol=1e-15 * span, rtol=4 * _EPS, maxiter=200))


# --------------------------------------------------------------------------- special cases


def _special(x: float, lam: np.ndarray, nu: np.ndarray) -> Chi2MixtureSF | None:
    if lam.size == 0:
        return Chi2MixtureSF(1.0 if x < 0 else 0.0, "degenerate", 0.0, "Q = 0")
    if lam[-1] < 0 and x >= 0:
        return Chi2MixtureSF(0.0, "degenerate", 0.0, "all weights <= 0 and x >= 0")
    if lam[0] > 0 and x <= 0:
        return Chi2MixtureSF(1.0, "degenerate", 0.0, "all weights >= 0 and x <= 0")
    if lam.size == 1:
        w, k = float(lam[0]), float(nu[0])
        # w > 0 here means x > 0; w < 0 means x < 0 and P(w chi2 > x) = P(chi2 < x / w).
        p = float(stats.chi2.sf(x / w, k)) if w > 0 else float(stats.chi2.cdf(x / w, k))
        if p <= 0.0:
            return Chi2MixtureSF(_TINY, "chi2", _TINY, _UNDERFLOW_NOTE)
        # scipy's regularised incomplete gamma is accurate to roundoff; report a nominal bound
        return Chi2MixtureSF(p, "chi2", 1e-13 * p)
    return None


# --------------------------------------------------------------------------- saddlepoint


def _lugannani_rice(cgf: _CGF, x: float, s: float) -> float:
    """Lugannani-Rice formula in Kuonen's (1999) form, evaluated at the saddlepoint ``s``."""
    k2 = cgf.k2(s)
    d = max(cgf.sx_minus_k(s, x), 0.0)
    w = math.copysign(math.sqrt(2.0 * d), s)
    u = s * math.sqrt(k2)
    if abs(w) < 1e-6 or s == 0.0:
        # 1/u - 1/w -> -kappa3/6 as s -> 0 (standardised third cumulant)
        skew = cgf.k3(s) / k2**1.5
        p = float(special.ndtr(-w)) - math.exp(-0.5 * w * w) / math.sqrt(2 * math.pi) * skew / 6
        return min(max(p, _TINY), 1.0)
    # 1 - Phi(w) + phi(w) (1/u - 1/w) = phi(w) [Mills(w) + 1/u - 1/w], phi(w) = exp(-d)/sqrt(2pi);
    # the factored form keeps relative accuracy when exp(-d) is tiny.
    aw, au = abs(w), abs(u)
    bracket = math.sqrt(math.pi / 2) * float(special.erfcx(aw / math.sqrt(2))) + 1 / au - 1 / aw
    tail = math.exp(-d) / math.sqrt(2 * math.pi) * bracket
    p = tail if s > 0 else 1.0 - tail
    if not (bracket > 0 and 0.0 < p <= 1.0) or not math.isfinite(p):
        # Barndorff-Nielsen's r* form, always inside (0, 1)
        p = float(special.ndtr(-(w + math.log(u / w) / w)))
    return min(max(p, _TINY), 1.0)


def chi2mix_sf_saddlepoint(x: float, weights, df=None) -> float:
    """Saddlepoint approximation to ``P(Q > x)`` (Lugannani & Rice 1980; Kuonen 1999).

    Works for weights of both signs; tiny tail probabilities keep their relative accuracy
    (the normal tail is evaluated through the scaled complementary error function).  Near the
    mean, where the formula is 0/0, its limit ``1 - Phi(w) - phi(w) kappa3 / 6`` is used.

    Parameters
    ----------
    x : float
        Evaluation point.
    weights, df : array_like
        Weights (any sign) and positive degrees of freedom (default 1).

    Returns
    -------
    float
        Approximate ``P(Q > x)``, in (0, 1] (0 only where the exact answer is 0).
    """
    x = _check_x(x)
    lam, nu = _collapse(*_check_weights(weights, df), 1e-12)
    if lam.size == 0 or (lam[-1] < 0 and x >= 0) or (lam[0] > 0 and x <= 0):
        return _special(x, lam, nu).pvalue
    cgf = _CGF(lam, nu)
    s = _saddlepoint_root(cgf, x)
    if s is None:
        return _TINY if x > cgf.mean else 1.0
    return _lugannani_rice(cgf, x, s)


# --------------------------------------------------------------------------- moment matching


def _require_nonnegative(lam: np.ndarray, name: str) -> None:
    if lam.size and lam[0] < 0:
        raise ValueError(f"{name} needs weights >= 0 (got a negative weight {lam[0]:g})")


def chi2mix_sf_satterthwaite(x: float, weights, df=None) -> float:
    """Satterthwaite (1946) approximation: ``Q ~ a chi2(b)`` matching mean and variance.

    Only for weights >= 0.  Anti-conservative (too small) far in the upper tail.

    Raises
    ------
    ValueError
        If a weight is negative.
    """
    x = _check_x(x)
    lam, nu = _collapse(*_check_weights(weights, df), 1e-12)
    _require_nonnegative(lam, "Satterthwaite")
    if lam.size == 0:
        return 1.0 if x < 0 else 0.0
    c1, c2 = float(nu @ lam), float(nu @ lam**2)
    return float(stats.chi2.sf(x * c1 / c2, c1 * c1 / c2))


def chi2mix_sf_liu(x: float, weights, df=None) -> float:
    """Liu, Tang & Zhang (2009) approximation by a moment-matched chi-square.

    ``Q`` is replaced by ``c1 + sqrt(2 c2) (X - l) / sqrt(2 l)`` with ``X ~ chi2(l)`` and
    ``c_k = sum nu_j w_j^k``, which matches mean, variance and skewness.  Liu et al.'s
    non-central branch (taken when ``s1^2 > s2``, ``s1 = c3 / c2^1.5``, ``s2 = c4 / c2^2``) needs
    non-central terms: for central chi-squares ``c3^2 <= c2 c4`` (Cauchy-Schwarz), so the
    approximating law is always the central ``chi2(l)`` with ``l = c2^3 / c3^2``.  Only for
    weights >= 0.

    Raises
    ------
    ValueError
        If a weight is negative.
    """
    x = _check_x(x)
    lam, nu = _collapse(*_check_weights(weights, df), 1e-12)
    _require_nonnegative(lam, "Liu")
    if lam.size == 0:
        return 1.0 if x < 0 else 0.0
    c1, c2, c3 = (float(nu @ lam**k) for k in (1, 2, 3))
    l = c2**3 / c3**2
    return float(stats.chi2.sf((x - c1) / math.sqrt(2.0 * c2) * math.sqrt(2.0 * l) + l, l))


# --------------------------------------------------------------------------- inversion


def _gk15(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray):
    """Vectorised Gauss-Kronrod 7/15 on intervals [lo_i, hi_i] with QUADPACK's error estimate."""
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    t = mid[:, None] + half[:, None] * _X15
    fv = f(t.ravel()).reshape(t.shape)
    resk = fv @ _WK15
    err = np.abs(resk - fv @ _WG15)
    resasc = np.abs(fv - 0.5 * resk[:, None]) @ _WK15
    resabs = np.abs(fv) @ _WK15
    pos = resasc > 0
    safe = np.where(pos, resasc, 1.0)
    err = np.where(pos, safe * np.minimum(1.0, (200.0 * err / safe) ** 1.5), err)
    err = np.maximum(err, 50.0 * _EPS * resabs)
    return resk * half, err * half, resabs * half


def _adaptive_gk(f, breaks: np.ndarray, tol_fn, max_intervals: int = 4000):
    """Globally adaptive vectorised GK15; returns (integral, error estimate, converged)."""
    lo, hi = breaks[:-1], breaks[1:]
    val, err, ab = _gk15(f, lo, hi)
    for _ in range(60):
        total, etot = float(val.sum()), float(err.sum())
        tol = tol_fn(total, float(ab.sum()))
        if etot <= tol:
            return total, etot, True
        split = err > tol / (2 * lo.size)
        if lo.size + int(split.sum()) > max_intervals:
            break
        m = 0.5 * (lo[split] + hi[split])
        nlo, nhi = np.concatenate([lo[split], m]), np.concatenate([m, hi[split]])
        v2, e2, a2 = _gk15(f, nlo, nhi)
        keep = ~split
        lo, hi = np.concatenate([lo[keep], nlo]), np.concatenate([hi[keep], nhi])
        val, err = np.concatenate([val[keep], v2]), np.concatenate([err[keep], e2])
        ab = np.concatenate([ab[keep], a2])
    return float(val.sum()), float(err.sum()), False


def _invert(cgf: _CGF, x: float, c: float, rtol: float):
    """Integrate along Re(s) = c.  Returns (pvalue, abs error, ok, note).

    With s = c + i t and a_j = 2 lam_j / (1 - 2 c lam_j) (real, sign of lam_j),
    exp(K(s) - s x) / s = exp(K(c) - c x) G(t),  G(t) = exp(-1/2 sum nu_j log(1 - i a_j t)
    - i t x) / (c + i t), and Re G = h = rho (c cos theta + t sin theta) / (c^2 + t^2) with
    rho = prod (1 + a_j^2 t^2)^(-nu_j/4), theta = sum nu_j/2 arctan(a_j t) - t x.
    c > 0:  P(Q > x)  =  exp(K(c) - c x) / pi * J,   J = int_0^inf h(t) dt,
    c < 0:  P(Q <= x) = -exp(K(c) - c x) / pi * J    (the contour crossed the pole of 1/s
    at 0, whose residue is M(0) = 1).
    """
    a = cgf.two_lam / (1.0 - c * cgf.two_lam)
    abs_a = np.abs(a)
    qn, hn = 0.25 * cgf.nu, 0.5 * cgf.nu
    log_e = cgf.k(c) - c * x
    sig = 1.0 / math.sqrt(0.5 * float(cgf.nu @ (a * a)))  # 1/sqrt(K''(c)): natural t-scale
    t_cap = math.exp(_LOG_A_MAX) / float(abs_a.max())  # keeps (a t)**2 finite

    def h(t: np.ndarray) -> np.ndarray:
        at = t[:, None] * a
        rho = np.exp(-(np.log1p(at * at) @ qn))
        th = np.arctan(at) @ hn - t * x
        return rho * (c * np.cos(th) + t * np.sin(th)) / (c * c + t * t)

    def tail_bound(t: float) -> float:
        """Bound on int_t^inf |h|.

        |h| <= rho/t, and by Bernoulli's inequality rho(r t) <= rho(t) r^(-gamma(t)) for r >= 1
        with gamma(t) = 1/2 sum nu_j a_j^2 t^2 / (1 + a_j^2 t^2); hence the bound rho/gamma.
        """
        z2 = (abs_a * t) ** 2
        gamma = 0.5 * float(cgf.nu @ (z2 / (1.0 + z2)))
        return math.exp(-float(np.log1p(z2) @ qn)) / gamma

    # |J| <= int_0^T dt / sqrt(c^2 + t^2) + tail_bound(T): settles underflowing cases at once
    j_bound = math.asinh(8.0 * sig / abs(c)) + tail_bound(8.0 * sig)
    log_jb = log_e + math.log(j_bound / math.pi)
    if c > 0 and log_jb < -745.0:
        return _TINY, _TINY, True, _UNDERFLOW_NOTE
    if c < 0 and log_jb < math.log(1e-3 * rtol):
        return 1.0, math.exp(log_jb), True, ""
    if log_e > 30.0:  # a line far from the saddlepoint: hopeless cancellation
        return math.nan, math.nan, False, f"badly placed line (log scale factor {log_e:.3g})"
    scale_e = math.exp(log_e) / math.pi

    def p_factor(j: float) -> float:
        """Allowed relative error of J, in units of rtol."""
        if c > 0:
            return 1.0
        # p = 1 - lower with lower = P(Q <= x): the absolute error of p is that of lower
        lower = scale_e * abs(j)
        return min(1e8, max((1.0 - lower) / lower, 1e-6)) if lower > 0 else 1e8

    # Gaussian-Lorentzian estimate of |J| to set the truncation point
    j_est = 0.5 * math.pi * float(special.erfcx(abs(c) / (sig * math.sqrt(2.0))))
    target_tail = 0.02 * rtol * j_est * p_factor(j_est)
    t_end = 8.0 * sig
    while (tail := tail_bound(t_end)) > target_tail and t_end < t_cap:
        t_end = min(2.0 * t_end, t_cap)
    ax = abs(x)
    ray = ax * t_end > 200 * math.pi  # > 100 oscillations before truncation: bend the path
    t_core = min(t_end, max(16.0 * sig, 4.0 * math.pi / ax)) if ray else t_end

    # initial partition: fine near 0 on the natural scale, geometric further out
    base = sig * np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])
    n_geo = max(0, math.ceil(math.log2(t_core / (4.0 * sig))))
    pts = [base, 4.0 * sig * 2.0 ** np.arange(1, n_geo + 1)]
    if abs(c) < 0.25 * sig:
        pts.append(abs(c) * np.array([0.5, 1.0, 2.0, 4.0]))
    pts = np.unique(np.concatenate(pts))
    pts = np.concatenate([[0.0], pts[pts < t_core], [t_core]])
    # at most about two turns of the phase theta(t) per initial interval
    theta = np.arctan(pts[:, None] * a) @ hn - pts * x
    n_sub = np.clip(np.ceil(np.abs(np.diff(theta)) / (4 * math.pi)), 1, 64).astype(int)
    if n_sub.max() > 1:
        edges = zip(pts[:-1], pts[1:], n_sub, strict=True)
        pieces = [np.linspace(p0, p1, k + 1)[:-1] for p0, p1, k in edges]
        pts = np.concatenate([*pieces, [t_core]])

    def tol_fn(j: float, abs_j: float) -> float:
        return max(0.5 * rtol * abs(j) * p_factor(j), 100.0 * _EPS * abs_j)

    j, err, ok = _adaptive_gk(h, pts, tol_fn)
    if ray:
        # G is analytic in Im(s) > 0 (the branch cuts of log(1 - 2 s lam) lie on the real
        # axis) and decays like |s|^(-1 - sum(nu)/2), so the path c + iT -> c + i inf may be
        # replaced by the horizontal ray z = sgn(x) r + iT, r >= 0, on which exp(-z x) decays
        # like exp(-r |x|) instead of oscillating.  Its contribution to J is
        # sgn(x) int_0^inf Im G(z) dr.
        sgn, big_t = math.copysign(1.0, x), t_core

        def g_ray(r: np.ndarray) -> np.ndarray:
            z = sgn * r + 1j * big_t
            lg = np.log(1.0 - z[:, None] * a) @ hn
            return sgn * (np.exp(-lg - z * x) / (c + z)).imag

        # |G| <= exp(-r|x|) prod (|a_j| T)^(-nu_j/2) / T  since |1 - a z| >= |a| T, |c + z| >= T
        log_amp = -float(hn @ np.log(abs_a * big_t)) - math.log(big_t)
        tol_ray = 0.25 * rtol * abs(j) * p_factor(j)
        r_end = max(0.0, (log_amp - math.log(ax) - math.log(0.1 * tol_ray)) / ax)
        scale = min(big_t, 1.0 / ax)
        rp = [scale * 2.0 ** np.arange(-2, 1 + max(0, math.ceil(math.log2(r_end / scale))))]
        near = 1.0 / abs_a[(a * sgn > 0) & (abs_a * r_end > 1.0)]  # poles beside the path
        rp.append((near[:, None] + big_t * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])).ravel())
        if c * sgn < 0:  # the path passes over the pole of 1/s at Re(s) = 0
            rp.append(abs(c) + big_t * np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
        rp = np.unique(np.concatenate(rp))
        rp = np.concatenate([[0.0], rp[(rp > 0) & (rp < r_end)], [r_end]])
        j_ray, err_ray, ok_ray = _adaptive_gk(
            g_ray, rp, lambda v, av: max(tol_ray, 100.0 * _EPS * av)
        )
        j += j_ray
        err += err_ray
        ok = ok and ok_ray
        tail = math.exp(log_amp - r_end * ax) / ax  # bound on the ray beyond r_end
    err += tail
    if not (math.isfinite(j) and math.isfinite(err)):
        return math.nan, math.nan, False, "non-finite integral"
    err_p = scale_e * err
    if c > 0:
        if j <= 0:
            return math.nan, math.nan, False, "non-positive integral"
        log_p = log_e + math.log(j / math.pi)
        if log_p < -745.0:
            return _TINY, _TINY, True, _UNDERFLOW_NOTE
        if log_p > 0.0:
            if math.exp(log_p) - 1.0 > err_p:
                return math.nan, math.nan, False, f"integral gives p = exp({log_p:.3g}) > 1"
            log_p = 0.0
        p = math.exp(log_p)
    else:
        lower = -scale_e * j
        if lower < -err_p or lower >= 1.0:
            return math.nan, math.nan, False, f"lower tail {lower:g} outside [0, 1)"
        p = 1.0 - max(lower, 0.0)
    ok = ok and err_p <= rtol * p
    return p, err_p, ok, ""


def chi2mix_sf(
    x: float, weights, df=None, *, method: str = "exact", rtol: float = 1e-9
) -> Chi2MixtureSF:
    """Survival function ``P(Q > x)`` of ``Q = sum_j w_j chi2(nu_j)``.

    The ``"exact"`` method inverts the characteristic function (Imhof 1961) along the
    vertical line ``Re(s) = c`` through the saddlepoint ``K'(c) = x`` of the cumulant
    generating function ``K(s) = -1/2 sum nu_j log(1 - 2 s w_j)``.  The factor
    ``exp(K(c) - c x)`` is taken out analytically, so the remaining integral is O(1) and
    ``pvalue`` has relative accuracy ``rtol`` even deep in the tail (p = 1e-100 and below).
    For ``c > 0`` the integral gives ``P(Q > x)``; for ``c < 0`` (x below the mean) it gives
    ``P(Q <= x)`` and ``pvalue = 1 - P(Q <= x)``.  Near the mean the line is moved slightly off
    ``c = 0``.  The integral uses vectorised adaptive Gauss-Kronrod quadrature with a rigorous
    bound on the truncated tail; when that tail decays slowly and oscillates (few small df,
    ``x != 0``) the path is bent at ``c + iT`` onto a horizontal ray, where ``exp(-s x)``
    decays instead of oscillating (the integrand is analytic in the upper half-plane).  If the
    error estimate does not reach ``rtol``, the saddlepoint value is returned with
    ``method="saddlepoint"`` and an explanatory ``note``.

    A single distinct weight is evaluated with ``scipy.stats.chi2`` (``method="chi2"``); sums
    with no mass beyond ``x`` give exactly 0 or 1 (``method="degenerate"``).

    Parameters
    ----------
    x : float
        Finite evaluation point.
    weights : array_like, 1-D
        Finite real weights of any sign; zeros are ignored and equal weights merged.
    df : array_like or float, optional
        Positive degrees of freedom, same length as ``weights`` (default 1).
    method : {"exact", "saddlepoint", "satterthwaite", "liu"}
        The last three are approximations (see :func:`chi2mix_sf_saddlepoint`,
        :func:`chi2mix_sf_satterthwaite`, :func:`chi2mix_sf_liu`); the moment-matching ones
        need weights >= 0.
    rtol : float
        Relative accuracy requested from ``"exact"`` (values below 1e-12 are raised to 1e-12).

    Returns
    -------
    Chi2MixtureSF
        ``pvalue``, ``method`` actually used, ``error`` (estimated absolute error, nan for
        approximations) and ``note``.

    Raises
    ------
    ValueError
        On non-finite or non-scalar ``x``, non-1-D or non-finite weights, non-positive or
        mismatched ``df``, an unknown method, ``rtol`` outside (0, 1), or negative weights
        with a moment-matching method.
    """
    x = _check_x(x)
    w, nu = _check_weights(weights, df)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not (isinstance(rtol, (int, float, np.floating)) and 0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    lam, nu = _collapse(w, nu, 1e-12)
    if method in ("satterthwaite", "liu"):
        _require_nonnegative(lam, method.capitalize())
    special_case = _special(x, lam, nu)
    if special_case is not None:
        return special_case
    if method == "satterthwaite":
        return Chi2MixtureSF(chi2mix_sf_satterthwaite(x, lam, nu), method, math.nan)
    if method == "liu":
        return Chi2MixtureSF(chi2mix_sf_liu(x, lam, nu), method, math.nan)

    cgf = _CGF(lam, nu)
    s = _saddlepoint_root(cgf, x)
    if s is None:  # x so far out that exp(K(s) - s x) underflows for every admissible s
        if x > cgf.mean:
            return Chi2MixtureSF(_TINY, "exact", _TINY, _UNDERFLOW_NOTE)
        return Chi2MixtureSF(1.0, "exact", _EPS, "P(Q <= x) is below double precision")
    if method == "saddlepoint":
        return Chi2MixtureSF(_lugannani_rice(cgf, x, s), "saddlepoint", math.nan)

    rtol = max(float(rtol), _RTOL_FLOOR)
    # the saddlepoint is the best-conditioned line; keep |c| >= 0.5/sqrt(K'') so the pole of
    # 1/s at 0 stays well separated, and at most half-way to the CGF's own pole.
    k2 = cgf.k2(s)
    c = s
    if abs(s) * math.sqrt(k2) < 0.5:
        c = math.copysign(0.5 / math.sqrt(k2), s if s != 0 else 1.0)
        c = min(c, 0.5 * cgf.hi) if c > 0 else max(c, 0.5 * cgf.lo)
    p, err, ok, why = _invert(cgf, x, c, rtol)
    if not ok and c < 0:
        # x below the mean but p small: integrate on the other side of the pole at 0 instead
        c2 = min(0.5 / math.sqrt(cgf.k2(0.0)), 0.5 * cgf.hi)
        p2, err2, ok2, why2 = _invert(cgf, x, c2, rtol)
        if ok2 or (math.isfinite(p2) and not math.isfinite(p)):
            p, err, ok, why = p2, err2, ok2, why2
    if ok:
        return Chi2MixtureSF(p, "exact", err, why)
    detail = why or f"error estimate {err:.3g} exceeds rtol * p = {rtol * p:.3g}"
    return Chi2MixtureSF(
        _lugannani_rice(cgf, x, s),
        "saddlepoint",
        math.nan,
        f"exact inversion did not reach the tolerance ({detail}): saddlepoint value reported",
    )
