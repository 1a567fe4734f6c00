"""recipes/choose_rescoring.py end to end on a few copies of the bundled example (small grids)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import turnpoint
from synth import example_copies
from turnpoint.changes.modelfile import load_model

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "choose_rescoring.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("choose_rescoring_under_test", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One synthetic-voice file (the whole example) and four real-voice files (its first 30 s)."""
    root = tmp_path_factory.mktemp("data")
    samples, rate = sf.read(turnpoint.example_path(), dtype="float32")
    synthetic = example_copies(root / "synthetic", ["syn_a"], samples, rate)
    real = example_copies(root / "real", ["real_a", "real_b", "real_c", "real_d"], samples[: int(30 * rate)], rate)
    return root, synthetic, real


def _choose(tmp_path, monkeypatch, folders, *, thresholds, min_durations, first_thresholds):
    """Run the script on ``folders`` with small grids (the same code paths in seconds); the model it wrote."""
    root, synthetic, real = folders
    script = _load_script()
    monkeypatch.setattr(script, "CONTEXTS", (2.4,))
    monkeypatch.setattr(script, "CONTEXT_SETS", [(2.4,)])
    monkeypatch.setattr(script, "BILSTM_WEIGHTS", (0.1,))
    monkeypatch.setattr(script, "SPACINGS", (0.5,))
    monkeypatch.setattr(script, "FLOORS", (0.003,))
    monkeypatch.setattr(script, "LOOSEST", script.RescoringSettings(candidate_spacing=0.5, candidate_floor=0.003))
    monkeypatch.setattr(script, "MIN_DURATIONS", min_durations)
    monkeypatch.setattr(script, "THRESHOLDS", np.array(thresholds))
    monkeypatch.setattr(script, "CLUSTER_FIRST_THRESHOLDS", first_thresholds)
    monkeypatch.setattr(script, "CLUSTER_CUTS", np.array([0.3, 0.35]))
    monkeypatch.setattr(script, "SPLITS", 2)
    monkeypatch.delenv("TURNPOINT_DATA", raising=False)
    out = tmp_path / "hybrid.safetensors"
    argv = ["choose_rescoring.py", str(synthetic), str(real), "--model", "paper", "--out", str(out), "--cache", str(tmp_path / "cache"),
            "--clustering", str(real), "--data-root", str(root)]
    monkeypatch.setattr(sys, "argv", argv)
    script.main()
    assert len(list((tmp_path / "cache" / "segments").glob("*.npz"))) == 5  # one first pass x five files, cached
    return load_model(out)


def test_a_loose_first_pass_whose_false_changes_clustering_removes_adopts_the_second_pass(tmp_path, monkeypatch, capsys, folders):
    # Only a loose threshold (0.1) is on offer: the single pass calls many changes inside turns of the two
    # real voices, which the second pass (GE2E separates real people well) merges back. The held-out gain
    # is large and the same on every split (the four real files are copies), so the rule must adopt it.
    chosen = _choose(tmp_path, monkeypatch, folders, thresholds=[0.1], min_durations=(0.5,), first_thresholds=(0.1,))
    assert "second pass (segment clustering)" in capsys.readouterr().out
    selection = chosen.training["rescoring_selection"]
    record = selection["clustering_selection"]
    assert record["real_files"] == 4
    assert record["real_f1_without"] < 0.6 and record["real_f1"] > record["real_f1_without"] + 0.3
    assert record["held_out_gain_mean"] > 0.3 and record["held_out_gain_sd"] == 0.0
    assert record["all_f1"] > record["all_f1_single_pass"]
    assert record["adopted"] is True
    clustering = chosen.defaults.rescoring.clustering
    assert clustering is not None and clustering.to_dict() == record["setting"]
    assert chosen.defaults.rescoring.threshold == record["first_threshold"] == 0.1
    assert chosen.defaults.rescoring.min_duration == 1.0  # the second pass's first pass
    # the header names the folders relative to the data root, never as paths of this machine
    assert selection["validation"] == ["synthetic", "real"]


def test_a_first_pass_already_perfect_on_the_real_files_rejects_the_second_pass(tmp_path, monkeypatch, capsys, folders):
    # With thresholds of the shipped range the single pass already finds every change of the real files
    # exactly (F1 1.0), so no second pass can gain there: the rule must keep the single pass.
    chosen = _choose(tmp_path, monkeypatch, folders, thresholds=[0.3, 0.38, 0.46], min_durations=(1.0, 1.5), first_thresholds=(0.26,))
    assert "second pass (segment clustering)" in capsys.readouterr().out
    record = chosen.training["rescoring_selection"]["clustering_selection"]
    assert record["real_f1_without"] == 1.0
    assert record["held_out_gain_mean"] == 0.0
    assert record["adopted"] is False
    assert chosen.defaults.rescoring.clustering is None
    assert chosen.defaults.rescoring.threshold in (0.3, 0.38, 0.46)


def test_choose_rescoring_refuses_clustering_folders_outside_the_validation_ones(tmp_path, monkeypatch, capsys):
    script = _load_script()
    monkeypatch.setattr(sys, "argv", ["choose_rescoring.py", str(tmp_path / "a"), "--out", str(tmp_path / "o.safetensors"),
                                      "--cache", str(tmp_path / "c"), "--clustering", str(tmp_path / "b")])
    with pytest.raises(SystemExit):
        script.main()
    assert "--clustering folders must be among the validation folders" in capsys.readouterr().err


def test_the_second_pass_adoption_rule():
    script = _load_script()
    adopt = script.adopt_second_pass
    assert adopt(0.690, 0.697, 0.015, [0.04, 0.02, 0.06, 0.05])  # the shipped case: within one s.e., steady gain
    assert not adopt(0.680, 0.697, 0.015, [0.04, 0.02, 0.06, 0.05])  # loses more than one s.e. on all files
    assert not adopt(0.700, 0.697, 0.015, [0.10, -0.08, 0.09, -0.07])  # a gain smaller than its spread
    assert not adopt(0.700, 0.697, 0.015, [0.0, 0.0])  # no gain
