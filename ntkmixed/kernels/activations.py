"""Elementwise nonlinearities, one small module each.

Every activation is an elementwise ``torch.nn.Module`` so that an MLP built from them is
recognised by the layerwise NTK (``ntkmixed.kernels.empirical``): for an elementwise
nonlinearity the backpropagated signal of each sample depends on that sample only.
"""

from __future__ import annotations

import torch
from torch import nn


class Erf(nn.Module):
    """The error function, erf(x) (its infinite-width NTK has a closed form)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


class GELU(nn.GELU):
    """Exact (erf-based) GELU, x·Φ(x)."""


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": GELU,
    "erf": Erf,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}

# Modules known to act elementwise (sample by sample, unit by unit).
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.Tanh,
    nn.GELU,
    Erf,
    nn.Sigmoid,
    nn.Softplus,
    nn.Identity,
    nn.LeakyReLU,
    nn.ELU,
    nn.SiLU,
)


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module by name.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`ACTIVATIONS`.
    """
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[key]()

