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

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from .spectral import Spectrum
from .weighted_chi2 import chi2mix_sf, chi2mix_sf_saddlepoint

METHODS = ("exact", "saddlepoint", "satterthwaite")


@dataclass(frozen=True)
class TrainingTestResult:
    """Result of :meth:`NTKMixedLMResults.test_training`.

    Attributes
    ----------
    statistic : float
        T = m·rᵀHr/rᵀr.
    pvalue : float
        P(T ≥ statistic) under H₀ by ``method``.
    method : str
        "exact" (characteristic-function inversion), "saddlepoint" or "satterthwaite".
    mean, var : float
        E T = tr M and Var T = 2(m·tr M² − (tr M)²)/(m + 2) under H₀.
    score : float
        REML score at τ = 0, (T − tr M)/2.
    df_resid : int
        m = n − p.
    note : str
        How the p-value was obtained when that needs saying.
    """

    statistic: float
    pvalue: float
    method: str
    mean: float
    var: float
    score: float
    df_resid: int
    note: str = ""
    eigenvalues: np.ndarray = field(repr=False, default=None)

    @property
    def null_hypothesis(self) -> str:
        return "τ = 0 (no training)"

    def __str__(self) -> str:
        line = (
            f"Training test (H0: τ = 0): T = {self.statistic:.4g}, "
            f"E[T | H0] = {self.mean:.4g}, p = {format_pvalue(self.pvalue)} ({self.method})"
        )
        return line + (f"; {self.note}" if self.note else "")

    def _repr_html_(self) -> str:
        return f"<p>{self!s}</p>"


def format_pvalue(p: float) -> str:
    """p-values as printed: 4 decimals down to 1e-4, then 3 significant digits."""
    if p == 0.0:
        return "0 (exact)"
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
        mean=mean,
        var=var,
        score=0.5 * (T - tr1),
        df_resid=m,
        note=note,
        eigenvalues=mu,
    )
