"""The training test: is training warranted at all?  H₀: τ = 0 (DESIGN §3).

Under H₀, y ~ N(Xβ + o, σ²I). With m = n − p, OLS residuals r of y − o on X and
M = A₀ᵀHA₀ (A₀ an orthonormal basis of the contrasts, eigenvalues μ₁..μ_m, zeros included),

    T = m · rᵀHr / rᵀr,      P(T > t) = P(Σⱼ (μⱼ − t/m) χ²₁ > 0)

exactly and free of σ² and β: the ratio is scale-free, and w = A₀ᵀ(y − o) ~ N(0, σ²I_m).
The REML score at τ = 0 is (T − tr M)/2. The paper's Satterthwaite p-value P(κχ²_ν > T/2),
κ = tr M²/(2 tr M), ν = (tr M)²/tr M², ignores the estimation of σ² and is offered only as a
labelled alternative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .reml import LOG_2PI
from .spectral import Spectrum
from .weighted_chi2 import chi2mix_sf, chi2mix_sf_saddlepoint

METHODS = ("exact", "saddlepoint", "satterthwaite")
RLRT_METHODS = ("rlrt", "rlrt_mixture")


@dataclass(frozen=True)
class TrainingTestResult:
    """Result of :meth:`NTKMixedLMResults.test_training`.

    Attributes
    ----------
    statistic : float
        The score statistic T = m·rᵀHr/rᵀr, or for the RLRT methods 2[ℓ_R(τ̂) − ℓ_R(0)].
    pvalue : float
        P(statistic ≥ observed) under H₀ by ``method``.
    method : str
        "exact" (characteristic-function inversion), "saddlepoint", "satterthwaite",
        "rlrt" (simulated null) or "rlrt_mixture" (50:50 χ²₀:χ²₁ approximation).
    df_resid : int
        m = n − p.
    mean, var : float
        For T: E T = tr M and Var T = 2(m·tr M² − (tr M)²)/(m + 2) under H₀ (NaN for RLRT).
    score : float
        REML score at τ = 0, (T − tr M)/2 (NaN for RLRT).
    nsim : int
        Simulated null draws (RLRT only; 0 otherwise).
    null_mass_zero : float
        RLRT: fraction of null draws with RLRT = 0 (τ̂ = 0); for the mixture, 0.5.
    note : str
        How the p-value was obtained when that needs saying.
    """

    statistic: float
    pvalue: float
    method: str
    df_resid: int
    mean: float = math.nan
    var: float = math.nan
    score: float = math.nan
    nsim: int = 0
    null_mass_zero: float = math.nan
    note: str = ""
    eigenvalues: np.ndarray = field(repr=False, default=None)
    null_draws: np.ndarray = field(repr=False, default=None)

    @property
    def null_hypothesis(self) -> str:
        return "τ = 0 (no training)"

    @property
    def is_rlrt(self) -> bool:
        return self.method.startswith("rlrt")

    def __str__(self) -> str:
        if self.is_rlrt:
            extra = (f"{self.nsim} null draws, P(RLRT = 0) = {self.null_mass_zero:.3f}"
                     if self.method == "rlrt" else "asymptotic, conservative")
            line = (f"Training test (H0: τ = 0): RLRT = {self.statistic:.4g}, "
                    f"p = {format_pvalue(self.pvalue)} ({self.method}; {extra})")
        else:
            line = (
                f"Training test (H0: τ = 0): T = {self.statistic:.4g}, "
                f"E[T | H0] = {self.mean:.4g}, p = {format_pvalue(self.pvalue)} ({self.method})"
            )
        return line + (f"; {self.note}" if self.note else "")

    def __repr__(self) -> str:
        return f"<{self!s}>"

    def _repr_html_(self) -> str:
        return f"<p>{self!s}</p>"


def format_pvalue(p: float) -> str:
    """p-values as printed: 4 decimals down to 1e-4, then 3 significant digits."""
    if p == 0.0:
        return "0"
    if p >= 1e-4:
        return f"{p:.4f}"
    return f"{p:.2e}"


def null_eigenvalues(spectrum: Spectrum, X: np.ndarray) -> np.ndarray:
    """Eigenvalues μ of M = A₀ᵀHA₀ (m = n − p of them, zeros included), ascending.

    Uses H = U Λ Uᵀ: the non-zero spectrum of A₀ᵀHA₀ equals that of
    Λ^{½}(I − Q̃Q̃ᵀ)Λ^{½} with Q̃ = UᵀQ_X, whose other p eigenvalues are zero.
    """
    lam = spectrum.values
    n, p = X.shape
    if p == 0:
        return lam.copy()
    qx, _ = np.linalg.qr(X)
    b = np.sqrt(lam)[:, None] * spectrum.rotate(qx)
    N = -(b @ b.T)
    N[np.diag_indices(n)] += lam
    mu = np.linalg.eigvalsh(N)[p:]
    tiny = n * np.finfo(float).eps * max(float(lam[-1]), 0.0)
    mu[mu < tiny] = 0.0
    return mu


def training_test(
    resid: np.ndarray,
    resid_rot: np.ndarray,
    spectrum: Spectrum,
    mu: np.ndarray,
    method: str = "exact",
) -> TrainingTestResult:
    """The score-type test of H₀: τ = 0.

    Parameters
    ----------
    resid : ndarray, shape (n,)
        OLS residuals of y − o on X.
    resid_rot : ndarray, shape (n,)
        Uᵀ resid.
    spectrum : Spectrum
        Eigendecomposition of H.
    mu : ndarray, shape (m,)
        Eigenvalues of A₀ᵀHA₀ (:func:`null_eigenvalues`).
    method : {"exact", "saddlepoint", "satterthwaite"}
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    m = mu.shape[0]
    rr = float(resid @ resid)
    q = float(spectrum.values @ resid_rot**2) / rr
    T = m * q
    tr1, tr2 = float(mu.sum()), float(mu @ mu)
    mean = tr1
    var = 2.0 * (m * tr2 - tr1**2) / (m + 2)
    note = ""
    if mu[-1] - mu[0] <= 1e-12 * max(float(mu[-1]), 0.0) or mu[-1] == 0.0:
        return TrainingTestResult(
            statistic=T, pvalue=1.0, method=method, df_resid=m, mean=mean, var=var,
            score=0.5 * (T - tr1), eigenvalues=mu,
            note="T is the same for every data set (the kernel is zero or c·I on the "
                 "residual space): the test cannot detect anything",
        )
    if method == "satterthwaite":
        kappa, nu = tr2 / (2.0 * tr1), tr1**2 / tr2
        pvalue = float(stats.chi2.sf(T / (2.0 * kappa), nu))
        note = "P(κχ²_ν > T/2), σ² treated as known (anti-conservative in the tail)"
    else:
        # weights μⱼ − T/m; those within round-off of 0 are 0 (at T = m·μ_max all are ≤ 0)
        weights = mu - q
        weights[np.abs(weights) <= 1e-12 * max(float(mu[-1]), q)] = 0.0
    if method == "saddlepoint":
        pvalue = float(chi2mix_sf_saddlepoint(0.0, weights))
    elif method == "exact":
        res = chi2mix_sf(0.0, weights)
        pvalue, note = float(res.pvalue), res.note
        if res.method == "saddlepoint":
            method = "saddlepoint"
        elif res.method == "degenerate" and pvalue == 0.0:
            note = "T = m·μ_max: every weight ≤ 0, p = 0 exactly"
    return TrainingTestResult(
        statistic=T,
        pvalue=pvalue,
        method=method,
        df_resid=m,
        mean=mean,
        var=var,
        score=0.5 * (T - tr1),
        note=note,
        eigenvalues=mu,
    )


