"""Tuning: the sweep on hand-made curves, the selection rules, tuned model copies, plots, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from synth import make_conversation

from turnpoint import SpeakerChangeConfig, SpeakerChangeDetector, Specifications, save_model
from turnpoint.changes.annotations import Turn
from turnpoint.cli.main import main
from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import Scores
from turnpoint.changes.modelfile import load_model
from turnpoint.changes.training_data import AnnotatedFile
from turnpoint.changes.score_curves import score_files
from turnpoint.changes.sweep import (
    CUT_RANGE, Sweep, SweepPoint, alpha_grid, coverage_at_purity, degenerate, pareto, plot_curves, purity_at_coverage, select, sweep,
)
from turnpoint.changes.tuning import read_tuned, tune, write_tuned

STEP = 0.016


def file_with_curve(peaks: dict[float, float]) -> tuple[AnnotatedFile, Scores]:
    """A 20 s file, speaker changes at 5, 10 and 15 s (no pauses), and a curve with the given peaks."""
    turns = (Turn(start=0.0, end=5.0, speaker="A"), Turn(start=5.0, end=10.0, speaker="B"),
             Turn(start=10.0, end=15.0, speaker="A"), Turn(start=15.0, end=20.0, speaker="B"))
    curve = np.zeros(1251, dtype=np.float32)
    for time, value in peaks.items():
        curve[int(round(time / STEP))] = value
    return AnnotatedFile("f", Path("f.wav"), turns, ((0.0, 20.0),)), Scores(curve, STEP, 20.0)


def test_sweep_by_hand():
    # true changes at 5 and 10 s score 0.9 and 0.6, a false one at 12 s 0.7; the change at 15 s is missed
    item, scores = file_with_curve({5.0: 0.9, 10.0: 0.6, 12.0: 0.7})
    result = sweep([item], {"f": scores}, alphas=[0.0, 0.65, 0.8, 0.95], min_durations=[1.0])
    by_alpha = {p.alpha: p for p in result.points}
    assert by_alpha[0.8].n_changes == 1 and by_alpha[0.8].precision == 1.0 and by_alpha[0.8].recall == pytest.approx(1 / 3)
    assert by_alpha[0.65].n_changes == 2 and by_alpha[0.65].f1 == pytest.approx(2 * 1 / 5)
    assert by_alpha[0.0].f1 == pytest.approx(2 * 2 / 6)
    # no change: one segment. pyannote's reference "clusters" are the four 5 s turns (pieces between
    # boundaries), not the two speakers: the segment's best piece covers 5 s of 20 -> purity 0.25
    assert (by_alpha[0.95].purity, by_alpha[0.95].coverage) == pytest.approx((0.25, 1.0))
    # all peaks: segments [0,5] [5,10] [10,12] [12,20]: purity (5+5+2+5)/20, coverage (5+5+3+5)/20
    assert by_alpha[0.0].purity == pytest.approx((5 + 5 + 2 + 5) / 20, abs=0.002)  # 5.0 s falls on frame 312 (4.992 s)
    assert by_alpha[0.0].coverage == pytest.approx((5 + 5 + 3 + 5) / 20, abs=0.002)
    # a larger min_duration merges the 10 s and 12 s peaks into the stronger one
    wide = sweep([item], {"f": scores}, alphas=[0.0], min_durations=[2.5]).points[0]
    assert wide.n_changes == 2


def test_default_grid_and_scales():
    item, scores = file_with_curve({5.0: 0.9, 10.0: 0.6, 12.0: 0.7})
    result = sweep([item], {"f": scores}, min_durations=[1.0], n_alphas=10)
    counts = sorted({p.n_changes for p in result.points})
    assert counts[0] == 0 and counts[-1] == 3  # the default grid spans "every peak" to "none"
    relative = sweep([item], {"f": scores}, alphas=[0.5], min_durations=[1.0], alpha_scale="relative").points[0]
    assert relative.n_changes == 3  # 0.6 > 0 + 0.5 * 0.9
    with pytest.raises(TurnpointError, match="no scores for g"):
        sweep([AnnotatedFile("g", Path("g.wav"), ())], {"f": scores})


def test_select_and_readouts():
    pts = [
        SweepPoint(0.1, 1.0, 0.80, 0.95, 0.87, 0.5, 0.9, 0.64, 30),
        SweepPoint(0.3, 1.0, 0.91, 0.85, 0.88, 0.7, 0.7, 0.70, 20),
        SweepPoint(0.5, 1.0, 0.95, 0.70, 0.81, 0.9, 0.5, 0.64, 10),
    ]
    result = Sweep("x", pts)
    assert select(result, criterion="coverage", target_purity=0.9).alpha == 0.3
    assert select(result, criterion="f_measure").alpha == 0.3
    assert select(result, criterion="coverage", target_purity=0.99).alpha == 0.5  # none reaches it: purest
    assert coverage_at_purity(pts, 0.9) == 0.85 and purity_at_coverage(pts, 0.9) == 0.80
    assert np.isnan(coverage_at_purity(pts, 0.99))
    assert [p.alpha for p in pareto(pts)] == [0.5, 0.3, 0.1]
    with pytest.raises(TurnpointError, match="criterion must be one of"):
        select(result, criterion="accuracy")


def test_write_tuned_model_copy(tmp_path: Path):
    torch.manual_seed(0)
    source = save_model(tmp_path / "m.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())
    before = source.read_bytes()
    point = SweepPoint(0.37, 1.5, 0.9, 0.8, 0.85, 0.7, 0.6, 0.65, 12)
    tuned = write_tuned(point, tmp_path / "tuned.safetensors", model=source, criterion="coverage", target_purity=0.9)
    loaded = load_model(tuned)
    assert (loaded.defaults.alpha, loaded.defaults.min_duration) == (0.37, 1.5)
    assert loaded.training["tuning"]["criterion"] == "coverage"
    assert source.read_bytes() == before  # the input model is untouched
    with pytest.raises(TurnpointError, match="refusing to overwrite the model"):
        write_tuned(point, source, model=source)
    settings = write_tuned(point, tmp_path / "bic.json", system="bic")
    assert read_tuned(settings)["alpha"] == 0.37
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(TurnpointError, match="bad.json: tuned-setting file needs"):
        read_tuned(tmp_path / "bad.json")


def test_plot(tmp_path: Path):
    pts = [SweepPoint(a, 1.0, 0.5 + a / 2, 1 - a / 2, 0, 0, 0, 0, 0) for a in np.linspace(0, 1, 5)]
    path = plot_curves([Sweep("a", pts), Sweep("b", pts[::2])], tmp_path / "pc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cache_and_cli_tune(tmp_path: Path, capsys: pytest.CaptureFixture):
    dev = tmp_path / "dev"
    dev.mkdir()
    for seed in (1, 2):
        make_conversation(dev / f"conv{seed}.wav", seed=seed, duration=14.0)
    from turnpoint.changes.training_data import collect_files

    files = collect_files(dev)
    first, seconds = score_files(files, system="glr", cache_dir=tmp_path / "cache")
    again, cached_seconds = score_files(files, system="glr", cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache" / "glr").glob("*.npz"))) == 2
    assert cached_seconds == pytest.approx(seconds)
    np.testing.assert_array_equal(first["conv1"].values, again["conv1"].values)

    torch.manual_seed(0)
    model = save_model(tmp_path / "m.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())
    out = tmp_path / "tuned"
    code = main(["-q", "tune", str(dev), "--out", str(out), "--systems", "bilstm,glr", "--model", str(model),
                 "--min-durations", "1.0", "--criterion", "boundary_f1"])
    printed = capsys.readouterr().out
    assert code == 0 and "bilstm: alpha" in printed and "glr: alpha" in printed
    assert load_model(out / "bilstm.safetensors").training["tuning"]["criterion"] == "boundary_f1"
    assert json.loads((out / "glr.json").read_text())["system"] == "glr"
    assert (out / "purity_coverage.png").exists() and (out / "glr.curve.csv").exists()
    code = main(["tune", str(dev), "--out", str(out), "--systems", "nope"])
    err = capsys.readouterr().err
    assert code == 1 and "unknown system 'nope'" in err and "Traceback" not in err


def _with_learned_scorer(path: Path) -> Path:
    """The bundled default with a learned candidate scorer (fitted to call distances above 0.4 changes)."""
    from dataclasses import replace

    from turnpoint.changes.modelfile import Defaults
    from turnpoint.changes.candidate_scorer import fit_candidate_scorer

    shipped = load_model("hybrid")
    rng = np.random.default_rng(0)
    features = np.column_stack([rng.uniform(0, 0.8, 400), rng.uniform(0, 1, 400), rng.normal(size=(400, 4))])
    scorer = fit_candidate_scorer(features, (features[:, 0] > 0.4).astype(np.float32), hidden=(4,), epochs=150)
    rescoring = replace(shipped.defaults.rescoring, scorer=scorer, threshold=0.5, clustering=None)
    defaults = Defaults(alpha=shipped.defaults.alpha, min_duration=shipped.defaults.min_duration, rescoring=rescoring)
    return save_model(path, model=shipped.model, specifications=shipped.specifications, defaults=defaults)


def _single_pass(path: Path) -> Path:
    """The bundled hybrid without its second pass."""
    from turnpoint.changes.modelfile import Defaults

    shipped = load_model("hybrid")
    rescoring = shipped.defaults.rescoring.with_overrides(clustering=False)
    defaults = Defaults(alpha=shipped.defaults.alpha, min_duration=shipped.defaults.min_duration, rescoring=rescoring)
    return save_model(path, model=shipped.model, specifications=shipped.specifications, defaults=defaults)


@pytest.mark.parametrize("learned,clustered", [(False, True), (False, False), (True, False)], ids=["shipped", "single-pass", "learned-scorer"])
def test_tuning_the_hybrid_tunes_its_rescoring_and_detection_reproduces_the_sweep(tmp_path: Path, learned: bool, clustered: bool):
    import shutil

    import turnpoint
    from turnpoint.changes.change_definition import hypothesis_changes, reference_changes
    from turnpoint.changes.metrics import boundary_score
    from turnpoint.changes.training_data import collect_files

    example = Path(turnpoint.example_path())
    for suffix in (".flac", ".rttm"):
        shutil.copy(example.with_suffix(suffix), tmp_path / example.with_suffix(suffix).name)
    files = collect_files(tmp_path)
    model = "hybrid"  # the bundled hybrid: it ships a second pass
    if learned:
        model = _with_learned_scorer(tmp_path / "models" / "learned.safetensors")
    elif not clustered:
        model = _single_pass(tmp_path / "models" / "single.safetensors")
    result = tune(files, model=model, out_dir=tmp_path / "tuned", criterion="boundary_f1", min_durations=[1.0, 1.5], plot=False)
    point = result.chosen["hybrid"]  # the model ships re-scoring, so that is what is tuned
    assert result.swept["hybrid"] == ("second-pass cut" if clustered else "re-scoring threshold")
    tuned = load_model(result.written["hybrid"])
    shipped = load_model(model)
    before, after = shipped.defaults.rescoring, tuned.defaults.rescoring
    if clustered:  # the second pass's cut is tuned, the first pass kept
        assert before.clustering is not None and after.clustering.threshold == pytest.approx(min(point.alpha, 2.0))
        assert (after.threshold, after.min_duration) == (before.threshold, before.min_duration)
        assert replace(after.clustering, threshold=before.clustering.threshold) == before.clustering
    else:  # the re-scoring threshold and min_duration are tuned
        assert before.clustering is None and after.clustering is None
        assert after.threshold == pytest.approx(point.alpha)
        assert after.min_duration == point.min_duration
    assert after.contexts == before.contexts
    assert (before.scorer is not None) == learned
    assert after.scorer == before.scorer  # a learned scorer is kept as it is
    assert tuned.defaults.alpha == shipped.defaults.alpha
    # Detecting with the tuned copy gives exactly the F1 the sweep reported for its point.
    detection = turnpoint.detect_changes(example, model=tuned)
    item = files[0]
    regions = list(item.annotated) if item.annotated is not None else [(0.0, detection.duration)]
    reference = reference_changes(list(item.turns), regions, tolerance=0.5)
    found = boundary_score(reference, hypothesis_changes(detection.segments, regions), tolerance=0.5)
    assert found.f1 == pytest.approx(point.f1)


# ---------------------------------------------------------------------------------------------
# the default criterion, degenerate sweeps, and what is saved being what was reported


def paused_file_with_curve(peaks: dict[float, float]) -> tuple[AnnotatedFile, Scores]:
    """A 20 s file whose turns have a 0.4 s pause between them (changes 4.8-5.2, 9.8-10.2, 14.8-15.2)."""
    turns = (Turn(start=0.0, end=4.8, speaker="A"), Turn(start=5.2, end=9.8, speaker="B"),
             Turn(start=10.2, end=14.8, speaker="A"), Turn(start=15.2, end=20.0, speaker="B"))
    curve = np.zeros(1251, dtype=np.float32)
    for time, value in peaks.items():
        curve[int(round(time / STEP))] = value
    return AnnotatedFile("f", Path("f.wav"), turns, ((0.0, 20.0),)), Scores(curve, STEP, 20.0)


def test_coverage_at_purity_degenerates_with_pauses_and_is_flagged(caplog: pytest.LogCaptureFixture):
    # peaks near each change, a little inside speech (as detections are), and a false one at 12 s
    item, scores = paused_file_with_curve({4.7: 0.9, 10.3: 0.6, 14.7: 0.7, 12.0: 0.3})
    result = sweep([item], {"f": scores}, min_durations=[1.0])
    assert {round(p.purity, 9) for p in result.points} == {1.0}  # pyannote cuts at the pauses: purity is 100 % everywhere
    with caplog.at_level("WARNING", logger="turnpoint.changes.sweep"):
        trap = select(result, criterion="coverage")
    assert trap.n_changes == 0
    flagged = [r.getMessage() for r in caplog.records if "degenerate" in r.getMessage()]
    assert len(flagged) == 1 and "\n" not in flagged[0] and "finds no change" in flagged[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="turnpoint.changes.sweep"):
        best = select(result)  # the default: speaker-change F1
    assert (best.n_changes, best.f1) == (3, 1.0) and not caplog.records
    # a flat criterion is flagged too: every peak is far from every change
    item, scores = paused_file_with_curve({2.0: 0.9, 7.5: 0.6, 17.5: 0.7})
    flat = sweep([item], {"f": scores}, min_durations=[1.0])
    assert degenerate(flat, select(flat)) == "boundary_f1 is 0 at every point of the sweep"


def test_alpha_grid_thresholds_fall_between_peak_values():
    values = np.array([0.3, 0.5, 0.5, 0.8], dtype=np.float32).astype(np.float64)
    grid = alpha_grid(values)
    assert not np.isin(grid, values).any()
    # each threshold keeps the same peaks whether the values are float32 or float64 (halfway between them)
    exact = np.array([0.3, 0.5, 0.5, 0.8])
    assert [int((values > a).sum()) for a in grid] == [int((exact > a).sum()) for a in grid] == [4, 3, 1, 0]
    assert alpha_grid(np.array([0.2, 1.5, 3.0]), alpha_range=CUT_RANGE).max() == CUT_RANGE[1]


def test_tune_defaults_on_dialogues_with_pauses_and_the_saved_model_reproduces_the_printed_f1(tmp_path: Path, capsys: pytest.CaptureFixture):
    import re

    from turnpoint.changes.evaluation import evaluate
    from turnpoint.changes.training_data import collect_files

    torch.set_num_threads(1)
    dev = tmp_path / "dev"
    dev.mkdir()
    for seed in (1, 2):  # two dialogues, 0.1-0.4 s pauses between turns
        make_conversation(dev / f"dialogue{seed}.wav", seed=seed, duration=20.0)
    files = collect_files(dev)
    out = tmp_path / "tuned"
    result = tune(files, model="hybrid", out_dir=out, plot=False)  # the hybrid's defaults: its second pass's cut, speaker-change F1
    point = result.chosen["hybrid"]
    assert result.swept["hybrid"] == "second-pass cut" and not result.degenerate
    assert point.n_changes > 0 and point.recall >= 0.5  # it finds the dialogues' changes
    assert all(0 < p.alpha <= CUT_RANGE[1] for p in result.sweeps[0].points)  # only cuts a second pass accepts
    saved = load_model(result.written["hybrid"])
    assert saved.defaults.rescoring.clustering.threshold == point.alpha and saved.defaults.speakers is None  # saved exactly as chosen
    # what the CLI prints for the same sweep (cached curves) is that point
    code = main(["-q", "tune", str(dev), "--model", "hybrid", "--out", str(out), "--criterion", "boundary_f1", "--no-plot"])
    printed = capsys.readouterr().out
    match = re.search(r"hybrid: second-pass cut (\S+), .* F1 (\S+) \((\d+) changes\)", printed)
    assert code == 0 and match is not None, printed
    assert float(match.group(1)) == pytest.approx(point.alpha, rel=1e-3)
    # detecting with the saved file and scoring with turnpoint evaluate gives exactly the point's F1
    hyp = tmp_path / "hyp"
    assert main(["-q", "detect", *(str(f.audio) for f in files), "--model", str(result.written["hybrid"]), "--out", str(hyp), "--format", "rttm"]) == 0
    capsys.readouterr()
    overall = evaluate(dev, hyp).overall.boundary
    assert overall.n_hypothesis == point.n_changes == int(match.group(3))
    assert overall.f1 == point.f1
    assert f"{100 * overall.f1:.1f}" == match.group(2)


def test_tune_defaults_tune_the_speaker_cut_and_the_saved_model_reproduces_the_printed_f1(tmp_path: Path, capsys: pytest.CaptureFixture):
    import re
    import shutil

    import turnpoint
    from turnpoint.changes.evaluation import evaluate

    dev = tmp_path / "dev"
    dev.mkdir()
    example = Path(turnpoint.example_path())
    for suffix in (".flac", ".rttm"):
        shutil.copy(example.with_suffix(suffix), dev / example.with_suffix(suffix).name)
    out = tmp_path / "tuned"
    code = main(["-q", "tune", str(dev), "--out", str(out), "--no-plot"])  # the bundled default: its speaker clustering cut
    printed = capsys.readouterr().out
    match = re.search(r"speakers: speaker cut (\S+), .* F1 (\S+) \((\d+) changes\)", printed)
    assert code == 0 and match is not None, printed
    saved = load_model(out / "speakers.safetensors")
    assert saved.defaults.speakers.threshold == pytest.approx(float(match.group(1)), rel=1e-3)
    assert saved.defaults.speakers.relative_threshold == load_model().defaults.speakers.relative_threshold
    hyp = tmp_path / "hyp"
    assert main(["-q", "detect", str(dev / "two_speakers.flac"), "--model", str(out / "speakers.safetensors"), "--out", str(hyp), "--format", "rttm"]) == 0
    capsys.readouterr()
    overall = evaluate(dev, hyp).overall.boundary
    assert overall.n_hypothesis == int(match.group(3)) and f"{100 * overall.f1:.1f}" == match.group(2)
    assert overall.f1 > 0.8  # the two voices' changes are found
