"""Prediction off the training points, the real network, and inspectable kernels (issue 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import torch
from torch import nn
from torch.func import functional_call, jacrev

from ntkmixed import NTKMixedLM, NTKSpec
from ntkmixed.datasets import load_penguins
from ntkmixed.kernels import ntk_kernel
from ntkmixed.training import TrainingWarning

PENGUIN_F = ("body_mass_g ~ C(sex) + C(species) + ntk(bill_length_mm, bill_depth_mm, "
             "flipper_length_mm, arch='mlp2'{extra})")


def _jac(net, z):
    """Per-row Jacobians of the network output by torch.func (independent of ntkmixed)."""
    params = {k: v.detach() for k, v in net.named_parameters()}

    def f(p):
        return functional_call(net, p, (torch.as_tensor(z, dtype=torch.float64),)).reshape(-1)

    j = jacrev(f)(params)
    return torch.cat([v.reshape(len(z), -1) for v in j.values()], dim=1).numpy()


@pytest.fixture(scope="module")
def penguins():
    d = load_penguins().dropna()
    return d.iloc[::2], d.iloc[1::2]  # train, new


@pytest.mark.parametrize("init", ["zero", "offset", "covariate"])
def test_predict_on_training_data_is_fittedvalues(penguins, init):
    train, new = penguins
    res = NTKMixedLM.from_formula(PENGUIN_F.format(extra=f", width=128, init='{init}'"),
                                  train).fit()
    assert np.allclose(res.predict(train), res.fittedvalues, rtol=0, atol=1e-8)
    assert np.allclose(res.predict(), res.fittedvalues)
    frame = res.get_prediction(new).summary_frame(0.05)
    assert list(frame.columns) == ["mean", "mean_se", "mean_ci_lower", "mean_ci_upper",
                                   "obs_ci_lower", "obs_ci_upper"]
    assert np.all(frame["obs_ci_lower"] < frame["mean_ci_lower"])
    assert np.all(np.isfinite(frame.to_numpy()))
    assert frame.index.equals(new.index)
    res.test_training()


def test_mean_is_the_gradient_flow_prediction():
    # f₀* + H*H⁺(I − e^{−τH})(y − f₀): the trained network at new points, with H, H* and
    # f₀ from torch.func Jacobians of the same network and pinv/expm (well-conditioned H:
    # n = 25 inputs, 20 000 parameters).
    rng = np.random.default_rng(0)
    n, m = 25, 10
    z, z_new = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
    y = np.sin(z[:, 0]) + z[:, 1] + 0.1 * rng.normal(size=n)
    spec = NTKSpec(arch="mlp2", width=100, activation="tanh", init="offset", scale=False)
    model = NTKMixedLM(y, None, exog_ntk=z, ntk=spec)
    res = model.fit()
    J, J_new = _jac(model.network, z), _jac(model.network, z_new)
    H, H_new = J @ J.T / n, J_new @ J.T / n
    assert np.linalg.cond(H) < 1e8
    with torch.no_grad():
        f0 = model.network(torch.as_tensor(z)).numpy().ravel()
        f0_new = model.network(torch.as_tensor(z_new)).numpy().ravel()
    flow = f0_new + H_new @ np.linalg.pinv(H) @ (
        np.eye(n) - scipy.linalg.expm(-res.tau * H)) @ (y - f0)
    pred = res.predict(exog_ntk=z_new)
    assert np.allclose(pred, flow, rtol=1e-7, atol=1e-9 * np.abs(flow).max())


def test_in_sample_posterior_variance(penguins):
    train, _ = penguins
    res = NTKMixedLM.from_formula(PENGUIN_F.format(extra=", width=128"), train).fit()
    H = res.kernel
    expect = res.scale * np.diag(np.eye(len(H)) - scipy.linalg.expm(-res.tau * H))
    got = res.get_prediction().var_random.to_numpy()
    assert np.allclose(got, expect, rtol=1e-8, atol=1e-10 * res.scale)
    # the same through newdata = the training rows (cross kernel computed afresh)
    again = res.get_prediction(train).var_random.to_numpy()
    assert np.allclose(again, expect, rtol=1e-6, atol=1e-8 * res.scale)


def _prior_joint(H, H_new, K_new, tau):
    """Prior covariance/σ² of (g(train), g(new)) for g(z) = ∇f(z)ᵀw with the weight
    covariance gradient flow induces: Σ_w = g(JᵀJ/n)/n, g(x) = (e^{τx} − 1)/x (derived from
    Je^{...}: J Σ_w Jᵀ = e^{τH} − I), written with the training spectrum."""
    lam, U = np.linalg.eigh(H)
    lam = np.clip(lam, 0, None)
    g = np.where(lam > 1e-12, np.expm1(tau * lam) / np.where(lam > 0, lam, 1), tau)
    extra = np.where(lam > 1e-12, (g - tau) / np.where(lam > 0, lam, 1), tau**2 / 2)
    G = H_new @ U
    s_tt = (U * np.expm1(tau * lam)) @ U.T
    s_nt = (G * g) @ U.T
    s_nn = tau * K_new + (G * extra) @ G.T
    return np.block([[s_tt, s_nt.T], [s_nt, s_nn]])


def test_prediction_intervals_cover_new_observations():
    # Simulate (train, new) jointly from the model's prior, fit τ and σ² by REML on the
    # training rows, and count how often the 95 % observation interval covers y*.
    # 30 data sets × 40 new points = 1200 points; measured coverage 0.952
    # (0.938 with the first 16 data sets: points within a data set share τ̂, σ̂², so the
    # Monte Carlo error is larger than binomial; hence the 0.03 tolerance).
    rng = np.random.default_rng(1)
    n, m, reps = 80, 40, 30
    spec = NTKSpec(arch="mlp2", width=64, activation="tanh", seed=2, scale=False)
    hits = []
    for _ in range(reps):
        z = rng.uniform(-2, 2, size=(n + m, 2))
        X = np.column_stack([np.ones(n + m), rng.normal(size=n + m)])
        net = spec.build_network(2)
        J = _jac(net, z)
        K = J @ J.T / n  # Θ/n for all rows, scaled by the training n
        H, H_new, K_new = K[:n, :n], K[n:, :n], K[n:, n:]
        cov = 0.8**2 * _prior_joint(H, H_new, K_new, tau=1.5)
        g = np.linalg.cholesky(cov + 1e-10 * np.eye(n + m)) @ rng.normal(size=n + m)
        y = X @ [1.0, 0.5] + g + 0.8 * rng.normal(size=n + m)
        res = NTKMixedLM(y[:n], X[:n], exog_ntk=z[:n], ntk=spec).fit()
        frame = res.get_prediction(exog=X[n:], exog_ntk=z[n:]).summary_frame(0.05)
        hits.append((frame["obs_ci_lower"] <= y[n:]) & (y[n:] <= frame["obs_ci_upper"]))
    rate = float(np.mean(np.concatenate(hits)))
    assert abs(rate - 0.95) < 0.03, rate


def test_trained_network_tracks_predict():
    # A real MLP (NTK parameterization, 2×1024, relu), trained by train_network with
    # η·λ_max = 0.05 for the REML number of epochs (136), against predict() on training and
    # new rows: within 3 % of how far the predictions moved (measured 0.44 % / 0.42 %; 0.43 %
    # / 0.85 % at width 512: the finite-width error shrinks like 1/√width, and 3 % leaves
    # room for seeds and platforms; the discrete steps add ~0.1 %).
    rng = np.random.default_rng(3)
    n = 30
    z, z_new = rng.uniform(-2, 2, size=(n, 2)), rng.uniform(-2, 2, size=(15, 2))
    y = np.sin(2 * z[:, 0]) + z[:, 1] + 0.2 * rng.normal(size=n)
    spec = NTKSpec(arch="mlp2", width=1024, param="ntk", seed=4)
    model = NTKMixedLM(y, np.ones((n, 1)), exog_ntk=z, ntk=spec)
    res = model.fit()
    lr = 0.05 / model.spectrum.lam_max
    run = res.train_network(lr=lr, exog=np.ones((15, 1)), exog_ntk=z_new)
    _, history = run  # unpacks as (module, history)
    assert run.epochs == round(res.tau / lr) and len(history) == run.epochs + 1
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    base = res.fe_params.iloc[0]
    moved_train = np.linalg.norm(res.fittedvalues - base)
    assert np.linalg.norm(run.fitted - res.fittedvalues) < 0.03 * moved_train
    pred = res.predict(exog=np.ones((15, 1)), exog_ntk=z_new)
    assert np.linalg.norm(run.predicted - pred) < 0.03 * np.linalg.norm(pred - base)
    # the model's own network is untouched
    assert np.allclose(model.network[0].weight.detach().numpy(),
                       spec.build_network(2)[0].weight.detach().numpy())


def test_train_network_records_test_loss(penguins):
    train, new = penguins
    res = NTKMixedLM.from_formula(PENGUIN_F.format(extra=", width=256, param='ntk'"),
                                  train).fit()
    run = res.train_network(epochs=5, newdata=new)
    assert list(run.history.columns) == ["epoch", "train_loss", "test_loss"]
    assert run.predicted.index.equals(new.index)
    assert run.history["train_loss"].is_monotonic_decreasing
    # a narrow standard-parameterization network asked to move by ~σ = 290 g in one go
    # leaves the lazy regime at the default step: said, not hidden
    narrow = NTKMixedLM.from_formula(PENGUIN_F.format(extra=", width=32"), train).fit()
    with pytest.warns(TrainingWarning, match="diverged"):
        narrow.train_network(epochs=5, standardize=False)


def test_standardized_training_tracks_predict_on_real_data(penguins):
    # Penguin residuals are ~300 g: trained in grams a width-512 network leaves the lazy
    # regime (the loss explodes); trained on the standardized residual (same τ in the NTK
    # regime) it tracks the model: measured 1.3 % (training rows) and 0.5 % (new rows) of
    # the network's contribution, at the default η = 0.1/λ_max for the REML epochs.
    train, new = penguins
    res = NTKMixedLM.from_formula(PENGUIN_F.format(extra=", width=512"), train).fit()
    run = res.train_network(newdata=new)
    fixed = res.model.exog @ res.fe_params.to_numpy()
    g = res.fittedvalues - fixed
    assert np.linalg.norm(run.fitted - res.fittedvalues) < 0.04 * np.linalg.norm(g)
    pred = res.predict(new)
    g_new = res.get_prediction(new).random
    assert np.linalg.norm(run.predicted - pred) < 0.04 * np.linalg.norm(g_new)
    assert run.history["test_loss"].iloc[-1] < run.history["test_loss"].iloc[0]


def test_ntk_kernel_is_the_ntk_parameterization_definition():
    # every layer σ_w·W h/√fan_in + σ_b·b, W, b ~ N(0, 1), readout included: the network is
    # rebuilt here as a plain function of its weights and its Jacobian contracted.
    rng = np.random.default_rng(5)
    z1, z2 = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    sw, sb = 1.4, 0.3
    theta = ntk_kernel(z1, z2, arch="mlp2", activation="tanh", param="ntk", width=40, seed=7,
                       sigma_w=sw, sigma_b=sb)
    net = NTKSpec(arch="mlp2", width=40, activation="tanh", param="ntk", seed=7,
                  sigma_w=sw, sigma_b=sb).build_network(3)
    weights = [(lyr.weight.detach(), lyr.bias.detach()) for lyr in net if hasattr(lyr, "bias")]

    def f(ws, x):
        h = torch.as_tensor(x)
        for i, (w, b) in enumerate(ws):
            h = sw * h @ w.T / np.sqrt(w.shape[1]) + sb * b
            if i < len(ws) - 1:
                h = torch.tanh(h)
        return h.reshape(-1)

    def jac(x):
        j = jacrev(f)(weights, x)
        return torch.cat([t.reshape(len(x), -1) for pair in j for t in pair], dim=1).numpy()

    assert np.allclose(theta, jac(z1) @ jac(z2).T, rtol=1e-10, atol=1e-12)
    assert np.allclose(ntk_kernel(z1, arch="mlp2", width=40, seed=7, activation="tanh",
                                  param="ntk", sigma_w=sw, sigma_b=sb),
                       jac(z1) @ jac(z1).T, rtol=1e-10, atol=1e-12)


class _Residual(nn.Module):
    """A non-MLP module: a residual block (the layerwise identity does not apply)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inp = nn.Linear(2, 16)
        self.mid = nn.Linear(16, 16)
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        h = torch.tanh(self.inp(x))
        return self.out(h + torch.tanh(self.mid(h)))


