"""Messy data and odd inputs found by trying the package as a new user would."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ntkmixed import NTKMixedLM
from ntkmixed.cli import main
from ntkmixed.datasets import load_airquality
from ntkmixed.formula import DataWarning

SMALL = "arch='mlp1', width=16"


@pytest.fixture
def frame(rng):
    n = 60
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "z": rng.uniform(size=n)})


def _rbf(v):
    return np.exp(-np.subtract.outer(v, v) ** 2 / 0.02)


@pytest.mark.parametrize("kernel", ["identity", "scaled", "ones_plus_identity"])
def test_uninformative_kernels_are_refused_not_reported_as_p_zero(frame, kernel):
    n = len(frame)
    K = {"identity": np.eye(n), "scaled": 3 * np.eye(n),
         "ones_plus_identity": np.ones((n, n)) + np.eye(n)}[kernel]
    model = NTKMixedLM.from_formula("y ~ x", frame, kernel=K)
    with pytest.raises(ValueError, match="does not depend on τ"):
        model.fit()
    test = model.fit(tau=0.0).test_training()  # T = m whatever the data: p = 1, explained
    assert test.pvalue == 1.0 and "cannot detect" in test.note
    assert model.fit(tau=0.0).test_training("satterthwaite").pvalue == 1.0


def test_zero_kernel_on_residual_space(frame):
    model = NTKMixedLM.from_formula("y ~ x", frame, kernel=np.ones((len(frame), len(frame))))
    with pytest.raises(ValueError, match="does not depend on τ"):
        model.fit()
    assert model.fit(tau=0.0).test_training("satterthwaite").pvalue == 1.0


def test_column_names_that_are_not_python_names():
    air = load_airquality()
    for f in ("Ozone ~ `Solar.R` + ntk(Wind, Temp, " + SMALL + ")",
              "Ozone ~ Q('Solar.R') + ntk(Wind, Temp, " + SMALL + ")",
              "Ozone ~ Temp + ntk(Wind, `Solar.R`, " + SMALL + ")"):
        m = NTKMixedLM.from_formula(f, air)
        assert m.nobs == 111 and m.n_dropped == 42, f
        assert m.missing_by_column == {"Ozone": 37, "Solar.R": 7}, f
    m = NTKMixedLM.from_formula("Ozone ~ Temp + ntk(Wind, `Solar.R`, " + SMALL + ")", air)
    assert m.exog_ntk_names == ["Wind", "Solar.R"]
    d = air.rename(columns={"Wind": "class"})
    with pytest.raises(ValueError, match="backticks"):
        NTKMixedLM.from_formula("Ozone ~ ntk(class)", d)
    assert NTKMixedLM.from_formula(f"Ozone ~ ntk(`class`, {SMALL})", d).exog_ntk_names == [
        "class"]


def test_error_messages_have_no_terminal_colour_codes(frame):
    with pytest.raises(ValueError) as err:
        NTKMixedLM.from_formula("y ~ x + ntk(z,", frame)
    assert "\x1b[" not in str(err.value)
    with pytest.raises(ValueError) as err:
        NTKMixedLM.from_formula("y ~ nosuch + ntk(z)", frame)
    assert "\x1b[" not in str(err.value) and "available columns" in str(err.value)


def test_labelled_kernel_and_offset_are_aligned_by_label(frame, rng):
    n = len(frame)
    K = _rbf(frame["z"].to_numpy())
    perm = rng.permutation(n)
    KD = pd.DataFrame(K, frame.index, frame.index).iloc[perm, perm]
    a = NTKMixedLM.from_formula("y ~ x", frame, kernel=K).fit()
    b = NTKMixedLM.from_formula("y ~ x", frame, kernel=KD).fit()
    assert b.llf == pytest.approx(a.llf, rel=1e-12)
    bad = KD.rename(index=lambda i: i + 1000)
    with pytest.raises(ValueError, match="index does not match"):
        NTKMixedLM.from_formula("y ~ x", frame, kernel=bad)
    off = pd.Series(rng.normal(size=n), index=frame.index)
    c = NTKMixedLM.from_formula("y ~ x", frame, kernel=K, offset=off.iloc[perm])
    assert np.allclose(c.offset, off.to_numpy())


def test_dict_data_with_kernel_and_offset(frame):
    cols = {c: frame[c].to_numpy() for c in frame}
    K = _rbf(frame["z"].to_numpy())
    m = NTKMixedLM.from_formula("y ~ x", cols, kernel=K, offset="z")
    assert m.nobs == len(frame) and np.allclose(m.offset, frame["z"])


def test_offset_column_missing_values_are_dropped_and_counted(frame):
    d = frame.assign(o=frame["z"].where(frame.index % 10 != 3))
    m = NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", d, offset="o")
    assert m.n_dropped == 6 and m.missing_by_column == {"o": 6}
    with pytest.raises(ValueError, match="offset column 'nosuch' not found"):
        NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", d, offset="nosuch")


def test_degenerate_responses(frame):
    with pytest.raises(ValueError, match="constant"):
        NTKMixedLM.from_formula(f"c ~ x + ntk(z, {SMALL})", frame.assign(c=1.0))
    with pytest.raises(ValueError, match="linear combination of the fixed effects"):
        NTKMixedLM.from_formula(f"y ~ y + x + ntk(z, {SMALL})", frame)
    with pytest.warns(DataWarning, match="also a network input"):
        NTKMixedLM.from_formula(f"y ~ x + ntk(z, y, {SMALL})", frame)
    with pytest.raises(ValueError, match="no rows left"):
        NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", frame.assign(y=np.nan))


def test_numbers_stored_as_text_are_flagged(frame):
    d = frame.assign(g=np.where(frame.index % 20 == 0, ".", "5").astype(object))
    d.loc[d.index % 20 == 1, "g"] = "6"
    with pytest.warns(DataWarning, match="'g' is stored as text"):
        NTKMixedLM.from_formula(f"y ~ g + ntk(z, {SMALL})", d)


def test_ordinary_fits_emit_no_floating_point_warnings(frame):
    # far ends of the τ search underflow/overflow by design; those must stay silent, and the
    # default learning rate must not trip the learning-rate warning through rounding
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (5, 60):
            res = NTKMixedLM.from_formula("y ~ x + ntk(z)", frame.head(n)).fit()
            res.summary()
            res.epochs()
            NTKMixedLM.from_formula("y ~ x + ntk(z)", frame.head(n)).fit(reml=False).summary()


def test_small_scale_coefficients_are_printed_with_significant_digits(frame):
    d = frame.assign(y=frame["y"] * 1e-9, x=frame["x"])
    res = NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", d).fit()
    row = next(line for line in res.summary().as_text().splitlines() if line.startswith("x "))
    assert f"{res.fe_params['x']:.4g}" in row


def test_latex_summary_is_latex(frame):
    res = NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", frame).fit()
    tex = res.summary().as_latex()
    assert all(ch not in tex for ch in "τσηλ½×")
    assert r"$\tau$" in tex and r"95\%" in tex


def test_numeric_option_types(frame):
    m = NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", frame,
                                ntk_options={"sigma_w": np.float32(1.5), "param": "ntk"})
    assert m.ntk_spec.sigma_w == 1.5
    res = m.fit()
    for bad in ([0.01], "0.01", True):
        with pytest.raises(ValueError, match="lr must be"):
            res.epochs(bad)


def test_training_test_repr_is_readable(frame):
    res = NTKMixedLM.from_formula(f"y ~ x + ntk(z, {SMALL})", frame).fit()
    assert repr(res.test_training()).startswith("<Training test (H0: τ = 0): T = ")


def test_cli_reports_os_errors_as_messages(tmp_path, capsys):
    assert main(["fit", str(tmp_path), "y ~ ntk(x)"]) == 2
    assert "ntkmixed: error:" in capsys.readouterr().err
