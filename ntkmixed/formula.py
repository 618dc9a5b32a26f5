"""The formula layer: split ``y ~ fixed + ntk(z1, z2, key=value)`` and let formulaic build X.

formulaic parses the formula, codes categoricals (``C()``), builds interactions and drops rows
with missing values; this module only recognises the ``ntk(...)`` term, reads its arguments
with :mod:`ast` (positional arguments are input expressions, keyword arguments are literal
options) and checks what formulaic cannot know (numeric ntk inputs, finite values).
"""

from __future__ import annotations

import ast
import re
import warnings
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


class DataWarning(UserWarning):
    """Something in the data is probably not what the user meant."""


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
    offset: pd.Series | None = None
    used_columns: list = field(default_factory=list)
    predictor_columns: list = field(default_factory=list)
    fixed_spec: Any = None
    ntk_spec: Any = None
    lhs_spec: Any = None
    offset_spec: Any = None


_BACKTICK = re.compile(r"`[^`]+`")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean_message(err: BaseException) -> str:
    """An exception's message without terminal colour codes."""
    return _ANSI.sub("", str(err))


def parse_ntk_call(expr: str, context: Mapping[str, Any] | None = None) -> NTKTerm:
    """Read ``ntk(a, b, arch="mlp3", width=64)`` into inputs and literal options.

    Column names that are not Python names are quoted with backticks, as in formulaic:
    ``ntk(`Solar.R`, Wind)``. An option given as a plain name (``arch=mynet``) is looked up
    in ``context`` (the caller's namespace), e.g. a ``torch.nn.Module``.

    Raises
    ------
    ValueError
        If ``expr`` is not a plain ``ntk(...)`` call with at least one input and literal
        keyword values.
    """
    quoted = _BACKTICK.findall(expr)
    code = expr.strip()
    for i, q in enumerate(quoted):
        code = code.replace(q, f"__ntkmixed_q{i}__", 1)
    try:
        node = ast.parse(code, mode="eval").body
    except SyntaxError as err:
        raise ValueError(
            f"cannot read the ntk() term {expr!r}: {err.msg}; quote column names that are not "
            "Python names with backticks, e.g. ntk(`Solar.R`, `class`)"
        ) from None
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

    def restore(text: str) -> str:
        for i, q in enumerate(quoted):
            text = text.replace(f"__ntkmixed_q{i}__", q)
        return text

    inputs = tuple(restore(ast.unparse(a)) for a in node.args)
    options: dict[str, Any] = {}
    repeated = [k.arg for i, k in enumerate(node.keywords)
                if k.arg in [j.arg for j in node.keywords[:i]]]
    if repeated:
        raise ValueError(f"ntk() option {repeated[0]}= is given twice: {expr!r}")
    for kw in node.keywords:
        if isinstance(kw.value, ast.Name) and context and kw.value.id in context:
            options[kw.arg] = context[kw.value.id]
            continue
        try:
            options[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise ValueError(
                f"ntk() option {kw.arg}= must be a literal value (a number, string or "
                f"True/False, not an expression), got {ast.unparse(kw.value)!r}"
            ) from None
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"ntk() names an input twice: {expr!r}")
    return NTKTerm(inputs=inputs, options=options, expr=expr)


def input_name(expr: str) -> str:
    """The column an ntk() input names (backticks removed), or the expression itself."""
    if len(expr) > 2 and expr[0] == expr[-1] == "`":
        return expr[1:-1]
    return expr


_PLACEHOLDER = "__ntkmixed_ntk_term__"
_NTK_START = re.compile(r"(?<![A-Za-z0-9_.])ntk\s*\(")


def _extract_ntk_calls(formula: str) -> tuple[str, list[str]]:
    """Cut every ``ntk(...)`` call out of the formula text, leaving a placeholder name.

    The ntk() arguments are read by :func:`parse_ntk_call`, not by formulaic, so that they
    may hold backticked names and keyword options. Quotes and backticks are respected when
    matching the closing parenthesis.
    """
    calls, pieces, pos = [], [], 0
    for m in _NTK_START.finditer(formula):
        if m.start() < pos:
            continue  # an ntk( inside an ntk() call: reported by parse_ntk_call
        depth, i, quote = 1, m.end(), None
        while i < len(formula) and depth:
            ch = formula[i]
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"`":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            i += 1
        if depth:
            raise ValueError(f"unbalanced parentheses in {formula[m.start():]!r}")
        calls.append(formula[m.start():i])
        pieces += [formula[pos:m.start()], _PLACEHOLDER]
        pos = i
    pieces.append(formula[pos:])
    return "".join(pieces), calls


