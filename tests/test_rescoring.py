"""GE2E re-scoring of candidate changes: candidates, streaming segment gathering, and a real run."""

import numpy as np
import pytest
import soundfile as sf
import torch

import turnpoint
from turnpoint.inference import Scores
from turnpoint.metrics import boundary_score, merge_close
from turnpoint.rescoring import (
    RescoringSettings, _right_embeddings, candidate_features, candidates, embedding_distances, fit_candidate_scorer, gather_segments, rescore,
    resolve_rescoring,
)
from turnpoint.speaker_encoder import embed_segments, load_speaker_encoder, mel_frames


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
    path = turnpoint.example_path()
    detection = turnpoint.detect_changes(path, rescoring=False)
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
    path = turnpoint.example_path()
    reference = turnpoint.read_rttm(path.replace(".flac", ".rttm"))["two_speakers"]
    changes = merge_close(turnpoint.change_points(reference), within=1.0)
    plain = turnpoint.detect_changes(path, model="paper")
    rescored = turnpoint.detect_changes(path)  # the bundled default is the hybrid
    assert rescored.settings["rescoring"]["method"] == "ge2e"
    f_plain = boundary_score(changes, plain.changes, tolerance=0.5).f1
    f_rescored = boundary_score(changes, rescored.changes, tolerance=0.5).f1
    assert f_rescored > f_plain + 0.2, (f_plain, f_rescored)


def test_rescoring_silence_gives_no_changes(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 6, dtype=np.float32), 16000)
    result = turnpoint.detect_changes(tmp_path / "quiet.wav", rescoring=RescoringSettings())
    assert len(result.changes) == 0


def test_the_default_model_is_the_hybrid_and_paper_is_the_bilstm_alone():
    path = turnpoint.example_path()
    shipped = turnpoint.load_model().defaults.rescoring
    assert shipped is not None and turnpoint.load_model("paper").defaults.rescoring is None
    hybrid = turnpoint.detect_changes(path)
    assert hybrid.settings["rescoring"] == shipped.to_dict()
    paper = turnpoint.detect_changes(path, model="paper")
    off = turnpoint.detect_changes(path, rescoring=False)
    np.testing.assert_array_equal(off.changes, paper.changes)
    np.testing.assert_array_equal(off.scores.values, hybrid.scores.values)  # same BiLSTM underneath
    assert "rescoring" not in off.settings
    # A higher threshold keeps a subset of the changes; re-scoring a paper model on request works.
    stricter = turnpoint.detect_changes(path, rescore_threshold=shipped.threshold + 0.15)
    assert set(np.round(stricter.changes, 3)) < set(np.round(hybrid.changes, 3))
    on_request = turnpoint.detect_changes(path, model="paper", rescoring=True)
    assert on_request.settings["rescoring"] == RescoringSettings().to_dict()
    with pytest.raises(turnpoint.TurnpointError, match="needs re-scoring"):
        turnpoint.detect_changes(path, model="paper", rescore_threshold=0.3)


def test_resolve_rescoring_follows_the_model_unless_told():
    shipped = RescoringSettings(threshold=0.5, contexts=(1.6, 3.2))
    assert resolve_rescoring(shipped, None) is shipped and resolve_rescoring(shipped, True) is shipped
    assert resolve_rescoring(shipped, False) is None and resolve_rescoring(None, None) is None
    mine = RescoringSettings(threshold=0.1)
    assert resolve_rescoring(shipped, mine) is mine
    with pytest.raises(turnpoint.TurnpointError):
        resolve_rescoring(shipped, "yes")
    with pytest.raises(ValueError, match="contexts"):
        RescoringSettings(contexts=(0.1,))


def test_prefix_embeddings_of_one_pass_equal_separate_embeddings():
    rng = np.random.default_rng(3)
    pieces = [mel_frames(rng.normal(0, 0.1, n).astype(np.float32))[:frames] for n, frames in ((52000, 320), (52000, 320), (30000, 180))]
    lengths = [[160, 240, 320], [50, 320], [180]]
    encoder = load_speaker_encoder()
    with torch.inference_mode():
        got = _right_embeddings(encoder, pieces, lengths)
    for piece, wanted, embeddings in zip(pieces, lengths, got):
        expected = embed_segments([piece[:n] for n in wanted])
        np.testing.assert_allclose(np.stack(embeddings), expected, atol=2e-5)