# -- restricted likelihood-ratio test ------------------------------------------------------

_GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


class _BatchREML:
    """ℓ_R(τ) for many response vectors at once, in the eigenbasis of H.

    Under H₀ the REML profile depends on the data only through the contrasts, which are
    N(0, σ²I) whatever β and σ²; and Uᵀ of white noise is white noise. So simulated rotated
    responses ỹ ~ N(0, I_n) give the exact finite-sample null distribution of the RLRT.
    """

    def __init__(self, lam: np.ndarray, X_rot: np.ndarray) -> None:
        self.lam = lam - lam.min()
        self.sum_lam = float(self.lam.sum())
        self.X = X_rot
        self.n, self.p = X_rot.shape
        self.df = self.n - self.p
        # products of design columns, so that X̃ᵀ diag(w) X̃ for many w is one matmul
        self.XX = (X_rot[:, :, None] * X_rot[:, None, :]).reshape(self.n, self.p**2)

    def _finish(self, tau, q, logdet_a):
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = -0.5 * (self.df * (1.0 + LOG_2PI + np.log(q / self.df))
                         + tau * self.sum_lam + logdet_a)
        return np.where(np.isfinite(ll) & (q > 0), ll, -np.inf)

    def on_grid(self, grid: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """ℓ_R at every τ of ``grid`` (G) for every column of ``Y`` (n × B): G × B."""
        W = np.exp(-grid[:, None] * self.lam[None, :])  # G × n
        q = W @ (Y * Y)
        logdet = np.zeros(grid.shape[0])
        if self.p:
            A = (W @ self.XX).reshape(-1, self.p, self.p)  # G × p × p
            B = np.stack([(W * self.X[:, j]) @ Y for j in range(self.p)], axis=1)  # G×p×B
            sign, logdet = np.linalg.slogdet(A)
            ok = sign > 0
            A[~ok] = np.eye(self.p)
            q = q - np.einsum("gjb,gjb->gb", B, np.linalg.solve(A, B))
            q[~ok] = np.nan
            logdet = np.where(ok, logdet, np.nan)
        return self._finish(grid[:, None], q, logdet[:, None])

    def at(self, tau: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """ℓ_R at one τ per column of ``Y`` (B values)."""
        W = np.exp(-tau[None, :] * self.lam[:, None])  # n × B
        q = np.einsum("ib,ib->b", W, Y * Y)
        logdet = np.zeros(tau.shape[0])
        if self.p:
            A = (W.T @ self.XX).reshape(-1, self.p, self.p)  # B × p × p
            b = (W * Y).T @ self.X  # B × p
            sign, logdet = np.linalg.slogdet(A)
            ok = sign > 0
            A[~ok] = np.eye(self.p)
            q = q - np.einsum("bj,bj->b", b, np.linalg.solve(A, b[..., None])[..., 0])
            q[~ok] = np.nan
            logdet = np.where(ok, logdet, np.nan)
        return self._finish(tau, q, logdet)


def simulate_rlrt_null(
    lam: np.ndarray,
    X_rot: np.ndarray,
    grid: np.ndarray,
    nsim: int,
    rng: np.random.Generator,
    *,
    batch: int = 2000,
    refine_steps: int = 16,
) -> np.ndarray:
    """Draws from the exact finite-sample null distribution of RLRT = 2[ℓ_R(τ̂) − ℓ_R(0)].

    V = σ²e^{τH} is not of the form σ²(I + λK), for which Crainiceanu & Ruppert's (2004)
    closed spectral form holds, so the REML profile is maximized per draw: all draws are
    evaluated on the τ grid at once, then each draw's best grid cell is refined by
    golden-section search (``refine_steps`` steps shrink the bracket by 0.618^steps).

    Parameters
    ----------
    lam : ndarray, shape (n,)
        Eigenvalues of H.
    X_rot : ndarray, shape (n, p)
        UᵀX.
    grid : ndarray, shape (G,)
        Increasing positive τ values (the fit's search grid).
    nsim : int
        Number of draws.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (nsim,)
        Simulated RLRT values (≥ 0; exactly 0 where ℓ_R(0) is the maximum).
    """
    model = _BatchREML(lam, X_rot)
    out = np.empty(nsim)
    for start in range(0, nsim, batch):
        b = min(batch, nsim - start)
        Y = rng.standard_normal((model.n, b))
        ll0 = model.on_grid(np.zeros(1), Y)[0]
        ll = model.on_grid(grid, Y)
        best = np.argmax(ll, axis=0)
        cols = np.arange(b)
        ll_best = ll[best, cols]
        # golden-section on log τ in the cell around each draw's best grid point
        # (linear τ in [0, grid[1]] when the best point is the first)
        first = best == 0
        lo = np.where(first, 0.0, np.log(grid[np.maximum(best - 1, 0)]))
        hi = np.log(grid[np.minimum(best + 1, grid.size - 1)])
        hi = np.where(first, grid[np.minimum(1, grid.size - 1)], hi)

        def to_tau(u, first=first):
            return np.where(first, u, np.exp(u))

        x1 = lo + _GOLDEN * (hi - lo)
        x2 = hi - _GOLDEN * (hi - lo)
        f1, f2 = model.at(to_tau(x1), Y), model.at(to_tau(x2), Y)
        for _ in range(refine_steps):
            left = f1 >= f2  # maximum in [lo, x2]
            hi = np.where(left, x2, hi)
            lo = np.where(left, lo, x1)
            new_x1 = lo + _GOLDEN * (hi - lo)
            new_x2 = hi - _GOLDEN * (hi - lo)
            x1, x2 = np.where(left, new_x1, x2), np.where(left, x1, new_x2)
            f_new = model.at(to_tau(np.where(left, x1, x2)), Y)
            f1, f2 = np.where(left, f_new, f2), np.where(left, f1, f_new)
        upper_end = best == grid.size - 1
        ll_max = np.maximum(ll_best, np.where(upper_end, -np.inf, np.maximum(f1, f2)))
        out[start:start + b] = np.maximum(2.0 * (ll_max - ll0), 0.0)
    return out


def rlrt_test(
    observed: float,
    lam: np.ndarray,
    X_rot: np.ndarray,
    grid: np.ndarray,
    *,
    method: str = "rlrt",
    nsim: int = 10_000,
    rng: np.random.Generator | None = None,
) -> TrainingTestResult:
    """Restricted likelihood-ratio test of H₀: τ = 0.

    Parameters
    ----------
    observed : float
        2[ℓ_R(τ̂) − ℓ_R(0)] of the data.
    lam, X_rot, grid
        Eigenvalues of H, UᵀX and the τ search grid of the fit.
    method : {"rlrt", "rlrt_mixture"}
        Monte Carlo p-value from :func:`simulate_rlrt_null` (``nsim`` draws), or the
        asymptotic 50:50 χ²₀:χ²₁ mixture (Self & Liang 1987), conservative when the true
        point mass at zero exceeds one half.
    """
    if method not in RLRT_METHODS:
        raise ValueError(f"method must be one of {RLRT_METHODS}, got {method!r}")
    n, p = X_rot.shape
    observed = max(float(observed), 0.0)
    if method == "rlrt_mixture":
        pvalue = 1.0 if observed == 0.0 else 0.5 * float(stats.chi2.sf(observed, 1))
        return TrainingTestResult(
            statistic=observed, pvalue=pvalue, method=method, df_resid=n - p,
            null_mass_zero=0.5, note="50:50 χ²₀:χ²₁ mixture, an asymptotic approximation",
        )
    if int(nsim) < 1:
        raise ValueError(f"nsim must be a positive integer, got {nsim!r}")
    rng = np.random.default_rng() if rng is None else rng
    draws = simulate_rlrt_null(lam, X_rot, grid, int(nsim), rng)
    # draws within round-off of the observed value count as exceeding it
    exceed = np.count_nonzero(draws >= observed - 1e-9 * max(observed, 1.0))
    return TrainingTestResult(
        statistic=observed,
        pvalue=(exceed + 1) / (nsim + 1),
        method="rlrt",
        df_resid=n - p,
        nsim=int(nsim),
        null_mass_zero=float(np.mean(draws == 0.0)),
        note="" if exceed else (
            f"none of {nsim} null draws reached the statistic; p is reported as the bound "
            f"1/(nsim + 1) = {1 / (nsim + 1):.2g}"
        ),
        null_draws=draws,
    )
