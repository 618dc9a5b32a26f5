"""The command line: fit a CSV, the demo, and errors as messages (exit status 2)."""

from __future__ import annotations

import subprocess
import sys

from ntkmixed.cli import main
from ntkmixed.datasets import load_sleepstudy


def test_fit_prints_summary(tmp_path, capsys):
    path = tmp_path / "sleep.csv"
    load_sleepstudy().to_csv(path, index=False)
    rc = main(["fit", str(path), "Reaction ~ Days + ntk(Days, arch='mlp1', width=32)",
               "--seed", "3", "--ml"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "NTK Mixed Model Regression Results" in out
    assert "Method:" in out and "ML" in out and "seed 3" in out
    assert "Training test" in out


def test_fit_error_is_a_message(tmp_path, capsys):
    path = tmp_path / "sleep.csv"
    load_sleepstudy().to_csv(path, index=False)
    rc = main(["fit", str(path), "Reaction ~ nosuch + ntk(Days)"])
    err = capsys.readouterr().err
    assert rc == 2 and "ntkmixed: error:" in err and "nosuch" in err
    rc = main(["fit", str(tmp_path / "missing.csv"), "y ~ ntk(x)"])
    assert rc == 2


def test_demo_runs_as_installed_command():
    proc = subprocess.run([sys.executable, "-m", "ntkmixed.cli", "demo"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("NTK Mixed Model Regression Results") == 2
    assert "body_mass_g" in proc.stdout and "accel" in proc.stdout
