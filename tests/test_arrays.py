"""The array interface and its input validation."""

from __future__ import annotations

import numpy as np
import pytest

from ntkmixed import KernelWarning, NTKMixedLM


def _kernel(rng, n):
    a = rng.normal(size=(n, 3))
    return a @ a.T / n + 0.1 * np.eye(n)


def test_inputs_are_not_mutated(rng):
    y, X, H = rng.normal(size=20), np.column_stack([np.ones(20), rng.normal(size=20)]), None
    H = _kernel(rng, 20)
    copies = (y.copy(), X.copy(), H.copy())
    NTKMixedLM(y, X, kernel=H).fit()
    assert all(np.array_equal(a, b) for a, b in zip((y, X, H), copies, strict=True))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kernel": np.ones((20, 19))}, "square"),
        ({"kernel": np.ones((19, 19))}, "19 × 19 but the data have 20 rows"),
        ({"kernel": np.triu(np.ones((20, 20)))}, "not symmetric"),
        ({"kernel": np.full((20, 20), np.nan)}, "kernel contains NaN"),
        ({}, "exactly one of kernel"),
    ],
)
def test_bad_kernels(rng, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NTKMixedLM(rng.normal(size=20), np.ones((20, 1)), **kwargs)


def test_nan_and_inf_in_arrays_name_the_row(rng):
    H = _kernel(rng, 10)
    y = rng.normal(size=10)
    y[3] = np.nan
    with pytest.raises(ValueError, match=r"endog contains NaN values in 1 row.*row 3"):
        NTKMixedLM(y, None, kernel=H)
    X = np.ones((10, 2))
    X[7, 1] = np.inf
    with pytest.raises(ValueError, match=r"exog contains inf.*row 7"):
        NTKMixedLM(rng.normal(size=10), X, kernel=H)
    with pytest.raises(ValueError, match="exog has 9 rows, expected 10"):
        NTKMixedLM(rng.normal(size=10), np.ones((9, 1)), kernel=H)


def test_not_psd_kernel_warns_and_clips(rng):
    H = _kernel(rng, 15)
    lam, U = np.linalg.eigh(H)
    lam[0] = -1e-3 * lam[-1]  # round-off-like: warned and clipped
    with pytest.warns(KernelWarning, match="not positive semi-definite"):
        model = NTKMixedLM(rng.normal(size=15), np.ones((15, 1)), kernel=(U * lam) @ U.T)
        model.fit()
    assert model.spectrum.values.min() == 0.0 and model.spectrum.n_clipped == 1
    lam[0] = -0.5 * lam[-1]  # not a kernel at all
    with pytest.raises(ValueError, match="far from positive semi-definite"):
        NTKMixedLM(rng.normal(size=15), np.ones((15, 1)), kernel=(U * lam) @ U.T).fit()


def test_tied_inputs_give_exact_zero_eigenvalues():
    # mcycle-like ties: duplicated inputs make H singular; those λ become exactly 0
    from ntkmixed.datasets import load_mcycle

    d = load_mcycle()
    m = NTKMixedLM.from_formula("accel ~ ntk(times, arch='mlp1', width=32)", d)
    n_unique = d["times"].nunique()
    assert m.spectrum.n_zero >= len(d) - n_unique
    assert np.count_nonzero(m.spectrum.values == 0.0) >= len(d) - n_unique


def test_bad_tau_and_ntk_conflicts(rng):
    H = _kernel(rng, 10)
    m = NTKMixedLM(rng.normal(size=10), np.ones((10, 1)), kernel=H)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="tau must be"):
            m.fit(tau=bad)
    with pytest.raises(ValueError, match="ntk= options need exog_ntk"):
        NTKMixedLM(rng.normal(size=10), None, kernel=H, ntk={"width": 3})
