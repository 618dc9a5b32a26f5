"""The results class: ``NTKMixedLMResults`` (cf. statsmodels' ``MixedLMResults``).

Everything beyond the estimates is computed lazily, on first access.
"""

from __future__ import annotations

import math
import numbers
import warnings
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contrast import ContrastResults

from .contrasts import combined_df, contrast_names, parse_contrast, satterthwaite_df
from .reml import TauEstimate, profile_interval
from .summary import build_summary
from .vctest import (
    METHODS,
    RLRT_METHODS,
    TrainingTestResult,
    null_eigenvalues,
    rlrt_test,
    training_test,
)

if TYPE_CHECKING:
    from statsmodels.iolib.summary2 import Summary

    from .model import NTKMixedLM

# Step of full-batch gradient descent per unit of learning rate, relative to ½·mean:
# the loss's gradient in f is c·(f − y)/n times n for the sums (DESIGN §2).
_LOSS_FACTOR = {"half_mse": lambda n: 1.0, "mse": lambda n: 2.0,
                "half_sum": lambda n: float(n), "sum": lambda n: 2.0 * n}
_LOSS_LABEL = {"half_mse": "½·mean sq. error", "mse": "mean sq. error",
               "half_sum": "½·sum sq. error", "sum": "sum sq. error"}


class LearningRateWarning(UserWarning):
    """The learning rate is too large for continuous time to describe gradient descent."""


