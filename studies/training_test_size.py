"""Size and power of the training test (issue: inference you can put in a paper).

Simulates y from the null model (τ = 0) and from one alternative, for n = 50 and n = 300,
with an intercept only and with covariates, and prints rejection rates with their Monte Carlo
standard errors for the exact test, its saddlepoint approximation and the paper's
Satterthwaite approximation. The kernel is the empirical NTK (MLP 2×256 ReLU, seed 0) of three
standard-normal inputs.

Usage: python studies/training_test_size.py [--reps 4000] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ntkmixed import NTKMixedLM
from ntkmixed.vctest import training_test

METHODS = ("exact", "saddlepoint", "satterthwaite")


def design(n: int, covariates: bool, rng: np.random.Generator):
    z = rng.normal(size=(n, 3))
    cols = [np.ones(n)]
    if covariates:
        cols += [rng.normal(size=n), rng.integers(0, 2, size=n).astype(float), z[:, 0]]
    return z, np.column_stack(cols)


def rejection_rates(n, covariates, reps, rng, tau=0.0, alphas=(0.05, 0.01)):
    z, X = design(n, covariates, rng)
    y0 = X @ np.ones(X.shape[1]) + rng.normal(size=n)
    model = NTKMixedLM(y0, X, exog_ntk=z, ntk={"arch": "mlp2", "width": 256, "seed": 0})
    res = model.fit(tau=0.0)
    mu = res.test_training().eigenvalues
    spec = model.spectrum
    lam, U = spec.values, spec.vectors
    root = U * np.sqrt(np.exp(tau * lam))  # V^{1/2}/σ
    q, _ = np.linalg.qr(X)
    pvals = {m: np.empty(reps) for m in METHODS}
    for i in range(reps):
        y = X @ rng.normal(size=X.shape[1]) + 2.0 * (root @ rng.normal(size=n))
        r = y - q @ (q.T @ y)
        r_rot = spec.rotate(r)
        for m in METHODS:
            pvals[m][i] = training_test(r, r_rot, spec, mu, method=m).pvalue
    return {(m, a): float(np.mean(pvals[m] < a)) for m in METHODS for a in alphas}, lam


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(f"Size under H0 (τ = 0), {args.reps} replicates each")
    print("| α | n | covariates | method | rejection rate | MC s.e. |")
    print("|---|---|---|---|---|---|")
    for n in (50, 300):
        for cov in (False, True):
            rates, _ = rejection_rates(n, cov, args.reps, rng)
            for a in (0.05, 0.01):
                se = np.sqrt(a * (1 - a) / args.reps)
                for m in METHODS:
                    label = "intercept + 3" if cov else "intercept only"
                    print(f"| {a} | {n} | {label} | {m} | {rates[(m, a)]:.4f} | {se:.4f} |")
    n, cov = 50, True
    _, lam = rejection_rates(n, cov, 10, np.random.default_rng(args.seed + 1))
    tau = 2.0 / lam[-1]
    rates, _ = rejection_rates(n, cov, args.reps, rng, tau=tau)
    print(f"\nPower at τ = 2/λ_max = {tau:.4g} (n = {n}, intercept + 3 covariates, σ = 2), "
          f"{args.reps} replicates, α = 0.05:")
    for m in METHODS:
        print(f"  {m:<14}{rates[(m, 0.05)]:.4f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
