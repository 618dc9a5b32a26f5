"""The model class: ``NTKMixedLM`` (cf. statsmodels' ``MixedLM``).

    y = Xβ + o + g + ε,  ε ~ N(0, σ²I),  g ~ N(0, σ²(e^{τH} − I)),  Var y = σ² e^{τH}

with H = Θ(Z, Z)/n the training operator of a seeded network (or a precomputed kernel) and τ
the training time (learning rate × epochs of full-batch gradient descent on ½·mean squared
error). Yao, Wang, Lin, Liu & Liu (2026), arXiv:2605.27991.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .formula import DataWarning, ModelFrame, align_to_index, build_frame
from .kernels import NTKFeatures, NTKSpec, ntk_operator
from .reml import ProfileLikelihood, TauEstimate
from .results import NTKMixedLMResults
from .spectral import Spectrum, decompose
from .validation import (
    as_frame,
    check_design,
    check_kernel,
    check_matrix,
    check_response,
    check_vector,
)


def _names(values, prefix: str, k: int) -> list[str]:
    if isinstance(values, pd.DataFrame):
        return [str(c) for c in values.columns]
    return [f"{prefix}{j + 1}" for j in range(k)]


class NTKMixedLM:
    """Linear mixed model whose random effect is a network trained for time τ.

    Parameters
    ----------
    endog : array_like, shape (n,)
        Response.
    exog : array_like, shape (n, p), optional
        Fixed-effect design (include a constant column for an intercept); ``None`` for none.
    kernel : array_like, shape (n, n), optional
        A precomputed training operator H (symmetric PSD), used as is (no division by n).
    exog_ntk : array_like, shape (n, d), optional
        Network inputs Z; H = Θ(Z, Z)/n is computed from the network described by ``ntk``.
    ntk : NTKSpec or mapping, optional
        Options of the network (see :class:`~ntkmixed.kernels.NTKSpec`).
    offset : array_like, shape (n,), optional
        Known offset o.

    Notes
    -----
    Exactly one of ``kernel`` and ``exog_ntk`` must be given. Inputs are validated and
    copied; NaN or inf raise ``ValueError`` (the formula interface drops missing rows).
    """

    def __init__(
        self,
        endog,
        exog=None,
        kernel=None,
        *,
        exog_ntk=None,
        ntk: NTKSpec | Mapping[str, Any] | None = None,
        offset=None,
    ) -> None:
        self.endog = check_vector(endog, "endog")
        n = self.endog.shape[0]
        self.endog_names = str(getattr(endog, "name", None) or "y")
        self.data_index = endog.index if isinstance(endog, pd.Series) else pd.RangeIndex(n)
        if exog is None:
            exog_arr, names = np.zeros((n, 0)), []
        else:
            exog_arr = check_matrix(exog, "exog", n)
            names = _names(exog, "x", exog_arr.shape[1])
        self.offset = np.zeros(n) if offset is None else check_vector(offset, "offset", n)

        if (kernel is None) == (exog_ntk is None):
            raise ValueError(
                "give exactly one of kernel= (a precomputed n × n operator) and exog_ntk= "
                "(network inputs, with ntk= options)"
            )
        self.ntk_spec: NTKSpec | None = None
        self.ntk_features: NTKFeatures | None = None
        self.exog_ntk_names: list[str] = []
        check_design(exog_arr, names, rank=False)  # enough rows, before any network is built
        if kernel is not None:
            if ntk is not None:
                raise ValueError("ntk= options need exog_ntk=, not a precomputed kernel=")
            if isinstance(kernel, pd.DataFrame) and isinstance(endog, pd.Series):
                kernel = align_to_index(kernel, endog.index, "kernel")
            self._kernel = check_kernel(kernel, n)
        else:
            spec = ntk if isinstance(ntk, NTKSpec) else NTKSpec.from_options(ntk)
            z = check_matrix(exog_ntk, "exog_ntk", n)
            self.exog_ntk_names = _names(exog_ntk, "z", z.shape[1])
            same = [nm for j, nm in enumerate(self.exog_ntk_names)
                    if np.array_equal(z[:, j], self.endog)]
            if same:
                warnings.warn(
                    f"the response is also a network input ({same[0]!r}): the network can "
                    "reproduce y exactly and τ̂ measures nothing useful",
                    DataWarning, stacklevel=2,
                )
            feats = ntk_operator(spec, z, self.exog_ntk_names)
            self.ntk_spec, self.ntk_features = spec, feats
            self._kernel = feats.H
            if spec.init == "offset":
                self.offset = self.offset + feats.f0
            elif spec.init == "covariate":
                exog_arr = np.column_stack([exog_arr, feats.f0])
                names = [*names, "f0"]
        check_design(exog_arr, names)
        check_response(self.endog, self.offset, exog_arr, self.endog_names)
        self.exog = exog_arr
        self.exog_names = names
        self.formula: str | None = None
        self.offset_source: str | bool | None = None if offset is None else True
        self.n_dropped = 0
        self.missing_by_column: dict[str, int] = {}
        self.model_frame: ModelFrame | None = None

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data,
        kernel=None,
        *,
        offset=None,
        ntk_options: Mapping[str, Any] | None = None,
        eval_env: int = 0,
    ) -> NTKMixedLM:
        """Create a model from an R-style formula with one ``ntk(...)`` term.

        Parameters
        ----------
        formula : str
            e.g. ``"body_mass_g ~ C(sex) + C(species) + ntk(bill_length_mm,
            flipper_length_mm, arch='mlp3')"``. Ordinary terms (numeric columns, ``C(x)``,
            interactions, ``0 +``/``- 1``) form X through formulaic.
        data : pandas.DataFrame
            Not modified. Rows with a missing value in any used column are dropped and
            counted (``model.n_dropped``, shown in the summary).
        kernel : array_like, shape (len(data), len(data)), optional
            Precomputed H instead of an ``ntk()`` term; rows and columns of dropped rows
            are dropped with them.
        offset : str (a column name) or array_like of length len(data), optional
            Known offset o; a Series is aligned by its index. Rows where it is missing are
            dropped and counted.
        ntk_options : mapping, optional
            Options overriding those written in ``ntk(...)`` (e.g. ``{"seed": 3}``).
        eval_env : int
            How many frames above the caller to take names for formula expressions from.
        """
        caller = sys._getframe(1 + eval_env)
        context = {**caller.f_globals, **caller.f_locals}
        frame = as_frame(data)
        mf = build_frame(formula, frame, context=context, require_ntk=kernel is None,
                         offset=offset)
        off = None if mf.offset is None else mf.offset.to_numpy()
        if kernel is not None:
            if isinstance(kernel, pd.DataFrame):
                kernel = align_to_index(kernel, frame.index, "kernel")
            H = check_kernel(kernel, len(frame))
            model = cls(mf.endog, mf.exog, H[np.ix_(mf.rows, mf.rows)], offset=off)
        else:
            options = {**mf.ntk.options, **dict(ntk_options or {})}
            spec = NTKSpec.from_options(options)
            model = cls(mf.endog, mf.exog, exog_ntk=mf.exog_ntk, ntk=spec, offset=off)
        model.formula = formula
        model.offset_source = offset if isinstance(offset, str) or offset is None else True
        model.n_dropped = mf.n_dropped
        model.missing_by_column = mf.missing_by_column
        model.model_frame = mf
        return model

    # -- sizes and the operator ---------------------------------------------------------
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self.endog.shape[0]

    @property
    def k_fe(self) -> int:
        """Number of fixed effects p."""
        return self.exog.shape[1]

    @property
    def kernel(self) -> np.ndarray:
        """The n × n training operator H used in the fit."""
        return self._kernel

    @property
    def network(self):
        """The initialized network behind the kernel (None for a precomputed kernel)."""
        return None if self.ntk_features is None else self.ntk_features.network

    @cached_property
    def spectrum(self) -> Spectrum:
        """Eigendecomposition of H, computed once."""
        return decompose(self._kernel)

    @cached_property
    def _rotated(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.spectrum
        return s.rotate(self.endog - self.offset), s.rotate(self.exog)

    def profile(self, reml: bool = True) -> ProfileLikelihood:
        """The profile (restricted) likelihood as a function of τ."""
        y_rot, X_rot = self._rotated
        return ProfileLikelihood(self.spectrum.values, y_rot, X_rot, reml=reml)

    def loglike(self, tau: float, reml: bool = True) -> float:
        """Profile log-likelihood (REML by default) at training time ``tau``."""
        return self.profile(reml).loglike(_check_tau(tau))

    def score(self, tau: float, reml: bool = True) -> float:
        """Derivative of :meth:`loglike` with respect to τ."""
        return self.profile(reml).score(_check_tau(tau))

    def fit(
        self, reml: bool = True, tau: float | None = None, use_t: bool = False
    ) -> NTKMixedLMResults:
        """Estimate τ, σ² and β by REML (default) or ML.

        Parameters
        ----------
        reml : bool
            Restricted maximum likelihood (True) or maximum likelihood.
        tau : float, optional
            Hold τ fixed at this value (σ² and β are still estimated).
        use_t : bool
            Fixed-effect p-values and intervals from t with Satterthwaite degrees of freedom
            (advisable below n ≈ 100) instead of Wald z (the default, as statsmodels).

        Returns
        -------
        NTKMixedLMResults
        """
        prof = self.profile(reml)
        if tau is None:
            est = prof.maximize()
        else:
            tau = _check_tau(tau)
            point = prof.at(tau)
            if not math.isfinite(point.llf):
                raise ValueError(f"the likelihood cannot be evaluated at τ = {tau:g}")
            est = TauEstimate(
                point=point, converged=True, boundary="fixed",
                llf_zero=prof.loglike(0.0), n_evals=prof.n_evals, search_range=(tau, tau),
            )
        return NTKMixedLMResults(self, est, reml=reml, use_t=use_t)

    def __repr__(self) -> str:
        what = self.ntk_spec.describe() if self.ntk_spec else "precomputed kernel"
        return f"<NTKMixedLM: n={self.nobs}, p={self.k_fe}, {what}>"


def _check_tau(tau) -> float:
    t = float(tau)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"tau must be a finite number ≥ 0, got {tau!r}")
    return t