class NTKMixedLMResults:
    """Results of :meth:`NTKMixedLM.fit`.

    Attributes
    ----------
    model : NTKMixedLM
    tau : float
        Estimated training time τ̂ (0: no training warranted).
    scale : float
        Noise variance σ̂².
    llf : float
        Maximized (restricted) log-likelihood, lme4/statsmodels constants.
    converged : bool
        False when τ̂ is at the end of the search range.
    method : str
        "REML" or "ML".
    """

    def __init__(
        self, model: NTKMixedLM, estimate: TauEstimate, reml: bool = True, use_t: bool = False
    ) -> None:
        self.model = model
        self.estimate = estimate
        self.reml = reml
        self.use_t = bool(use_t)
        self.method = "REML" if reml else "ML"
        pt = estimate.point
        self.tau = float(pt.tau)
        self.scale = float(pt.scale)
        self.llf = float(pt.llf)
        self.converged = bool(estimate.converged)
        self.nobs = model.nobs
        self.k_fe = model.k_fe
        self._point = pt

    # -- fixed effects -----------------------------------------------------------------
    @cached_property
    def fe_params(self) -> pd.Series:
        """Fixed-effect estimates β̂ (GLS at τ̂)."""
        return pd.Series(self._point.beta, index=self.model.exog_names, dtype=float)

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom n − p."""
        return self.nobs - self.k_fe

    @property
    def normalized_cov_params(self) -> pd.DataFrame:
        """``cov_params()`` divided by the scale σ̂² (statsmodels' convention)."""
        return self.cov_params() / self.scale

    @property
    def params(self) -> pd.Series:
        """Fixed-effect estimates (τ and σ² are ``tau`` and ``scale``)."""
        return self.fe_params

    def cov_params(self) -> pd.DataFrame:
        """Covariance of β̂: σ̂²(XᵀV⁻¹X)⁻¹ at τ̂ (V relative to σ²), as statsmodels."""
        names = self.model.exog_names
        return pd.DataFrame(self._point.cov_beta, index=names, columns=names)

    @cached_property
    def bse_fe(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self._point.cov_beta)), index=self.model.exog_names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params``."""
        return self.bse_fe

    @cached_property
    def tvalues(self) -> pd.Series:
        """Wald statistics β̂/se (z, or t with ``use_t``)."""
        return self.fe_params / self.bse_fe

    @cached_property
    def df_satterthwaite(self) -> pd.Series:
        """Satterthwaite denominator degrees of freedom of each fixed effect.

        ν = 2(Var β̂ⱼ)²/Var(Var β̂ⱼ) with the variance of Var β̂ⱼ from the expected REML
        information of (τ, σ²) (see ``ntkmixed.contrasts``); n − p when τ was held fixed or
        τ̂ = 0 (then only σ² is estimated, as in ordinary least squares).
        """
        names = self.model.exog_names
        nu = satterthwaite_df(np.eye(self.k_fe), self._point, self.model.spectrum.values,
                              fixed_tau=self._tau_known)
        return pd.Series(nu, index=names, name="df")

    @property
    def _tau_fixed(self) -> bool:
        """τ held fixed by the user (``fit(tau=...)``)."""
        return self.estimate.boundary == "fixed"

    @property
    def _tau_known(self) -> bool:
        """τ not estimated for the fixed-effect df: held fixed, or at the boundary τ̂ = 0
        (the random effect is then absent and the model is ordinary least squares)."""
        return self.estimate.boundary in ("fixed", "zero")

    @cached_property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values: normal (default, as statsmodels' MixedLM) or, with ``use_t``,
        t with Satterthwaite degrees of freedom."""
        a = np.abs(self.tvalues)
        p = 2.0 * (stats.t.sf(a, self.df_satterthwaite) if self.use_t else stats.norm.sf(a))
        return pd.Series(p, index=self.tvalues.index)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals for the fixed effects, columns 0 (lower) and 1 (upper);
        t quantiles with Satterthwaite df when ``use_t``."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if self.use_t:
            q = stats.t.isf(alpha / 2, self.df_satterthwaite)
        else:
            q = stats.norm.isf(alpha / 2)
        lo = self.fe_params - q * self.bse_fe
        hi = self.fe_params + q * self.bse_fe
        return pd.DataFrame({0: lo, 1: hi})

    def t_test(self, r_matrix, use_t: bool | None = None) -> ContrastResults:
        """Tests of linear combinations Rβ = q, one per row, in statsmodels' syntax.

        Parameters
        ----------
        r_matrix : str, list of str, array_like or (R, q)
            e.g. ``"Days = 10"``, ``"C(species)[T.Gentoo] - C(species)[T.Chinstrap]"``,
            an array R (q = 0) or a tuple (R, q).
        use_t : bool, optional
            t with Satterthwaite df per row (default: the fit's ``use_t``), else z.

        Returns
        -------
        statsmodels.stats.contrast.ContrastResults
        """
        R, q = parse_contrast(r_matrix, self.model.exog_names)
        use_t = self.use_t if use_t is None else bool(use_t)
        effect = R @ self._point.beta
        sd = np.sqrt(np.einsum("ij,jk,ik->i", R, self._point.cov_beta, R))
        stat = (effect - q) / sd
        names = contrast_names(R, self.model.exog_names)
        if use_t:
            df = satterthwaite_df(R, self._point, self.model.spectrum.values, self._tau_known)
            out = ContrastResults(effect=effect, t=stat, sd=sd, df_denom=df)
        else:
            out = ContrastResults(effect=effect, statistic=stat, sd=sd, df_denom=None,
                                  distribution="norm")
        out.c_names = names
        return out

    def wald_test(self, r_matrix, use_t: bool | None = None) -> ContrastResults:
        """Joint Wald test of Rβ = q (statsmodels' syntax, as :meth:`t_test`).

        F with Satterthwaite-type denominator df (Fai & Cornelius 1996) when ``use_t``,
        else χ² with q degrees of freedom.
        """
        R, q = parse_contrast(r_matrix, self.model.exog_names)
        use_t = self.use_t if use_t is None else bool(use_t)
        diff = R @ self._point.beta - q
        cov = R @ self._point.cov_beta @ R.T
        try:
            chi2 = float(diff @ np.linalg.solve(cov, diff))
        except np.linalg.LinAlgError:
            raise ValueError("the contrast rows are linearly dependent") from None
        k = R.shape[0]
        if use_t:
            ddf = combined_df(R, self._point, self.model.spectrum.values, self._tau_known)
            return ContrastResults(F=chi2 / k, df_num=k, df_denom=ddf)
        return ContrastResults(chi2=chi2, df_denom=k, statistic=chi2, distribution="chi2",
                               distargs=(k,))

    # -- random effect, fit and residuals --------------------------------------------
    @cached_property
    def _shrink(self) -> np.ndarray:
        """1 − e^{−τ̂λ}: how far training has moved each spectral component."""
        return -np.expm1(-self.tau * self.model.spectrum.values)

    @cached_property
    def random_effects(self) -> pd.Series:
        """BLUP ĝ = (I − e^{−τ̂H})(y − o − Xβ̂): the network trained for τ̂ on the residual."""
        s = self.model.spectrum
        g = s.vectors @ (self._shrink * self._point.resid_rot)
        return pd.Series(g, index=self.model.data_index, name="ntk")

    @cached_property
    def fittedvalues(self) -> pd.Series:
        """Xβ̂ + o + ĝ (conditional on the random effect, as statsmodels)."""
        m = self.model
        fit = m.exog @ self._point.beta + m.offset + self.random_effects.to_numpy()
        return pd.Series(fit, index=m.data_index, name="fitted")

    @cached_property
    def resid(self) -> pd.Series:
        """y − fitted values."""
        r = self.model.endog - self.fittedvalues.to_numpy()
        return pd.Series(r, index=self.model.data_index, name="resid")

    @cached_property
    def edf(self) -> float:
        """Effective degrees of freedom: trace of the hat matrix of Xβ̂ + ĝ.

        edf(τ) = Σ(1 − e^{−τλᵢ}) + tr(A⁻¹X̃ᵀD⁻²X̃) = Σ(1 − sᵢ) + Σ sᵢhᵢ with sᵢ = e^{−τλᵢ}.
        """
        s = 1.0 - self._shrink
        return float(self._shrink.sum() + s @ self._point.leverage)

    @cached_property
    def signal_var(self) -> float:
        """Empirical variance of the BLUP ĝ (ddof=0), the variance the network explains."""
        return float(np.var(self.random_effects.to_numpy()))

    @cached_property
    def signal_share(self) -> float:
        """var(ĝ)/(var(ĝ) + σ̂²)."""
        return self.signal_var / (self.signal_var + self.scale)

    # -- prediction and the network ----------------------------------------------------------
    @property
    def kernel(self) -> np.ndarray:
        """The n × n training operator H used in the fit."""
        return self.model.kernel

    @property
    def network(self):
        """The initialized ``torch.nn.Module`` behind the kernel (None for a precomputed or
        analytic kernel); its inputs are standardized by :attr:`input_scaler`."""
        return self.model.network

    @property
    def input_scaler(self):
        """Standardization of the network inputs fitted on the training rows (or None)."""
        feats = self.model.ntk_features
        return None if feats is None else feats.scaler

    @cached_property
    def _network_weights(self) -> np.ndarray:
        from .prediction import network_weights

        return network_weights(self)

    def predict(
        self, newdata=None, *, exog=None, exog_ntk=None, offset=None, kernel_new=None
    ) -> pd.Series:
        """Predictions of the trained network for new rows: X*β̂ + o* + H*U diag(φ)Uᵀr.

        Unlike statsmodels' MixedLM (whose ``predict`` is Xβ̂ only), this is the conditional
        prediction, the network trained for τ̂: ``predict(training data)`` equals
        ``fittedvalues``.

        Parameters
        ----------
        newdata : DataFrame, optional
            New rows with the formula's columns (formula models); categorical levels are
            coded with the training levels (an unseen level is an error). None: in-sample.
        exog, exog_ntk, offset : array_like, optional
            New rows for array models (and ``offset=`` for models fitted with an offset
            array).
        kernel_new : array_like, shape (m, n), optional
            Cross kernel new × training, needed for models with a precomputed kernel.
        """
        if newdata is None and exog is None and exog_ntk is None and kernel_new is None:
            return self.fittedvalues
        from .prediction import new_rows, predict_mean

        rows = new_rows(self, newdata, exog=exog, exog_ntk=exog_ntk, offset=offset,
                        kernel_new=kernel_new, need_variance=False)
        return pd.Series(predict_mean(self, rows)[0], index=rows.index, name="predicted")

    def get_prediction(
        self, newdata=None, *, exog=None, exog_ntk=None, offset=None, kernel_new=None,
        kernel_new_diag=None,
    ):
        """Predictions with standard errors; ``.summary_frame(alpha)`` as in statsmodels.

        Arguments as :meth:`predict`; ``kernel_new_diag`` (the new rows' kernel with
        themselves) is needed too for a precomputed kernel. With no arguments: the training
        rows (H* = H), where the posterior variance of ĝ is σ̂²·diag(I − e^{−τ̂H}).

        Returns
        -------
        ntkmixed.prediction.PredictionResults
        """
        from .prediction import NewRows, new_rows, predict

        if newdata is None and exog is None and exog_ntk is None and kernel_new is None:
            m = self.model
            rows = NewRows(m.exog, m.offset, m.kernel, np.diag(m.kernel).copy(), m.data_index)
        else:
            rows = new_rows(self, newdata, exog=exog, exog_ntk=exog_ntk, offset=offset,
                            kernel_new=kernel_new, kernel_new_diag=kernel_new_diag)
        return predict(self, rows)

    def train_network(self, lr: float | None = None, epochs: int | None = None,
                      newdata=None, standardize: bool = True, *, exog=None, exog_ntk=None,
                      offset=None):
        """Train (a copy of) the network for real by full-batch gradient descent.

        Gradient descent with ``torch.optim.SGD`` on ½·mean((f(z) − (y − Xβ̂ − o))²), starting
        from the network at initialization (the antisymmetric pair for ``init="zero"`` and
        ``"covariate"``, whose output starts at 0; the network itself for ``"offset"``).

        Parameters
        ----------
        lr : float, optional
            Learning rate; default :meth:`default_lr` (η·λ_max = 0.1).
        epochs : int, optional
            Default ``round(τ̂/lr)``, the REML stopping time.
        newdata : DataFrame, optional
            Rows to predict (and, when they hold the response, to record a test loss for).
        standardize : bool
            Train on the residual divided by its sd and scale the output back (the same τ in
            the NTK regime, where gradient flow is linear in the target; keeps a finite
            network's movement of order one). Losses are reported in the response's units.
        exog, exog_ntk, offset : array_like, optional
            New rows for array models (as in :meth:`predict`).

        Returns
        -------
        ntkmixed.training.TrainingRun
            ``module, history`` (per-epoch ``train_loss`` and ``test_loss``), plus ``lr``,
            ``epochs``, ``fitted`` (Xβ̂ + o + trained network on the training rows) and
            ``predicted`` (the same on ``newdata``).
        """
        from .training import train_network

        new = {k: v for k, v in (("exog", exog), ("exog_ntk", exog_ntk), ("offset", offset))
               if v is not None}
        return train_network(self, lr=lr, epochs=epochs, newdata=newdata,
                             standardize=standardize, **new)

    # -- information criteria ----------------------------------------------------------
    @property
    def df_modelwc(self) -> int:
        """Parameters counted by AIC/BIC under ML: β, σ² and τ."""
        return self.k_fe + 2

    @property
    def aic(self) -> float:
        """Akaike's criterion (ML fits only; NaN under REML, as statsmodels)."""
        if self.reml:
            warnings.warn("AIC is not defined for a REML fit (as in statsmodels); "
                          "refit with reml=False", UserWarning, stacklevel=2)
            return math.nan
        return -2.0 * self.llf + 2.0 * self.df_modelwc

    @property
    def bic(self) -> float:
        """Schwarz's criterion (ML fits only; NaN under REML, as statsmodels)."""
        if self.reml:
            warnings.warn("BIC is not defined for a REML fit (as in statsmodels); "
                          "refit with reml=False", UserWarning, stacklevel=2)
            return math.nan
        return -2.0 * self.llf + math.log(self.nobs) * self.df_modelwc

    # -- training time in epochs ---------------------------------------------------------
    def default_lr(self, loss: str = "half_mse") -> float:
        """η = 0.1/(c·λ_max): the largest learning rate at which continuous time describes
        full-batch gradient descent well (c = 1, 2, n, 2n for the losses of :meth:`epochs`)."""
        c = _loss_factor(loss, self.nobs)
        return 0.1 / (c * self.model.spectrum.lam_max)

    def epochs(self, lr: float | None = None, loss: str = "half_mse", tau=None):
        """Epochs of full-batch gradient descent equal to the training time τ̂.

        Parameters
        ----------
        lr : float, optional
            Learning rate η; default :meth:`default_lr`.
        loss : {"half_mse", "mse", "half_sum", "sum"}
            ½·mean((f − y)²) (the model's convention: τ = η·epochs), mean, ½·sum, sum.
        tau : float or array_like, optional
            Training time(s) to convert instead of τ̂, e.g. ``res.conf_int_tau()``.

        Returns
        -------
        float or ndarray
            τ/(c·η) with c = 1, 2, n, 2n.

        Warns
        -----
        LearningRateWarning
            When c·η·λ_max > 0.1 (the discrete steps then differ from continuous time).

        Raises
        ------
        ValueError
            When c·η·λ_max ≥ 2: gradient descent diverges.
        """
        c = _loss_factor(loss, self.nobs)
        if lr is None:
            lr = self.default_lr(loss)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        lr = float(lr)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        step = c * lr * self.model.spectrum.lam_max
        if step >= 2:
            raise ValueError(
                f"learning rate {lr:g} diverges: {_LOSS_LABEL[loss]} gradient descent needs "
                f"c·η·λ_max < 2, here {step:.3g} (λ_max(H) = {self.model.spectrum.lam_max:.4g})"
            )
        if step > 0.1 * (1 + 1e-9):
            warnings.warn(
                f"c·η·λ_max = {step:.3g} > 0.1: continuous training time describes the "
                "discrete gradient-descent steps poorly at this learning rate",
                LearningRateWarning, stacklevel=2,
            )
        if tau is None:
            return self.tau / (c * lr)
        t = np.asarray(tau, dtype=np.float64)
        if not np.all((t >= 0) & ~np.isnan(t)):
            raise ValueError(f"tau must be ≥ 0 (inf allowed for an open interval), got {tau!r}")
        out = t / (c * lr)
        return float(out) if out.ndim == 0 else out

    # -- the stopping time -----------------------------------------------------------------
    def conf_int_tau(self, alpha: float = 0.05) -> tuple[float, float]:
        """Profile-likelihood confidence interval for the training time τ.

        {τ : 2[ℓ(τ̂) − ℓ(τ)] ≤ χ²₁,₁₋α} using the fit's criterion (REML or ML); at τ̂ = 0
        the one-sided [0, u] with cut-off χ²₁,₁₋₂α. Convert to epochs with
        ``res.epochs(lr, tau=res.conf_int_tau())``.

        Returns
        -------
        (lower, upper) : tuple of float
            ``upper`` may be ``inf`` (with an ``IntervalWarning``).
        """
        if self._tau_fixed:
            raise ValueError("τ was held fixed in this fit; refit without tau= for an interval")
        cache = self.__dict__.setdefault("_tau_ci", {})
        key = float(alpha)
        if key not in cache:
            cache[key] = profile_interval(self.model.profile(self.reml), self.estimate, alpha)
        return cache[key]

    @cached_property
    def spectral_decorrelation(self) -> float:
        """Correlation between the eigenvalues λᵢ and the leverage-adjusted spectral losses
        ℓᵢ(τ̂)/σ̂² + hᵢ (hᵢ = 0 for ML or without fixed effects); ≈ 0 at an interior optimum.

        REML's stationarity condition is Σλᵢ(ℓᵢ/σ̂² + hᵢ − 1) = 0 with mean(ℓᵢ/σ̂² + hᵢ) = 1:
        training stops when the remaining spectral losses no longer align with the kernel's
        spectrum (the paper's "spectral loss decorrelation").
        """
        pt = self._point
        v = pt.spectral_loss / self.scale
        if self.reml:
            v = v + pt.leverage
        lam = self.model.spectrum.values
        if np.ptp(lam) == 0 or np.ptp(v) == 0:
            return 0.0
        return float(np.corrcoef(lam, v)[0, 1])

    # -- the training test ---------------------------------------------------------------
    @cached_property
    def _null_eigenvalues(self) -> np.ndarray:
        return null_eigenvalues(self.model.spectrum, self.model.exog)

    @cached_property
    def _ols_resid(self) -> np.ndarray:
        m = self.model
        y = m.endog - m.offset
        if m.k_fe == 0:
            return y
        q, _ = np.linalg.qr(m.exog)
        return y - q @ (q.T @ y)

    def test_training(
        self, method: str = "exact", *, nsim: int = 10_000, seed: int | None = None
    ) -> TrainingTestResult:
        """Test H₀: τ = 0 — is training the network warranted at all?

        Parameters
        ----------
        method : {"exact", "saddlepoint", "satterthwaite", "rlrt", "rlrt_mixture"}
            "exact": the score statistic T with its finite-sample null distribution, a
            weighted sum of χ²₁ with weights of both signs, by characteristic-function
            inversion (DESIGN §3); "saddlepoint": Kuonen's approximation to it;
            "satterthwaite": the paper's P(κχ²_ν > T/2), which treats σ² as known;
            "rlrt": RLRT = 2[ℓ_R(τ̂) − ℓ_R(0)] with its exact null distribution simulated
            (``nsim`` draws, ``seed``); "rlrt_mixture": RLRT against the asymptotic 50:50
            χ²₀:χ²₁ mixture (a conservative approximation).
        nsim, seed : int
            Null draws and random seed for "rlrt".
        """
        if method not in METHODS + RLRT_METHODS:
            raise ValueError(f"method must be one of {METHODS + RLRT_METHODS}, got {method!r}")
        cache = self.__dict__.setdefault("_tests", {})
        key = (method, int(nsim), seed) if method == "rlrt" else method
        if key in cache:
            return cache[key]
        if method in RLRT_METHODS:
            prof = self.model.profile(reml=True)
            if self.reml and not self._tau_fixed:
                est = self.estimate
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = prof.maximize()
            _, X_rot = self.model._rotated
            result = rlrt_test(
                2.0 * (est.point.llf - est.llf_zero), self.model.spectrum.values, X_rot,
                prof.grid(), method=method, nsim=nsim, rng=np.random.default_rng(seed),
            )
        else:
            r = self._ols_resid
            result = training_test(
                r, self.model.spectrum.rotate(r), self.model.spectrum,
                self._null_eigenvalues, method=method,
            )
        cache[key] = result
        return result

    # -- reporting -----------------------------------------------------------------------
    def summary(
        self, alpha: float = 0.05, title: str | None = None, test: str = "exact"
    ) -> Summary:
        """A statsmodels ``Summary``: prints as text, ``as_html()`` and ``as_latex()``.

        Parameters
        ----------
        alpha : float
            Level of the fixed-effect and τ intervals.
        title : str, optional
        test : str
            Method of the training test shown (see :meth:`test_training`).
        """
        return build_summary(self, alpha=alpha, title=title, test=test)

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __repr__(self) -> str:
        return (
            f"<NTKMixedLMResults: {self.method}, τ̂ = {self.tau:.4g}, σ̂² = {self.scale:.4g}, "
            f"llf = {self.llf:.4f}>"
        )


def _loss_factor(loss: str, n: int) -> float:
    if loss not in _LOSS_FACTOR:
        raise ValueError(f"loss must be one of {sorted(_LOSS_FACTOR)}, got {loss!r}")
    return _LOSS_FACTOR[loss](n)
