"""Prediction off the training points (DESIGN §4): the trained network and its uncertainty.

With H* = Θ(Z*, Z)/n (new × train, the same seeded network and input scaling as the fit),
h** = diag Θ(Z*, Z*)/n, r = y − o − Xβ̂, φ(λ) = (1 − e^{−τλ})/λ and
ψ(λ) = (τλ − 1 + e^{−τλ})/λ²:

    mean       ŷ* = X*β̂ + o* + H* U diag(φ) Uᵀ r             (the network trained for τ̂)
    Var(g*|y)  = σ²[τh** − H* U diag(ψ) Uᵀ H*ᵀ]
    Var(ŷ* − y*) = σ²[1 + τh** − H*U diag(ψ) UᵀH*ᵀ + dᵀA⁻¹d],  d = x* − X̃ᵀ diag(φ) UᵀH*ᵀ

H is never inverted. The variances come from g(z) = ∇f(z)ᵀw with Gaussian weights whose prior
covariance is the one gradient flow induces; off the span of the training features
(τ·(h** − H*H⁺H*ᵀ)) they are a modelling choice, not a consequence of the data.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .formula import OFFSET_COLUMN, align_to_index, clean_message
from .validation import as_frame, check_matrix, check_vector

if TYPE_CHECKING:
    from .results import NTKMixedLMResults

_SPLIT = 30.0  # τλ_max beyond which the variance uses the split form of DESIGN §4


def phi(lam: np.ndarray, tau: float) -> np.ndarray:
    """φ(λ) = (1 − e^{−τλ})/λ, φ(0) = τ."""
    out = np.full(lam.shape, float(tau))
    pos = lam > 0
    out[pos] = -np.expm1(-tau * lam[pos]) / lam[pos]
    return out


def psi(lam: np.ndarray, tau: float) -> np.ndarray:
    """ψ(λ) = (τλ − 1 + e^{−τλ})/λ², ψ(0) = τ²/2; a Taylor series below τλ = 0.1, where the
    closed form cancels catastrophically (truncation error < x⁸/9! ≈ 3e-14 relative)."""
    x = tau * lam
    small = x < 0.1
    xs = x[small]
    series = 0.5 - xs / 6 + xs**2 / 24 - xs**3 / 120 + xs**4 / 720 - xs**5 / 5040 + xs**6 / 40320
    out = np.empty(lam.shape)
    out[small] = tau * tau * (series - xs**7 / 362880)
    big = ~small
    out[big] = (x[big] + np.expm1(-x[big])) / lam[big] ** 2
    return out


@dataclass
class NewRows:
    """The fixed-effect design, offset and kernels of new rows."""

    exog: np.ndarray
    offset: np.ndarray
    H_new: np.ndarray
    h_new: np.ndarray | None
    index: pd.Index
    endog: np.ndarray | None = None
    z_new: np.ndarray | None = None


def _formula_rows(res: NTKMixedLMResults, newdata) -> tuple:
    """X*, user offset, Z*, response (if present) and index from a DataFrame."""
    from formulaic.errors import FormulaicError
    from formulaic.transforms.contrasts import DataMismatchWarning

    model = res.model
    mf = model.model_frame
    frame = as_frame(newdata)
    dup = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dup:
        raise ValueError(f"newdata has duplicated column name(s) {dup}")
    missing = [c for c in mf.predictor_columns if c not in frame.columns]
    if missing:
        raise ValueError(f"newdata is missing column(s) {missing} used by the model")
    for c in mf.predictor_columns:
        if frame[c].isna().any():
            rows = np.flatnonzero(frame[c].isna().to_numpy())
            raise ValueError(
                f"newdata column {c!r} has {rows.size} missing value(s) (first at row "
                f"{rows[0]}); predictions need complete rows"
            )
    work = frame.reset_index(drop=True)
    if model.offset_source is not None and not isinstance(model.offset_source, str):
        work[OFFSET_COLUMN] = 0.0  # filled by the caller's offset=
    elif isinstance(model.offset_source, str):
        work[OFFSET_COLUMN] = work[model.offset_source]

    def build(spec, what, na_action="raise"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", DataMismatchWarning)
                mm = spec.get_model_matrix(work, na_action=na_action)
        except DataMismatchWarning as w:
            levels = re.search(r"\{.*\}", clean_message(w))
            raise ValueError(
                f"newdata has level(s) {levels.group(0) if levels else ''} that the model was "
                f"not fitted with ({what}); the training data define the levels"
            ) from None
        except FormulaicError as err:
            raise ValueError(f"cannot build the {what} for newdata: {clean_message(err)}")\
                from None
        if mm.shape[0] != len(work):
            raise ValueError(f"newdata rows were dropped while building the {what}")
        out = np.asarray(mm, dtype=np.float64)
        bad = ~np.isfinite(out)
        if na_action == "raise" and bad.any():
            j = int(np.flatnonzero(bad.any(axis=0))[0])
            rows = np.flatnonzero(bad[:, j])
            raise ValueError(
                f"the {what} of newdata are not finite in column {list(mm.columns)[j]!r} "
                f"({rows.size} row(s), first at row {rows[0]})"
            )
        return out

    X = build(mf.fixed_spec, "fixed effects")
    Z = build(mf.ntk_spec, "network inputs") if mf.ntk_spec is not None else None
    off = build(mf.offset_spec, "offset")[:, 0] if mf.offset_spec is not None else None
    y = None
    response_cols = [c for c in mf.used_columns if c not in mf.predictor_columns]
    if response_cols and all(c in frame.columns for c in response_cols):
        try:  # the response, where present, for a test loss; NaN where missing
            y = build(mf.lhs_spec, "response", na_action="ignore")[:, 0]
        except ValueError:
            y = None
    return X, off, Z, y, frame.index


def new_rows(
    res: NTKMixedLMResults,
    newdata=None,
    *,
    exog=None,
    exog_ntk=None,
    offset=None,
    kernel_new=None,
    kernel_new_diag=None,
    need_variance: bool = True,
) -> NewRows:
    """Resolve new rows into X*, o*, H*, h** (see :meth:`NTKMixedLMResults.predict`)."""
    model = res.model
    y_new = None
    feats = model.ntk_features
    if feats is not None and (kernel_new is not None or kernel_new_diag is not None):
        raise ValueError("kernel_new= is for models fitted with a precomputed kernel; this "
                         "model computes the kernel of new rows from its network")
    if feats is None and exog_ntk is not None:
        raise ValueError("exog_ntk= is for models with a network; this model was fitted with a "
                         "precomputed kernel: give kernel_new=")
    if isinstance(model.offset_source, str) and offset is not None:
        raise ValueError(f"the model's offset is the column {model.offset_source!r} of newdata; "
                         "offset= would replace it")
    if model.model_frame is not None:
        if newdata is None:
            raise ValueError("give newdata= (a DataFrame with the formula's columns)")
        X, off_user, Z, y_new, index = _formula_rows(res, newdata)
    else:
        if newdata is not None:
            raise ValueError(
                "newdata= needs a model built with from_formula; this model takes exog= and "
                "exog_ntk= (or kernel_new=)"
            )
        m = None
        for arr in (exog, exog_ntk, kernel_new):
            if arr is not None:
                m = np.asarray(arr).shape[0]
                break
        if m is None:
            raise ValueError("give the new rows as exog= and exog_ntk= (or kernel_new=)")
        k_user = model.k_fe - (1 if model.ntk_spec and model.ntk_spec.init == "covariate" else 0)
        if k_user and exog is None:
            raise ValueError(f"the model has {k_user} fixed effect(s): give exog= for new rows")
        if exog is not None and np.ndim(exog) == 1 and k_user > 1 and len(exog) == k_user:
            exog, m = np.asarray(exog, dtype=np.float64)[None, :], 1  # one new row
        X = check_matrix(exog, "exog", m) if k_user else np.zeros((m, 0))
        if X.shape[1] != k_user:
            raise ValueError(f"exog has {X.shape[1]} columns; the model has {k_user}")
        Z = None if exog_ntk is None else check_matrix(exog_ntk, "exog_ntk", m)
        off_user = None
        index = next((a.index for a in (exog, exog_ntk, kernel_new)
                      if isinstance(a, (pd.DataFrame, pd.Series))), pd.RangeIndex(m))
    m = X.shape[0]
    if offset is not None:
        if isinstance(offset, pd.Series):
            offset = align_to_index(offset, index, "offset")
        off_user = check_vector(offset, "offset", m)
    if model.offset_source is not None and offset is None and not isinstance(
        model.offset_source, str
    ):
        raise ValueError("the model was fitted with an offset array: give offset= for new rows")
    o = np.zeros(m) if off_user is None else off_user

    if feats is None:  # precomputed kernel
        if kernel_new is None:
            raise ValueError(
                "this model was fitted with a precomputed kernel: predicting new rows needs "
                "kernel_new= (new × training, on the scale of the kernel passed to the fit) "
                "and, for standard errors, kernel_new_diag= (the new rows' diagonal)"
            )
        H_new = _training_columns(model, kernel_new, m)
        h_new = None if kernel_new_diag is None else check_vector(
            kernel_new_diag, "kernel_new_diag", m)
        if need_variance and h_new is None:
            raise ValueError(
                "standard errors for new rows of a precomputed-kernel model need "
                "kernel_new_diag= (the kernel of each new row with itself)"
            )
        return NewRows(X, o, H_new, h_new, index, y_new)
    if Z is None:
        raise ValueError("give the new rows' network inputs (exog_ntk=)")
    H_new, h_new, f0 = feats.cross(Z, diag=need_variance)
    if feats.spec.init == "offset":
        o = o + f0
    elif feats.spec.init == "covariate":
        X = np.column_stack([X, f0])
    return NewRows(X, o, H_new, h_new, index, y_new, Z)


def _training_columns(model, kernel_new, m: int) -> np.ndarray:
    """kernel_new restricted to the training rows used, in their order.

    A DataFrame is aligned by its column labels (the data's index); an array may have one
    column per row used, or one per row of the data given to ``from_formula`` (the columns of
    rows dropped for missing values are then dropped too).
    """
    mf = model.model_frame
    if isinstance(kernel_new, pd.DataFrame):
        cols = kernel_new.columns
        if cols.is_unique and set(model.data_index) <= set(cols):
            kernel_new = kernel_new.loc[:, model.data_index]
        else:
            raise ValueError("kernel_new's column labels do not contain the training rows' "
                             "index labels; pass a NumPy array to align by position")
    H_new = check_matrix(kernel_new, "kernel_new", m)
    n_data = None if mf is None else mf.rows.size + mf.n_dropped
    if H_new.shape[1] == n_data and mf.n_dropped:
        H_new = H_new[:, mf.rows]
    if H_new.shape[1] != model.nobs:
        raise ValueError(
            f"kernel_new has {H_new.shape[1]} columns; it must have one per training row used "
            f"({model.nobs})" + (f" or per data row ({n_data})" if n_data else "")
        )
    return H_new


class PredictionResults:
    """Predictions for new rows, shaped like statsmodels' ``PredictionResults``.

    Attributes
    ----------
    predicted_mean : pandas.Series
        X*β̂ + o* + ĝ*, the trained network's prediction.
    random : pandas.Series
        ĝ*, the network part.
    se_mean : pandas.Series
        Standard error of the predicted mean as an estimate of X*β + g* (β̂ and g* uncertain).
    se_obs : pandas.Series
        Standard error for a new observation (adds σ̂²).
    var_random : pandas.Series
        Posterior variance of g* given y (τ, σ² at their estimates).
    """

    def __init__(self, mean, random, var_random, var_beta, scale, index) -> None:
        self.predicted_mean = pd.Series(mean, index=index, name="mean")
        self.random = pd.Series(random, index=index, name="ntk")
        self.var_random = pd.Series(var_random, index=index, name="var_random")
        var_mean = var_random + var_beta
        self.se_mean = pd.Series(np.sqrt(var_mean), index=index, name="mean_se")
        self.se_obs = pd.Series(np.sqrt(var_mean + scale), index=index, name="obs_se")
        self.scale = scale

    def conf_int(self, obs: bool = False, alpha: float = 0.05) -> np.ndarray:
        """Normal intervals for the mean (or, with ``obs``, for a new observation)."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        q = stats.norm.isf(alpha / 2)
        se = (self.se_obs if obs else self.se_mean).to_numpy()
        m = self.predicted_mean.to_numpy()
        return np.column_stack([m - q * se, m + q * se])

    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """mean, mean_se, mean_ci_lower/upper, obs_ci_lower/upper (statsmodels' columns)."""
        ci = self.conf_int(False, alpha)
        oi = self.conf_int(True, alpha)
        return pd.DataFrame({
            "mean": self.predicted_mean,
            "mean_se": self.se_mean,
            "mean_ci_lower": ci[:, 0],
            "mean_ci_upper": ci[:, 1],
            "obs_ci_lower": oi[:, 0],
            "obs_ci_upper": oi[:, 1],
        }, index=self.predicted_mean.index)


def network_weights(res: NTKMixedLMResults) -> np.ndarray:
    """U diag(φ) Uᵀ r: the coefficients that map H* to the trained network's output."""
    s = res.model.spectrum
    return s.vectors @ (phi(s.values, res.tau) * res._point.resid_rot)


def predict_mean(res: NTKMixedLMResults, rows: NewRows) -> tuple[np.ndarray, np.ndarray]:
    """(mean, ĝ*) for new rows."""
    g = rows.H_new @ res._network_weights
    return rows.exog @ res._point.beta + rows.offset + g, g


def predict(res: NTKMixedLMResults, rows: NewRows) -> PredictionResults:
    """Means and variances for new rows (DESIGN §4)."""
    s = res.model.spectrum
    lam, tau, s2 = s.values, res.tau, res.scale
    mean, g = predict_mean(res, rows)
    G = rows.H_new @ s.vectors  # H* U
    G2 = G * G
    if tau * s.lam_max > _SPLIT:
        # τ(h** − H*H⁺H*ᵀ) + H*U diag((1 − e^{−τλ})/λ²)UᵀH*ᵀ, zero eigenvalues with ψ(0)
        pos = lam > 0
        lp = lam[pos]
        off_span = rows.h_new - G2[:, pos] @ (1.0 / lp)
        var_g = (tau * off_span + G2[:, pos] @ (-np.expm1(-tau * lp) / lp**2)
                 - G2[:, ~pos] @ np.full((~pos).sum(), 0.5 * tau * tau))
    else:
        var_g = tau * rows.h_new - G2 @ psi(lam, tau)
    scale_ref = tau * np.abs(rows.h_new) + 1e-300
    if np.any(var_g < -1e-8 * scale_ref):
        warnings.warn(
            "negative posterior variances for some new rows (beyond round-off): is "
            "kernel_new consistent with the training kernel?", RuntimeWarning, stacklevel=3,
        )
    var_g = s2 * np.clip(var_g, 0.0, None)
    _, X_rot = res.model._rotated
    d = rows.exog - G @ (phi(lam, tau)[:, None] * X_rot)
    var_beta = np.einsum("ij,jk,ik->i", d, res._point.cov_beta, d) if d.shape[1] else 0.0
    return PredictionResults(mean, g, var_g, var_beta, s2, rows.index)
