"""GE2E re-scoring of candidate changes: candidates, streaming segment gathering, and a real run."""

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

import turnpoint
from turnpoint.core.windows import Scores
from turnpoint.changes.metrics import boundary_score, merge_close
from turnpoint.changes.candidate_scorer import candidate_features, fit_candidate_scorer
from turnpoint.changes.context_embeddings import _right_embeddings, embedding_distances, gather_segments
from turnpoint.changes.rescoring import RescoringSettings, candidates, rescore, resolve_rescoring
from turnpoint.changes.segment_clustering import SegmentClustering, cluster_changes, segment_embeddings, segment_windows
from turnpoint.changes.speaker_encoder import embed_segments, load_speaker_encoder, mel_frames


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
    evidence = rescore(path, detection.scores, settings=loose)
    changes, times, distances = evidence.changes, evidence.candidate_times, evidence.candidate_scores
    assert len(times) == len(distances) > 5
    assert set(np.round(changes, 3)) <= set(np.round(times, 3))
    assert np.all((distances >= 0) & (distances <= 2))
    strict = rescore(path, detection.scores, settings=RescoringSettings(threshold=1.99)).changes
    assert len(strict) == 0
    # Reading the file again (streaming) or passing the waveform gives the same distances.
    samples = turnpoint.load_audio(path)
    again = rescore(samples, detection.scores, settings=loose)
    times2, distances2 = again.candidate_times, again.candidate_scores
    np.testing.assert_array_equal(times2, times)
    np.testing.assert_allclose(distances2, distances, atol=1e-4)


def test_rescoring_finds_the_example_turns_better_than_the_bilstm_alone():
    path = turnpoint.example_path()
    reference = turnpoint.read_rttm(path.replace(".flac", ".rttm"))["two_speakers"]
    changes = merge_close(turnpoint.change_points(reference), within=1.0)
    plain = turnpoint.detect_changes(path, model="paper")
    rescored = turnpoint.detect_changes(path, model="hybrid")
    assert rescored.settings["rescoring"]["method"] == "ge2e"
    f_plain = boundary_score(changes, plain.changes, tolerance=0.5).f1
    score = boundary_score(changes, rescored.changes, tolerance=0.5)
    # The hybrid finds 9 of the 11 turns with one false change (F1 0.857; the BiLSTM alone 0.364). The
    # bound allows one more false change (0.818) but not one turn fewer (0.762).
    assert score.hits >= 9 and score.f1 >= 0.8, score
    assert score.f1 > f_plain + 0.4, (f_plain, score.f1)


def test_rescoring_silence_gives_no_changes(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(16000 * 6, dtype=np.float32), 16000)
    result = turnpoint.detect_changes(tmp_path / "quiet.wav", rescoring=RescoringSettings())
    assert len(result.changes) == 0


def test_the_hybrid_model_rescores_and_paper_is_the_bilstm_alone():
    path = turnpoint.example_path()
    shipped = turnpoint.load_model("hybrid").defaults.rescoring
    assert shipped is not None and turnpoint.load_model("paper").defaults.rescoring is None
    hybrid = turnpoint.detect_changes(path, model="hybrid")
    assert hybrid.settings["rescoring"] == shipped.to_dict()
    paper = turnpoint.detect_changes(path, model="paper")
    off = turnpoint.detect_changes(path, model="hybrid", rescoring=False)
    np.testing.assert_array_equal(off.changes, paper.changes)
    np.testing.assert_array_equal(off.scores.values, hybrid.scores.values)  # same BiLSTM underneath
    assert "rescoring" not in off.settings
    # A higher threshold keeps a subset of the changes; re-scoring a paper model on request works.
    stricter = turnpoint.detect_changes(path, model="hybrid", rescore_threshold=shipped.threshold + 0.25)
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
    import turnpoint.changes.context_embeddings as context_embeddings

    path = turnpoint.example_path()
    scores = turnpoint.detect_changes(path, rescoring=False).scores
    settings = RescoringSettings(contexts=(1.6, 2.4))
    whole = rescore(path, scores, settings=settings)
    changes, times, values = whole.changes, whole.candidate_times, whole.candidate_scores
    monkeypatch.setattr(context_embeddings, "CHUNK", 3)  # many chunks, the last one partial
    chunked = rescore(path, scores, settings=settings)
    changes3, times3, values3 = chunked.changes, chunked.candidate_times, chunked.candidate_scores
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
    evidence = rescore(path, scores, settings=settings)
    changes, got_times, got_scores = evidence.changes, evidence.candidate_times, evidence.candidate_scores
    np.testing.assert_array_equal(got_times, times)
    np.testing.assert_allclose(got_scores, settings.scorer(features), atol=1e-4)
    assert 0 < len(changes) <= len(times) and np.all(got_scores[np.isin(times, changes)] >= 0.5)
    assert boundary_score(reference, changes, tolerance=0.5).f1 > 0.8  # it learned the example it was fitted on