def test_user_module_as_arch():
    rng = np.random.default_rng(6)
    n = 40
    d = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    d["y"] = np.sin(d["a"]) + 0.2 * rng.normal(size=n)
    net = _Residual()
    res = NTKMixedLM.from_formula("y ~ ntk(a, b, arch=net)", d).fit()
    zs = res.input_scaler.transform(d[["a", "b"]].to_numpy())
    J = _jac(net.double(), zs)
    assert np.allclose(res.kernel, J @ J.T / n, rtol=1e-10, atol=1e-12)
    assert np.allclose(res.predict(d), res.fittedvalues, atol=1e-8)
    assert "user module _Residual" in res.summary().as_text()
    run = res.train_network(epochs=3)
    assert len(run.history) == 4
    with pytest.raises(ValueError, match="cannot take inputs"):
        NTKMixedLM.from_formula("y ~ ntk(a, arch=net)", d)


def test_bad_newdata(penguins):
    train, new = penguins
    res = NTKMixedLM.from_formula(PENGUIN_F.format(extra=", width=32"), train).fit()
    with pytest.raises(ValueError, match=r"missing column\(s\) \['flipper_length_mm'\]"):
        res.predict(new.drop(columns="flipper_length_mm"))
    bad = new.copy()
    bad.iloc[2, bad.columns.get_loc("bill_depth_mm")] = np.nan
    with pytest.raises(ValueError, match="'bill_depth_mm' has 1 missing value"):
        res.predict(bad)
    with pytest.raises(ValueError, match=r"level\(s\) \{'Emperor'\}"):
        res.predict(new.assign(species="Emperor"))
    arr = NTKMixedLM(train["body_mass_g"], np.ones((len(train), 1)),
                     exog_ntk=train[["bill_length_mm", "bill_depth_mm"]],
                     ntk={"arch": "mlp1", "width": 16}).fit()
    with pytest.raises(ValueError, match="takes 2 input column"):
        arr.predict(exog=np.ones((3, 1)), exog_ntk=np.ones((3, 3)))


