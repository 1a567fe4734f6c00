"""scripts/choose_rescoring.py end to end on a few copies of the bundled example (small grids)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import turnpoint
from synth import example_copies
from turnpoint.modelfile import load_model

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "choose_rescoring.py"


def test_choose_rescoring_with_the_second_pass_writes_what_its_rule_says(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("choose_rescoring_under_test", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    # small grids: the same code paths in seconds
    monkeypatch.setattr(script, "CONTEXTS", (2.4,))
    monkeypatch.setattr(script, "CONTEXT_SETS", [(2.4,)])
    monkeypatch.setattr(script, "BILSTM_WEIGHTS", (0.1,))
    monkeypatch.setattr(script, "SPACINGS", (0.5,))
    monkeypatch.setattr(script, "FLOORS", (0.003,))
    monkeypatch.setattr(script, "LOOSEST", script.RescoringSettings(candidate_spacing=0.5, candidate_floor=0.003))
    monkeypatch.setattr(script, "MIN_DURATIONS", (1.0, 1.5))
    monkeypatch.setattr(script, "THRESHOLDS", np.array([0.3, 0.38, 0.46]))
    monkeypatch.setattr(script, "CLUSTER_FIRST_THRESHOLDS", (0.26,))
    monkeypatch.setattr(script, "CLUSTER_CUTS", np.array([0.3, 0.35]))
    monkeypatch.setattr(script, "SPLITS", 2)
    samples, rate = sf.read(turnpoint.example_path(), dtype="float32")
    synthetic = example_copies(tmp_path / "synthetic", ["syn_a"], samples, rate)
    real = example_copies(tmp_path / "real", ["real_a", "real_b", "real_c", "real_d"], samples[: int(30 * rate)], rate)
    out = tmp_path / "hybrid.safetensors"
    argv = ["choose_rescoring.py", str(synthetic), str(real), "--model", "paper", "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--clustering", str(real)]
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    assert "second pass (segment clustering)" in capsys.readouterr().out
    chosen = load_model(out)
    record = chosen.training["rescoring_selection"]["clustering_selection"]
    assert record["real_files"] == 4
    rule = (record["all_f1"] >= record["all_f1_single_pass"] - record["standard_error"]
            and record["held_out_gain_mean"] > 0 and record["held_out_gain_mean"] >= record["held_out_gain_sd"])
    assert record["adopted"] == rule
    clustering = chosen.defaults.rescoring.clustering
    if rule:
        assert clustering is not None and clustering.to_dict() == record["setting"]
        assert chosen.defaults.rescoring.threshold == record["first_threshold"]
    else:
        assert clustering is None
    assert len(list((tmp_path / "cache" / "segments").glob("*.npz"))) == 5  # one first pass x five files, cached


def test_choose_rescoring_refuses_clustering_folders_outside_the_validation_ones(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("choose_rescoring_under_test", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", ["choose_rescoring.py", str(tmp_path / "a"), "--out", str(tmp_path / "o.safetensors"),
                                      "--cache", str(tmp_path / "c"), "--clustering", str(tmp_path / "b")])
    with pytest.raises(SystemExit):
        script.main()
    assert "--clustering folders must be among the validation folders" in capsys.readouterr().err


def test_the_second_pass_adoption_rule():
    spec = importlib.util.spec_from_file_location("choose_rescoring_under_test", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    adopt = script.adopt_second_pass
    assert adopt(0.690, 0.697, 0.015, [0.04, 0.02, 0.06, 0.05])  # the shipped case: within one s.e., steady gain
    assert not adopt(0.680, 0.697, 0.015, [0.04, 0.02, 0.06, 0.05])  # loses more than one s.e. on all files
    assert not adopt(0.700, 0.697, 0.015, [0.10, -0.08, 0.09, -0.07])  # a gain smaller than its spread
    assert not adopt(0.700, 0.697, 0.015, [0.0, 0.0])  # no gain
