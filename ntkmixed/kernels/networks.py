"""Seeded fully connected networks in float64, in standard or NTK parameterization."""

from __future__ import annotations

import itertools
import math
import re

import torch
from torch import nn

from .activations import make_activation

_ARCH = re.compile(r"^mlp(\d+)$")


class NTKLinear(nn.Module):
    """Linear layer in NTK parameterization: ``σ_w · W h / √fan_in + σ_b · b``.

    ``W`` and ``b`` are standard normal at initialization (Jacot, Gabriel & Hongler 2018).

    Parameters
    ----------
    in_features, out_features : int
        Layer sizes.
    sigma_w, sigma_b : float
        Weight and bias multipliers.
    generator : torch.Generator
        Source of the initial weights.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        sigma_w: float,
        sigma_b: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.sigma_w = float(sigma_w)
        self.sigma_b = float(sigma_b)
        w = torch.randn(out_features, in_features, generator=generator, dtype=torch.float64)
        b = torch.randn(out_features, generator=generator, dtype=torch.float64)
        self.weight = nn.Parameter(w)
        self.bias = nn.Parameter(b)

    @property
    def weight_scale(self) -> float:
        """Multiplier of ``W h`` in the forward pass."""
        return self.sigma_w / math.sqrt(self.in_features)

    @property
    def bias_scale(self) -> float:
        """Multiplier of ``b`` in the forward pass."""
        return self.sigma_b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight_scale * (x @ self.weight.T) + self.bias_scale * self.bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"sigma_w={self.sigma_w}, sigma_b={self.sigma_b}"
        )


def _standard_linear(n_in: int, n_out: int, generator: torch.Generator) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default initialization, drawn from ``generator``.

    PyTorch initializes weights by Kaiming-uniform with a = √5 and biases uniformly, which
    is U(−1/√fan_in, 1/√fan_in) for both.
    """
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=torch.float64)
    bound = 1.0 / math.sqrt(n_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)
    return layer


def parse_arch(arch: str) -> int:
    """Number of hidden layers L of ``arch="mlpL"``.

    Raises
    ------
    ValueError
        If ``arch`` is not of the form ``"mlpL"`` with L ≥ 1.
    """
    m = _ARCH.match(str(arch).strip().lower())
    if m is None or int(m.group(1)) < 1:
        raise ValueError(
            f"unknown arch {arch!r}: use 'mlpL' with L ≥ 1 hidden layers, e.g. 'mlp3'"
        )
    return int(m.group(1))


def build_mlp(
    n_inputs: int,
    *,
    depth: int,
    width: int,
    activation: str,
    param: str = "standard",
    seed: int = 0,
    sigma_w: float = 1.0,
    sigma_b: float = 0.0,
) -> nn.Sequential:
    """Build a seeded float64 MLP with ``depth`` hidden layers and a scalar linear readout.

    Parameters
    ----------
    n_inputs : int
        Input dimension d.
    depth, width : int
        Number and size of hidden layers.
    activation : str
        Name of the nonlinearity (see ``ntkmixed.kernels.activations``).
    param : {"standard", "ntk"}
        PyTorch's default ``nn.Linear`` initialization, or the NTK parameterization.
    seed : int
        Seed of a private ``torch.Generator`` (the global RNG is left untouched).
    sigma_w, sigma_b : float
        Multipliers of the NTK parameterization (ignored for ``"standard"``).

    Returns
    -------
    torch.nn.Sequential
        Maps a (batch, d) tensor to (batch, 1).
    """
    if param not in ("standard", "ntk"):
        raise ValueError(f"param must be 'standard' or 'ntk', got {param!r}")
    if int(width) < 1 or int(width) != width:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    gen = torch.Generator().manual_seed(int(seed))
    sizes = [int(n_inputs)] + [int(width)] * int(depth) + [1]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if param == "ntk":
            layers.append(NTKLinear(n_in, n_out, sigma_w, sigma_b, gen))
        else:
            layers.append(_standard_linear(n_in, n_out, gen))
        if i < depth:
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)
