"""Inference on fixed effects: Satterthwaite denominator degrees of freedom and contrasts.

Wald z (normal reference) is the default, as in statsmodels' MixedLM. For small samples the
t reference with Satterthwaite (1946) degrees of freedom is available: for a contrast c,

    ν = 2 (cᵀΦc)² / (gᵀ I⁻¹ g),   g = ∂(cᵀΦ(θ)c)/∂θ,   θ = (τ, σ²),

with Φ(θ) = σ²(XᵀV⁻¹X)⁻¹ the GLS covariance of β̂ and I the expected REML information of θ
(I_ij = ½ tr(P V_i P V_j)), as in lmerTest (Kuznetsova, Brockhoff & Christensen 2017), which
uses the observed Hessian instead. Multi-row contrasts combine the per-direction ν_m as
lmerTest does (Fai & Cornelius 1996): E = Σ ν_m/(ν_m − 2), ν = 2E/(E − q).
"""

from __future__ import annotations

import numpy as np
from patsy import DesignInfo
from scipy.linalg import solve_triangular

from .reml import ProfilePoint


def variance_derivatives(
    point: ProfilePoint, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂Φ/∂τ, ∂Φ/∂σ² and the expected REML information of (τ, σ²) at ``point``.

    In the eigenbasis, with Q an orthonormal basis of e^{−τΛ/2}X̃ (= Q R):
    I_ττ = ½[tr Λ² − 2 tr(QᵀΛ²Q) + tr((QᵀΛQ)²)], I_τσ² = ½[tr Λ − tr(QᵀΛQ)]/σ²,
    I_σ²σ² = ½(n − p)/σ⁴, ∂Φ/∂σ² = Φ/σ², ∂Φ/∂τ = σ²e^{τλ_min} R⁻¹(QᵀΛQ)R⁻ᵀ.
    """
    Q, R = point.q_basis, point.r_factor
    s2 = point.scale
    n, p = Q.shape
    QlQ = Q.T @ (lam[:, None] * Q)
    Ql2Q = Q.T @ ((lam**2)[:, None] * Q)
    i_tt = 0.5 * (float(lam @ lam) - 2.0 * np.trace(Ql2Q) + float(np.sum(QlQ * QlQ.T)))
    i_ts = 0.5 * (float(lam.sum()) - np.trace(QlQ)) / s2
    i_ss = 0.5 * (n - p) / s2**2
    info = np.array([[i_tt, i_ts], [i_ts, i_ss]])
    rinv = solve_triangular(R, np.eye(p))
    d_tau = rinv @ QlQ @ R @ point.cov_beta  # = σ²e^{τλ_min} R⁻¹(QᵀΛQ)R⁻ᵀ
    d_s2 = point.cov_beta / s2
    return d_tau, d_s2, info


def satterthwaite_df(L: np.ndarray, point: ProfilePoint, lam: np.ndarray,
                     fixed_tau: bool = False) -> np.ndarray:
    """Satterthwaite degrees of freedom of each row of the contrast matrix ``L`` (q × p).

    With ``fixed_tau`` (τ held at a given value) only σ² is estimated: ν = n − p exactly.
    """
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    d_tau, d_s2, info = variance_derivatives(point, lam)
    phi = np.einsum("ij,jk,ik->i", L, point.cov_beta, L)
    g = np.stack([np.einsum("ij,jk,ik->i", L, d, L) for d in (d_tau, d_s2)], axis=1)
    if fixed_tau:
        var_g = g[:, 1] ** 2 / info[1, 1]
    else:
        try:
            cov_theta = np.linalg.inv(info)
        except np.linalg.LinAlgError:
            return np.full(L.shape[0], np.nan)
        var_g = np.einsum("ij,jk,ik->i", g, cov_theta, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2.0 * phi**2 / var_g


def combined_df(L: np.ndarray, point: ProfilePoint, lam: np.ndarray,
                fixed_tau: bool = False) -> float:
    """Denominator df of the F test of a q-row contrast (Fai & Cornelius 1996)."""
    L = np.atleast_2d(np.asarray(L, dtype=np.float64))
    q = L.shape[0]
    _, vecs = np.linalg.eigh(L @ point.cov_beta @ L.T)
    nu = satterthwaite_df(vecs.T @ L, point, lam, fixed_tau)
    if q == 1:
        return float(nu[0])
    big = nu > 2
    E = float(np.sum(nu[big] / (nu[big] - 2.0))) + float(np.sum(~big))
    return 2.0 * E / (E - q) if E > q else float(np.min(nu))


def parse_contrast(r_matrix, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Contrast matrix and right-hand side from statsmodels' syntax.

    ``r_matrix`` may be a string or list of strings (``"x1 = 0"``, ``"a - b = 1"``,
    ``"a, b"``), an array (q × p or length p; right-hand side 0), or a tuple (R, q).
    """
    if isinstance(r_matrix, tuple):
        R, q = r_matrix
        R = np.atleast_2d(np.asarray(R, dtype=np.float64))
        q = np.asarray(q, dtype=np.float64).reshape(-1)
        if q.size == 1:
            q = np.full(R.shape[0], float(q[0]))
    elif isinstance(r_matrix, str) or (
        isinstance(r_matrix, (list, tuple)) and r_matrix and isinstance(r_matrix[0], str)
    ):
        try:
            lc = DesignInfo(list(names)).linear_constraint(r_matrix)
        except Exception as err:  # patsy's PatsyError names the offending token
            raise ValueError(f"cannot read the contrast {r_matrix!r}: {err}") from None
        R, q = lc.coefs, lc.constants.reshape(-1)
    else:
        R = np.atleast_2d(np.asarray(r_matrix, dtype=np.float64))
        q = np.zeros(R.shape[0])
    if R.shape[1] != len(names):
        raise ValueError(
            f"the contrast has {R.shape[1]} columns but the model has {len(names)} fixed "
            f"effects {names}"
        )
    if q.shape[0] != R.shape[0]:
        raise ValueError(f"the contrast has {R.shape[0]} rows but {q.shape[0]} right-hand sides")
    if not (np.all(np.isfinite(R)) and np.all(np.isfinite(q))):
        raise ValueError("the contrast must be finite")
    return R, q


def contrast_names(R: np.ndarray, names: list[str]) -> list[str]:
    """Readable names of contrast rows: the coefficient name for a unit row, else c0, c1..."""
    out = []
    for i, row in enumerate(R):
        nz = np.flatnonzero(row)
        out.append(names[nz[0]] if nz.size == 1 and row[nz[0]] == 1.0 else f"c{i}")
    return out

