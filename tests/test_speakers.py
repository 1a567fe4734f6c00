"""The default detector's speaker pipeline (turnpoint.changes.speakers) and its place in detection."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import turnpoint
from turnpoint.changes.annotations import read_rttm
from turnpoint.core.errors import TurnpointError
from turnpoint.changes.change_definition import speaker_changes
from turnpoint.changes.metrics import boundary_score
from turnpoint.changes.speakers import (
    SpeakerSettings,
    cluster_centroids,
    smooth_embeddings,
    turns_from_labels,
    viterbi_labels,
)


def _path_score(similarity: np.ndarray, path, penalty: float) -> float:
    return sum(similarity[i, s] for i, s in enumerate(path)) - penalty * sum(a != b for a, b in zip(path[:-1], path[1:]))


@pytest.mark.parametrize("seed", range(12))
def test_viterbi_finds_the_best_labelling(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(2, 7)), int(rng.integers(2, 4))
    similarity = rng.uniform(-1, 1, (n, k))
    penalty = float(rng.uniform(0, 1.5))
    best = max(_path_score(similarity, p, penalty) for p in itertools.product(range(k), repeat=n))
    found = viterbi_labels(similarity, switch_penalty=penalty)
    assert _path_score(similarity, found, penalty) == pytest.approx(best)


def test_switch_penalty_removes_a_stray_window_but_keeps_a_real_turn() -> None:
    # window 2 leans to speaker 1 a little; windows 5-7 are clearly speaker 1
    similarity = np.array([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55], [0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9], [0.1, 0.9]])
    assert viterbi_labels(similarity, switch_penalty=0.0).tolist() == [0, 0, 1, 0, 0, 1, 1, 1]
    assert viterbi_labels(similarity, switch_penalty=0.3).tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_bilateral_smoothing_keeps_the_edge_that_a_plain_average_blurs() -> None:
    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    rows = np.array([a] * 6 + [b] * 6) + 0.05 * rng.normal(size=(12, 8))
    smoothed = smooth_embeddings(rows, radius=2, sharpness=20.0)
    # right at the edge each side still points at its own speaker
    assert smoothed[5] @ a > 0.95 and smoothed[6] @ b > 0.95
    plain = smooth_embeddings(rows, radius=2, sharpness=0.0)  # sharpness 0: every neighbour counts fully
    assert plain[5] @ b > 0.3  # the plain average mixes the other speaker in
    # noise within a speaker is reduced
    assert np.mean(smoothed[:4] @ a) > np.mean((rows[:4] / np.linalg.norm(rows[:4], axis=1, keepdims=True)) @ a)


def test_relative_cut_keeps_varied_clean_speech_together() -> None:
    rng = np.random.default_rng(1)
    centre = np.eye(16)[0]
    one_speaker = centre + 0.45 * rng.normal(size=(60, 16))  # one voice whose windows vary a lot
    absolute = len(cluster_centroids(one_speaker, threshold=0.25))
    relative = len(cluster_centroids(one_speaker, threshold=0.25, relative_threshold=1.0))
    assert absolute > 10 and relative < absolute / 3
    two = np.vstack([np.eye(16)[0] + 0.1 * rng.normal(size=(30, 16)), np.eye(16)[1] + 0.1 * rng.normal(size=(30, 16))])
    assert len(cluster_centroids(two, threshold=0.25, relative_threshold=1.0)) == 2


def test_clusters_too_small_to_be_a_speaker_are_dropped() -> None:
    rng = np.random.default_rng(2)
    two = np.eye(16)[0] + 0.05 * rng.normal(size=(40, 16)), np.eye(16)[1] + 0.05 * rng.normal(size=(40, 16))
    stray = np.eye(16)[2] + 0.05 * rng.normal(size=(3, 16))  # three windows of something else
    e = np.vstack([*two, stray])
    assert len(cluster_centroids(e, threshold=0.3)) == 3
    kept = cluster_centroids(e, threshold=0.3, min_windows=5)
    assert len(kept) == 2 and np.all(kept @ np.eye(16)[2] < 0.3)  # the speakers stay, the stray goes
    # a strided subset's clusters count for the windows they stand for
    many = np.repeat(e, 100, axis=0)
    assert len(cluster_centroids(many, threshold=0.3, min_windows=250)) == 3
    assert len(cluster_centroids(many, threshold=0.3, min_windows=350)) == 2


def test_turns_place_a_change_across_a_pause_in_the_pause_and_no_change_for_one_speaker() -> None:
    times = np.arange(0.5, 10.0, 1.0)  # ten windows
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0])
    changes, segments, names = turns_from_labels(times, labels, duration=10.0, silences=[(0.0, 0.8), (2.6, 3.4), (5.0, 5.5), (9.5, 10.0)])
    # 0 -> 1 across the pause 2.6-3.4: one change at its middle; 1 -> 0 at 7.0 (between the
    # window centres 6.5 and 7.5);
    # the pause inside speaker 1's turn (5.0-5.5) is no change; the leading/trailing silence neither
    assert changes.tolist() == pytest.approx([3.0, 7.0])
    assert names == [None, "SPEAKER_00", None, "SPEAKER_01", None, "SPEAKER_01", "SPEAKER_00", None]
    assert segments[0] == (0.0, 0.8) and segments[-1] == (9.5, 10.0)
    assert sum(e - s for s, e in segments) == pytest.approx(10.0)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="encoder"):
        SpeakerSettings(encoder="xvector")
    with pytest.raises(ValueError, match="threshold"):
        SpeakerSettings(threshold=0.0)
    with pytest.raises(ValueError, match="min_speaker_duration"):
        SpeakerSettings(min_speaker_duration=-1.0)
    assert SpeakerSettings.from_dict(SpeakerSettings().to_dict()) == SpeakerSettings()


@pytest.fixture(scope="module")
def example_detection():
    return turnpoint.detect_changes(turnpoint.example_path())


def test_default_detector_labels_speakers_and_finds_the_example_changes(example_detection) -> None:
    detection = example_detection
    assert detection.settings["speakers"]["encoder"] == "ge2e"
    assert detection.labels is not None and len(detection.labels) == len(detection.segments)
    reference = read_rttm(Path(turnpoint.example_path()).with_suffix(".rttm"))["two_speakers"]
    truth = speaker_changes(reference, [(0.0, detection.duration)])
    score = boundary_score(truth, detection.changes, tolerance=0.5)
    assert score.f1 >= 0.8, score
    assert 2 <= detection.settings["n_speakers"] <= 4


def test_speech_onsets_and_ends_are_not_changes(example_detection) -> None:
    detection = example_detection
    speech = [(s, e) for (s, e), label in zip(detection.segments, detection.labels) if label is not None]
    first_onset, last_end = speech[0][0], speech[-1][1]
    assert detection.labels[0] is None and first_onset > 0.2  # the leading silence is non-speech, not a turn
    assert all(abs(c - first_onset) > 0.3 and abs(c - last_end) > 0.3 for c in detection.changes)
    # every change is between two different speakers
    labelled = [label for label in detection.labels if label is not None]
    assert len(detection.changes) == sum(a != b for a, b in zip(labelled[:-1], labelled[1:]))


def test_json_segments_carry_speech_and_speaker(tmp_path, example_detection) -> None:
    written = turnpoint.write_outputs(example_detection, out_dir=tmp_path, formats=["json", "rttm"])
    data = json.loads(written["json"].read_text())
    assert {"start", "end", "speech", "speaker"} <= set(data["segments"][0])
    assert data["segments"][0]["speech"] is False and data["segments"][0]["speaker"] is None
    rttm = read_rttm(written["rttm"])["two_speakers"]
    assert {turn.speaker for turn in rttm} <= {label for label in example_detection.labels if label}


def test_silence_has_no_speaker_and_no_change() -> None:
    detection = turnpoint.detect_changes(np.zeros(16000 * 4, dtype=np.float32))
    assert detection.labels == [None] and len(detection.changes) == 0


def test_speaker_options_refused_without_the_pipeline() -> None:
    with pytest.raises(TurnpointError, match="speaker threshold"):
        turnpoint.detect_changes(np.zeros(16000, dtype=np.float32), model="paper", speaker_threshold=0.3)


def test_model_file_records_its_encoder_and_refuses_an_unknown_one(tmp_path) -> None:
    from turnpoint.changes.modelfile import Defaults, load_model, read_header, save_model

    loaded = load_model("default")
    assert read_header(loaded.path)["defaults"]["speakers"]["encoder"] == "ge2e"
    path = save_model(tmp_path / "m.safetensors", model=loaded.model, specifications=loaded.specifications,
                      defaults=Defaults(speakers=SpeakerSettings()))
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    header = json.loads(meta["turnpoint"])
    header["defaults"]["speakers"]["encoder"] = "xvector"
    save_file(load_file(str(path)), str(path), metadata={"turnpoint": json.dumps(header)})
    with pytest.raises(TurnpointError, match="speakers.encoder"):
        load_model(path)


def test_encoder_option_picks_the_model_built_for_it_and_refuses_a_mismatch(tmp_path, capsys) -> None:
    from turnpoint.cli.main import main

    samples = turnpoint.load_audio(turnpoint.example_path())[: 16000 * 12]
    assert turnpoint.detect_changes(samples, encoder="compact").settings["speakers"]["encoder"] == "compact"
    assert turnpoint.detect_changes(samples, encoder="ge2e").settings["speakers"]["encoder"] == "ge2e"
    with pytest.raises(TurnpointError, match="runs the compact encoder, not ge2e"):
        turnpoint.detect_changes(samples, model="fast", encoder="ge2e")
    with pytest.raises(TurnpointError, match="no speaker pipeline"):
        turnpoint.detect_changes(samples, model="paper", encoder="compact")
    audio = tmp_path / "a.wav"
    import soundfile

    soundfile.write(audio, samples, 16000)
    assert main(["-q", "detect", str(audio), "--encoder", "compact", "--out", str(tmp_path / "out"), "--format", "json"]) == 0
    written = json.loads((tmp_path / "out" / "a.json").read_text())
    assert written["model"]["name"] == "fast" and written["model"]["defaults"]["speakers"]["encoder"] == "compact"
    capsys.readouterr()
    assert main(["-q", "detect", str(audio), "--encoder", "ge2e", "--model", "fast", "--out", str(tmp_path / "out2")]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "fast.safetensors" in error[0] and "--model default" in error[0]
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


def test_compact_encoder_settings_follow_its_hop() -> None:
    with pytest.raises(ValueError, match="multiple of 0.096"):
        SpeakerSettings(encoder="compact")  # the default 0.2 s step is not a multiple of its hop
    compact = SpeakerSettings().with_encoder("compact")
    assert (compact.encoder, compact.step, compact.window) == ("compact", 0.192, 1.0)
    assert compact.with_encoder("ge2e").encoder == "ge2e"
    with pytest.raises(ValueError, match="encoder"):
        SpeakerSettings().with_encoder("xvector")


def test_compact_encoder_embeds_the_file_in_one_pass_and_finds_the_example_turns() -> None:
    from turnpoint.changes.speakers import window_embeddings
    from turnpoint.changes.streaming_embeddings import embed_stream

    samples = turnpoint.load_audio(turnpoint.example_path())
    settings = SpeakerSettings().with_encoder("compact")
    times, embeddings = window_embeddings(samples, settings=settings)
    expected_times, expected = embed_stream(samples, hop=settings.step)
    np.testing.assert_array_equal(times, expected_times)
    np.testing.assert_allclose(embeddings, expected, atol=1e-6)
    assert np.allclose(np.diff(times), 0.192) and np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)
    # the bundled `fast` model is the default pipeline on the compact encoder, with its own settings
    detection = turnpoint.detect_changes(turnpoint.example_path(), model="fast")
    assert detection.settings["speakers"]["encoder"] == "compact"
    reference = read_rttm(Path(turnpoint.example_path()).with_suffix(".rttm"))["two_speakers"]
    truth = speaker_changes(reference, [(0.0, detection.duration)])
    assert boundary_score(truth, detection.changes, tolerance=0.5).recall >= 0.6


@pytest.mark.parametrize("block", [1000, 16000, 10**6])
def test_the_streamed_pipeline_equals_the_whole_signal_whatever_the_blocks(block) -> None:
    from turnpoint.changes.speakers import speaker_turns, speaker_turns_streamed
    from turnpoint.changes.voice_activity import SpeechStream, silent_regions

    samples = turnpoint.load_audio(turnpoint.example_path())[: 16000 * 20]
    blocks = [samples[i : i + block] for i in range(0, len(samples), block)]
    speech = SpeechStream()
    for part in blocks:
        speech.push(part)
    whole = SpeechStream()
    whole.push(samples)
    np.testing.assert_array_equal(speech.finish(), whole.finish())
    assert len(whole.finish()) == -(-len(samples) // 512)
    settings = SpeakerSettings().with_encoder("compact")
    streamed = speaker_turns_streamed(iter(blocks), settings=settings)
    at_once = speaker_turns(samples, settings=settings)
    np.testing.assert_allclose(streamed.embeddings, at_once.embeddings, atol=1e-5)
    assert streamed.segments == at_once.segments and streamed.segment_labels == at_once.segment_labels
    np.testing.assert_array_equal(streamed.changes, at_once.changes)
    assert any(label is None for label in at_once.segment_labels)  # the VAD found the pauses, streamed too
    assert silent_regions(samples, vad_threshold=0.2, min_silence=0.1, min_speech=0.25)[0][0] == 0.0


@pytest.mark.parametrize("block", [1000, 37_000, 10**6])
def test_the_streamed_ge2e_pipeline_equals_the_whole_signal_whatever_the_blocks(block) -> None:
    from turnpoint.changes.speakers import signal_rms, speaker_turns, speaker_turns_streamed

    samples = 0.3 * turnpoint.load_audio(turnpoint.example_path())[: 16000 * 20]  # quiet: the volume is raised
    blocks = [samples[i : i + block] for i in range(0, len(samples), block)]
    settings = SpeakerSettings()
    streamed = speaker_turns_streamed(iter(blocks), settings=settings, rms=signal_rms(blocks))
    at_once = speaker_turns(samples, settings=settings)
    np.testing.assert_array_equal(streamed.times, at_once.times)
    np.testing.assert_allclose(streamed.embeddings, at_once.embeddings, atol=1e-5)
    assert streamed.segments == at_once.segments and streamed.segment_labels == at_once.segment_labels
    np.testing.assert_array_equal(streamed.changes, at_once.changes)
    assert at_once.n_speakers >= 2 and len(at_once.changes) >= 3
    with pytest.raises(ValueError, match="rms"):
        speaker_turns_streamed(iter(blocks), settings=settings)


def test_ge2e_windows_of_a_short_file_and_of_long_windows_match_the_whole_signal() -> None:
    from turnpoint.changes.speaker_encoder import volume_gain
    from turnpoint.changes.speakers import iter_ge2e_embeddings, window_embeddings

    from turnpoint.changes.speaker_encoder import embed_segments, mel_frames, normalize_volume

    signal = np.random.default_rng(3).normal(0, 0.005, 16000 * 4).astype(np.float32)
    for settings, n, expected_times in [(SpeakerSettings(), 8000, [0.255]), (SpeakerSettings(window=2.4, step=0.8), len(signal), [1.2, 2.0, 2.8])]:
        x = signal[:n]
        mels = mel_frames(normalize_volume(x))  # the reference: the whole file's frames, cut into windows
        width = min(len(mels), round(settings.window * 100))
        reference = embed_segments([mels[i : i + width] for i in range(0, len(mels) - width + 1, round(settings.step * 100))])
        times, embeddings = window_embeddings(x, settings=settings)
        rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        parts = list(iter_ge2e_embeddings([x[i : i + 999] for i in range(0, n, 999)], settings=settings, gain=volume_gain(rms), chunk=2))
        assert times.tolist() == expected_times  # a file shorter than one window is embedded whole
        np.testing.assert_array_equal(np.concatenate([t for t, _ in parts]), times)
        np.testing.assert_allclose(np.concatenate([e for _, e in parts]), reference, atol=1e-5)
        np.testing.assert_allclose(embeddings, reference, atol=1e-5)


@pytest.mark.parametrize("radius", [0, 1, 3])
def test_smoothing_and_change_distance_in_blocks_equal_one_block(monkeypatch, radius) -> None:
    import turnpoint.changes.speakers as speakers

    embeddings = np.random.default_rng(radius).normal(size=(50, 8)).astype(np.float32)
    settings = SpeakerSettings(smoothing_radius=radius)
    whole = speakers.smooth_embeddings(embeddings, radius=radius, sharpness=10.0)
    distance = speakers.change_distance(whole, settings=settings)
    monkeypatch.setattr(speakers, "ROWS_AT_ONCE", 7)  # blocks that cut through every neighbourhood
    np.testing.assert_array_equal(speakers.smooth_embeddings(embeddings, radius=radius, sharpness=10.0), whole)
    np.testing.assert_array_equal(speakers.change_distance(whole, settings=settings), distance)
    assert np.allclose(np.linalg.norm(whole, axis=1), 1.0, atol=1e-5) and distance[0] == 0 and distance[-1] == 0 and distance[10:-10].max() > 0


def test_detection_streams_without_keeping_the_embeddings() -> None:
    from turnpoint.changes.speakers import speaker_turns_streamed

    samples = turnpoint.load_audio(turnpoint.example_path())[: 16000 * 12]
    settings = SpeakerSettings().with_encoder("compact")
    kept = speaker_turns_streamed([samples[:50000], samples[50000:]], settings=settings)
    dropped = speaker_turns_streamed([samples], settings=settings, keep_embeddings=False)
    assert dropped.embeddings is None and kept.embeddings.shape == (len(kept.times), 256)
    np.testing.assert_array_equal(dropped.changes, kept.changes)
    assert dropped.segment_labels == kept.segment_labels
