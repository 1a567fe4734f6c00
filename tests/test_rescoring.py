"""GE2E re-scoring of candidate changes: candidates, streaming segment gathering, and a real run."""

import numpy as np
import pytest
import soundfile as sf

import turnpoint
from turnpoint.inference import Scores
from turnpoint.metrics import boundary_score, merge_close
from turnpoint.rescoring import RescoringSettings, candidates, gather_segments, rescore


def test_candidates_are_spaced_local_maxima_above_the_floor():
    curve = np.zeros(1000)
    curve[[100, 110, 400, 700]] = [0.2, 0.5, 0.005, 0.03]
    found = candidates(Scores(curve, 0.016, 16.0), settings=RescoringSettings(candidate_floor=0.01, candidate_spacing=0.5))
    assert found.tolist() == [110, 700]


@pytest.mark.parametrize("block", [1, 999, 16000, 10**6])
def test_gathered_segments_equal_slices_of_the_whole_signal(block):
    x = np.random.default_rng(0).normal(size=5 * 16000).astype(np.float32)
    times = np.array([0.3, 1.0, 1.1, 4.5, 4.99])
    blocks = [x[i : i + block] for i in range(0, len(x), block)]
    for t, segment in zip(times, gather_segments(blocks, times, context=1.6)):
        start, stop = max(0, round((t - 1.6) * 16000)), round((t + 1.6) * 16000)
        np.testing.assert_array_equal(segment, x[start:stop])


def test_rescoring_keeps_a_subset_of_candidates_and_the_threshold_orders_them():
    pytest.importorskip("resemblyzer")
    path = turnpoint.example_path()
    detection = turnpoint.detect_changes(path)
    loose = RescoringSettings(threshold=0.0)
    changes, times, distances = rescore(path, detection.scores, settings=loose)
    assert len(times) == len(distances) > 5
    assert set(np.round(changes, 3)) <= set(np.round(times, 3))
    assert np.all((distances >= 0) & (distances <= 2))
    strict, _, _ = rescore(path, detection.scores, settings=RescoringSettings(threshold=1.99))
    assert len(strict) == 0
    # Reading the file again (streaming) or passing the waveform gives the same distances.
    samples = turnpoint.load_audio(path)
    _, times2, distances2 = rescore(samples, detection.scores, settings=loose)
    np.testing.assert_allclose(distances2, distances, atol=1e-4)


def test_rescoring_finds_the_example_turns_better_than_the_bilstm_alone():
    pytest.importorskip("resemblyzer")
    path = turnpoint.example_path()
    reference = turnpoint.read_rttm(path.replace(".flac", ".rttm"))["two_speakers"]
    changes = merge_close(turnpoint.change_points(reference), within=1.0)
    plain = turnpoint.detect_changes(path)
    rescored = turnpoint.detect_changes(path, rescoring=RescoringSettings())
    assert rescored.settings["rescoring"]["method"] == "ge2e"
    f_plain = boundary_score(changes, plain.changes, tolerance=0.5).f1
    f_rescored = boundary_score(changes, rescored.changes, tolerance=0.5).f1
    assert f_rescored > f_plain + 0.2, (f_plain, f_rescored)


def test_rescoring_silence_gives_no_changes(tmp_path):
    pytest.importorskip("resemblyzer")
    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 6, dtype=np.float32), 16000)
    result = turnpoint.detect_changes(tmp_path / "quiet.wav", rescoring=RescoringSettings())
    assert len(result.changes) == 0
