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
