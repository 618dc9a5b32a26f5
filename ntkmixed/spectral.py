"""The eigendecomposition of the training operator H, computed once per model (DESIGN §2)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


class KernelWarning(UserWarning):
    """The kernel matrix needed repair (negative eigenvalues clipped)."""


@dataclass(frozen=True)
class Spectrum:
    """H = U diag(λ) Uᵀ with round-off eigenvalues set to exactly 0.

    Attributes
    ----------
    values : ndarray, shape (n,)
        Eigenvalues λ in ascending order, ≥ 0.
    vectors : ndarray, shape (n, n)
        Orthonormal eigenvectors U (columns).
    n_zero : int
        How many λ were set to exactly 0 (|λ| < n·ε·λ_max, e.g. from tied inputs).
    n_clipped : int
        How many clearly negative λ (below −1e-8·λ_max) were clipped to 0.
    """

    values: np.ndarray
    vectors: np.ndarray
    n_zero: int
    n_clipped: int

    @property
    def n(self) -> int:
        """Size of H."""
        return self.values.shape[0]

    @property
    def lam_max(self) -> float:
        """Largest eigenvalue."""
        return float(self.values[-1])

    @property
    def lam_min(self) -> float:
        """Smallest eigenvalue (0 when H is singular)."""
        return float(self.values[0])

    @property
    def lam_min_positive(self) -> float:
        """Smallest non-zero eigenvalue."""
        pos = self.values[self.values > 0]
        return float(pos[0])

    @property
    def rank(self) -> int:
        """Number of non-zero eigenvalues."""
        return int(np.count_nonzero(self.values))

    def rotate(self, a: np.ndarray) -> np.ndarray:
        """Uᵀ a."""
        return self.vectors.T @ a


def decompose(H: np.ndarray) -> Spectrum:
    """Eigendecompose a symmetric PSD operator, setting round-off eigenvalues to zero.

    Eigenvalues with |λ| < n·ε·λ_max become exactly 0; eigenvalues below −1e-8·λ_max mean
    the kernel is not positive semi-definite: a ``KernelWarning`` is issued and they are
    clipped to 0.

    Raises
    ------
    ValueError
        If H is zero (no eigenvalue is positive).
    """
    lam, U = np.linalg.eigh(np.asarray(H, dtype=np.float64))
    n = lam.shape[0]
    lam_max = float(lam[-1]) if n else 0.0
    if not lam_max > 0:
        raise ValueError("the kernel has no positive eigenvalue (it is zero or negative)")
    neg = lam < -1e-8 * lam_max
    n_clipped = int(neg.sum())
    if n_clipped and -lam[0] > 1e-2 * lam_max:
        raise ValueError(
            f"the kernel is far from positive semi-definite: eigenvalues from {lam[0]:.3g} "
            f"to {lam_max:.3g} ({n_clipped} clearly negative); a training operator must be "
            "PSD (is it a distance matrix, or negated?)"
        )
    if n_clipped:
        warnings.warn(
            f"the kernel is not positive semi-definite: {n_clipped} eigenvalue(s) down to "
            f"{lam.min():.3g} (λ_max = {lam_max:.3g}) were clipped to 0",
            KernelWarning,
            stacklevel=3,
        )
    tiny = np.abs(lam) < n * np.finfo(float).eps * lam_max
    lam = np.where(neg | tiny | (lam < 0), 0.0, lam)
    return Spectrum(values=lam, vectors=U, n_zero=int(tiny.sum()), n_clipped=n_clipped)
