"""The ``ntk(...)`` term: options, validation, input scaling and the training operator H."""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .activations import ACTIVATIONS
from .analytic import ANALYTIC_ACTIVATIONS, analytic_ntk
from .empirical import empirical_ntk, empirical_ntk_diag, network_output
from .networks import build_mlp, parse_arch

INITS = ("zero", "offset", "covariate")
KINDS = ("empirical", "analytic")


@dataclass(frozen=True)
class InputScaler:
    """Column-wise standardization fitted on the training inputs (population sd, ddof=0)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, z: np.ndarray, names: list[str] | None = None) -> InputScaler:
        """Fit on ``z`` (n, d); a constant column is an error (it cannot be standardized)."""
        z = np.asarray(z, dtype=np.float64)
        sd = z.std(axis=0)
        bad = np.flatnonzero(~(sd > 0))
        if bad.size:
            names = names or [f"z{j}" for j in range(z.shape[1])]
            cols = ", ".join(repr(names[j]) for j in bad)
            raise ValueError(
                f"ntk() input {cols} is constant on the rows used; it carries no information "
                "and cannot be standardized"
            )
        return cls(z.mean(axis=0), sd)

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Standardize ``z`` with the training mean and sd."""
        return (np.asarray(z, dtype=np.float64) - self.mean) / self.scale


