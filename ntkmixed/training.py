"""Training the network behind the kernel for real, by full-batch gradient descent.

The fitted model says: the network trained for τ̂ = learning rate × epochs on the residual
y − Xβ̂ − o is the BLUP. ``train_network`` does exactly that with ``torch.optim.SGD`` on
½·mean squared error, so the duality can be checked (and used) with a real network.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from torch import nn

if TYPE_CHECKING:
    from .results import NTKMixedLMResults


class AntisymmetricPair(nn.Module):
    """(f_a − f_b)/√2 with f_b a copy of f_a: output 0 at initialization, NTK equal to one
    copy's (the model's ``init="zero"``; Hu et al. 2020's antisymmetric initialization)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.a = copy.deepcopy(net)
        self.b = copy.deepcopy(net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a(x) - self.b(x)) / math.sqrt(2.0)


class TrainingWarning(UserWarning):
    """Gradient descent left the regime the model describes (the loss grew)."""


class Rescaled(nn.Module):
    """f₀(z) + s·(h(z) − f₀(z)): a network h trained on the standardized residual, mapped back
    to the response's units (f₀ a frozen copy of h at initialization)."""

    def __init__(self, trained: nn.Module, initial: nn.Module, scale: float) -> None:
        super().__init__()
        self.trained = trained
        self.initial = initial
        self.scale = float(scale)
        for p in self.initial.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.initial(x)
        return f0 + self.scale * (self.trained(x) - f0)


@dataclass(frozen=True)
class TrainingRun:
    """Result of :meth:`NTKMixedLMResults.train_network` (unpacks as ``module, history``)."""

    module: nn.Module
    history: pd.DataFrame
    lr: float
    epochs: int
    fitted: pd.Series
    predicted: pd.Series | None

    def __iter__(self):
        return iter((self.module, self.history))


def _output(module: nn.Module, z: torch.Tensor) -> torch.Tensor:
    return module(z).reshape(-1)


MAX_EPOCHS = 10_000_000


def train_network(
    res: NTKMixedLMResults,
    lr: float | None = None,
    epochs: int | None = None,
    newdata=None,
    standardize: bool = True,
    **new_kwargs,
) -> TrainingRun:
    """Full-batch gradient descent on ½·mean((f(z) − (y − Xβ̂ − o))²), see the results method.

    With ``standardize`` the network is trained on f₀ + (t − f₀)/s (t the residual target, s
    its sd) and its output mapped back by f₀ + s·(h − f₀). In the NTK regime gradient flow is
    linear in the target, so this is the same training time τ = η·epochs; it keeps the
    network's movement of order one, where finite networks stay close to their kernel.
    """
    model = res.model
    feats = model.ntk_features
    if feats is None or feats.network is None:
        raise ValueError(
            "there is no finite network to train: the model uses a precomputed or an analytic "
            "(infinite-width) kernel"
        )
    if lr is None:
        lr = res.default_lr()
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not (
        math.isfinite(lr) and lr > 0
    ):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    lr = float(lr)
    res.epochs(lr)  # refuses η·λ_max ≥ 2, warns above 0.1
    if epochs is None:
        epochs = round(res.tau / lr)
    if (isinstance(epochs, bool) or not isinstance(epochs, numbers.Real)
            or not math.isfinite(epochs) or int(epochs) != epochs or epochs < 0):
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    epochs = int(epochs)
    if epochs > MAX_EPOCHS:
        raise ValueError(
            f"{epochs} epochs requested (τ̂/η with η = {lr:g}); more than {MAX_EPOCHS} is "
            "refused: use a larger learning rate"
        )

    init = feats.spec.init
    module = copy.deepcopy(feats.network) if init == "offset" else AntisymmetricPair(
        feats.network)
    # the network's own output is f; the rest of the fit is fixed at β̂ and the user's offset
    f0 = feats.f0 if init == "offset" else np.zeros(model.nobs)
    base = model.exog @ res._point.beta + model.offset - f0
    t = model.endog - base
    s = float(np.std(t - f0)) if standardize else 1.0
    s = s if s > 0 else 1.0
    target = torch.as_tensor(f0 + (t - f0) / s)
    z = torch.as_tensor(feats.z_train)
    initial = copy.deepcopy(module)

    z_test = y_test = base_test = None
    if newdata is not None or new_kwargs:
        from .prediction import new_rows

        rows = new_rows(res, newdata, need_variance=False, **new_kwargs)
        f0_new = feats.initial_output(rows.z_new) if init == "offset" else 0.0
        base_test = rows.exog @ res._point.beta + rows.offset - f0_new
        z_test = torch.as_tensor(feats._prepare(rows.z_new))
        if rows.endog is not None and np.isfinite(rows.endog).any():
            t_new = rows.endog - base_test
            y_test = torch.as_tensor(f0_new + (t_new - f0_new) / s)
            seen = torch.as_tensor(np.isfinite(rows.endog))  # rows with a response

    opt = torch.optim.SGD(module.parameters(), lr=lr)
    train_loss, test_loss = [], []

    def record() -> None:  # losses in the response's units: s² × the standardized loss
        with torch.no_grad():
            train_loss.append(0.5 * s * s * float(((_output(module, z) - target) ** 2).mean()))
            if y_test is not None:
                err = (_output(module, z_test) - y_test)[seen]
                test_loss.append(0.5 * s * s * float((err**2).mean()))

    record()
    for _ in range(epochs):
        opt.zero_grad()
        loss = 0.5 * ((_output(module, z) - target) ** 2).mean()
        loss.backward()
        opt.step()
        record()

    if not math.isfinite(train_loss[-1]) or train_loss[-1] > 10 * train_loss[0]:
        warnings.warn(
            f"training diverged (½·MSE {train_loss[0]:.4g} → {train_loss[-1]:.4g}): the network "
            "left the lazy (NTK) regime the model describes; use a smaller learning rate or a "
            "wider network (NTK parameterization stays closer to its kernel)",
            TrainingWarning, stacklevel=3,
        )
    history = pd.DataFrame({"epoch": np.arange(epochs + 1), "train_loss": train_loss})
    if y_test is not None:
        history["test_loss"] = test_loss
    out = Rescaled(module, initial, s) if s != 1.0 else module
    with torch.no_grad():
        fitted = base + _output(out, z).numpy()
        predicted = None
        if z_test is not None:
            predicted = pd.Series(base_test + _output(out, z_test).numpy(),
                                  index=rows.index, name="network")
    return TrainingRun(out, history, lr, epochs,
                       pd.Series(fitted, index=model.data_index, name="network"), predicted)