def test_segment_windows_stay_inside_their_segments_and_cover_them():
    changes = np.array([0.3, 2.0, 2.2, 7.05])
    windows = segment_windows(changes, duration=9.0, window=1.6, step=0.8)
    edges = np.concatenate([[0.0], changes, [9.0]]) * 16000
    owners = {owner for _, _, owner in windows}
    assert owners == {1, 3, 4}  # 0-0.3 s and 2.0-2.2 s are shorter than MIN_CONTEXT
    for start, stop, owner in windows:
        assert edges[owner] <= start < stop <= edges[owner + 1]
        assert stop - start == min(1.6 * 16000, edges[owner + 1] - edges[owner])
    for owner in owners:  # the first window starts at the segment, the last ends with it
        mine = [(a, b) for a, b, o in windows if o == owner]
        assert mine[0][0] == edges[owner] and mine[-1][1] == edges[owner + 1]
    starts, stops = [w[0] for w in windows], [w[1] for w in windows]
    assert starts == sorted(starts) and stops == sorted(stops)  # what iter_spans streams


def test_cluster_changes_drops_changes_inside_one_cluster_only():
    a, b = np.eye(256)[0], np.eye(256)[1]
    # segments: A, A', B, (no embedding), B, A
    sums = np.stack([a, a + 0.05 * b, 3 * b, np.zeros(256), b, 2 * a])
    counts = np.array([1, 1, 3, 0, 1, 2])
    changes = np.array([1.0, 2.0, 3.0, 3.2, 4.0])
    values = np.array([0.4, 0.4, 0.4, 0.4, 0.4])
    kept = cluster_changes(changes, values, sums, counts, clustering=SegmentClustering(threshold=0.3, keep_above=None))
    assert kept.tolist() == [2.0, 3.0, 3.2, 4.0]  # A|A' dropped; both sides of the empty segment kept
    values[0] = 0.9  # a strong local change survives inside a cluster
    assert cluster_changes(changes, values, sums, counts, clustering=SegmentClustering(threshold=0.3, keep_above=0.8)).tolist() == changes.tolist()
    # everything in one cluster at a cut above every distance: only kept by keep_above
    assert cluster_changes(changes, values, sums, counts, clustering=SegmentClustering(threshold=1.5, keep_above=0.8)).tolist() == [1.0, 3.0, 3.2]
    assert cluster_changes(np.array([]), np.array([]), sums[:1], counts[:1], clustering=SegmentClustering()).tolist() == []


def test_segment_clustering_removes_false_changes_inside_turns_of_the_example():
    path = turnpoint.example_path()
    reference = turnpoint.read_rttm(path.replace(".flac", ".rttm"))["two_speakers"]
    true = np.array([(x.end + y.start) / 2 for x, y in zip(reference[:-1], reference[1:])])
    inside = np.array([(t.start + t.end) / 2 for t in reference[2:8:2]])  # the middle of three turns
    changes = np.sort(np.concatenate([true, inside]))
    clustering = SegmentClustering(threshold=0.3, keep_above=None)
    sums, counts = segment_embeddings(path, changes, duration=42.0, clustering=clustering)
    assert counts.min() >= 1  # every segment is embedded
    kept = cluster_changes(changes, np.zeros(len(changes)), sums, counts, clustering=clustering)
    np.testing.assert_allclose(kept, true)
    # the waveform instead of the file: the same embeddings
    sums2, counts2 = segment_embeddings(turnpoint.load_audio(path), changes, duration=42.0, clustering=clustering)
    np.testing.assert_array_equal(counts2, counts)
    np.testing.assert_allclose(sums2, sums, atol=1e-3)


