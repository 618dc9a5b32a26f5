"""Summary tables for reports, built with statsmodels' ``summary2`` (text, HTML, LaTeX)."""

from __future__ import annotations

import re
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
    """Fixed-effects table: Coef., Std.Err., z (or t and df), p-value and the interval."""
    ci = res.conf_int(alpha)
    cols = {"Coef.": res.fe_params, "Std.Err.": res.bse_fe}
    if res.use_t:
        cols |= {"t": res.tvalues, "df": res.df_satterthwaite, "P>|t|": res.pvalues}
    else:
        cols |= {"z": res.tvalues, "P>|z|": res.pvalues}
    cols |= {f"[{alpha / 2:g}": ci[0], f"{1 - alpha / 2:g}]": ci[1]}
    return pd.DataFrame(cols)


def _column_format(values: pd.Series) -> str:
    """'%.3f' as statsmodels prints, unless that would show too few significant digits."""
    finite = np.abs(values[np.isfinite(values)])
    big = float(finite.max()) if finite.size else 0.0
    return "{:.3f}" if 0.01 <= big < 1e7 or big == 0 else "{:.4g}"


_LATEX = {"τ": r"$\tau$", "σ²": r"$\sigma^2$", "σ": r"$\sigma$", "η": r"$\eta$",
          "λ_max": r"$\lambda_{\max}$", "λ": r"$\lambda$", "Θ": r"$\Theta$", "½": r"$\frac12$",
          "×": r"$\times$", "μ": r"$\mu$", "χ²": r"$\chi^2$", "κ": r"$\kappa$",
          "ν": r"$\nu$", "≤": r"$\le$", "≥": r"$\ge$", "−": "-", "·": r"$\cdot$"}


class NTKSummary(summary2.Summary):
    """statsmodels' ``Summary`` whose LaTeX output spells Greek letters as LaTeX math."""

    def as_latex(self, label: str = "") -> str:
        text = super().as_latex(label)
        text = text.replace(r"\$\backslash\$", "\\")
        text = re.sub(r"(?<!\\)%", r"\\%", text).replace(r"λ\_max", "λ_max")
        for k, v in _LATEX.items():
            text = text.replace(k, v)
        return text


def _interval(lo: float, hi: float, digits: int = 4) -> str:
    return f"[{_g(lo, digits)}, {_g(hi, digits)}]"


def build_summary(
    res: NTKMixedLMResults, alpha: float = 0.05, title: str | None = None, test: str = "exact"
) -> summary2.Summary:
    """The summary of an NTK mixed model fit."""
    m = res.model
    smry = NTKSummary()
    lr = res.default_lr()
    level = f"{100 * (1 - alpha):g}%"
    tau_text, epochs_text = _g(res.tau), _g(res.epochs(lr), 4)
    if res.estimate.boundary == "fixed":
        tau_text += " (fixed)"
    else:
        lo, hi = res.conf_int_tau(alpha)
        tau_text += f" {_interval(lo, hi)}"
        epochs_text += f" {_interval(*res.epochs(lr, tau=[lo, hi]))}"
    if res.estimate.boundary == "zero":
        tau_text += ", boundary"
    info = {
        "Model:": "NTKMixedLM",
        "Dependent Variable:": m.endog_names,
        "No. Observations:": str(m.nobs),
        "Rows dropped (NA):": str(m.n_dropped),
        "Method:": res.method,
        "Log-Likelihood:": f"{res.llf:.4f}",
        "Converged:": "Yes" if res.converged else "No (τ̂ at search limit)",
        f"τ (training time) {level}:": tau_text,
        f"Epochs (η={_g(lr, 3)}):": epochs_text,
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
        formatted = {}
        for c in table.columns:
            if c == "df":
                fmt = "{:.1f}"
            elif c in ("z", "t") or c.startswith("P>"):
                fmt = "{:.3f}"
            else:
                fmt = _column_format(table[c])
            formatted[c] = table[c].map(fmt.format)
        smry.add_df(pd.DataFrame(formatted), align="r")
    t = res.test_training(test)
    if t.is_rlrt:
        row = {"RLRT": [f"{t.statistic:.4g}"], "P(RLRT=0|H0)": [f"{t.null_mass_zero:.3f}"],
               "P>RLRT": [format_pvalue(t.pvalue)], "Method": [t.method]}
    else:
        row = {"T": [f"{t.statistic:.4g}"], "E[T|H0]": [f"{t.mean:.4g}"],
               "sd[T|H0]": [f"{np.sqrt(t.var):.4g}"], "P>T": [format_pvalue(t.pvalue)],
               "Method": [t.method]}
    smry.add_df(pd.DataFrame(row, index=["Training test, H0: τ=0"]), align="r")
    lines = [f"Training test: {t.note}."] if t.note else []
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
    if res.use_t:
        lines.append("Fixed effects: t tests with Satterthwaite degrees of freedom.")
    lines.append(
        f"τ = learning rate × epochs of full-batch gradient descent on ½·mean squared error; "
        f"epochs at η = 0.1/λ_max(H); τ interval: profile likelihood ({level})."
    )
    for line in lines:
        smry.add_text(line)
    return smry
