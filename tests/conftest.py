"""Shared fixtures and the size switch for statistical simulations.

Simulations marked ``slow`` run a reduced size by default (CI); ``NTKMIXED_FULL=1`` runs the
full size stated in each test.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

FULL = os.environ.get("NTKMIXED_FULL", "") not in ("", "0")


def sim_size(reduced: int, full: int) -> int:
    """Replicates for a simulation: ``full`` with NTKMIXED_FULL=1, else ``reduced``."""
    return full if FULL else reduced


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261203)


def boundary_problem(rng: np.random.Generator, n: int = 30):
    """(y, X, H) with τ̂ = 0: y − Xβ lies along the contrasts with the smallest eigenvalues
    of A₀ᵀHA₀, so the REML score at τ = 0 is negative."""
    from ntkmixed.kernels import build_mlp, layerwise_ntk

    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    z = rng.normal(size=(n, 1))
    H = layerwise_ntk(build_mlp(1, depth=1, width=32, activation="relu", seed=0), z) / n
    q, _ = np.linalg.qr(X, mode="complete")
    A0 = q[:, 2:]
    _, W = np.linalg.eigh(A0.T @ H @ A0)
    y = X @ [1.0, 2.0] + 3.0 * A0 @ W[:, 0] + 0.01 * A0 @ W[:, 1]
    return y, X, H
