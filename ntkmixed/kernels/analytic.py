"""Infinite-width neural tangent kernels of MLPs in the NTK parameterization (numpy float64).

The networks are those of :func:`ntkmixed.kernels.networks.build_mlp` with ``param="ntk"``:
``L`` hidden layers, the first computing ``h₁ = σ_w W₁ x / √d + σ_b b₁``, the next ones
``h_{l+1} = σ_w W_{l+1} φ(h_l) / √width + σ_b b_{l+1}`` and a scalar readout of the same form,
with standard normal ``W`` and ``b``. As the width tends to infinity, their empirical NTK
``Θ(x, x') = ∇_θ f(x)ᵀ ∇_θ f(x')`` converges to the deterministic recursion of Jacot, Gabriel
& Hongler (2018) and Lee et al. (2019)::

    Σ¹(x, x') = σ_w² x·x' / d + σ_b²,      Θ¹ = Σ¹
    for l = 1..L, with (u, v) ~ N(0, [[Σˡ(x, x), Σˡ(x, x')], [Σˡ(x, x'), Σˡ(x', x')]]):
        Σˡ⁺¹(x, x') = σ_w² E[φ(u) φ(v)] + σ_b²
        Σ̇ˡ⁺¹(x, x') = σ_w² E[φ'(u) φ'(v)]
        Θˡ⁺¹ = Θˡ Σ̇ˡ⁺¹ + Σˡ⁺¹
    Θ = Θᴸ⁺¹ (the readout is layer L + 1).

Each nonlinearity contributes one small function (in the style of neural-tangents) mapping the
covariance entries ``k11 = Σ(x, x)``, ``k22 = Σ(x', x')``, ``k12 = Σ(x, x')`` to the pair
``(E[φ(u) φ(v)], E[φ'(u) φ'(v)])`` in closed form.

References
----------
A. Jacot, F. Gabriel and C. Hongler (2018). Neural tangent kernel: convergence and
generalization in neural networks. NeurIPS 31.
J. Lee, L. Xiao, S. S. Schoenholz, Y. Bahri, R. Novak, J. Sohl-Dickstein and J. Pennington
(2019). Wide neural networks of any depth evolve as linear models under gradient descent.
NeurIPS 32.
Y. Cho and L. K. Saul (2009). Kernel methods for deep learning. NeurIPS 22.
C. K. I. Williams (1997). Computing with infinite networks. NeurIPS 9.
R. Novak et al. (2020). Neural Tangents: fast and easy infinite neural networks in Python.
ICLR.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.spatial.distance import cdist

__all__ = [
    "ANALYTIC_ACTIVATIONS",
    "MOMENTS",
    "analytic_ntk",
    "erf_moments",
    "gelu_moments",
    "relu_moments",
]

_TWO_PI = 2.0 * math.pi


def _clip_cross(
    k11: np.ndarray, k22: np.ndarray, k12: np.ndarray, det: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip ``k12`` to the Cauchy–Schwarz range ``|k12| ≤ √(k11 k22)``.

    A ``det`` passed in (``k11 k22 − k12²`` computed more accurately elsewhere) is used, clipped
    at 0, instead of the one recomputed from the covariances.

    Returns
    -------
    s : ndarray
        ``√(k11 k22)``: the root of the product, exact when ``k11 = k22`` (so identical and
        antiparallel inputs give ``k11 k22 − k12² = 0`` exactly), falling back to ``√k11 · √k22``
        where the product overflows or underflows.
    k12 : ndarray
        The clipped cross covariance.
    det : ndarray
        ``k11 k22 − k12² = (s − k12)(s + k12) ≥ 0``, the factored form avoiding the
        cancellation of the difference of products.
    """
    k11 = np.maximum(k11, 0.0)
    k22 = np.maximum(k22, 0.0)
    with np.errstate(over="ignore", under="ignore"):
        prod = k11 * k22
    normal = np.isfinite(prod) & (prod >= np.finfo(np.float64).tiny)
    s = np.where(normal, np.sqrt(np.where(normal, prod, 1.0)), np.sqrt(k11) * np.sqrt(k22))
    k12 = np.clip(k12, -s, s)
    det = (s - k12) * (s + k12) if det is None else np.maximum(det, 0.0)
    return s, k12, det


