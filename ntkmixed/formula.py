"""The formula layer: split ``y ~ fixed + ntk(z1, z2, key=value)`` and let formulaic build X.

formulaic parses the formula, codes categoricals (``C()``), builds interactions and drops rows
with missing values; this module only recognises the ``ntk(...)`` term, reads its arguments
with :mod:`ast` (positional arguments are input expressions, keyword arguments are literal
options) and checks what formulaic cannot know (numeric ntk inputs, finite values).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import FormulaicError
from formulaic.formula import SimpleFormula, StructuredFormula
from formulaic.parser.types import Factor, Term

from .validation import as_frame

_NTK_CALL = re.compile(r"\bntk\s*\(")


@dataclass(frozen=True)
class NTKTerm:
    """An ``ntk(...)`` term: its input expressions and its keyword options."""

    inputs: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    expr: str = ""


@dataclass
class ModelFrame:
    """What a formula gives the model: response, designs, and what was dropped.

    Attributes
    ----------
    endog : pandas.Series
        Response on the rows used.
    exog : pandas.DataFrame
        Fixed-effect design (may have zero columns).
    exog_ntk : pandas.DataFrame or None
        Network inputs, one column per ``ntk()`` argument.
    ntk : NTKTerm or None
        The parsed ``ntk()`` term.
    rows : ndarray of int
        Positions in ``data`` of the rows used.
    n_dropped : int
        Rows dropped for missing values.
    missing_by_column : dict
        For each used data column with missing values, how many.
    fixed_spec, ntk_spec : formulaic ModelSpec
        Specs to rebuild the same columns on new data.
    """

    endog: pd.Series
    exog: pd.DataFrame
    exog_ntk: pd.DataFrame | None
    ntk: NTKTerm | None
    rows: np.ndarray
    n_dropped: int
    missing_by_column: dict[str, int]
    formula: str
    fixed_spec: Any = None
    ntk_spec: Any = None


def _is_ntk(term: Term) -> bool:
    return any(_NTK_CALL.search(f.expr) for f in term.factors)


def parse_ntk_call(expr: str) -> NTKTerm:
    """Read ``ntk(a, b, arch="mlp3", width=64)`` into inputs and literal options.

    Raises
    ------
    ValueError
        If ``expr`` is not a plain ``ntk(...)`` call with at least one input and literal
        keyword values.
    """
    try:
        node = ast.parse(expr.strip(), mode="eval").body
    except SyntaxError as err:
        raise ValueError(f"cannot read the ntk() term {expr!r}: {err.msg}") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "ntk"):
        raise ValueError(
            f"ntk() must be a term of its own, not part of the expression {expr!r}"
        )
    if any(isinstance(a, ast.Starred) for a in node.args) or any(
        k.arg is None for k in node.keywords
    ):
        raise ValueError(f"ntk() takes no *args or **kwargs: {expr!r}")
    if not node.args:
        raise ValueError(f"ntk() needs at least one input column: {expr!r}")
    inputs = tuple(ast.unparse(a) for a in node.args)
    options: dict[str, Any] = {}
    for kw in node.keywords:
        try:
            options[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise ValueError(
                f"ntk() option {kw.arg}= must be a literal (number, string, True/False), "
                f"got {ast.unparse(kw.value)!r}"
            ) from None
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"ntk() names an input twice: {expr!r}")
    return NTKTerm(inputs=inputs, options=options, expr=expr)


def split_formula(formula: str) -> tuple[Formula, list[Term], NTKTerm | None]:
    """Parse with formulaic and separate the ``ntk()`` term from the fixed-effect terms.

    Returns
    -------
    parsed, fixed_terms, ntk_term
    """
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string, got {type(formula).__name__}")
    try:
        parsed = Formula(formula)
    except FormulaicError as err:
        raise ValueError(f"cannot parse formula {formula!r}: {err}") from None
    if not isinstance(parsed, StructuredFormula) or "lhs" not in parsed._structure:
        raise ValueError(f"formula {formula!r} has no response: write 'y ~ terms'")
    rhs = parsed.rhs
    if not isinstance(rhs, SimpleFormula):
        raise ValueError(f"formula {formula!r}: '|' parts are not supported")
    ntk_terms = [t for t in rhs if _is_ntk(t)]
    if len(ntk_terms) > 1:
        raise ValueError(
            f"formula has {len(ntk_terms)} ntk() terms; exactly one is allowed "
            "(list all network inputs in one ntk(...))"
        )
    ntk = None
    if ntk_terms:
        term = ntk_terms[0]
        if len(term.factors) != 1:
            raise ValueError(
                f"ntk() cannot be part of an interaction: {term}"
            )
        ntk = parse_ntk_call(term.factors[0].expr)
    fixed = [t for t in rhs if not _is_ntk(t)]
    return parsed, fixed, ntk


def _ntk_input_terms(inputs: tuple[str, ...], data: pd.DataFrame) -> list[Term]:
    terms = []
    for expr in inputs:
        method = "lookup" if expr in data.columns else "python"
        terms.append(Term([Factor(expr, eval_method=method)]))
    return terms


def _check_ntk_inputs(inputs: tuple[str, ...], data: pd.DataFrame) -> None:
    for expr in inputs:
        if expr in data.columns:
            col = data[expr]
            if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
                raise ValueError(
                    f"ntk() input {expr!r} is not numeric (dtype {col.dtype}); "
                    "the network needs numbers: encode it, or put C(" + expr + ") among "
                    "the fixed effects"
                )


def _check_finite(frame: pd.DataFrame, what: str) -> None:
    values = frame.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        count = int(bad[:, j].sum())
        raise ValueError(
            f"{what} column {frame.columns[j]!r} has {count} infinite value(s); "
            "infinite values are not missing values and are not dropped"
        )


def build_frame(
    formula: str,
    data,
    *,
    context: Mapping[str, Any] | None = None,
    require_ntk: bool = True,
) -> ModelFrame:
    """Evaluate a formula on data: response, fixed effects, ntk inputs; drop missing rows.

    Parameters
    ----------
    formula : str
        ``"y ~ x + C(g) + ntk(z1, z2, arch='mlp3')"``.
    data : DataFrame or mapping of columns
        Not modified.
    context : mapping, optional
        Names available to expressions in the formula (e.g. the caller's functions).
    require_ntk : bool
        Whether a formula without ``ntk()`` is an error (it is not when a precomputed kernel
        is given).

    Raises
    ------
    ValueError
        Unknown columns, a non-numeric ntk input or response, zero or two ntk() terms,
        infinite values.
    """
    frame = as_frame(data)
    parsed, fixed, ntk = split_formula(formula)
    if ntk is None and require_ntk:
        raise ValueError(
            f"formula {formula!r} has no ntk() term: add ntk(col, ...) naming the network's "
            "inputs, or pass a precomputed kernel="
        )
    if ntk is not None and not require_ntk:
        raise ValueError("give either an ntk() term or a precomputed kernel=, not both")

    needed = set(parsed.lhs.required_variables) | set(SimpleFormula(fixed).required_variables)
    if ntk is not None:
        needed |= {e for e in ntk.inputs if e in frame.columns}
        needed |= set(SimpleFormula(_ntk_input_terms(ntk.inputs, frame)).required_variables)
        _check_ntk_inputs(ntk.inputs, frame)
    unknown = sorted(v for v in needed if v not in frame.columns and v not in (context or {}))
    if unknown:
        raise ValueError(
            f"column(s) {unknown} not found in data; available columns: {list(frame.columns)}"
        )

    work = frame.reset_index(drop=True)
    parts = {"lhs": parsed.lhs, "rhs": SimpleFormula(fixed)}
    if ntk is not None:
        parts["ntk"] = SimpleFormula(_ntk_input_terms(ntk.inputs, work))
    spec = StructuredFormula(**parts)
    try:
        mats = model_matrix(spec, work, na_action="drop", context=dict(context or {}))
    except FormulaicError as err:
        raise ValueError(f"cannot evaluate formula {formula!r} on the data: {err}") from None

    y = mats.lhs
    if y.shape[1] != 1:
        raise ValueError(
            f"the response {str(parsed.lhs)!r} must be one numeric column; it gives "
            f"{y.shape[1]} columns {list(y.columns)}"
        )
    rows = np.asarray(y.index, dtype=np.int64)
    label = frame.index[rows]
    endog = pd.Series(np.asarray(y.iloc[:, 0], dtype=np.float64), index=label, name=y.columns[0])
    exog = pd.DataFrame(np.asarray(mats.rhs, dtype=np.float64), index=label,
                        columns=list(mats.rhs.columns))
    exog_ntk = None
    if ntk is not None:
        z = mats.ntk
        if z.shape[1] != len(ntk.inputs):
            raise ValueError(
                f"ntk() inputs {list(ntk.inputs)} give {z.shape[1]} columns "
                f"{list(z.columns)}; each input must be one numeric column"
            )
        exog_ntk = pd.DataFrame(np.asarray(z, dtype=np.float64), index=label,
                                columns=list(ntk.inputs))
        _check_finite(exog_ntk, "ntk() input")
    _check_finite(endog.to_frame(), "response")
    _check_finite(exog, "fixed-effect")

    used = sorted(v for v in needed if v in frame.columns)
    missing_by_column = {
        c: int(frame[c].isna().sum()) for c in used if frame[c].isna().any()
    }
    return ModelFrame(
        endog=endog,
        exog=exog,
        exog_ntk=exog_ntk,
        ntk=ntk,
        rows=rows,
        n_dropped=int(len(frame) - rows.size),
        missing_by_column=missing_by_column,
        formula=formula,
        fixed_spec=mats.rhs.model_spec,
        ntk_spec=None if ntk is None else mats.ntk.model_spec,
    )
