"""Summary tables for reports, built with statsmodels' ``summary2`` (text, HTML, LaTeX)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from statsmodels.iolib import summary2

from .vctest import format_pvalue

if TYPE_CHECKING:
    from .results import NTKMixedLMResults


def _g(x: float, digits: int = 4) -> str:
    """``digits`` significant digits, plain notation where it is short."""
    if not np.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def coef_table(res: NTKMixedLMResults, alpha: float = 0.05) -> pd.DataFrame:
    """Fixed-effects table: Coef., Std.Err., z, P>|z| and the Wald interval."""
    ci = res.conf_int(alpha)
    return pd.DataFrame({
        "Coef.": res.fe_params,
        "Std.Err.": res.bse_fe,
        "z": res.tvalues,
        "P>|z|": res.pvalues,
        f"[{alpha / 2:g}": ci[0],
        f"{1 - alpha / 2:g}]": ci[1],
    })


def build_summary(
    res: NTKMixedLMResults, alpha: float = 0.05, title: str | None = None
) -> summary2.Summary:
    """The summary of an NTK mixed model fit."""
    m = res.model
    smry = summary2.Summary()
    lr = res.default_lr()
    tau_text = _g(res.tau)
    if res.estimate.boundary == "zero":
        tau_text += " (boundary: no training)"
    elif res.estimate.boundary == "fixed":
        tau_text += " (fixed)"
    info = {
        "Model:": "NTKMixedLM",
        "Dependent Variable:": m.endog_names,
        "No. Observations:": str(m.nobs),
        "Rows dropped (NA):": str(m.n_dropped),
        "Method:": res.method,
        "Log-Likelihood:": f"{res.llf:.4f}",
        "Converged:": "Yes" if res.converged else "No (τ̂ at search limit)",
        "τ (training time):": tau_text,
        f"Epochs (η={_g(lr, 3)}):": _g(res.epochs(lr), 4),
        "Scale (noise σ²):": _g(res.scale, 6),
        "Signal variance:": _g(res.signal_var, 6),
        "Signal share:": f"{res.signal_share:.3f}",
        "edf:": f"{res.edf:.2f}",
        "λ_max(H):": _g(m.spectrum.lam_max, 4),
    }
    smry.add_dict(info)
    smry.add_title(title or "NTK Mixed Model Regression Results")
    if m.k_fe:
        table = coef_table(res, alpha)
        smry.add_df(table.map(lambda v: f"{v:.3f}"), align="r")
    test = res.test_training()
    smry.add_df(pd.DataFrame(
        {"T": [f"{test.statistic:.4g}"], "E[T|H0]": [f"{test.mean:.4g}"],
         "sd[T|H0]": [f"{np.sqrt(test.var):.4g}"], "P>T": [format_pvalue(test.pvalue)],
         "Method": [test.method]},
        index=["Training test, H0: τ=0"],
    ), align="r")
    lines = [f"Training test: {test.note}."] if test.note else []
    if m.ntk_spec is not None:
        scaled = " (standardized)" if m.ntk_spec.scale else ""
        lines.append(f"Kernel: H = Θ/n, {m.ntk_spec.describe()}, init={m.ntk_spec.init}.")
        lines.append(f"Network inputs: {', '.join(m.exog_ntk_names)}{scaled}.")
    else:
        lines.append("Kernel: precomputed H.")
    if not m.k_fe:
        lines.append("No fixed effects.")
    if m.missing_by_column:
        miss = ", ".join(f"{k} {v}" for k, v in m.missing_by_column.items())
        lines.append(f"Missing values in the columns used: {miss}.")
    lines.append(
        "τ = learning rate × epochs of full-batch gradient descent on ½·mean squared error; "
        "epochs shown at η = 0.1/λ_max(H)."
    )
    for line in lines:
        smry.add_text(line)
    return smry