def test_precomputed_kernel_needs_kernel_new(penguins):
    train, new = penguins
    z = train[["bill_length_mm", "flipper_length_mm"]].to_numpy()
    zn = new[["bill_length_mm", "flipper_length_mm"]].to_numpy()
    zs, zns = (z - z.mean(0)) / z.std(0), (zn - z.mean(0)) / z.std(0)
    n = len(train)
    K = ntk_kernel(zs, arch="mlp1", width=64) / n
    K_new = ntk_kernel(zns, zs, arch="mlp1", width=64) / n
    K_diag = np.array([ntk_kernel(r[None], arch="mlp1", width=64)[0, 0] for r in zns]) / n
    res = NTKMixedLM.from_formula("body_mass_g ~ C(sex)", train, kernel=K).fit()
    with pytest.raises(ValueError, match="needs kernel_new="):
        res.predict(new)
    with pytest.raises(ValueError, match="kernel_new_diag="):
        res.get_prediction(new, kernel_new=K_new)
    direct = NTKMixedLM.from_formula(
        "body_mass_g ~ C(sex) + ntk(bill_length_mm, flipper_length_mm, arch='mlp1', width=64)",
        train).fit()
    assert np.allclose(res.predict(new, kernel_new=K_new), direct.predict(new))
    a = res.get_prediction(new, kernel_new=K_new, kernel_new_diag=K_diag).summary_frame()
    b = direct.get_prediction(new).summary_frame()
    assert np.allclose(a, b, rtol=1e-8)


