"""Evaluation: hand-computed purity/coverage and boundary scores, pyannote.metrics agreement, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from turnpoint.changes.annotations import Turn, write_rttm, write_uem
from turnpoint.cli.main import main
from turnpoint.core.errors import TurnpointError
from turnpoint.changes.change_definition import hypothesis_changes, reference_changes
from turnpoint.changes.evaluation import bridge_pauses, evaluate, evaluate_annotations, segmentation_components
from turnpoint.changes.metrics import boundary_score, match_boundaries, purity_coverage, reference_pieces

pyannote_core = pytest.importorskip("pyannote.core")
segmentation = pytest.importorskip("pyannote.metrics.segmentation")
Annotation, Segment, Timeline = pyannote_core.Annotation, pyannote_core.Segment, pyannote_core.Timeline


def T(start: float, end: float, speaker: str) -> Turn:
    return Turn(start=start, end=end, speaker=speaker)


def segs(*bounds: float) -> list[Turn]:
    return [T(s, e, f"seg{i:04d}") for i, (s, e) in enumerate(zip(bounds[:-1], bounds[1:]))]


def pyannote_pc(turns: list[Turn], bounds: list[float], tolerance: float = 0.5) -> tuple[float, float]:
    ref = Annotation()
    for i, t in enumerate(turns):
        ref[Segment(t.start, t.end), i] = t.speaker
    hyp = Timeline([Segment(s, e) for s, e in zip(bounds[:-1], bounds[1:])])
    metric = segmentation.SegmentationPurityCoverageFMeasure(tolerance=tolerance)
    purity, coverage, _ = metric.compute_metrics(metric.compute_components(ref, hyp))
    return purity, coverage


TWO = [T(0.0, 4.0, "A"), T(4.0, 10.0, "B")]


# ---------------------------------------------------------------------------------------------
# hand-computed cases


def test_purity_coverage_by_hand():
    # hypothesis pieces [0,3] [3,7] [7,10]; reference pieces A [0,4], B [4,10]
    # purity = (3 + 3 + 3) / 10 (piece [3,7] is 1 s A, 3 s B); coverage = (3 + 3) / 10
    report = evaluate_annotations({"f": TWO}, {"f": segs(0.0, 3.0, 7.0, 10.0)})
    assert report.overall.purity == pytest.approx(0.9)
    assert report.overall.coverage == pytest.approx(0.6)
    assert report.overall.f_measure == pytest.approx(2 * 0.9 * 0.6 / 1.5)
    assert (report.overall.purity, report.overall.coverage) == pytest.approx(pyannote_pc(TWO, [0.0, 3.0, 7.0, 10.0]))


def test_single_segment_purity_trap():
    # no pause: one segment is 60 % pure (6 s of B out of 10), coverage 100 %
    one = evaluate_annotations({"f": TWO}, {"f": segs(0.0, 10.0)}).overall
    assert (one.purity, one.coverage) == pytest.approx((0.6, 1.0))
    # with a 1 s pause between the speakers, pyannote cuts the segment at the silence: 100 % / 100 %
    paused = [T(0.0, 4.0, "A"), T(5.0, 10.0, "B")]
    trap = evaluate_annotations({"f": paused}, {"f": segs(0.0, 10.0)}).overall
    assert (trap.purity, trap.coverage) == pytest.approx((1.0, 1.0))
    assert (trap.purity, trap.coverage) == pytest.approx(pyannote_pc(paused, [0.0, 10.0]))
    assert trap.boundary.recall == 0.0  # the boundary metric is not fooled
    # bridging the pause (split at 4.5 s) makes the single segment impure again: 5.5 s of B out of 10
    bridged = evaluate_annotations({"f": paused}, {"f": segs(0.0, 10.0)}, bridge=2.0).overall
    assert bridged.purity == pytest.approx(0.55)


def test_greedy_matching_undercounts():
    # r = 1.0, 1.8; h = 1.45, 2.25. Nearest-first matches (1.8, 1.45) at 0.35 s first and then
    # nothing is left within 0.5 s (1 hit); the one-to-one optimum is (1.0, 1.45) + (1.8, 2.25).
    ref, hyp = [1.0, 1.8], [1.45, 2.25]
    assert match_boundaries(ref, hyp, tolerance=0.5) == [(0, 0), (1, 1)]
    assert boundary_score(ref, hyp, tolerance=0.5).f1 == 1.0
    ref_tl = Timeline([Segment(0, 1.0), Segment(1.0, 1.8), Segment(1.8, 3.0)])
    hyp_tl = Timeline([Segment(0, 1.45), Segment(1.45, 2.25), Segment(2.25, 3.0)])
    assert segmentation.SegmentationPrecision(tolerance=0.5)(ref_tl, hyp_tl) == 0.5  # greedy: 1 of 2
    report = evaluate_annotations(
        {"f": [T(0.0, 1.0, "A"), T(1.0, 1.8, "B"), T(1.8, 3.0, "C")]}, {"f": segs(0.0, 1.45, 2.25, 3.0)}, tolerance=0.5
    )
    # speaker changes are never merged: both are found
    assert report.overall.boundary == boundary_score(ref, hyp, tolerance=0.5)
    assert (report.overall.boundary.hits, report.overall.boundary.n_reference) == (2, 2)
    # the older segmentation view merges changes closer than 2 x tolerance: one at 1.4, found once
    old = evaluate_annotations(
        {"f": [T(0.0, 1.0, "A"), T(1.0, 1.8, "B"), T(1.8, 3.0, "C")]}, {"f": segs(0.0, 1.45, 2.25, 3.0)}, tolerance=0.5,
        boundaries="segmentation",
    )
    assert (old.overall.boundary.hits, old.overall.boundary.n_reference, old.overall.boundary.n_hypothesis) == (1, 1, 2)


def test_change_definitions():
    turns = [T(0.3, 2.0, "A"), T(2.4, 5.0, "B"), T(5.0, 8.0, "A")]
    # speaker changes: the onset at 0.3 is not one; across the pause, the pause [2.0, 2.4]; then 5.0
    assert reference_changes(turns, [(0.0, 8.0)]) == pytest.approx(np.array([[2.0, 2.4], [5.0, 5.0]]))
    assert hypothesis_changes(segs(0.0, 2.1, 5.2, 8.0), [(0.0, 8.0)]).tolist() == [[2.1, 2.1], [5.2, 5.2]]
    # the older segmentation view: speech onset 0.3 counts; 2.0/2.4 merge at 2.2; 8.0 is the region's edge
    assert reference_changes(turns, [(0.0, 8.0)], tolerance=0.5, boundaries="segmentation").tolist() == pytest.approx([0.3, 2.2, 5.0])
    assert hypothesis_changes(segs(0.0, 2.1, 5.2, 8.0), [(0.0, 8.0)], boundaries="segmentation").tolist() == [2.1, 5.2]
    assert bridge_pauses(turns, bridge=0.3) == turns  # the 0.4 s pause is longer than 0.3


def test_per_file_and_overall(tmp_path: Path):
    write_rttm(tmp_path / "ref.rttm", {"a": TWO, "b": [T(0.0, 5.0, "A"), T(5.0, 10.0, "B")]})
    write_rttm(tmp_path / "hyp.rttm", {"a": segs(0.0, 4.2, 10.0), "b": segs(0.0, 10.0)})
    write_uem(tmp_path / "all.uem", {"a": [(0.0, 10.0)], "b": [(0.0, 10.0)]})
    report = evaluate(tmp_path / "ref.rttm", tmp_path / "hyp.rttm", uem=tmp_path / "all.uem")
    assert [f.uri for f in report.files] == ["a", "b"]
    a, b = report.files
    assert (a.boundary.hits, b.boundary.hits) == (1, 0)
    assert report.overall.boundary.recall == 0.5 and report.overall.boundary.precision == 1.0
    # overall purity is time-weighted: (9.8 + 5) / 20
    assert report.overall.purity == pytest.approx((9.8 + 5.0) / 20)
    assert json.loads(json.dumps(report.to_dict()))["scored_files"] == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# agreement with pyannote.metrics


def test_fast_purity_coverage_equals_pyannote():
    rng = np.random.default_rng(0)
    for _ in range(150):
        turns, t = [], float(rng.uniform(0, 1))
        for _ in range(int(rng.integers(1, 10))):
            d = float(rng.uniform(0.1, 3))
            turns.append(T(round(t, 3), round(t + d, 3), "ABC"[rng.integers(3)]))
            t = max(0.0, t + d + float(rng.uniform(-0.5, 1)))
        bounds = [0.0, *np.sort(rng.uniform(0, t + 1, rng.integers(0, 8))).round(3).tolist(), round(t + 1, 3)]
        bounds = sorted(set(bounds))
        tol = float(rng.choice([0.0, 0.5, 1.0]))
        expected = pyannote_pc(turns, bounds, tolerance=tol)
        fast = purity_coverage(reference_pieces([(x.start, x.end, x.speaker) for x in turns], tolerance=tol), bounds)
        assert (fast.purity, fast.coverage) == pytest.approx(expected, abs=1e-9)
        ours = segmentation_components(turns, bounds, fill_gaps=tol)
        assert (ours.purity, ours.coverage) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# bad input


def test_mismatched_files(tmp_path: Path):
    ref = {"a": TWO, "b": TWO}
    with pytest.raises(TurnpointError, match="reference has 1 file.*lacks: b"):
        evaluate_annotations(ref, {"a": segs(0.0, 10.0)})
    with pytest.raises(TurnpointError, match="hypothesis has 1 file.*lacks: c"):
        evaluate_annotations(ref, {"a": segs(0.0, 10.0), "b": segs(0.0, 10.0), "c": segs(0.0, 10.0)})
    report = evaluate_annotations(ref, {"a": segs(0.0, 10.0), "c": segs(0.0, 1.0)}, ignore_missing=True)
    assert [f.uri for f in report.files] == ["a"]
    assert report.skipped == {"b": "not in the hypothesis", "c": "not in the reference"}
    assert "not scored: b (not in the hypothesis), c (not in the reference)" in report.format_table()
    with pytest.raises(TurnpointError, match="no file in common.*did you mean 'Meeting'"):
        evaluate_annotations({"Meeting": TWO}, {"meeting": segs(0.0, 10.0)})
    with pytest.raises(TurnpointError, match="no UEM region for 'a'"):
        evaluate_annotations({"a": TWO}, {"a": segs(0.0, 10.0)}, uem={"z": [(0.0, 1.0)]})


def test_overlapping_and_negative_segments(tmp_path: Path):
    overlapping = {"a": [T(0.0, 5.0, "s0"), T(4.0, 10.0, "s1")]}
    with pytest.raises(TurnpointError, match="hypothesis segments of 'a' overlap: 0.000-5.000 and 4.000-10.000"):
        evaluate_annotations({"a": TWO}, overlapping, boundaries="segmentation")  # a segmentation is a partition
    # speaker-labelled hypotheses may overlap: s0 -> s0+s1 -> s1 are two changes, one of them at 4.0
    assert evaluate_annotations({"a": TWO}, overlapping).overall.boundary == boundary_score([4.0], [4.0, 5.0], tolerance=0.5)
    with pytest.raises(TurnpointError, match="boundaries must be one of speaker, segmentation"):
        evaluate_annotations({"a": TWO}, overlapping, boundaries="turns")
    (tmp_path / "ref.rttm").write_text("SPEAKER a 1 0.0 4.0 <NA> <NA> A <NA> <NA>\nSPEAKER a 1 4.0 -1.0 <NA> <NA> B <NA> <NA>\n")
    (tmp_path / "hyp.rttm").write_text("SPEAKER a 1 0.0 10.0 <NA> <NA> seg0000 <NA> <NA>\n")
    with pytest.raises(TurnpointError, match=r"ref.rttm:2: duration must not be negative"):
        evaluate(tmp_path / "ref.rttm", tmp_path / "hyp.rttm")
    with pytest.raises(TurnpointError, match="no .rttm files in this folder"):
        evaluate(tmp_path / "hyp.rttm", tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None


def test_cli_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture):
    (tmp_path / "ref").mkdir()
    (tmp_path / "hyp").mkdir()
    write_rttm(tmp_path / "ref" / "a.rttm", {"a": TWO})
    write_rttm(tmp_path / "hyp" / "a.rttm", {"a": segs(0.0, 3.9, 10.0)})
    write_rttm(tmp_path / "hyp" / "x.rttm", {"x": segs(0.0, 10.0)})
    code = main(["evaluate", str(tmp_path / "ref"), str(tmp_path / "hyp"), "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and "lacks: x" in err and "Traceback" not in err
    code = main(["evaluate", str(tmp_path / "ref"), str(tmp_path / "hyp"), "--ignore-missing", "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")])
    out, err = capsys.readouterr()
    assert code == 0 and "TOTAL" in out and "x (not in the reference)" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["overall"]["f1"] == 1.0 and data["scored_files"] == ["a"]
    assert (tmp_path / "r.csv").read_text().splitlines()[0].startswith("uri,purity,coverage")
