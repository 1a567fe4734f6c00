"""Speaker changes as changes of the active speaker set: hand-made cases, matching against brute force, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from turnpoint.changes.annotations import Turn, write_rttm
from turnpoint.cli.main import main
from turnpoint.changes.change_definition import hypothesis_changes, reference_changes, speaker_changes
from turnpoint.changes.evaluation import evaluate, evaluate_annotations
from turnpoint.changes.metrics import as_intervals, boundary_score, match_boundaries


def T(start: float, end: float, speaker: str) -> Turn:
    return Turn(start=start, end=end, speaker=speaker)


def segs(*bounds: float) -> list[Turn]:
    """What ``turnpoint detect`` writes: segments seg0000, seg0001... covering the file."""
    return [T(s, e, f"seg{i:04d}") for i, (s, e) in enumerate(zip(bounds[:-1], bounds[1:]))]


def changes(turns: list[Turn], regions: list[tuple[float, float]] | None = None) -> list[list[float]]:
    return np.round(speaker_changes(turns, regions), 6).tolist()


def hits(reference: list[Turn], detections: list[float], *, tolerance: float = 0.5) -> int:
    return boundary_score(speaker_changes(reference), detections, tolerance=tolerance).hits


# ---------------------------------------------------------------------------------------------
# the definition, case by case


def test_trap_case_through_turnpoint_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture):
    # changes at 10.0 and 11.9 s (a 1.9 s turn of B); detections at 11.0 and 12.85 s; tolerance 1 s
    write_rttm(tmp_path / "ref.rttm", {"f": [T(0.0, 10.0, "A"), T(10.0, 11.9, "B"), T(11.9, 20.0, "A")]})
    write_rttm(tmp_path / "hyp.rttm", {"f": segs(0.0, 11.0, 12.85, 20.0)})
    code = main(["evaluate", str(tmp_path / "ref.rttm"), str(tmp_path / "hyp.rttm"), "--tolerance", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0 and "speaker changes" in out
    overall = json.loads((tmp_path / "r.json").read_text())["overall"]
    assert (overall["precision"], overall["recall"], overall["hits"], overall["n_reference"]) == (1.0, 1.0, 2, 2)
    # the older view merges the two changes (1.9 s < 2 x 1 s) into one at 10.95: P 0.5 where both are found
    old = evaluate(tmp_path / "ref.rttm", tmp_path / "hyp.rttm", tolerance=1.0, boundaries="segmentation").overall.boundary
    assert (old.precision, old.recall) == (0.5, 1.0)


def test_a_change_across_a_pause_is_one_change_in_the_pause():
    turns = [T(0.0, 4.0, "A"), T(5.0, 9.0, "B")]
    assert changes(turns) == [[4.0, 5.0]]
    # anywhere from tolerance before the pause to tolerance after it counts, once
    for detection, found in ((3.4, 0), (3.6, 1), (4.5, 1), (5.4, 1), (5.6, 0)):
        assert hits(turns, [detection]) == found, detection
    assert boundary_score(speaker_changes(turns), [3.8, 4.5, 5.2], tolerance=0.5) == boundary_score([4.5], [3.8, 4.5, 5.2], tolerance=0.5)
    # a pause inside one speaker's speech, between two changes, is not a change
    assert changes([T(0.0, 2.0, "A"), T(2.0, 4.0, "B"), T(4.6, 6.0, "B"), T(6.0, 8.0, "A")]) == [[2.0, 2.0], [6.0, 6.0]]


def test_overlap_gives_the_changes_of_the_active_set():
    # A -> {A, B} -> B: two changes
    assert changes([T(0.0, 5.0, "A"), T(4.0, 9.0, "B")]) == [[4.0, 4.0], [5.0, 5.0]]
    assert hits([T(0.0, 5.0, "A"), T(4.0, 9.0, "B")], [4.5]) == 1  # one detection finds one of them
    # A -> {A, B} -> {A, B, C} -> {B, C}: three
    assert changes([T(0.0, 5.0, "A"), T(3.0, 9.0, "B"), T(4.0, 9.0, "C")]) == [[3.0, 3.0], [4.0, 4.0], [5.0, 5.0]]
    # overlap then a pause then the same pair again: no change across the pause
    assert changes([T(0.0, 3.0, "A"), T(0.0, 3.0, "B"), T(4.0, 6.0, "A"), T(4.0, 6.0, "B")]) == []


def test_backchannel_inside_another_speakers_turn_gives_two_changes():
    turns = [T(0.0, 9.0, "A"), T(3.0, 3.4, "B")]
    assert changes(turns) == [[3.0, 3.0], [3.4, 3.4]]
    assert hits(turns, [3.0, 3.4], tolerance=0.5) == 2  # 0.4 s apart, both found: nothing is merged away


def test_consecutive_lines_of_one_speaker_are_not_changes():
    assert changes([T(0.0, 2.0, "A"), T(2.0, 4.0, "A"), T(4.5, 6.0, "A"), T(5.0, 7.0, "A")]) == []
    assert changes([T(0.0, 2.0, "A"), T(2.0, 4.0, "A"), T(4.5, 6.0, "B")]) == [[4.0, 4.5]]
    # float noise in RTTM times (touching turns) makes neither a pause nor an overlap
    assert changes([T(0.0, 34.29 + 0.48, "A"), T(34.77, 36.0, "B")]) == [[34.77, 34.77]]


def test_speech_onsets_and_ends_are_not_changes():
    turns = [T(1.0, 4.0, "A"), T(4.0, 6.0, "B")]  # silence before 1.0 and after 6.0, up to 10 s
    assert changes(turns, [(0.0, 10.0)]) == [[4.0, 4.0]]
    report = evaluate_annotations({"f": turns}, {"f": segs(0.0, 1.0, 4.0, 6.0, 10.0)}, uem={"f": [(0.0, 10.0)]})
    b = report.overall.boundary
    assert (b.hits, b.n_reference, b.n_hypothesis) == (1, 1, 3)  # detections at the onset and the end are false alarms
    # ...which the older view counts as boundaries
    old = evaluate_annotations({"f": turns}, {"f": segs(0.0, 1.0, 4.0, 6.0, 10.0)}, uem={"f": [(0.0, 10.0)]}, boundaries="segmentation")
    assert (old.overall.boundary.hits, old.overall.boundary.n_reference) == (3, 3)


def test_short_turns_are_never_merged():
    # three changes 0.3 s apart: three reference changes, whatever the tolerance
    turns = [T(0.0, 5.0, "A"), T(5.0, 5.3, "B"), T(5.3, 5.6, "C"), T(5.6, 9.0, "A")]
    for tolerance in (0.25, 0.5, 1.0):
        assert len(reference_changes(turns, [(0.0, 9.0)], tolerance=tolerance)) == 3


def test_regions_are_scored_on_their_own():
    turns = [T(0.0, 4.0, "A"), T(4.0, 8.0, "B"), T(8.0, 12.0, "A"), T(13.0, 16.0, "B")]
    # a change at a region's edge is the edge; the pause 12-13 straddles the second region's start
    assert changes(turns, [(0.0, 4.0), (4.0, 10.0), (12.5, 16.0)]) == [[8.0, 8.0]]
    assert changes(turns, [(0.0, 16.0)]) == [[4.0, 4.0], [8.0, 8.0], [12.0, 13.0]]


# ---------------------------------------------------------------------------------------------
# hypotheses: segments covering the file, or speaker-labelled segments with non-speech left out


def test_hypothesis_from_detector_segments_and_from_speaker_labels():
    regions = [(0.0, 10.0)]
    # seg-labelled segments covering the file: every boundary between two segments is a change
    assert hypothesis_changes(segs(0.0, 2.5, 6.0, 10.0), regions).tolist() == [[2.5, 2.5], [6.0, 6.0]]
    assert hypothesis_changes([(0.0, 2.5), (2.5, 6.0), (6.0, 10.0)], regions).tolist() == [[2.5, 2.5], [6.0, 6.0]]
    # speaker labels, non-speech omitted: the onset is not a change, a gap between labels is one change,
    # one label across a gap or on consecutive segments is none
    labelled = [T(0.5, 2.0, "SPEAKER_00"), T(2.6, 4.0, "SPEAKER_01"), T(4.0, 5.0, "SPEAKER_01"), T(5.5, 7.0, "SPEAKER_01"), T(7.0, 9.0, "SPEAKER_00")]
    assert hypothesis_changes(labelled, regions).tolist() == [[2.0, 2.6], [7.0, 7.0]]
    # the same as (start, end) segments with labels, None for non-speech
    spans = [(0.0, 0.5), (0.5, 2.0), (2.0, 2.6), (2.6, 4.0), (4.0, 7.0), (7.0, 9.0), (9.0, 10.0)]
    labels = [None, "S0", None, "S1", "S1", "S0", None]
    assert hypothesis_changes(spans, regions, labels=labels).tolist() == [[2.0, 2.6], [7.0, 7.0]]
    assert hypothesis_changes(spans, regions, labels=labels, boundaries="segmentation").tolist() == [0.5, 2.0, 2.6, 4.0, 7.0, 9.0]


def test_interval_to_interval_matching():
    # the reference pause [4, 5] and a hypothesis gap [5.3, 5.9] are 0.3 s apart: a match at 0.5 s, not at 0.25 s
    reference = [T(0.0, 4.0, "A"), T(5.0, 9.0, "B")]
    hypothesis = [T(0.0, 5.3, "S0"), T(5.9, 9.0, "S1")]
    assert evaluate_annotations({"f": reference}, {"f": hypothesis}, tolerance=0.5).overall.boundary.hits == 1
    assert evaluate_annotations({"f": reference}, {"f": hypothesis}, tolerance=0.25).overall.boundary.hits == 0
    assert match_boundaries([[4.0, 5.0]], [[5.3, 5.9]], tolerance=0.3) == [(0, 0)]
    assert match_boundaries([[4.0, 5.0]], [[5.3, 5.9]], tolerance=0.29) == []


# ---------------------------------------------------------------------------------------------
# the matching is a maximum one-to-one matching


def _brute_force(reference: np.ndarray, hypothesis: np.ndarray, tolerance: float) -> int:
    """Size of the largest one-to-one matching, by trying every assignment."""

    def near(r: np.ndarray, h: np.ndarray) -> bool:
        return h[0] <= r[1] + tolerance + 1e-9 and r[0] <= h[1] + tolerance + 1e-9

    def best(i: int, used: frozenset[int]) -> int:
        if i == len(reference):
            return 0
        options = [best(i + 1, used)]
        options += [1 + best(i + 1, used | {j}) for j in range(len(hypothesis)) if j not in used and near(reference[i], hypothesis[j])]
        return max(options)

    return best(0, frozenset())


def _random_changes(rng: np.random.Generator, n: int, *, intervals: bool) -> np.ndarray:
    starts = np.round(rng.uniform(0, 6, n), 2)
    lengths = np.round(rng.exponential(0.4, n) * (rng.random(n) < 0.5), 2) if intervals else np.zeros(n)
    return np.stack([starts, starts + lengths], axis=1)


@pytest.mark.parametrize("kinds", [(False, False), (True, False), (True, True)], ids=["points", "intervals-points", "intervals"])
def test_matching_equals_brute_force(kinds: tuple[bool, bool]):
    rng = np.random.default_rng(sum(kinds))
    for _ in range(300):
        reference = _random_changes(rng, int(rng.integers(0, 7)), intervals=kinds[0])
        hypothesis = _random_changes(rng, int(rng.integers(0, 7)), intervals=kinds[1])
        tolerance = float(rng.choice([0.1, 0.25, 0.5, 1.0]))
        pairs = match_boundaries(reference, hypothesis, tolerance=tolerance)
        ref, hyp = as_intervals(reference), as_intervals(hypothesis)
        assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)  # one-to-one
        for i, j in pairs:  # every pair is within reach
            assert hyp[j, 0] <= ref[i, 1] + tolerance + 1e-9 and ref[i, 0] <= hyp[j, 1] + tolerance + 1e-9
        assert len(pairs) == _brute_force(ref, hyp, tolerance)


def test_nearest_first_would_undercount():
    # 4.9 is nearest to the pause [4.0, 4.6] (0.3 s) but also reaches 5.4; 3.6 reaches only the pause:
    # pairing the nearest first (4.9 with the pause) would leave one change unmatched
    assert match_boundaries([[4.0, 4.6], [5.4, 5.4]], [3.6, 4.9], tolerance=0.5) == [(0, 0), (1, 1)]


# ---------------------------------------------------------------------------------------------
# training validation scores the same changes


def test_training_validation_counts_speaker_changes(tmp_path: Path):
    import torch
    from synth import make_conversation

    from turnpoint import SpeakerChangeConfig, SpeakerChangeDetector, Specifications
    from turnpoint.changes.training import ALPHA_GRID, validation_counts
    from turnpoint.changes.training_data import collect_files, prepare_file

    torch.set_num_threads(1)
    torch.manual_seed(0)
    turns = make_conversation(tmp_path / "c.wav", seed=3, duration=10.0)  # two speakers, a pause between turns
    (item,) = collect_files(tmp_path)
    prepared = prepare_file(item, specifications=Specifications(), collar=0.05)
    expected = speaker_changes([T(s, e, who) for s, e, who in turns], [(0.0, prepared.duration)])
    np.testing.assert_allclose(prepared.speaker_changes, expected, atol=1e-3)  # the RTTM has 3 decimals
    assert len(expected) == len(turns) - 1 and np.all(expected[:, 1] > expected[:, 0])  # every change is across a pause
    counts = validation_counts(SpeakerChangeDetector(SpeakerChangeConfig()), [prepared], specifications=Specifications(), min_duration=1.0, tolerance=0.5)
    assert {counts.totals[alpha].n_reference for alpha in ALPHA_GRID} == {len(expected)}


def test_cli_boundaries_option(tmp_path: Path, capsys: pytest.CaptureFixture):
    write_rttm(tmp_path / "ref.rttm", {"f": [T(0.0, 10.0, "A"), T(10.0, 11.9, "B"), T(11.9, 20.0, "A")]})
    write_rttm(tmp_path / "hyp.rttm", {"f": segs(0.0, 11.0, 12.85, 20.0)})
    code = main(["evaluate", str(tmp_path / "ref.rttm"), str(tmp_path / "hyp.rttm"), "--tolerance", "1", "--boundaries", "segmentation", "--json", str(tmp_path / "r.json")])
    assert code == 0 and "segmentation boundaries" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["overall"]["precision"] == 0.5