def test_analytic_kernel_in_a_formula(penguins):
    # kind="analytic": H is the infinite-width NTK (ntk_kernel(..., kind="analytic")) of
    # the standardized inputs, divided by n; predictions use the same kernel off the rows.
    train, new = penguins
    f = ("body_mass_g ~ C(sex) + ntk(bill_length_mm, flipper_length_mm, arch='mlp2', "
         "kind='analytic', param='ntk', activation='erf', sigma_b=0.2)")
    res = NTKMixedLM.from_formula(f, train).fit()
    z = train[["bill_length_mm", "flipper_length_mm"]].to_numpy()
    zs = (z - z.mean(0)) / z.std(0)
    theta = ntk_kernel(zs, arch="mlp2", kind="analytic", param="ntk", activation="erf",
                       sigma_b=0.2)
    assert np.allclose(res.kernel, theta / len(train), rtol=1e-12)
    assert np.allclose(res.predict(train), res.fittedvalues, atol=1e-8)
    assert np.all(np.isfinite(res.get_prediction(new).summary_frame().to_numpy()))
    assert "analytic (infinite-width) NTK" in res.summary().as_text()
    with pytest.raises(ValueError, match="no finite network"):
        res.train_network()
    with pytest.raises(ValueError, match="param='ntk'"):
        NTKMixedLM.from_formula(f.replace("param='ntk', ", ""), train)


