"""Benchmarks for DESIGN §7, each ratio measured side by side in one run.

1. Empirical NTK of an MLP (n = 2000, width 512, 3 hidden layers, float64): the layerwise
   computation against per-sample Jacobian contraction (torch.func vmap(jacrev), all Jacobians
   held, then J Jᵀ: what the paper's reference code does), time and peak memory.
2. A whole fit (kernel, eigendecomposition, REML, test, summary) against one n × n eigh.
3. The RLRT's simulated null distribution: 10 000 draws at n = 500 (issue: "seconds").

Each method runs in a fresh subprocess so that its peak resident memory is its own.
Usage: python benchmarks/bench_kernel.py [--n 2000] [--width 512] [--depth 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    import numpy as np, torch
    torch.set_num_threads(torch.get_num_threads())
    from ntkmixed.kernels import build_mlp, layerwise_ntk
    from ntkmixed.kernels.empirical import _flat_jacobian
    method, n, width, depth, repeat = sys.argv[1], *map(int, sys.argv[2:6])
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, 3))
    net = build_mlp(3, depth=depth, width=width, activation="relu", seed=0)
    params = {k: v.detach() for k, v in net.named_parameters()}

    def per_sample_jacobian():
        t = torch.as_tensor(z)
        blocks = [_flat_jacobian(net, params, t[i:i + 64]) for i in range(0, n, 64)]
        J = torch.cat(blocks)
        return (J @ J.T).numpy()

    def whole_fit():
        from ntkmixed import NTKMixedLM
        y = np.sin(z[:, 0]) + rng.normal(size=n)
        res = NTKMixedLM(y, np.ones((n, 1)), exog_ntk=z, ntk={"width": width,
                         "arch": f"mlp{depth}"}).fit()
        res.summary()

    def rlrt_null():
        from ntkmixed import NTKMixedLM
        from ntkmixed.vctest import simulate_rlrt_null
        m = 500
        zz, X = z[:m], np.column_stack([np.ones(m), rng.normal(size=(m, 2))])
        model = NTKMixedLM(rng.normal(size=m), X, exog_ntk=zz, ntk={"arch": "mlp2",
                           "width": 256})
        _, X_rot = model._rotated
        simulate_rlrt_null(model.spectrum.values, X_rot, model.profile().grid(), 10_000,
                           np.random.default_rng(1))

    H = layerwise_ntk(net, z) / n
    fn = {"layerwise": lambda: layerwise_ntk(net, z),
          "jacobian": per_sample_jacobian,
          "eigh": lambda: np.linalg.eigh(H),
          "fit": whole_fit,
          "rlrt": rlrt_null}[method]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_params = sum(p.numel() for p in net.parameters())
    med = sorted(times)[len(times) // 2]
    print(json.dumps({"method": method, "min_s": min(times), "median_s": med,
                      "peak_rss_mb": rss, "n_params": n_params}))
    """
)


def run(method: str, args) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, method, str(args.n), str(args.width), str(args.depth),
         str(args.repeat)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-jacobian", action="store_true",
                    help="skip the per-sample Jacobian (needs n·#params·8 bytes of memory)")
    args = ap.parse_args()
    rows = {m: run(m, args) for m in ("layerwise", "eigh", "fit", "rlrt")}
    if not args.skip_jacobian:
        rows["jacobian"] = run("jacobian", args)
    p = rows["layerwise"]["n_params"]
    print(f"n = {args.n}, MLP {args.depth}×{args.width} relu, {p} parameters, float64")
    print(f"{'method':<12}{'min s':>10}{'median s':>10}{'peak RSS MB':>14}")
    for m, r in rows.items():
        print(f"{m:<12}{r['min_s']:>10.3f}{r['median_s']:>10.3f}{r['peak_rss_mb']:>14.0f}")
    if "jacobian" in rows:
        print(f"kernel speed-up, per-sample Jacobian / layerwise (median): "
              f"{rows['jacobian']['median_s'] / rows['layerwise']['median_s']:.1f}×")
        print(f"kernel peak memory ratio: "
              f"{rows['jacobian']['peak_rss_mb'] / rows['layerwise']['peak_rss_mb']:.1f}×")
    print(f"whole fit / one eigh (median): "
          f"{rows['fit']['median_s'] / rows['eigh']['median_s']:.1f}×")
    print(f"RLRT null, 10 000 draws at n = 500 (incl. a 500-row kernel and fit set-up): "
          f"{rows['rlrt']['median_s']:.2f} s")


if __name__ == "__main__":
    main()
