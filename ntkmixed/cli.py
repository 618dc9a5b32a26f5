"""Command line: ``ntkmixed fit DATA.csv "FORMULA"`` and ``ntkmixed demo``."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

import pandas as pd

from . import __version__, datasets
from .model import NTKMixedLM

DEMOS = (
    ("penguins",
     "body_mass_g ~ C(sex) + C(species) + ntk(bill_length_mm, bill_depth_mm, "
     "flipper_length_mm)"),
    ("mcycle", "accel ~ ntk(times)"),
)


def _fit_and_print(data: pd.DataFrame, formula: str, reml: bool, seed: int | None,
                   out) -> None:
    opts = None if seed is None else {"seed": seed}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = NTKMixedLM.from_formula(formula, data, ntk_options=opts)
        res = model.fit(reml=reml)
        text = res.summary().as_text()
    print(text, file=out)
    for w in caught:
        print(f"warning ({w.category.__name__}): {w.message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ntkmixed`` command."""
    parser = argparse.ArgumentParser(
        prog="ntkmixed",
        description="Neural network training as a random-effects model (NTK mixed models).",
    )
    parser.add_argument("--version", action="version", version=f"ntkmixed {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a formula to a CSV file and print the summary")
    fit.add_argument("data", help="CSV file (header row; NA marks a missing value)")
    fit.add_argument("formula", help="e.g. 'y ~ x + C(g) + ntk(z1, z2, arch=\"mlp3\")'")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--seed", type=int, default=None, help="seed of the network (overrides "
                     "the formula's)")
    demo = sub.add_parser("demo", help="fit the bundled examples (penguins, mcycle)")
    demo.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    try:
        if args.command == "fit":
            data = pd.read_csv(args.data)
            _fit_and_print(data, args.formula, not args.ml, args.seed, sys.stdout)
        else:
            for name, formula in DEMOS:
                print(f"\n## {name}: {formula}\n")
                _fit_and_print(datasets.load(name), formula, True, args.seed, sys.stdout)
    except (ValueError, OSError, RuntimeError, MemoryError) as err:
        print(f"ntkmixed: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