def test_distances_over_several_contexts_are_the_mean_of_each_context():
    samples = turnpoint.load_audio(turnpoint.example_path())
    times = np.array([1.5, 6.75, 9.3, 41.0])  # near the start, at a change, inside a turn, near the end
    segments = gather_segments([samples], times, context=1.6)
    offsets = [round(t * 16000) - max(0, round((t - 1.6) * 16000)) for t in times]
    both = embedding_distances(segments, offsets, contexts=(1.2, 1.6))
    singles = [embedding_distances(segments, offsets, contexts=(c,)) for c in (1.2, 1.6)]
    np.testing.assert_allclose(both, (singles[0] + singles[1]) / 2, atol=1e-5)
    # The change between the two voices is farther than the inside of a turn.
    assert both[1] > both[2] + 0.1, both


def test_rescoring_in_small_chunks_gives_the_same_scores(monkeypatch):
    import turnpoint.rescoring as rescoring

    path = turnpoint.example_path()
    scores = turnpoint.detect_changes(path, rescoring=False).scores
    settings = RescoringSettings(contexts=(1.6, 2.4))
    changes, times, values = rescore(path, scores, settings=settings)
    monkeypatch.setattr(rescoring, "CHUNK", 3)  # many chunks, the last one partial
    changes3, times3, values3 = rescore(path, scores, settings=settings)
    assert len(times) > 10
    np.testing.assert_array_equal(times3, times)
    np.testing.assert_allclose(values3, values, atol=1e-5)
    np.testing.assert_array_equal(changes3, changes)


def test_per_context_distances_average_to_the_mean_distance():
    samples = turnpoint.load_audio(turnpoint.example_path())
    times = np.array([0.2, 6.75, 9.3])  # the first has too little audio on its left for any context
    segments = gather_segments([samples], times, context=1.6)
    offsets = [round(t * 16000) - max(0, round((t - 1.6) * 16000)) for t in times]
    matrix = embedding_distances(segments, offsets, contexts=(0.8, 1.6), per_context=True)
    mean = embedding_distances(segments, offsets, contexts=(0.8, 1.6))
    assert matrix.shape == (3, 2)
    np.testing.assert_allclose(matrix.mean(axis=1), mean, atol=1e-6)
    assert matrix[0].tolist() == [0.0, 0.0]
    assert matrix[1, 0] != matrix[1, 1] and matrix[1, 1] > matrix[2, 1] + 0.1  # 1.6 s: a change vs. inside a turn


def test_rescoring_with_a_learned_scorer_scores_the_candidates_features():
    path = turnpoint.example_path()
    scores = turnpoint.detect_changes(path, rescoring=False).scores
    plain = RescoringSettings(contexts=(1.6, 2.4), candidate_floor=0.003)
    frames = candidates(scores, settings=plain)
    times = frames * scores.frame_step
    samples = turnpoint.load_audio(path)
    segments = gather_segments([samples], times, context=2.4)
    offsets = [round(t * 16000) - max(0, round((t - 2.4) * 16000)) for t in times]
    distances = embedding_distances(segments, offsets, contexts=(1.6, 2.4), per_context=True)
    features = candidate_features(distances, scores.values[frames], times, duration=scores.duration)
    # A scorer fitted to call the example's reference changes (labels from the RTTM).
    turns = next(iter(turnpoint.read_rttm(str(path).rsplit(".", 1)[0] + ".rttm").values()))
    reference = merge_close(turnpoint.change_points(list(turns)), within=1.0)
    labels = np.array([np.min(np.abs(np.asarray(reference) - t)) <= 0.5 for t in times], dtype=np.float32)
    settings = RescoringSettings(threshold=0.5, contexts=(1.6, 2.4), candidate_floor=0.003, scorer=fit_candidate_scorer(features, labels, hidden=(8,)))
    changes, got_times, got_scores = rescore(path, scores, settings=settings)
    np.testing.assert_array_equal(got_times, times)
    np.testing.assert_allclose(got_scores, settings.scorer(features), atol=1e-4)
    assert 0 < len(changes) <= len(times) and np.all(got_scores[np.isin(times, changes)] >= 0.5)
    assert boundary_score(reference, changes, tolerance=0.5).f1 > 0.8  # it learned the example it was fitted on
