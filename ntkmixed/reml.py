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


@dataclass(frozen=True)
class TauEstimate:
    """The maximizer of the profile likelihood over τ ≥ 0."""

    point: ProfilePoint
    converged: bool
    boundary: str | None  # None (interior), "zero" (τ̂ = 0) or "upper" (end of the search)
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
        tau = float(tau)
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
                return self._infeasible(tau)
            logdet_a = 2.0 * float(np.log(d).sum())
            qty = Qm.T @ yw
            beta = solve_triangular(R, qty)
            rw = yw - Qm @ qty
            leverage = np.einsum("ij,ij->i", Qm, Qm)
            rinv = solve_triangular(R, np.eye(p))
            a_inv = rinv @ rinv.T  # (RᵀR)⁻¹ for the shifted λ
        else:
            beta = np.zeros(0)
            rw = yw
            leverage = np.zeros(self.n)
            a_inv = np.zeros((0, 0))
        q = float(rw @ rw)
        if not (q > 0 and np.isfinite(q)):
            return self._infeasible(tau)
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
            return self._infeasible(tau)
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
        )

    def loglike(self, tau: float) -> float:
        """Profile (restricted) log-likelihood at ``tau``."""
        return self.at(tau).llf

    def score(self, tau: float) -> float:
        """dℓ/dτ at ``tau``."""
        return self.at(tau).score

    def search_range(self) -> tuple[float, float]:
        """τ from 1e-3/λ_max to 50/λ⁺_min (DESIGN §2)."""
        pos = self.lam[self.lam > 0]
        return 1e-3 / float(pos[-1]), 50.0 / float(pos[0])

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
        n_grid = max(25, math.ceil(points_per_decade * math.log10(hi / lo)) + 1)
        grid = np.geomspace(lo, hi, n_grid)
        ll = np.array([self.loglike(t) for t in grid])
        zero = self.at(0.0)
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
        sa = self.score(a) if a > 0 else self.at(0.0).score
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
        res = optimize.minimize_scalar(
            lambda t: -self.loglike(t), bounds=(a, b), method="bounded",
            options={"xatol": 1e-12 * b},
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
