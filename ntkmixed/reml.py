"""Spectral REML and ML for V = σ² e^{τH} (DESIGN §2).

With H = U diag(λ) Uᵀ, ỹ = Uᵀ(y − o), X̃ = UᵀX and D = diag(e^{τλ}), every quantity at a given
τ costs O(np²): β̂ and log|A| come from a QR decomposition of D^{−½}X̃ (never from normal
equations), σ² is profiled out, and the log-likelihoods carry lme4's and statsmodels'
constants (REML criterion = −2ℓ_R with no ½log|XᵀX| term):

    REML:  ℓ_R(τ) = −½[(n−p)(1 + log 2πσ̂²) + τΣλ + log|A(τ)|],   σ̂² = Q/(n−p)
    ML:    ℓ(τ)   = −½[n(1 + log 2πσ̂²) + τΣλ],                    σ̂² = Q/n

Both are exactly invariant to H → H + cI (σ² absorbs e^{τc}), so the likelihood is computed
with λ − λ_min, which delays underflow of e^{−τλ}. Quantities that are *not* invariant (σ̂² on
the scale of the original H, BLUPs, edf) use the original λ.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.linalg import solve_triangular

LOG_2PI = math.log(2.0 * math.pi)


class ConvergenceWarning(UserWarning):
    """The REML/ML maximum is at the edge of the search range."""


@dataclass(frozen=True)
class ProfilePoint:
    """The profiled likelihood and its by-products at one τ.

    Attributes
    ----------
    tau : float
        Training time.
    llf : float
        Profile (restricted) log-likelihood; −inf where it cannot be evaluated.
    score : float
        dℓ/dτ.
    scale : float
        σ̂²(τ) for the original H.
    beta : ndarray, shape (p,)
        GLS estimate β̂(τ).
    cov_beta : ndarray, shape (p, p)
        σ̂² A(τ)⁻¹, the GLS covariance of β̂ at this τ.
    resid_rot : ndarray, shape (n,)
        Rotated residuals r̃ = ỹ − X̃β̂.
    leverage : ndarray, shape (n,)
        h_i = e^{−τλ_i} x̃_iᵀ A⁻¹ x̃_i (sum p).
    spectral_loss : ndarray, shape (n,)
        ℓ_i = r̃_i² e^{−τλ_i} for the original λ.
    q_basis, r_factor : ndarray, shapes (n, p) and (p, p)
        QR decomposition of e^{−τ(λ−λ_min)/2} X̃.
    """

    tau: float
    llf: float
    score: float
    scale: float
    beta: np.ndarray
    cov_beta: np.ndarray
    resid_rot: np.ndarray
    leverage: np.ndarray
    spectral_loss: np.ndarray
    q_basis: np.ndarray
    r_factor: np.ndarray


@dataclass(frozen=True)
class TauEstimate:
    """The maximizer of the profile likelihood over τ ≥ 0."""

    point: ProfilePoint
    converged: bool
    boundary: str | None  # None (interior), "zero" (τ̂ = 0), "upper" (end of search), "fixed"
    llf_zero: float
    n_evals: int
    search_range: tuple[float, float]

    @property
    def tau(self) -> float:
        return self.point.tau


class ProfileLikelihood:
    """The REML or ML criterion, profiled over β and σ², as a function of τ.

    Parameters
    ----------
    lam : ndarray, shape (n,)
        Eigenvalues of H (≥ 0, ascending).
    y_rot : ndarray, shape (n,)
        Uᵀ(y − o).
    X_rot : ndarray, shape (n, p)
        UᵀX (p may be 0).
    reml : bool
        Restricted (True) or full (False) likelihood.
    """

    def __init__(self, lam: np.ndarray, y_rot: np.ndarray, X_rot: np.ndarray, reml: bool = True):
        self.lam = np.asarray(lam, dtype=np.float64)
        self.lam_min = float(self.lam.min())
        self.lam_shift = self.lam - self.lam_min
        self.sum_shift = float(self.lam_shift.sum())
        self.y_rot = np.asarray(y_rot, dtype=np.float64)
        self.X_rot = np.asarray(X_rot, dtype=np.float64).reshape(self.lam.shape[0], -1)
        self.reml = bool(reml)
        self.n, self.p = self.X_rot.shape
        self.df = self.n - self.p if self.reml else self.n
        self.n_evals = 0

    def at(self, tau: float) -> ProfilePoint:
        """Evaluate the profile likelihood and its by-products at ``tau``."""
        self.n_evals += 1
        # far out on the τ axis e^{−τλ} underflows and A⁻¹ overflows: such points have a
        # non-finite likelihood and count as −∞, so floating-point warnings there are noise
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return self._at(float(tau))

    def _at(self, tau: float, full: bool = True) -> ProfilePoint | tuple[float, float]:
        """The whole point, or with ``full=False`` only (llf, score) for the search."""
        sw = np.exp(-0.5 * tau * self.lam_shift)
        yw = sw * self.y_rot
        p = self.p
        logdet_a = 0.0
        if p:
            Xw = sw[:, None] * self.X_rot
            Qm, R = np.linalg.qr(Xw)
            d = np.abs(np.diag(R))
            singular = not np.all(np.isfinite(d)) or d.min() <= 1e-300
            if singular:
                return self._infeasible(tau) if full else (-math.inf, math.nan)
            logdet_a = 2.0 * float(np.log(d).sum())
            qty = Qm.T @ yw
            rw = yw - Qm @ qty
            leverage = np.einsum("ij,ij->i", Qm, Qm)
        else:
            Qm, R = np.zeros((self.n, 0)), np.zeros((0, 0))
            beta = np.zeros(0)
            rw = yw
            leverage = np.zeros(self.n)
            a_inv = np.zeros((0, 0))
        q = float(rw @ rw)
        if not (q > 0 and np.isfinite(q)):
            return self._infeasible(tau) if full else (-math.inf, math.nan)
        s2_shift = q / self.df
        llf = -0.5 * (self.df * (1.0 + LOG_2PI + math.log(s2_shift)) + tau * self.sum_shift)
        if self.reml:
            llf -= 0.5 * logdet_a
        loss_shift = rw * rw
        resid_part = 1.0 - loss_shift / s2_shift
        if self.reml:
            resid_part = resid_part - leverage
        score = -0.5 * float(self.lam_shift @ resid_part)
        if not np.isfinite(llf):
            return self._infeasible(tau) if full else (-math.inf, math.nan)
        if not full:
            return llf, score
        if p:
            beta = solve_triangular(R, qty)
            rinv = solve_triangular(R, np.eye(p))
            a_inv = rinv @ rinv.T  # (RᵀR)⁻¹ for the shifted λ
        resid_rot = self.y_rot - self.X_rot @ beta
        return ProfilePoint(
            tau=tau,
            llf=llf,
            score=score,
            scale=s2_shift * math.exp(-tau * self.lam_min),
            beta=beta,
            cov_beta=s2_shift * a_inv,
            resid_rot=resid_rot,
            leverage=leverage,
            spectral_loss=resid_rot**2 * np.exp(-tau * self.lam),
            q_basis=Qm,
            r_factor=R,
        )

    def _infeasible(self, tau: float) -> ProfilePoint:
        nan = np.full(self.p, np.nan)
        return ProfilePoint(
            tau=tau,
            llf=-math.inf,
            score=math.nan,
            scale=math.nan,
            beta=nan,
            cov_beta=np.full((self.p, self.p), np.nan),
            resid_rot=np.full(self.n, np.nan),
            leverage=np.full(self.n, np.nan),
            spectral_loss=np.full(self.n, np.nan),
            q_basis=np.full((self.n, self.p), np.nan),
            r_factor=np.full((self.p, self.p), np.nan),
        )

    def _quick(self, tau: float) -> tuple[float, float]:
        self.n_evals += 1
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return self._at(float(tau), full=False)

    def loglike(self, tau: float) -> float:
        """Profile (restricted) log-likelihood at ``tau``."""
        return self._quick(tau)[0]

    def loglike_grid(self, taus: np.ndarray) -> np.ndarray:
        """:meth:`loglike` at many τ at once (one batched QR), −inf where not evaluable."""
        taus = np.asarray(taus, dtype=np.float64)
        self.n_evals += taus.size
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            sw = np.exp(-0.5 * taus[:, None] * self.lam_shift[None, :])  # G × n
            rw = sw * self.y_rot
            logdet = np.zeros(taus.size)
            if self.p:
                Qm, R = np.linalg.qr(sw[:, :, None] * self.X_rot[None, :, :])
                d = np.abs(np.diagonal(R, axis1=1, axis2=2))
                logdet = 2.0 * np.log(d).sum(axis=1)
                rw = rw - np.einsum("gij,gj->gi", Qm, np.einsum("gij,gi->gj", Qm, rw))
            q = np.einsum("gi,gi->g", rw, rw)
            ll = -0.5 * (self.df * (1.0 + LOG_2PI + np.log(q / self.df))
                         + taus * self.sum_shift)
            if self.reml:
                ll -= 0.5 * logdet
        return np.where(np.isfinite(ll) & (q > 0), ll, -np.inf)

    def score(self, tau: float) -> float:
        """dℓ/dτ at ``tau``."""
        return self._quick(tau)[1]

    def kernel_is_uninformative(self) -> bool:
        """Whether the contrasts carry no information on τ: P H P = c·P, P the projection
        orthogonal to X (then the restricted likelihood is flat in τ).

        ‖P(Λ − c)P‖²_F = tr D² − 2 tr(Q̃ᵀD²Q̃) + tr((Q̃ᵀDQ̃)²), D = Λ − cI, in the eigenbasis
        with Q̃ = UᵀQ_X; it is the information on τ at τ = 0 (times 2) once σ² is profiled.
        """
        lam = self.lam
        if self.p:
            Q, _ = np.linalg.qr(self.X_rot)
            c = (lam.sum() - np.einsum("ij,i,ij->", Q, lam, Q)) / (self.n - self.p)
            d = lam - c
            QdQ = Q.T @ (d[:, None] * Q)
            spread = d @ d - 2.0 * np.einsum("ij,i,ij->", Q, d * d, Q) + np.sum(QdQ * QdQ)
        else:
            d = lam - lam.mean()
            spread = d @ d
        return bool(spread <= 1e-12 * float(lam @ lam))

    def search_range(self) -> tuple[float, float]:
        """τ from 1e-3/λ_max to 50/λ⁺_min (DESIGN §2)."""
        pos = self.lam[self.lam > 0]
        return 1e-3 / float(pos[-1]), 50.0 / float(pos[0])

    def grid(self, points_per_decade: int = 12) -> np.ndarray:
        """The search grid: log-spaced over :meth:`search_range`, ≥ 25 points."""
        lo, hi = self.search_range()
        n_grid = max(25, math.ceil(points_per_decade * math.log10(hi / lo)) + 1)
        return np.geomspace(lo, hi, n_grid)

    def maximize(self, points_per_decade: int = 12) -> TauEstimate:
        """Maximize over τ ≥ 0: a log grid, every local maximum refined, and τ = 0 compared.

        Returns
        -------
        TauEstimate
            ``boundary="zero"`` when ℓ(0) is the maximum (no training warranted);
            ``boundary="upper"`` with ``converged=False`` and a ``ConvergenceWarning`` when
            the maximum is at the end of the search range (nearly noise-free data).
        """
        lo, hi = self.search_range()
        grid = self.grid(points_per_decade)
        ll = self.loglike_grid(grid)
        zero = self.at(0.0)
        if not math.isfinite(zero.llf):
            raise ValueError(
                "the likelihood cannot be evaluated even at τ = 0: the residual sum of squares "
                "underflows or overflows (rescale the response)"
            )
        if self.kernel_is_uninformative():
            raise ValueError(
                "the likelihood does not depend on τ: on the space orthogonal to the fixed "
                "effects the kernel is zero or a multiple of the identity, so τ (and whether "
                "training helps) cannot be identified from these data"
            )
        best, best_boundary = zero, "zero"
        finite = np.flatnonzero(np.isfinite(ll))
        last = int(finite[-1]) if finite.size else -1
        for i in _local_maxima(ll):
            if i == last:
                # the end of the range, or the last τ before e^{−τλ} underflows entirely
                cand, boundary = self.at(grid[i]), "upper"
            else:
                a = 0.0 if i == 0 else grid[i - 1]
                cand, boundary = self._refine(a, grid[i + 1]), None
            if cand.llf > best.llf:
                best, best_boundary = cand, boundary
        converged = best_boundary != "upper"
        if not converged:
            warnings.warn(
                f"the likelihood is largest at the end of the search range, τ = "
                f"{best.tau:.4g} (at most 50/λ⁺_min = {hi:.4g}): the data look nearly "
                "noise-free and the network interpolates; τ̂ is a lower bound",
                ConvergenceWarning,
                stacklevel=3,
            )
        return TauEstimate(
            point=best,
            converged=converged,
            boundary=best_boundary,
            llf_zero=zero.llf,
            n_evals=self.n_evals,
            search_range=(lo, hi),
        )

    def _refine(self, a: float, b: float) -> ProfilePoint:
        """Maximum of ℓ on [a, b] (a may be 0): a root of the score, else a bounded search."""
        sa = self.score(a)
        sb = self.score(b)
        if sa > 0 > sb:
            if a > 0:
                u = optimize.brentq(
                    lambda v: self.score(math.exp(v)), math.log(a), math.log(b),
                    xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=200,
                )
                return self.at(math.exp(u))
            t = optimize.brentq(self.score, 0.0, b, xtol=1e-15 * b, maxiter=200)
            return self.at(t)
        def objective(t: float) -> float:
            v = -self.loglike(t)
            return v if math.isfinite(v) else 1e300

        res = optimize.minimize_scalar(
            objective, bounds=(a, b), method="bounded", options={"xatol": 1e-12 * b}
        )
        return self.at(float(res.x))


def _local_maxima(ll: np.ndarray) -> list[int]:
    """Indices of local maxima of a finite-or-−inf sequence (plateaus give their left end)."""
    out = []
    n = ll.shape[0]
    for i in range(n):
        if not np.isfinite(ll[i]):
            continue
        left = i == 0 or ll[i] > ll[i - 1]
        right = i == n - 1 or ll[i] >= ll[i + 1]
        if left and right:
            out.append(i)
    return out


class IntervalWarning(UserWarning):
    """A profile-likelihood interval is unbounded within the search range."""


def profile_interval(
    prof: ProfileLikelihood, estimate: TauEstimate, alpha: float = 0.05
) -> tuple[float, float]:
    """Profile-likelihood confidence interval for τ (DESIGN §2).

    {τ : 2[ℓ(τ̂) − ℓ(τ)] ≤ χ²₁,₁₋α} at an interior τ̂; at τ̂ = 0 the one-sided [0, u] with
    the boundary cut-off χ²₁,₁₋₂α (the null distribution of the likelihood ratio at the
    boundary is the 50:50 mixture of χ²₀ and χ²₁; Self & Liang 1987).

    Returns
    -------
    (lower, upper)
        ``upper`` is ``inf`` (with an ``IntervalWarning``) when the likelihood does not fall
        far enough before the end of the search range.
    """
    from scipy.stats import chi2

    tau_hat, ll_hat = estimate.point.tau, estimate.point.llf
    at_zero = tau_hat == 0.0
    if not 0 < alpha < (0.5 if at_zero else 1.0):
        raise ValueError(
            f"alpha must be in (0, {0.5 if at_zero else 1}), got {alpha!r}"
            + (" (at τ̂ = 0 the one-sided interval uses the χ² quantile at 1 − 2α)"
               if at_zero else "")
        )
    crit = chi2.isf(2 * alpha if at_zero else alpha, 1)

    def excess(t: float) -> float:
        return 2.0 * (ll_hat - prof.loglike(t)) - crit

    if at_zero or excess(0.0) <= 0:
        lower = 0.0
    else:
        lower = optimize.brentq(excess, 0.0, tau_hat, xtol=1e-12 * tau_hat, rtol=1e-12)
    lo_search, hi_search = prof.search_range()
    start = tau_hat if tau_hat > 0 else lo_search
    limit = 20.0 * hi_search
    hi = start
    while True:
        hi *= 2.0
        if hi > limit:
            warnings.warn(
                f"the profile likelihood stays within χ² cut-off {crit:.3g} of its maximum up "
                f"to τ = {limit:.3g}: the upper confidence limit is infinite",
                IntervalWarning, stacklevel=3,
            )
            return lower, math.inf
        if excess(hi) > 0:
            break
    a = hi / 2.0  # the previous point, inside the interval (or τ̂ itself)
    if excess(a) > 0:  # only when τ̂ = 0 and the first step already left the interval
        a = 0.0
    upper = optimize.brentq(excess, a, hi, xtol=1e-12 * hi, rtol=1e-12)
    return lower, upper
