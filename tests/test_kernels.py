"""Empirical NTK: the layerwise computation against torch.func Jacobians (DESIGN §6 item 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from ntkmixed import NTKMixedLM, NTKSpec
from ntkmixed.kernels import build_mlp, jacobian_ntk, layerwise_ntk, network_output


def _reference_ntk(net, z1, z2):
    """Θ = J₁J₂ᵀ from full torch.func Jacobians of the batch output (independent of ntkmixed)."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def f(p, x):
        return functional_call(net, p, (x,)).reshape(-1)

    def jac(z):
        j = jacrev(f)(params, torch.as_tensor(z, dtype=torch.float64))
        return torch.cat([v.reshape(z.shape[0], -1) for v in j.values()], dim=1)

    return (jac(z1) @ jac(z2).T).numpy()


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "erf", "sigmoid"])
@pytest.mark.parametrize("param", ["standard", "ntk"])
def test_layerwise_equals_torch_func(activation, param, rng):
    # Both are exact computations of the same sums in float64; 1e-10 relative leaves
    # ~5 orders of magnitude above round-off for these sizes.
    net = build_mlp(3, depth=3, width=48, activation=activation, param=param, seed=7,
                    sigma_w=1.3, sigma_b=0.4)
    z1, z2 = rng.normal(size=(25, 3)), rng.normal(size=(9, 3))
    ref11, ref12 = _reference_ntk(net, z1, z1), _reference_ntk(net, z1, z2)
    scale = np.abs(ref11).max()
    assert np.abs(layerwise_ntk(net, z1) - ref11).max() <= 1e-10 * scale
    assert np.abs(layerwise_ntk(net, z1, z2) - ref12).max() <= 1e-10 * scale
    # the chunked per-sample path (used for modules that are not plain MLPs)
    assert np.abs(jacobian_ntk(net, z1, z2, max_elements=5000) - ref12).max() <= 1e-10 * scale


def test_kernel_is_psd_and_symmetric(rng):
    net = build_mlp(2, depth=2, width=64, activation="relu", seed=1)
    theta = layerwise_ntk(net, rng.normal(size=(40, 2)))
    assert np.array_equal(theta, theta.T)
    lam = np.linalg.eigvalsh(theta)
    assert lam.min() > -1e-12 * lam.max()


def test_standard_init_matches_pytorch_default_bounds():
    # PyTorch's nn.Linear draws weights and biases from U(−1/√fan_in, 1/√fan_in).
    net = build_mlp(4, depth=2, width=300, activation="relu", param="standard", seed=3)
    lin = net[2]
    bound = 1 / math.sqrt(300)
    w = lin.weight.detach().numpy()
    assert w.dtype == np.float64
    assert np.abs(w).max() <= bound
    # a uniform on (−b, b) has sd b/√3; 90 000 draws pin it to ~0.3 %
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound / math.sqrt(3)


def test_ntk_param_forward_is_scaled_standard_normal(rng):
    # NTK parameterization: layer output σ_w·W h/√fan_in + σ_b·b with W, b ~ N(0, 1).
    net = build_mlp(5, depth=1, width=20000, activation="identity", param="ntk", seed=0,
                    sigma_w=2.0, sigma_b=0.5)
    first = net[0]
    w = first.weight.detach().numpy()
    assert abs(w.std() - 1.0) < 0.01 and abs(w.mean()) < 0.01
    z = torch.as_tensor(rng.normal(size=(3, 5)))
    expect = 2.0 * z @ first.weight.T / math.sqrt(5) + 0.5 * first.bias
    assert torch.allclose(first(z), expect, rtol=1e-13, atol=1e-13)


def test_seed_reproducible_and_global_rng_untouched(rng):
    z = rng.normal(size=(10, 2))
    state = torch.random.get_rng_state()
    a = layerwise_ntk(build_mlp(2, depth=2, width=32, activation="tanh", seed=5), z)
    b = layerwise_ntk(build_mlp(2, depth=2, width=32, activation="tanh", seed=5), z)
    c = layerwise_ntk(build_mlp(2, depth=2, width=32, activation="tanh", seed=6), z)
    assert torch.equal(state, torch.random.get_rng_state())
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_model_kernel_is_theta_over_n_of_standardized_inputs(rng):
    # H = Θ(Z, Z)/n with Z standardized (population sd) on the rows used (DESIGN §1, §5).
    z = rng.normal(loc=[3.0, -1.0], scale=[10.0, 0.1], size=(30, 2))
    y = rng.normal(size=30)
    spec = NTKSpec(arch="mlp2", width=32, seed=2)
    model = NTKMixedLM(y, np.ones((30, 1)), exog_ntk=z, ntk=spec)
    zs = (z - z.mean(0)) / z.std(0)
    net = build_mlp(2, depth=2, width=32, activation="relu", seed=2)
    ref = _reference_ntk(net, zs, zs) / 30
    assert np.abs(model.kernel - ref).max() <= 1e-10 * np.abs(ref).max()
    assert np.allclose(model.ntk_features.f0, network_output(net, zs), rtol=0, atol=1e-14)
