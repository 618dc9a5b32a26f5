"""The ``ntk(...)`` term: options, validation, input scaling and the training operator H."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from torch import nn

from .activations import ACTIVATIONS
from .empirical import empirical_ntk, network_output
from .networks import build_mlp, parse_arch

INITS = ("zero", "offset", "covariate")


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
    arch : str
        ``"mlpL"``: L hidden layers of ``width`` units and a scalar linear readout.
    width : int
        Hidden-layer width.
    activation : str
        Nonlinearity: relu, tanh, gelu, erf, sigmoid, softplus or identity.
    seed : int
        Seed of the network's initial weights.
    param : {"standard", "ntk"}
        PyTorch's default initialization, or the NTK parameterization with σ_w, σ_b.
    kind : {"empirical"}
        Finite-width kernel of the seeded network.
    init : {"zero", "offset", "covariate"}
        How the initial output f₀ enters: not at all (antisymmetric initialization), as an
        offset, or as a column of X.
    scale : bool
        Standardize the inputs (mean 0, sd 1 on the rows used) before the network.
    sigma_w, sigma_b : float
        Multipliers of the NTK parameterization.
    """

    arch: str = "mlp3"
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
        object.__setattr__(self, "depth", parse_arch(self.arch))
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
        if self.kind != "empirical":
            raise ValueError(
                f"ntk() kind={self.kind!r} is not available; kind='empirical' is"
            )
        if self.init not in INITS:
            raise ValueError(f"ntk() init must be one of {INITS}, got {self.init!r}")
        if not isinstance(self.scale, bool):
            raise ValueError(f"ntk() scale must be True or False, got {self.scale!r}")
        for name in ("sigma_w", "sigma_b"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v):
                raise ValueError(f"ntk() {name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))

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

    def build_network(self, n_inputs: int) -> nn.Sequential:
        """The seeded network at initialization."""
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
        """One line for summaries, e.g. ``MLP 3×512 relu, standard param., seed 0``."""
        par = "standard param." if self.param == "standard" else (
            f"NTK param. σ_w={self.sigma_w:g}, σ_b={self.sigma_b:g}"
        )
        return (
            f"{self.kind} NTK, MLP {self.depth}×{self.width} {self.activation}, {par}, "
            f"seed {self.seed}"
        )


@dataclass(frozen=True)
class NTKFeatures:
    """What the network produces for the training rows: H, f₀, the network and the scaler."""

    H: np.ndarray
    f0: np.ndarray
    network: nn.Module
    scaler: InputScaler | None


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
    net = spec.build_network(z.shape[1])
    theta = empirical_ntk(net, zs)
    f0 = network_output(net, zs)
    return NTKFeatures(H=theta / z.shape[0], f0=f0, network=net, scaler=scaler)