def test_rescoring_with_clustering_keeps_a_subset_of_the_single_pass_changes(tmp_path):
    path = turnpoint.example_path()
    detection = turnpoint.detect_changes(path, rescoring=False)
    single = RescoringSettings(threshold=0.2, min_duration=1.0, bilstm_weight=0.1, candidate_floor=0.003)
    two_pass = replace(single, clustering=SegmentClustering(threshold=0.3))
    first = rescore(path, detection.scores, settings=single).changes
    evidence = rescore(path, detection.scores, settings=two_pass)
    second = evidence.changes
    assert set(np.round(second, 3)) < set(np.round(first, 3))
    # one evidence object: the second pass decided on the first pass's changes, and what it dropped is the rest
    np.testing.assert_array_equal(evidence.first_times, first)
    assert sorted(np.round(np.concatenate([second, evidence.dropped]), 3).tolist()) == np.round(first, 3).tolist()
    assert np.all(evidence.separation[np.isin(evidence.first_times, second)] > evidence.cut)
    curve = evidence.curve(detection.scores)
    assert np.round(np.flatnonzero(curve.values > evidence.cut) * curve.frame_step, 3).tolist() == np.round(second, 3).tolist()
    # the settings travel in a model file and come back equal; a bad linkage is refused naming the file
    from turnpoint.changes.modelfile import Defaults, load_model, save_model

    loaded = load_model("paper")
    target = tmp_path / "two_pass.safetensors"
    save_model(target, model=loaded.model, specifications=loaded.specifications,
               defaults=Defaults(alpha=0.3, min_duration=1.0, alpha_scale="absolute", rescoring=two_pass))
    assert load_model(str(target)).defaults.rescoring == two_pass
    result = turnpoint.detect_changes(path, model=str(target))
    np.testing.assert_allclose(result.changes, second)
    assert result.settings["rescoring"]["clustering"]["threshold"] == 0.3
    with pytest.raises(ValueError, match="linkage"):
        SegmentClustering(linkage="ward")
    import json

    from safetensors.torch import save

    from turnpoint.core.errors import TurnpointError
    from turnpoint.changes.modelfile import read_header

    for field, value, match in [("linkage", "ward", "linkage"), ("keep_above", "high", "a number or null"), ("threshold", 0, "above 0")]:
        header = read_header(target)
        header["defaults"]["rescoring"]["clustering"][field] = value
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(save({k: v.contiguous() for k, v in loaded.model.state_dict().items()}, metadata={"turnpoint": json.dumps(header)}))
        with pytest.raises(TurnpointError, match=match) as error:
            load_model(str(bad))
        assert "bad.safetensors" in str(error.value) and "clustering" in str(error.value)
    header = read_header(target)
    header["defaults"]["rescoring"]["clustering"]["keep_above"] = None  # null: never kept for its local score
    good = tmp_path / "never.safetensors"
    good.write_bytes(save({k: v.contiguous() for k, v in loaded.model.state_dict().items()}, metadata={"turnpoint": json.dumps(header)}))
    assert load_model(str(good)).defaults.rescoring.clustering.keep_above is None


def test_cluster_flag_turns_the_second_pass_on_and_off(tmp_path, capsys):
    from turnpoint.cli.main import main

    path = turnpoint.example_path()
    assert main(["--quiet", "detect", path, "--model", "paper", "--cluster", "--out", str(tmp_path / "x")]) != 0
    assert "needs re-scoring" in capsys.readouterr().err
    expected = turnpoint.load_model().defaults.rescoring.clustering or SegmentClustering()  # the model's, else the defaults
    on = turnpoint.detect_changes(path, clustering=True, rescore_threshold=0.2, min_duration=1.0)
    off = turnpoint.detect_changes(path, clustering=False, rescore_threshold=0.2, min_duration=1.0)
    assert on.settings["rescoring"]["clustering"] == expected.to_dict()
    assert turnpoint.detect_changes(path, model="paper", rescoring=True, clustering=True).settings["rescoring"]["clustering"] == SegmentClustering().to_dict()
    assert "clustering" not in off.settings["rescoring"]
    assert set(np.round(on.changes, 3)) <= set(np.round(off.changes, 3))
    # what the second pass dropped is reported: the first pass's changes are the kept ones plus the dropped ones
    assert off.dropped is None and len(on.dropped) > 0
    assert sorted(np.round(np.concatenate([on.changes, on.dropped]), 3)) == sorted(np.round(off.changes, 3))
    assert on.to_dict()["dropped_by_clustering"] == [round(float(t), 3) for t in on.dropped]
    from turnpoint.changes.outputs import plot_detection

    assert plot_detection(on, tmp_path / "on.png").stat().st_size > 1000
    assert main(["--quiet", "detect", path, "--cluster", "--rescore-threshold", "0.2", "--min-duration", "1", "--out", str(tmp_path / "y"),
                 "--format", "json"]) == 0
    written = (tmp_path / "y").glob("*.json")
    import json

    data = json.loads(next(written).read_text())
    assert data["settings"]["rescoring"]["clustering"]["threshold"] == expected.threshold


def test_clustering_in_blocks_decides_every_boundary_like_the_whole_file():
    rng = np.random.default_rng(0)
    speakers = rng.normal(size=(3, 256))
    who = rng.integers(0, 3, 301)  # 301 segments, consecutive ones often of one speaker
    sums = speakers[who] + 0.05 * rng.normal(size=(301, 256))
    counts = np.ones(301)
    counts[[17, 150]] = 0  # two segments too short to embed: both their boundaries stay
    changes = np.arange(1.0, 301.0)
    values = rng.uniform(0, 0.45, 300)
    clustering = SegmentClustering(threshold=0.3, keep_above=None)
    whole = cluster_changes(changes, values, sums, counts, clustering=clustering, block=10_000)
    truth = changes[(who[:-1] != who[1:]) | (counts[:-1] == 0) | (counts[1:] == 0)]
    np.testing.assert_array_equal(whole, truth)
    for block in (2, 3, 7, 100, 300, 301):
        np.testing.assert_array_equal(cluster_changes(changes, values, sums, counts, clustering=clustering, block=block), whole)
    with pytest.raises(ValueError, match="block"):
        cluster_changes(changes, values, sums, counts, clustering=clustering, block=1)
