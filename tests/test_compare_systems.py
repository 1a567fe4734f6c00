"""recipes/compare_systems.py end to end: the honest, threshold-tuned and oracle F1 columns."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import soundfile as sf

import turnpoint
from synth import example_copies

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "compare_systems.py"


def test_threshold_tuned_f1_lies_between_the_dev_setting_and_the_oracle(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("compare_systems_under_test", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    samples, rate = sf.read(turnpoint.example_path(), dtype="float32")
    test = example_copies(tmp_path / "test", ["t1"], samples, rate, uem=False)
    dev = example_copies(tmp_path / "dev", ["d1"], samples[: int(25 * rate)], rate, uem=False)
    out = tmp_path / "out"
    assert script.main(["--test", str(test), "--dev", str(dev), "--systems", "gaussian_divergence", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "F1, threshold tuned on test" in table and table == capsys.readouterr().out.rstrip("\n") + "\n"
    row = next(line for line in table.splitlines() if line.startswith("| gaussian_divergence"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    at_dev, threshold_tuned, oracle = (float(c) for c in cells[5:8])
    chosen_min_duration = float(cells[8].split("/")[1])
    assert at_dev <= threshold_tuned <= oracle
    # the threshold-tuned column is the best F1 of the test curve's rows at the dev-chosen min_duration
    import csv

    curve = list(csv.DictReader((out / "gaussian_divergence.test_curve.csv").open()))
    same = [float(r["f1"]) for r in curve if float(r["min_duration"]) == chosen_min_duration]
    assert threshold_tuned == round(100 * max(same), 1)
    assert oracle == round(100 * max(float(r["f1"]) for r in curve), 1)