@dataclass(frozen=True)
class NTKSpec:
    """Options of an ``ntk(...)`` term (DESIGN §5).

    Parameters
    ----------
    arch : str or torch.nn.Module
        ``"mlpL"``: L hidden layers of ``width`` units and a scalar linear readout; or a
        user's module mapping (batch, d) to (batch,) or (batch, 1) (used in float64, its
        own weights; ``width``, ``activation``, ``seed`` and ``param`` do not apply).
    width : int
        Hidden-layer width.
    activation : str
        Nonlinearity: relu, tanh, gelu, erf, sigmoid, softplus or identity.
    seed : int
        Seed of the network's initial weights.
    param : {"standard", "ntk"}
        PyTorch's default initialization, or the NTK parameterization with σ_w, σ_b.
    kind : {"empirical", "analytic"}
        Finite-width kernel of the seeded network, or the infinite-width limit (MLPs in
        the NTK parameterization with relu, erf or gelu).
    init : {"zero", "offset", "covariate"}
        How the initial output f₀ enters: not at all (antisymmetric initialization), as an
        offset, or as a column of X.
    scale : bool
        Standardize the inputs (mean 0, sd 1 on the rows used) before the network.
    sigma_w, sigma_b : float
        Multipliers of the NTK parameterization.
    """

    arch: str | nn.Module = "mlp3"
    width: int = 512
    activation: str = "relu"
    seed: int = 0
    param: str = "standard"
    kind: str = "empirical"
    init: str = "zero"
    scale: bool = True
    sigma_w: float = 1.0
    sigma_b: float = 0.0
    depth: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        custom = isinstance(self.arch, nn.Module)
        object.__setattr__(self, "depth", 0 if custom else parse_arch(self.arch))
        if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)):
            raise ValueError(f"ntk() width must be an integer, got {self.width!r}")
        if self.width < 1:
            raise ValueError(f"ntk() width must be ≥ 1, got {self.width}")
        if str(self.activation).lower() not in ACTIVATIONS:
            raise ValueError(
                f"ntk() activation {self.activation!r} unknown; choose one of "
                f"{sorted(ACTIVATIONS)}"
            )
        object.__setattr__(self, "activation", str(self.activation).lower())
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)):
            raise ValueError(f"ntk() seed must be an integer, got {self.seed!r}")
        if self.param not in ("standard", "ntk"):
            raise ValueError(f"ntk() param must be 'standard' or 'ntk', got {self.param!r}")
        if self.kind not in KINDS:
            raise ValueError(f"ntk() kind must be one of {KINDS}, got {self.kind!r}")
        if self.init not in INITS:
            raise ValueError(f"ntk() init must be one of {INITS}, got {self.init!r}")
        if not isinstance(self.scale, bool):
            raise ValueError(f"ntk() scale must be True or False, got {self.scale!r}")
        for name in ("sigma_w", "sigma_b"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
                raise ValueError(f"ntk() {name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if self.kind == "analytic":
            if custom:
                raise ValueError("kind='analytic' needs arch='mlpL', not a module")
            if self.param != "ntk":
                raise ValueError(
                    "kind='analytic' is the infinite-width limit in the NTK parameterization: "
                    "add param='ntk' (standard parameterization has no such limit at fixed "
                    "learning rate)"
                )
            if self.activation not in ANALYTIC_ACTIVATIONS:
                raise ValueError(
                    f"kind='analytic' has closed forms for {ANALYTIC_ACTIVATIONS}, not "
                    f"{self.activation!r}"
                )
            if self.init != "zero":
                raise ValueError(
                    "kind='analytic' describes an infinitely wide network, which has no finite "
                    "initial output f₀: use init='zero'"
                )

    @property
    def custom(self) -> bool:
        """Whether ``arch`` is a user's module."""
        return isinstance(self.arch, nn.Module)

    @classmethod
    def from_options(cls, options: Mapping[str, Any] | None) -> NTKSpec:
        """Build from keyword options, naming any unknown option."""
        options = dict(options or {})
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"unknown ntk() option(s) {unknown}; known options are {sorted(known)}"
            )
        return cls(**options)

    def with_seed(self, seed: int) -> NTKSpec:
        """A copy with another seed."""
        return replace(self, seed=int(seed))

    def build_network(self, n_inputs: int) -> nn.Module:
        """The network at initialization (a float64 copy for a user's module)."""
        if self.custom:
            # eval(): dropout off and batch-norm statistics fixed, so f is a deterministic
            # function of its inputs (the NTK of a network in training mode is not defined)
            net = copy.deepcopy(self.arch).to(torch.float64).eval()
            if not any(p.requires_grad for p in net.parameters()):
                raise ValueError("the module given as arch= has no trainable parameters")
            try:
                with torch.no_grad():
                    out = net(torch.zeros(2, n_inputs, dtype=torch.float64))
            except Exception as err:  # any failure of the user's forward pass
                raise ValueError(
                    f"the module given as arch= cannot take inputs of shape (batch, "
                    f"{n_inputs}): {err}"
                ) from None
            if out.shape not in ((2,), (2, 1)):
                raise ValueError(
                    f"the module given as arch= must return shape (batch,) or (batch, 1), "
                    f"got {tuple(out.shape)} for a batch of 2"
                )
            return net
        return build_mlp(
            n_inputs,
            depth=self.depth,
            width=self.width,
            activation=self.activation,
            param=self.param,
            seed=self.seed,
            sigma_w=self.sigma_w,
            sigma_b=self.sigma_b,
        )

    def describe(self) -> str:
        """One line for summaries, e.g. ``empirical NTK, MLP 3×512 relu, standard param.``"""
        if self.custom:
            n_par = sum(p.numel() for p in self.arch.parameters())
            return f"empirical NTK of a user module {type(self.arch).__name__} ({n_par} parameters)"
        par = "standard param." if self.param == "standard" else (
            f"NTK param. σ_w={self.sigma_w:g}, σ_b={self.sigma_b:g}"
        )
        if self.kind == "analytic":
            return f"analytic (infinite-width) NTK, MLP {self.depth} hidden layers " \
                   f"{self.activation}, {par}"
        return (
            f"{self.kind} NTK, MLP {self.depth}×{self.width} {self.activation}, {par}, "
            f"seed {self.seed}"
        )


@dataclass(frozen=True)
class NTKFeatures:
    """What the network gives for the training rows: H = Θ(Z, Z)/n and f₀, plus what is
    needed to evaluate the same kernel at new rows (the network, the scaler, the inputs)."""

    H: np.ndarray
    f0: np.ndarray
    network: nn.Module | None
    scaler: InputScaler | None
    spec: NTKSpec
    z_train: np.ndarray  # standardized training inputs

    def _prepare(self, z_new: np.ndarray) -> np.ndarray:
        z_new = np.asarray(z_new, dtype=np.float64)
        if z_new.ndim != 2 or z_new.shape[1] != self.z_train.shape[1]:
            raise ValueError(
                f"new network inputs have shape {z_new.shape}; the model's network takes "
                f"{self.z_train.shape[1]} input column(s)"
            )
        return self.scaler.transform(z_new) if self.scaler is not None else z_new

    def cross(
        self, z_new: np.ndarray, diag: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(H* = Θ(Z*, Z)/n, h** = diag Θ(Z*, Z*)/n or None, f₀(Z*)) for raw new inputs."""
        zs = self._prepare(z_new)
        n = self.z_train.shape[0]
        h_new = None
        if self.spec.kind == "analytic":
            opts = dict(depth=self.spec.depth, activation=self.spec.activation,
                        sigma_w=self.spec.sigma_w, sigma_b=self.spec.sigma_b)
            H_new = analytic_ntk(zs, self.z_train, **opts) / n
            if diag:
                h_new = np.array([analytic_ntk(row[None, :], **opts)[0, 0] for row in zs]) / n
            return H_new, h_new, np.zeros(zs.shape[0])
        H_new = empirical_ntk(self.network, zs, self.z_train) / n
        if diag:
            h_new = empirical_ntk_diag(self.network, zs) / n
        return H_new, h_new, network_output(self.network, zs)

    def initial_output(self, z_new: np.ndarray) -> np.ndarray:
        """f₀(Z*) of the network at initialization (0 for the analytic kernel)."""
        zs = self._prepare(z_new)
        if self.network is None:
            return np.zeros(zs.shape[0])
        return network_output(self.network, zs)


def ntk_operator(spec: NTKSpec, z: np.ndarray, names: list[str] | None = None) -> NTKFeatures:
    """Training operator H = Θ(Z, Z)/n of the seeded network, and its initial output f₀.

    Parameters
    ----------
    spec : NTKSpec
        Kernel options.
    z : ndarray, shape (n, d)
        Raw network inputs (standardized here when ``spec.scale``).
    names : list of str, optional
        Input names, for error messages.
    """
    z = np.asarray(z, dtype=np.float64)
    scaler = InputScaler.fit(z, names) if spec.scale else None
    zs = scaler.transform(z) if scaler is not None else z
    if spec.kind == "analytic":
        theta = analytic_ntk(zs, depth=spec.depth, activation=spec.activation,
                             sigma_w=spec.sigma_w, sigma_b=spec.sigma_b)
        return NTKFeatures(H=theta / z.shape[0], f0=np.zeros(z.shape[0]), network=None,
                           scaler=scaler, spec=spec, z_train=zs)
    net = spec.build_network(z.shape[1])
    theta = empirical_ntk(net, zs)
    f0 = network_output(net, zs)
    return NTKFeatures(H=theta / z.shape[0], f0=f0, network=net, scaler=scaler, spec=spec,
                       z_train=zs)


def ntk_kernel(
    Z1,
    Z2=None,
    *,
    arch: str | nn.Module = "mlp2",
    activation: str = "relu",
    kind: str = "empirical",
    param: str = "standard",
    width: int = 512,
    seed: int = 0,
    sigma_w: float = 1.0,
    sigma_b: float = 0.0,
) -> np.ndarray:
    """The neural tangent kernel Θ(Z1, Z2) itself: no 1/n, no input standardization.

    Parameters
    ----------
    Z1 : array_like, shape (n1, d)
    Z2 : array_like, shape (n2, d), optional
        Default: Z1 (the symmetric kernel).
    arch, activation, kind, param, width, seed, sigma_w, sigma_b
        As in ``ntk(...)``. NTK parameterization: every layer computes
        σ_w·W·h/√fan_in + σ_b·b with W, b standard normal (the first layer's fan_in is the
        input dimension), readout included. ``kind="analytic"`` needs ``param="ntk"``.

    Returns
    -------
    ndarray, shape (n1, n2)
        Comparable entry by entry with other NTK libraries' kernels for the same network.
    """
    spec = NTKSpec(arch=arch, width=width, activation=activation, seed=seed, param=param,
                   kind=kind, sigma_w=sigma_w, sigma_b=sigma_b, scale=False)
    z1 = np.asarray(Z1, dtype=np.float64)
    if z1.ndim == 1:
        z1 = z1[:, None]
    z2 = None if Z2 is None else np.asarray(Z2, dtype=np.float64)
    if z2 is not None and z2.ndim == 1:
        z2 = z2[:, None]
    for name, z in (("Z1", z1), ("Z2", z2)):
        if z is not None and (z.ndim != 2 or not np.all(np.isfinite(z))):
            raise ValueError(f"{name} must be a finite 2-D array (n, d), got shape {z.shape}")
    if z2 is not None and z2.shape[1] != z1.shape[1]:
        raise ValueError(f"Z1 has {z1.shape[1]} columns but Z2 has {z2.shape[1]}")
    if kind == "analytic":
        return analytic_ntk(z1, z2, depth=spec.depth, activation=spec.activation,
                            sigma_w=spec.sigma_w, sigma_b=spec.sigma_b)
    return empirical_ntk(spec.build_network(z1.shape[1]), z1, z2)
