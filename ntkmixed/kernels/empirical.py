"""Empirical (finite-width) neural tangent kernels by torch autograd.

Θ(z, z') = ∇_θ f(z)ᵀ ∇_θ f(z') at the network's current parameters θ.

Two computations that must agree to round-off:

* :func:`layerwise_ntk` for MLPs (linear layers and elementwise nonlinearities): for a linear
  layer computing ``c_w·W a + c_b·b`` with input activations ``a`` and backpropagated signal
  ``δ = ∂f/∂(layer output)``, ∂f/∂W = c_w δ aᵀ and ∂f/∂b = c_b δ, so that layer contributes
  ``(c_w² a aᵀ + c_b²) ⊙ (δ δᵀ)``. One forward and one backward pass, O(n·width) memory.
* :func:`jacobian_ntk` for any module: per-sample Jacobians from ``torch.func`` (``vmap`` of
  ``jacrev``), contracted in chunks (O(chunk·#params) memory).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from .activations import ELEMENTWISE
from .networks import NTKLinear


def _as_tensor(z: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(z, dtype=np.float64) if not torch.is_tensor(z) else z)
    t = t.to(torch.float64)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise ValueError(f"network inputs must be 2-D (n, d), got shape {tuple(t.shape)}")
    return t


def _layer_scales(layer: nn.Module) -> tuple[float, float] | None:
    """(c_w, c_b) of a linear layer, or None if ``layer`` is not linear."""
    if isinstance(layer, NTKLinear):
        return layer.weight_scale, layer.bias_scale
    if type(layer) is nn.Linear:
        return 1.0, (1.0 if layer.bias is not None else 0.0)
    return None


def supports_layerwise(module: nn.Module) -> bool:
    """Whether ``module`` is an ``nn.Sequential`` of linear layers and elementwise maps,
    ending in a linear layer with one output."""
    if not isinstance(module, nn.Sequential) or len(module) == 0:
        return False
    if not all(p.requires_grad for p in module.parameters()):
        return False  # frozen layers: only the trainable parameters define the NTK
    for layer in module:
        if _layer_scales(layer) is None and not isinstance(layer, ELEMENTWISE):
            return False
    last = module[-1]
    return _layer_scales(last) is not None and last.out_features == 1


def _signals(
    module: nn.Sequential, z: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, float, float]]:
    """Per linear layer: (input activations a, backprop signal δ, c_w, c_b)."""
    inputs, outputs, scales = [], [], []
    h = z
    with torch.enable_grad():
        for layer in module:
            sc = _layer_scales(layer)
            if sc is not None:
                inputs.append(h.detach())
                h = layer(h)
                outputs.append(h)
                scales.append(sc)
            else:
                h = layer(h)
        deltas = torch.autograd.grad(h.sum(), outputs, allow_unused=False)
    return [
        (a, d.detach(), cw, cb)
        for a, d, (cw, cb) in zip(inputs, deltas, scales, strict=True)
    ]


def layerwise_ntk(
    module: nn.Sequential,
    z1: np.ndarray | torch.Tensor,
    z2: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Empirical NTK of an MLP by the layerwise identity.

    Parameters
    ----------
    module : torch.nn.Sequential
        Linear layers (``nn.Linear`` or :class:`~ntkmixed.kernels.networks.NTKLinear`) and
        elementwise activations, scalar output; float64 parameters.
    z1 : array_like, shape (n1, d)
        Inputs.
    z2 : array_like, shape (n2, d), optional
        Second set of inputs; ``None`` gives the symmetric Θ(z1, z1).

    Returns
    -------
    ndarray, shape (n1, n2)
        Θ(z1, z2) in float64.
    """
    if not supports_layerwise(module):
        raise ValueError(
            "layerwise NTK needs an nn.Sequential of linear layers and elementwise "
            "activations with a scalar readout; use jacobian_ntk for other modules"
        )
    s1 = _signals(module, _as_tensor(z1))
    s2 = s1 if z2 is None else _signals(module, _as_tensor(z2))
    with torch.no_grad():
        theta = None
        for (a1, d1, cw, cb), (a2, d2, _, _) in zip(s1, s2, strict=True):
            term = (cw * cw) * (a1 @ a2.T)
            if cb != 0.0:
                term += cb * cb
            term *= d1 @ d2.T
            theta = term if theta is None else theta + term
    out = theta.numpy()
    if z2 is None:
        out = 0.5 * (out + out.T)
    return out


