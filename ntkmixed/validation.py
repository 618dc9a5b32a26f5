"""Input checks at the boundary of the package: clear ``ValueError``s, inputs never mutated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg


def check_vector(values, name: str, n: int | None = None) -> np.ndarray:
    """A finite float64 vector (copy) of length ``n``.

    Raises
    ------
    ValueError
        Wrong shape or length, non-numeric, NaN or inf (with the count and first row).
    """
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, expected {n}")
    _check_finite(arr, name)
    return arr


def check_matrix(values, name: str, n: int | None = None) -> np.ndarray:
    """A finite float64 matrix (copy) with ``n`` rows; a vector becomes one column."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numeric: {err}") from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows, expected {n}")
    _check_finite(arr, name)
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(axis=1))
        kind = "NaN" if np.isnan(arr[bad]).any() else "inf"
        raise ValueError(
            f"{name} contains {kind} values in {rows.size} row(s) (first at row {rows[0]}); "
            "drop or impute them first (the formula interface drops rows with missing values)"
        )


def check_kernel(H, n: int) -> np.ndarray:
    """A precomputed training operator: finite, n × n and symmetric (returned symmetrized).

    Symmetry is checked to 1e-8 relative to max|H|; within that, (H + Hᵀ)/2 is used.
    """
    arr = np.array(H, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"kernel must be a square n × n matrix, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"kernel is {arr.shape[0]} × {arr.shape[1]} but the data have {n} rows")
    _check_finite(arr, "kernel")
    scale = float(np.abs(arr).max()) if arr.size else 0.0
    asym = float(np.abs(arr - arr.T).max()) if arr.size else 0.0
    if asym > 1e-8 * scale:
        raise ValueError(
            f"kernel is not symmetric: max |H - Hᵀ| = {asym:.3g} (max |H| = {scale:.3g})"
        )
    return 0.5 * (arr + arr.T)


def check_design(X: np.ndarray, names: list[str], rank: bool = True) -> None:
    """Fixed-effect design: enough rows and (with ``rank``) full column rank.

    Raises
    ------
    ValueError
        Fewer than p + 2 rows, or X rank deficient (naming the dependent columns).
    """
    n, p = X.shape
    if n < p + 2:
        raise ValueError(
            f"only {n} rows for {p} fixed effect(s): need at least p + 2 = {p + 2} "
            "(one more for σ² and one for τ)"
        )
    if p == 0 or not rank:
        return
    _, R, piv = scipy.linalg.qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    tol = max(n, p) * np.finfo(float).eps * d[0]
    rank = int((d > tol).sum())
    if rank < p:
        dependent = [names[j] for j in piv[rank:]]
        raise ValueError(
            f"the fixed-effect design is rank deficient (rank {rank} < {p} columns): "
            f"{dependent} are linear combinations of the other columns"
        )


def check_response(y: np.ndarray, offset: np.ndarray, X: np.ndarray, name: str) -> None:
    """The response must vary beyond what the offset and the fixed effects reproduce.

    Raises
    ------
    ValueError
        If y − o is constant (without fixed effects: identically zero) or lies exactly in
        the column space of X: nothing would be left for the noise or the network.
    """
    r = y - offset
    scale = float(np.abs(r).max()) if r.size else 0.0
    if X.shape[1]:
        q, _ = np.linalg.qr(X)
        resid = r - q @ (q.T @ r)
    else:
        resid = r
    if scale == 0.0 or float(np.abs(resid).max()) <= 1e-10 * scale:
        what = "constant" if X.shape[1] else "zero"
        if X.shape[1] and np.ptp(r) > 0:
            what = "exactly a linear combination of the fixed effects"
        raise ValueError(
            f"the response {name!r} (minus any offset) is {what}: there is no variation left "
            "for the noise or the network"
        )


def as_frame(data) -> pd.DataFrame:
    """A DataFrame view of ``data`` (a DataFrame, dict of columns or structured array)."""
    if isinstance(data, pd.DataFrame):
        return data
    try:
        return pd.DataFrame(data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"data must be a DataFrame or a mapping of columns: {err}") from None
