"""The results object: statsmodels-shaped attributes, epochs, and the printed summary."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from ntkmixed import LearningRateWarning, NTKMixedLM
from ntkmixed.datasets import load_penguins, load_sleepstudy


@pytest.fixture(scope="module")
def sleep():
    d = load_sleepstudy()
    Z = pd.get_dummies(d["Subject"]).to_numpy(float)
    out = {}
    for reml in (True, False):
        ours = NTKMixedLM.from_formula("Reaction ~ Days", d, kernel=Z @ Z.T).fit(reml=reml)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm = smf.mixedlm("Reaction ~ Days", d, groups=d["Subject"]).fit(
                reml=reml, method="bfgs", gtol=1e-12)
        out[reml] = ours, sm
    return out


def test_inference_columns_match_statsmodels(sleep):
    ours, sm = sleep[True]
    fe = slice(0, 2)
    assert np.allclose(ours.tvalues, sm.tvalues.iloc[fe], rtol=1e-7)
    assert np.allclose(ours.pvalues, sm.pvalues.iloc[fe], rtol=1e-6, atol=1e-300)
    assert np.allclose(ours.conf_int(0.1), sm.conf_int(0.1).iloc[fe], rtol=1e-7)
    assert list(ours.conf_int().columns) == [0, 1]
    assert ours.params.equals(ours.fe_params) and ours.bse.equals(ours.bse_fe)


def test_information_criteria_follow_statsmodels(sleep):
    ours, sm = sleep[False]
    assert ours.aic == pytest.approx(sm.aic, rel=1e-9)
    assert ours.bic == pytest.approx(sm.bic, rel=1e-9)
    reml_fit, _ = sleep[True]
    with pytest.warns(UserWarning, match="REML"):
        assert np.isnan(reml_fit.aic)


@pytest.mark.parametrize(("loss", "c"), [("half_mse", 1), ("mse", 2), ("half_sum", None),
                                         ("sum", None)])
def test_epochs_reproduce_tau_by_discrete_gradient_descent(sleep, loss, c):
    # k = epochs(η) steps of gradient descent on the named loss move the residual by
    # (I − cηH)^k, c = 1, 2, n, 2n; at small η this must equal e^{−τ̂H} (DESIGN §2).
    res, _ = sleep[True]
    n = res.nobs
    c = {"half_sum": n, "sum": 2 * n}.get(loss, c)
    lam = res.model.spectrum.values
    lr = 0.001 / (c * lam[-1])
    k = res.epochs(lr, loss=loss)
    assert k == pytest.approx(res.tau / (c * lr), rel=1e-12)
    discrete = (1 - c * lr * lam) ** round(k)
    assert np.allclose(discrete, np.exp(-res.tau * lam), atol=2e-3)


def test_epochs_warns_and_refuses(sleep):
    res, _ = sleep[True]
    lam_max = res.model.spectrum.lam_max
    assert res.default_lr() == pytest.approx(0.1 / lam_max)
    with pytest.warns(LearningRateWarning):
        res.epochs(0.5 / lam_max)
    with pytest.raises(ValueError, match="diverges"):
        res.epochs(2.0 / lam_max)
    with pytest.raises(ValueError, match="loss must be"):
        res.epochs(loss="l1")
    with pytest.raises(ValueError, match="lr must be"):
        res.epochs(-1.0)


@pytest.fixture(scope="module")
def penguin_fit():
    return NTKMixedLM.from_formula(
        "body_mass_g ~ C(sex) + C(species) + ntk(bill_length_mm, bill_depth_mm, "
        "flipper_length_mm)", load_penguins()).fit()


def test_summary_prints_the_numbers_it_holds(penguin_fit):
    res = penguin_fit
    text = str(res.summary())
    assert f"{res.llf:.4f}" in text
    lo, hi = res.conf_int_tau()
    assert re.search(rf"τ \(training time\) 95%:\s+{res.tau:.4g} \[{lo:.4g}, {hi:.4g}\]", text)
    lr = res.default_lr()
    e_lo, e_hi = res.epochs(lr, tau=[lo, hi])
    assert re.search(
        rf"Epochs \(η={lr:.3g}\):\s+{res.epochs(lr):.4g} \[{e_lo:.4g}, {e_hi:.4g}\]", text)
    assert f"{res.scale:.6g}" in text and f"{res.edf:.2f}" in text
    test = res.test_training()
    row = next(line for line in text.splitlines() if line.startswith("Training test"))
    assert row.split()[-5:] == [f"{test.statistic:.4g}", f"{test.mean:.4g}",
                                f"{np.sqrt(test.var):.4g}", f"{test.pvalue:.2e}", "exact"]
    for name, coef in res.fe_params.items():
        row = next(line for line in text.splitlines() if line.startswith(name))
        assert f"{coef:.3f}" in row and f"{res.bse_fe[name]:.3f}" in row
    assert "Rows dropped (NA):" in text and "MLP 3×512 relu" in text
    flat = " ".join(text.split())  # notes are wrapped to the table width
    assert "bill_length_mm, bill_depth_mm, flipper_length_mm (standardized)" in flat


def test_summary_html_and_latex(penguin_fit):
    s = penguin_fit.summary()
    html, latex = s.as_html(), s.as_latex()
    assert "<table" in html and "Training test" in html
    assert "\\begin{table}" in latex and "Intercept" in latex
    assert penguin_fit._repr_html_().startswith("<table")


def test_signal_variance_and_share(penguin_fit):
    res = penguin_fit
    g = res.random_effects.to_numpy()
    assert res.signal_var == pytest.approx(g.var(), rel=1e-12)
    assert res.signal_share == pytest.approx(g.var() / (g.var() + res.scale), rel=1e-12)
    assert 0 < res.signal_share < 1
    assert res.random_effects.index.equals(res.fittedvalues.index)
    assert res.nobs == 333 and len(res.resid) == 333
    # the rows kept are the penguins rows with complete data, labels preserved
    assert res.resid.index[3] == 4