def layerwise_ntk_diag(module: nn.Sequential, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """diag Θ(z, z) of an MLP without forming the n × n kernel: Σ_l (c_w²|a|² + c_b²)|δ|²."""
    if not supports_layerwise(module):
        raise ValueError("layerwise NTK needs an MLP; use jacobian_ntk_diag")
    out = None
    with torch.no_grad():
        for a, d, cw, cb in _signals(module, _as_tensor(z)):
            term = (cw * cw * (a * a).sum(1) + cb * cb) * (d * d).sum(1)
            out = term if out is None else out + term
    return out.numpy().copy()


def jacobian_ntk_diag(module: nn.Module, z: np.ndarray | torch.Tensor, *,
                      max_elements: int = 20_000_000) -> np.ndarray:
    """diag Θ(z, z) of any module: squared norms of per-sample Jacobians, in chunks."""
    params = {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}
    n_params = sum(v.numel() for v in params.values())
    t = _as_tensor(z)
    chunk = max(1, int(max_elements // max(n_params, 1)))
    out = np.empty(t.shape[0])
    with torch.no_grad():
        for i in range(0, t.shape[0], chunk):
            j = _flat_jacobian(module, params, t[i : i + chunk])
            out[i : i + chunk] = (j * j).sum(1).numpy()
    return out


def empirical_ntk_diag(module: nn.Module, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """diag Θ(z, z): layerwise for MLPs, torch.func Jacobians otherwise."""
    if supports_layerwise(module):
        return layerwise_ntk_diag(module, z)
    return jacobian_ntk_diag(module, z)


def _flat_jacobian(module: nn.Module, params: dict, z: torch.Tensor) -> torch.Tensor:
    def f(p, x):
        return functional_call(module, p, (x.unsqueeze(0),)).reshape(())

    jac = vmap(jacrev(f), in_dims=(None, 0))(params, z)
    return torch.cat([j.reshape(z.shape[0], -1) for j in jac.values()], dim=1)


def jacobian_ntk(
    module: nn.Module,
    z1: np.ndarray | torch.Tensor,
    z2: np.ndarray | torch.Tensor | None = None,
    *,
    max_elements: int = 20_000_000,
) -> np.ndarray:
    """Empirical NTK of any module by chunked per-sample Jacobian contraction (torch.func).

    Parameters
    ----------
    module : torch.nn.Module
        Maps (batch, d) to (batch,) or (batch, 1).
    z1, z2 : array_like
        Inputs as in :func:`layerwise_ntk`.
    max_elements : int
        Bound on the entries of one Jacobian chunk (rows × #params).

    Returns
    -------
    ndarray, shape (n1, n2)
    """
    params = {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}
    n_params = sum(v.numel() for v in params.values())
    t1 = _as_tensor(z1)
    t2 = t1 if z2 is None else _as_tensor(z2)
    chunk = max(1, int(max_elements // max(n_params, 1)))
    out = np.empty((t1.shape[0], t2.shape[0]))
    symmetric = z2 is None
    with torch.no_grad():
        for i in range(0, t1.shape[0], chunk):
            j1 = _flat_jacobian(module, params, t1[i : i + chunk])
            # for Θ(z, z) only the blocks on and above the diagonal are computed
            for j in range(i if symmetric else 0, t2.shape[0], chunk):
                j2 = j1 if (symmetric and j == i) else _flat_jacobian(
                    module, params, t2[j : j + chunk]
                )
                block = (j1 @ j2.T).numpy()
                out[i : i + chunk, j : j + chunk] = block
                if symmetric and j != i:
                    out[j : j + chunk, i : i + chunk] = block.T
    if symmetric:
        out = 0.5 * (out + out.T)
    return out


def empirical_ntk(
    module: nn.Module,
    z1: np.ndarray | torch.Tensor,
    z2: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray:
    """Empirical NTK Θ(z1, z2) over the trainable parameters: layerwise for MLPs, torch.func
    Jacobians otherwise."""
    if supports_layerwise(module):
        return layerwise_ntk(module, z1, z2)
    try:
        return jacobian_ntk(module, z1, z2)
    except RuntimeError as err:
        raise ValueError(
            f"cannot compute the NTK of this module by torch.func Jacobians: {err}"
        ) from None


def network_output(module: nn.Module, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """The network's output f(z) as a float64 vector of length n."""
    with torch.no_grad():
        out = module(_as_tensor(z))
    return out.reshape(-1).to(torch.float64).numpy().copy()
