"""The formula interface: what formulaic builds, what is dropped, and what is refused."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from ntkmixed import NTKMixedLM
from ntkmixed.datasets import load_penguins

SMALL = "arch='mlp1', width=16"


@pytest.fixture
def penguins():
    return load_penguins()


def test_design_matches_statsmodels_and_missing_rows_are_counted(penguins):
    before = penguins.copy()
    f = "body_mass_g ~ C(sex) + C(species) + flipper_length_mm:bill_depth_mm"
    model = NTKMixedLM.from_formula(f"{f} + ntk(bill_length_mm, {SMALL})", penguins)
    # statsmodels/patsy drops the same incomplete rows (sex has 11 NA, 2 rows have no
    # measurements at all) — its design uses the same treatment coding
    ols = smf.ols(f, penguins.dropna(subset=["sex", "bill_length_mm"])).fit()
    assert model.nobs == 333 == ols.nobs
    assert model.n_dropped == 11
    assert model.missing_by_column["sex"] == 11
    assert np.allclose(model.exog, ols.model.exog)
    assert model.exog_names == list(ols.model.exog_names)
    assert list(model.data_index) == list(ols.model.data.row_labels)
    pd.testing.assert_frame_equal(penguins, before)  # data not mutated
    text = model.fit(tau=0.0).summary().as_text()
    assert re.search(r"Rows dropped \(NA\):\s+11\b", text)


def test_no_intercept_and_interactions(penguins):
    m = NTKMixedLM.from_formula(f"body_mass_g ~ 0 + C(species) + ntk(bill_length_mm, {SMALL})",
                                penguins)
    assert m.exog_names == ["C(species)[Adelie]", "C(species)[Chinstrap]", "C(species)[Gentoo]"]
    m2 = NTKMixedLM.from_formula(
        f"body_mass_g ~ bill_depth_mm * C(sex) - 1 + ntk(bill_length_mm, {SMALL})", penguins)
    assert "bill_depth_mm:C(sex)[T.male]" in m2.exog_names
    assert "Intercept" not in m2.exog_names


def test_ntk_options_reach_the_network(penguins):
    m = NTKMixedLM.from_formula(
        "body_mass_g ~ ntk(bill_length_mm, flipper_length_mm, arch='mlp2', width=24, "
        "activation='tanh', seed=3, param='ntk', sigma_b=0.1, scale=False)", penguins)
    s = m.ntk_spec
    assert (s.depth, s.width, s.activation, s.seed, s.param, s.sigma_b, s.scale) == (
        2, 24, "tanh", 3, "ntk", 0.1, False)
    assert m.network[0].in_features == 2 and m.network[0].out_features == 24
    assert m.exog_ntk_names == ["bill_length_mm", "flipper_length_mm"]
    # the CLI's --seed override wins over the formula's seed
    m2 = NTKMixedLM.from_formula(f"body_mass_g ~ ntk(bill_length_mm, {SMALL}, seed=1)",
                                 penguins, ntk_options={"seed": 9})
    assert m2.ntk_spec.seed == 9


def test_init_covariate_and_offset(penguins):
    base = NTKMixedLM.from_formula(f"body_mass_g ~ ntk(bill_length_mm, {SMALL})", penguins)
    f0 = NTKMixedLM.from_formula(
        f"body_mass_g ~ ntk(bill_length_mm, {SMALL}, init='offset')", penguins
    ).offset
    cov = NTKMixedLM.from_formula(
        f"body_mass_g ~ ntk(bill_length_mm, {SMALL}, init='covariate')", penguins)
    assert np.array_equal(base.offset, np.zeros(base.nobs))
    assert np.allclose(f0, base.ntk_features.f0)
    assert cov.exog_names[-1] == "f0" and np.allclose(cov.exog[:, -1], f0)


def test_precomputed_kernel_rows_follow_dropped_rows():
    d = pd.DataFrame({"y": [1.0, 2.0, np.nan, 4.0, 3.0, 5.0, 2.5],
                      "x": [0.0, 1.0, 2.0, 3.0, 4.0, np.nan, 6.0]})
    H = np.arange(49.0).reshape(7, 7)
    H = H + H.T + 100 * np.eye(7)
    m = NTKMixedLM.from_formula("y ~ x", d, kernel=H)
    keep = [0, 1, 3, 4, 6]
    assert m.n_dropped == 2
    assert np.array_equal(m.kernel, H[np.ix_(keep, keep)])


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("body_mass_g ~ nosuch + ntk(bill_length_mm)", "`nosuch` is not present"),
        ("body_mass_g ~ ntk(species)", "ntk\\(\\) input 'species' is not numeric"),
        ("body_mass_g ~ C(sex)", "no ntk\\(\\) term"),
        ("body_mass_g ~ ntk(bill_length_mm) + ntk(bill_depth_mm)", "2 ntk\\(\\) terms"),
        ("body_mass_g ~ year:ntk(bill_depth_mm)", "interaction"),
        ("body_mass_g ~ ntk(bill_length_mm, arch='cnn')", "unknown arch"),
        ("body_mass_g ~ ntk(bill_length_mm, widht=3)", "unknown ntk\\(\\) option"),
        ("body_mass_g ~ ntk(bill_length_mm, activation='swish')", "activation"),
        ("body_mass_g ~ ntk(bill_length_mm, init='random')", "init must be"),
        ("body_mass_g ~ ntk(bill_length_mm, width=0)", "width"),
        ("species ~ ntk(bill_length_mm)", "response 'species' is not numeric"),
        ("~ ntk(bill_length_mm)", "no response"),
        ("body_mass_g ~ ntk()", "at least one input"),
        ("body_mass_g ~ (", "cannot parse"),
    ],
)
def test_bad_formulas_raise_named_value_errors(penguins, formula, message):
    with pytest.raises(ValueError, match=message):
        NTKMixedLM.from_formula(formula, penguins)


def test_kernel_and_ntk_together_is_an_error(penguins):
    with pytest.raises(ValueError, match="not both"):
        NTKMixedLM.from_formula("body_mass_g ~ ntk(bill_length_mm)", penguins,
                                kernel=np.eye(len(penguins)))


def test_infinite_values_are_errors_not_missing(penguins):
    d = penguins.copy()
    d.loc[5, "flipper_length_mm"] = np.inf
    with pytest.raises(ValueError, match="'flipper_length_mm' has 1 infinite"):
        NTKMixedLM.from_formula(f"body_mass_g ~ ntk(flipper_length_mm, {SMALL})", d)
    with pytest.raises(ValueError, match="infinite"):
        NTKMixedLM.from_formula(f"body_mass_g ~ flipper_length_mm + ntk(year, {SMALL})", d)


def test_too_few_rows_and_rank_deficiency(penguins):
    tiny = penguins.dropna().head(4)
    with pytest.raises(ValueError, match="only 4 rows for 3 fixed effect"):
        NTKMixedLM.from_formula(f"body_mass_g ~ C(species) + bill_depth_mm + "
                                f"ntk(bill_length_mm, {SMALL})", tiny.assign(
                                    species=["Adelie", "Gentoo", "Adelie", "Gentoo"]))
    d = penguins.assign(depth_cm=penguins["bill_depth_mm"] / 10)
    with pytest.raises(ValueError, match=r"rank deficient.*depth"):
        NTKMixedLM.from_formula(
            f"body_mass_g ~ bill_depth_mm + depth_cm + ntk(bill_length_mm, {SMALL})", d)


def test_constant_ntk_input_is_refused(penguins):
    d = penguins.assign(one=1.0)
    with pytest.raises(ValueError, match="'one' is constant"):
        NTKMixedLM.from_formula(f"body_mass_g ~ ntk(one, bill_length_mm, {SMALL})", d)


def test_formula_expressions_use_callers_names(penguins):
    def grams_to_kg(v):
        return v / 1000

    m = NTKMixedLM.from_formula(
        f"grams_to_kg(body_mass_g) ~ np.log(flipper_length_mm) + ntk(bill_length_mm, {SMALL})",
        penguins)
    assert m.endog.max() == pytest.approx(penguins["body_mass_g"].max() / 1000)
    assert m.exog_names == ["Intercept", "np.log(flipper_length_mm)"]