def split_formula(
    formula: str, context: Mapping[str, Any] | None = None
) -> tuple[Formula, list[Term], NTKTerm | None]:
    """Parse with formulaic and separate the ``ntk()`` term from the fixed-effect terms.

    Returns
    -------
    parsed, fixed_terms, ntk_term
    """
    if not isinstance(formula, str):
        raise ValueError(f"formula must be a string, got {type(formula).__name__}")
    text, calls = _extract_ntk_calls(formula)
    if len(calls) > 1:
        raise ValueError(
            f"formula has {len(calls)} ntk() terms; exactly one is allowed "
            "(list all network inputs in one ntk(...))"
        )
    try:
        parsed = Formula(text)
    except (FormulaicError, SyntaxError) as err:
        raise ValueError(
            f"cannot parse formula {formula!r}: {clean_message(err)}; quote column names that "
            "are not Python names with backticks, e.g. `Solar.R`"
        ) from None
    if not isinstance(parsed, StructuredFormula) or "lhs" not in parsed._structure:
        raise ValueError(f"formula {formula!r} has no response: write 'y ~ terms'")
    rhs = parsed.rhs
    if not isinstance(rhs, SimpleFormula):
        raise ValueError(f"formula {formula!r}: '|' parts are not supported")
    if _PLACEHOLDER in str(parsed.lhs):
        raise ValueError("ntk() belongs on the right-hand side of the formula")
    ntk_terms = [t for t in rhs if any(_PLACEHOLDER in f.expr for f in t.factors)]
    ntk = None
    if calls:
        bad = [t for t in ntk_terms if len(t.factors) != 1 or t.factors[0].expr != _PLACEHOLDER]
        if bad or not ntk_terms:
            where = str(bad[0]).replace(_PLACEHOLDER, calls[0]) if bad else formula
            raise ValueError(
                f"ntk() must be a term of its own, not part of an interaction or an "
                f"expression: {where}"
            )
        ntk = parse_ntk_call(calls[0], context)
    fixed = [t for t in rhs if t not in ntk_terms]
    return parsed, fixed, ntk


def _ntk_input_terms(inputs: tuple[str, ...], data: pd.DataFrame) -> list[Term]:
    terms = []
    for expr in inputs:
        name = input_name(expr)
        method = "lookup" if name in data.columns else "python"
        terms.append(Term([Factor(name if method == "lookup" else expr, eval_method=method)]))
    return terms


def _check_numeric(col: pd.Series, what: str) -> None:
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise ValueError(f"{what} is not numeric (dtype {col.dtype})")


def _check_ntk_inputs(inputs: tuple[str, ...], data: pd.DataFrame) -> None:
    for expr in inputs:
        name = input_name(expr)
        if name in data.columns:
            try:
                _check_numeric(data[name], f"ntk() input {name!r}")
            except ValueError as err:
                raise ValueError(
                    f"{err}; the network needs numbers: encode it, or put C({name}) among "
                    "the fixed effects"
                ) from None


def _used_columns(formula: str, frame: pd.DataFrame) -> list:
    """Data columns the formula mentions (as whole tokens)."""
    used = []
    for c in frame.columns:
        pattern = r"(?<![A-Za-z0-9_.])" + re.escape(str(c)) + r"(?![A-Za-z0-9_.])"
        if re.search(pattern, formula):
            used.append(c)
    return used