def relu_moments(
    k11: np.ndarray, k22: np.ndarray, k12: np.ndarray, det: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian moments of the ReLU, φ(x) = max(x, 0) (arc-cosine kernel, Cho & Saul 2009).

    With θ = arccos(k12 / √(k11 k22)) ∈ [0, π], computed stably as
    ``arctan2(√(k11 k22 − k12²), k12)``::

        E[φ(u) φ(v)]   = √(k11 k22) (sin θ + (π − θ) cos θ) / (2π)
                       = (√(k11 k22 − k12²) + (π − θ) k12) / (2π)
        E[φ'(u) φ'(v)] = (π − θ) / (2π)

    Parameters
    ----------
    k11, k22, k12 : ndarray
        Var u, Var v and Cov(u, v) (broadcastable; ``k12`` is clipped to ``±√(k11 k22)``).
    det : ndarray, optional
        ``k11 k22 − k12²`` if known more accurately than its recomputation (θ ≈ √(2(1 − ρ))
        amplifies a round-off error ε in ρ to √ε, which matters for nearly parallel inputs).

    Returns
    -------
    (ndarray, ndarray)
        ``E[φ(u) φ(v)]`` and ``E[φ'(u) φ'(v)]``. For a degenerate variable (``k11 = 0``)
        the derivative moment takes the value 1/2 of the limit θ → 0; it is then multiplied
        by a zero tangent kernel and does not matter.
    """
    nngp, dot, _, _ = _relu_terms(k11, k22, k12, det)
    return nngp, dot


def _relu_terms(
    k11: np.ndarray, k22: np.ndarray, k12: np.ndarray, det: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ReLU moments plus ``s = √(k11 k22)`` and the angle θ, for the next layer's det."""
    s, k12, det = _clip_cross(k11, k22, k12, det)
    root = np.sqrt(det)
    theta = np.arctan2(root, k12)
    nngp = (root + (math.pi - theta) * k12) / _TWO_PI
    dot = (math.pi - theta) / _TWO_PI
    return nngp, dot, s, theta


def _series(theta: np.ndarray, coefs: tuple[float, ...], first_power: int) -> np.ndarray:
    """``Σ_k coefs[k] θ^(first_power + 2k)`` by Horner's rule."""
    t2 = theta * theta
    acc = np.zeros_like(theta)
    for c in reversed(coefs):
        acc = acc * t2 + c
    return acc * theta**first_power


# Taylor coefficients (k = 1..8) of 1 − cos θ = Σ (−1)^(k+1) θ^(2k)/(2k)! and of
# sin θ − θ cos θ = Σ (−1)^(k+1) 2k θ^(2k+1)/(2k+1)!; truncation < 1e-25 relative at θ < 0.25.
_ONE_MINUS_COS = tuple((-1) ** (k + 1) / math.factorial(2 * k) for k in range(1, 9))
_SIN_MINUS_THETA_COS = tuple(
    (-1) ** (k + 1) * 2 * k / math.factorial(2 * k + 1) for k in range(1, 9)
)


def _one_minus_arccos_j(theta: np.ndarray) -> np.ndarray:
    """``1 − J(θ)`` with ``J(θ) = (sin θ + (π − θ) cos θ)/π``, accurate for small θ.

    ``1 − J = (1 − cos θ) − (sin θ − θ cos θ)/π``; both differences cancel for small θ
    (≈ θ²/2 and θ³/3) and are summed as Taylor series below θ = 0.25.
    """
    theta = np.asarray(theta, dtype=np.float64)
    cos = np.cos(theta)
    out = (1.0 - cos) - (np.sin(theta) - theta * cos) / math.pi
    small = theta < 0.25
    if np.any(small):
        t = theta[small]
        out[small] = _series(t, _ONE_MINUS_COS, 2) - _series(t, _SIN_MINUS_THETA_COS, 3) / math.pi
    return out


def _relu_next_det(
    k11: np.ndarray,
    k22: np.ndarray,
    s: np.ndarray,
    theta: np.ndarray,
    sw2: float,
    sb2: float,
) -> np.ndarray:
    """``k11' k22' − k12'²`` of the next ReLU layer, free of cancellation.

    With ``α = σ_w²/2``, ``s = √(k11 k22)``, θ the angle of this layer and the next covariances
    ``k11' = α k11 + σ_b²``, ``k22' = α k22 + σ_b²``, ``k12' = α s J(θ) + σ_b²``::

        k11' k22' − k12'² = α² s² (1 − J)(1 + J) + α σ_b² ((√k11 − √k22)² + 2 s (1 − J)),

    a sum of non-negative terms. Recomputing it from ``k11'``, ``k22'``, ``k12'`` instead loses
    it to round-off when the inputs are (nearly) parallel, and the next angle
    θ' = arctan2(√det', k12') would then be wrong by ~√ε ≈ 1e-8.
    """
    one_minus_j = _one_minus_arccos_j(theta)
    alpha = 0.5 * sw2
    out = (alpha * s) ** 2 * one_minus_j * (2.0 - one_minus_j)
    if sb2 != 0.0:
        gap = (np.sqrt(np.maximum(k11, 0.0)) - np.sqrt(np.maximum(k22, 0.0))) ** 2
        out = out + alpha * sb2 * (gap + 2.0 * s * one_minus_j)
    return out


def _first_layer_det(x1: np.ndarray, x2: np.ndarray, a: float, b: float) -> np.ndarray:
    """``k11 k22 − k12²`` of Σ¹ = a x·x' + b, accurately: ``a² |x ∧ x'|² + a b |x − x'|²``.

    ``|x ∧ x'| = |x||x'| sin∠(x, x') = |x||x'| |x̂ − x̂'| |x̂ + x̂'| / 2`` with unit vectors x̂;
    the distances are summed from differences (``cdist``), not from dot products.
    """
    n1 = np.sqrt(np.einsum("ij,ij->i", x1, x1))
    n2 = np.sqrt(np.einsum("ij,ij->i", x2, x2))
    u1 = x1 / np.where(n1 > 0, n1, 1.0)[:, None]
    u2 = x2 / np.where(n2 > 0, n2, 1.0)[:, None]
    minus = cdist(u1, u2, "sqeuclidean")
    plus = cdist(u1, -u2, "sqeuclidean")
    out = (a * n1[:, None] * n2[None, :]) ** 2 * (minus * plus) / 4.0
    if b != 0.0:
        out = out + (a * b) * cdist(x1, x2, "sqeuclidean")
    return out


def erf_moments(
    k11: np.ndarray, k22: np.ndarray, k12: np.ndarray, det: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian moments of the error function, φ = erf (Williams 1997).

    With ``Δ = (1 + 2 k11)(1 + 2 k22) − 4 k12² = 1 + 2 k11 + 2 k22 + 4 (k11 k22 − k12²) ≥ 1``
    (the expanded form keeps the 1 that the product loses for huge variances)::

        E[φ(u) φ(v)]   = (2/π) arcsin(2 k12 / √((1 + 2 k11)(1 + 2 k22)))
                       = (2/π) arctan2(2 k12, √Δ)
        E[φ'(u) φ'(v)] = (4/π) / √Δ        (φ'(x) = 2 exp(−x²) / √π)

    Parameters
    ----------
    k11, k22, k12 : ndarray
        Var u, Var v and Cov(u, v) (broadcastable).
    det : ndarray, optional
        ``k11 k22 − k12²`` if known more accurately than its recomputation.

    Returns
    -------
    (ndarray, ndarray)
        ``E[φ(u) φ(v)]`` and ``E[φ'(u) φ'(v)]``.
    """
    _, k12, det = _clip_cross(k11, k22, k12, det)
    delta = 1.0 + 2.0 * k11 + 2.0 * k22 + 4.0 * det
    root = np.sqrt(delta)
    nngp = (2.0 / math.pi) * np.arctan2(2.0 * k12, root)
    dot = (4.0 / math.pi) / root
    return nngp, dot


def gelu_moments(
    k11: np.ndarray, k22: np.ndarray, k12: np.ndarray, det: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian moments of the exact GELU, φ(x) = x Φ(x) (Φ the standard normal cdf).

    With ``A = 1 + k11``, ``B = 1 + k22``, ``Δ = AB − k12² = 1 + k11 + k22 + (k11 k22 − k12²)``,
    ``S = 1/A + 1/B`` and ``P = 1/4 + arcsin(k12 / √(AB)) / (2π)``, where
    ``arcsin(k12 / √(AB)) = arctan2(k12, √Δ)``::

        E[φ(u) φ(v)]   = k12 P + (k11 k22 − k12² + k12² S) / (2π √Δ)
        E[φ'(u) φ'(v)] = P + k12 S / (2π √Δ) + k12 / (2π Δ^{3/2})

    Derivation: ``uΦ(u) vΦ(v) = E[u v 1{s ≥ 0} 1{t ≥ 0} | u, v]`` with ``s = u − Z₁``,
    ``t = v − Z₂`` and independent standard normals Z; regressing (u, v) on (s, t) and using
    the orthant moments of a standardized bivariate normal with correlation ρ
    (``P(X ≥ 0, Y ≥ 0) = 1/4 + arcsin ρ / (2π)``, ``E[X² 1] = P + ρ√(1 − ρ²)/(2π)``,
    ``E[XY 1] = ρP + √(1 − ρ²)/(2π)``) gives the first line; the second is its derivative in
    ``k12`` (Price's theorem). Both agree with the Gelu layer of neural-tangents
    (Novak et al. 2020) and are checked against Gauss–Hermite quadrature in the tests.

    Accuracy: for (nearly) parallel or antiparallel pairs with large variances k ≫ 1 the GELU
    behaves like a ReLU at scale √k, and the round-off ~ε k² of ``k11 k22 − k12²`` (unless
    ``det`` is given accurately) becomes a relative error ~ε k of Δ, i.e. of the moments.

    Parameters
    ----------
    k11, k22, k12 : ndarray
        Var u, Var v and Cov(u, v) (broadcastable).
    det : ndarray, optional
        ``k11 k22 − k12²`` if known more accurately than its recomputation.

    Returns
    -------
    (ndarray, ndarray)
        ``E[φ(u) φ(v)]`` and ``E[φ'(u) φ'(v)]``.
    """
    _, k12, det = _clip_cross(k11, k22, k12, det)
    delta = 1.0 + k11 + k22 + det
    root = np.sqrt(delta)
    s = 1.0 / (1.0 + k11) + 1.0 / (1.0 + k22)
    p = 0.25 + np.arctan2(k12, root) / _TWO_PI
    nngp = k12 * p + (det + k12 * k12 * s) / (_TWO_PI * root)
    dot = p + k12 * s / (_TWO_PI * root) + k12 / (_TWO_PI * delta * root)
    return nngp, dot


# (k11, k22, k12[, det]) -> (E[φ(u)φ(v)], E[φ'(u)φ'(v)])
Moments = Callable[..., tuple[np.ndarray, np.ndarray]]

# Largest variance accepted: products of two variances (k11 k22, det) must stay finite.
_MAX_VARIANCE = 1e150

MOMENTS: dict[str, Moments] = {
    "relu": relu_moments,
    "erf": erf_moments,
    "gelu": gelu_moments,
}

ANALYTIC_ACTIVATIONS: tuple[str, ...] = ("relu", "erf", "gelu")


def _as_inputs(z: object, name: str) -> np.ndarray:
    """Validate one input matrix: 2-D, real, finite, at least one column."""
    try:
        arr = np.asarray(z)
    except Exception as exc:  # ragged nested sequences and the like
        raise ValueError(f"{name} must be a 2-D array of finite floats: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, d), got shape {arr.shape}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_sigma(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


_OVERFLOW = (
    "the analytic NTK overflowed float64 (variances beyond 1e150); rescale the inputs (or "
    "sigma_w) to a moderate size"
)


def _check_variances(q1: np.ndarray, q2: np.ndarray) -> None:
    """Refuse variances whose products would overflow float64 and corrupt the angles."""
    if q1.size and not np.max(q1) <= _MAX_VARIANCE:
        raise ValueError(_OVERFLOW)
    if q2.size and not np.max(q2) <= _MAX_VARIANCE:
        raise ValueError(_OVERFLOW)


def analytic_ntk(
    z1: np.ndarray,
    z2: np.ndarray | None = None,
    *,
    depth: int,
    activation: str = "relu",
    sigma_w: float = 1.0,
    sigma_b: float = 0.0,
    return_nngp: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Infinite-width NTK of an MLP in the NTK parameterization.

    The limit (Jacot, Gabriel & Hongler 2018; Lee et al. 2019) of the empirical NTK of
    ``build_mlp(d, depth=depth, width=w, activation=activation, param="ntk",
    sigma_w=sigma_w, sigma_b=sigma_b)`` as ``w → ∞``; see the module docstring for the
    recursion. Closed-form Gaussian moments: ReLU (Cho & Saul 2009), erf (Williams 1997),
    GELU (derived in :func:`gelu_moments`).

    Parameters
    ----------
    z1 : array_like, shape (n1, d)
        Inputs, finite reals.
    z2 : array_like, shape (n2, d), optional
        Second set of inputs; ``None`` gives the symmetric Θ(z1, z1) (exactly symmetric).
    depth : int
        Number L ≥ 1 of hidden layers.
    activation : {"relu", "erf", "gelu"}
        Nonlinearity (case-insensitive).
    sigma_w, sigma_b : float
        Weight and bias multipliers; only their squares enter.
    return_nngp : bool
        Also return the NNGP kernel Σᴸ⁺¹ of the readout (the covariance of the network's
        output at initialization in the limit).

    Returns
    -------
    ndarray, shape (n1, n2)
        Θ(z1, z2) in float64; ``(Θ, Σᴸ⁺¹)`` if ``return_nngp``.

    Raises
    ------
    ValueError
        For inputs that are not finite real 2-D arrays with equal column counts, a depth that
        is not a positive integer, an unknown activation, non-finite sigmas, or inputs so large
        that a layer's variance exceeds 1e150 (its square would overflow float64).

    Notes
    -----
    Numerics. The diagonal variances Σˡ(x, x) are propagated alongside the cross covariances;
    ``k12`` is clipped to ``±√(k11 k22)`` and all angles come from ``arctan2``, so identical,
    zero and antiparallel inputs are handled without NaN, and Θ(z, z) is exactly symmetric.
    For the ReLU, θ = arccos ρ would turn a round-off ε in ρ into an error √ε ≈ 1e-8 for nearly
    parallel inputs (and break positive semi-definiteness at that level); instead
    ``det = k11 k22 − k12²`` is computed exactly for layer 1 (``|x ∧ x'|²`` and ``|x − x'|²``
    from differences of unit vectors) and propagated through each layer by a cancellation-free
    recursion, giving round-off accuracy for any input scale. erf and GELU are smooth, so the
    recomputed det suffices, except that GELU loses a relative ~ε·k for nearly parallel pairs
    once the pre-activation variance k is very large (it approaches a ReLU at scale √k):
    ~1e-13 at k ≈ 1e4, ~1e-10 at k ≈ 1e12 (min eigenvalue ~ −1e-9 relative for near-duplicate
    inputs with k ≳ 1e14).

    Cost: O(n1 n2 (d + depth)) time and a few n1 × n2 float64 arrays of memory.
    """
    x1 = _as_inputs(z1, "z1")
    symmetric = z2 is None
    x2 = x1 if symmetric else _as_inputs(z2, "z2")
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(
            f"z1 and z2 must have the same number of columns, got {x1.shape[1]} and "
            f"{x2.shape[1]}"
        )
    if (
        isinstance(depth, bool)
        or not isinstance(depth, (int, np.integer))
        or int(depth) < 1
    ):
        raise ValueError(f"depth must be an integer ≥ 1, got {depth!r}")
    if not isinstance(activation, str) or activation.lower() not in MOMENTS:
        raise ValueError(
            f"unknown activation {activation!r} for the analytic NTK; choose one of "
            f"{list(ANALYTIC_ACTIVATIONS)}"
        )
    key = activation.lower()
    moments = MOMENTS[key]
    sw2 = _as_sigma(sigma_w, "sigma_w") ** 2
    sb2 = _as_sigma(sigma_b, "sigma_b") ** 2
    d = x1.shape[1]

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # Layer 1: Σ¹ = σ_w² x·x'/d + σ_b², with the diagonal variances carried alongside.
        q1 = sw2 * np.einsum("ij,ij->i", x1, x1) / d + sb2
        q2 = q1 if symmetric else sw2 * np.einsum("ij,ij->i", x2, x2) / d + sb2
        cross = x1 @ x2.T
        if symmetric:
            cross = 0.5 * (cross + cross.T)
        sigma = sw2 * cross / d + sb2
        # k11 k22 − k12² of each pair, carried exactly where the ReLU's arccos needs it
        det = _first_layer_det(x1, x2, sw2 / d, sb2)
        if symmetric:
            det = 0.5 * (det + det.T)
        theta = sigma.copy()
        for layer in range(int(depth)):
            _check_variances(q1, q2)
            k11 = q1[:, None]
            k22 = q2[None, :]
            if key == "relu":
                e_phi, e_dphi, s, angle = _relu_terms(k11, k22, sigma, det)
                # the next layer's det by its exact recursion (ReLU is positively homogeneous)
                if layer + 1 < depth:
                    det = _relu_next_det(k11, k22, s, angle, sw2, sb2)
            else:
                # smooth φ: the next det is recomputed from the covariances
                e_phi, e_dphi = moments(k11, k22, sigma, det)
                det = None
            sigma = sw2 * e_phi + sb2
            theta = theta * (sw2 * e_dphi) + sigma
            # Diagonal variances: the same moments at k11 = k22 = k12 = q.
            d1, _ = moments(q1, q1, q1)
            q1_next = sw2 * d1 + sb2
            if symmetric:
                q2_next = q1_next
            else:
                d2, _ = moments(q2, q2, q2)
                q2_next = sw2 * d2 + sb2
            q1, q2 = q1_next, q2_next
        _check_variances(q1, q2)

    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(sigma))):
        raise ValueError(_OVERFLOW)
    if symmetric:
        theta = 0.5 * (theta + theta.T)
        sigma = 0.5 * (sigma + sigma.T)
    if return_nngp:
        return theta, sigma
    return theta