def test_transformed_response_and_rows_without_response():
    from ntkmixed.datasets import load_airquality

    a = load_airquality()
    res = NTKMixedLM.from_formula(
        "np.log(Ozone) ~ Wind + ntk(`Solar.R`, Temp, arch='mlp2', width=64)", a).fit()
    unknown = a[a["Ozone"].isna() & a["Solar.R"].notna()]  # the rows one wants to impute
    assert len(res.predict(unknown)) == len(unknown)
    assert len(res.predict(a.dropna().drop(columns="Ozone"))) == 111
    # the response, where present, gives a test loss (rows without it are left out)
    run = res.train_network(newdata=a[a["Solar.R"].notna()].head(20), epochs=2)
    assert np.all(np.isfinite(run.history["test_loss"]))
    with pytest.raises(ValueError, match="not finite in column 'Wind'"):
        res.predict(a.dropna().head(3).assign(Wind=[np.inf, 1.0, 2.0]))
    with pytest.raises(ValueError, match="duplicated column"):
        res.predict(pd.concat([a.head(3), a.head(3)[["Wind"]]], axis=1))


def test_kernel_new_is_aligned_by_label_and_may_cover_dropped_rows():
    from ntkmixed.datasets import load_mcycle

    m = load_mcycle()
    m.loc[[3, 40], "accel"] = np.nan  # two rows dropped by the fit
    x = m["times"].to_numpy()

    def rbf(a, b):
        return np.exp(-(a[:, None] - b[None, :]) ** 2 / 50) / len(b)

    res = NTKMixedLM.from_formula("accel ~ times", m, kernel=rbf(x, x)).fit()
    new = pd.DataFrame({"times": [10.0, 20.0, 30.0]})
    full = rbf(new["times"].to_numpy(), x)  # one column per data row, dropped ones included
    labelled = pd.DataFrame(full, columns=m.index)
    perm = np.random.default_rng(0).permutation(len(m))
    a = res.predict(new, kernel_new=full)
    assert np.allclose(a, res.predict(new, kernel_new=labelled.iloc[:, perm]))
    assert np.allclose(a, res.predict(new, kernel_new=np.delete(full, [3, 40], axis=1)))
    with pytest.raises(ValueError, match="precomputed kernel"):
        res.predict(new, kernel_new=full, exog_ntk=np.ones((3, 1)))


def test_frozen_and_dropout_modules():
    from ntkmixed.datasets import load_mcycle

    m = load_mcycle()
    frozen = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                           nn.Linear(32, 1))
    for p in frozen[0].parameters():
        p.requires_grad_(False)
    res = NTKMixedLM.from_formula("accel ~ ntk(times, arch=frozen)", m).fit()
    # the NTK over the trainable parameters only
    zs = res.input_scaler.transform(m[["times"]].to_numpy())
    net = frozen.double()
    params = {k: v.detach() for k, v in net.named_parameters() if v.requires_grad}

    def f(p):
        return functional_call(net, p, (torch.as_tensor(zs),)).reshape(-1)

    J = torch.cat([v.reshape(len(zs), -1) for v in jacrev(f)(params).values()], 1).numpy()
    assert np.allclose(res.kernel, J @ J.T / len(zs), rtol=1e-10, atol=1e-12)
    drop = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 1))
    res = NTKMixedLM.from_formula("accel ~ ntk(times)", m,  # used in eval mode
                                  ntk_options={"arch": drop}).fit()
    assert np.isfinite(res.llf)


def test_train_network_argument_checks(penguins):
    train, _ = penguins
    res = NTKMixedLM.from_formula(PENGUIN_F.format(extra=", width=32"), train).fit()
    for bad in ("0.01", np.array([0.01]), -1.0, float("nan")):
        with pytest.raises(ValueError, match="lr must be"):
            res.train_network(lr=bad)
    for bad in (float("inf"), float("nan"), -1, 2.5):
        with pytest.raises(ValueError, match="epochs must be"):
            res.train_network(epochs=bad)
    with pytest.raises(ValueError, match="refused"):
        res.train_network(lr=1e-12)
    with pytest.raises(ValueError, match="tau must be"):
        res.epochs(0.01, tau=-1.0)
    assert res.conf_int_tau(0.6)[0] <= res.tau  # interior τ̂: any α in (0, 1)