def _warn_numeric_text(formula: str, frame: pd.DataFrame, used: list) -> None:
    """Warn about text columns that look numeric: formulaic treats them as categorical."""
    for c in used:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            continue
        values = col.dropna()
        if values.empty:
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        bad = values[parsed.isna()]
        if parsed.notna().mean() >= 0.9 and bad.size:
            examples = ", ".join(repr(v) for v in pd.unique(bad)[:3])
            warnings.warn(
                f"column {c!r} is stored as text but {parsed.notna().sum()} of its "
                f"{values.size} values are numbers ({bad.size} are not: {examples}); it is "
                "treated as categorical. Convert it with pd.to_numeric(..., errors='coerce') "
                "to use it as a number (the non-numbers become missing and are dropped)",
                DataWarning,
                stacklevel=4,
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


OFFSET_COLUMN = "__ntkmixed_offset__"


def build_frame(
    formula: str,
    data,
    *,
    context: Mapping[str, Any] | None = None,
    require_ntk: bool = True,
    offset=None,
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
    offset : str or array_like, optional
        A column name, or values aligned with the rows of ``data`` (a Series by its index);
        rows where it is missing are dropped like any other.

    Raises
    ------
    ValueError
        Unknown columns, a non-numeric ntk input or response, zero or two ntk() terms,
        infinite values, no rows left.
    """
    frame = as_frame(data)
    parsed, fixed, ntk = split_formula(formula, context)
    if ntk is None and require_ntk:
        raise ValueError(
            f"formula {formula!r} has no ntk() term: add ntk(col, ...) naming the network's "
            "inputs, or pass a precomputed kernel="
        )
    if ntk is not None and not require_ntk:
        raise ValueError("give either an ntk() term or a precomputed kernel=, not both")
    if ntk is not None:
        _check_ntk_inputs(ntk.inputs, frame)
    lhs_name = str(parsed.lhs)
    if lhs_name in frame.columns:
        _check_numeric(frame[lhs_name], f"the response {lhs_name!r}")
    used = _used_columns(formula, frame)
    predictors = _used_columns(formula.split("~", 1)[1], frame)
    _warn_numeric_text(formula, frame, used)

    work = frame.reset_index(drop=True)
    parts = {"lhs": parsed.lhs, "rhs": SimpleFormula(fixed)}
    if ntk is not None:
        parts["ntk"] = SimpleFormula(_ntk_input_terms(ntk.inputs, work))
    if offset is not None:
        work[OFFSET_COLUMN] = _offset_values(offset, frame)
        parts["offset"] = SimpleFormula([Term([Factor(OFFSET_COLUMN, eval_method="lookup")])])
        if isinstance(offset, str):
            used.append(offset)
            predictors.append(offset)
    spec = StructuredFormula(**parts)
    try:
        mats = model_matrix(spec, work, na_action="drop", context=dict(context or {}))
    except FormulaicError as err:
        raise ValueError(
            f"cannot evaluate formula {formula!r} on the data: {clean_message(err)}; "
            f"available columns: {list(frame.columns)}"
        ) from None

    y = mats.lhs
    if y.shape[1] != 1:
        raise ValueError(
            f"the response {lhs_name!r} must be one numeric column; it gives "
            f"{y.shape[1]} columns"
        )
    rows = np.asarray(y.index, dtype=np.int64)
    if rows.size == 0:
        raise ValueError(
            f"no rows left: all {len(frame)} rows have a missing value in a column the "
            "formula uses"
        )
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
                                columns=[input_name(e) for e in ntk.inputs])
        _check_finite(exog_ntk, "ntk() input")
    _check_finite(endog.to_frame(), "response")
    _check_finite(exog, "fixed-effect")
    off = None
    if offset is not None:
        off = pd.Series(np.asarray(mats.offset, dtype=np.float64)[:, 0], index=label,
                        name="offset")
        _check_finite(off.to_frame(), "offset")

    missing_by_column = {
        str(c): int(frame[c].isna().sum()) for c in used if frame[c].isna().any()
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
        offset=off,
        used_columns=[c for c in used if c != OFFSET_COLUMN],
        predictor_columns=predictors,
        fixed_spec=mats.rhs.model_spec,
        ntk_spec=None if ntk is None else mats.ntk.model_spec,
        lhs_spec=mats.lhs.model_spec,
        offset_spec=None if offset is None else mats.offset.model_spec,
    )


def _offset_values(offset, frame: pd.DataFrame) -> np.ndarray:
    """Offset values aligned with the rows of ``frame`` (NaN marks missing)."""
    if isinstance(offset, str):
        if offset not in frame.columns:
            raise ValueError(
                f"offset column {offset!r} not found in data; available columns: "
                f"{list(frame.columns)}"
            )
        col = frame[offset]
        _check_numeric(col, f"offset column {offset!r}")
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    if isinstance(offset, pd.Series):
        offset = align_to_index(offset, frame.index, "offset")
    values = np.asarray(offset, dtype=np.float64).reshape(-1)
    if values.shape[0] != len(frame):
        raise ValueError(f"offset has {values.shape[0]} values but the data have "
                         f"{len(frame)} rows")
    return values


def align_to_index(obj, index: pd.Index, name: str):
    """Reorder a labelled Series/DataFrame to ``index`` (both axes for a square DataFrame).

    Labels are used when they are unique and are exactly the labels of ``index``; other
    labels are an error, since using them by position could silently misalign rows.
    """
    labels = obj.index
    if labels.equals(index):
        return obj
    if not (labels.is_unique and index.is_unique and set(labels) == set(index)):
        raise ValueError(
            f"{name} is labelled but its index does not match the data's index; pass a "
            "NumPy array to align by position"
        )
    if isinstance(obj, pd.DataFrame):
        if not set(obj.columns) == set(index):
            raise ValueError(f"{name}'s columns do not match the data's index")
        return obj.loc[index, index]
    return obj.loc[index]
