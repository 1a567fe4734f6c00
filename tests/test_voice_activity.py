"""The batched Silero VAD against Silero's own chunk-by-chunk model."""

import numpy as np
import pytest

import turnpoint
from turnpoint.changes import voice_activity
from turnpoint.changes.voice_activity import CHUNK, SpeechStream, regions_from_probabilities


def _speech_and_pauses(seconds: float = 40.0) -> np.ndarray:
    samples = turnpoint.load_audio(turnpoint.example_path())[: int(16000 * seconds)].copy()
    samples[16000 * 2 : 16000 * 4] = 0.0  # a pause of digital silence
    samples[16000 * 6 : 16000 * 7] = np.random.default_rng(0).normal(0, 0.003, 16000)  # and one of faint noise
    return samples


def test_probabilities_equal_silero_chunk_by_chunk() -> None:
    import torch
    from silero_vad import load_silero_vad

    samples = _speech_and_pauses()
    model = load_silero_vad(onnx=True)
    model.reset_states()
    padded = np.zeros(-(-len(samples) // CHUNK) * CHUNK, dtype=np.float32)
    padded[: len(samples)] = samples
    reference = np.array([model(torch.from_numpy(padded[i : i + CHUNK]), 16000).item() for i in range(0, len(padded), CHUNK)])
    stream = SpeechStream()
    stream.push(samples)
    batched = stream.finish()
    assert batched.shape == reference.shape
    np.testing.assert_allclose(batched, reference, atol=1e-4)
    assert reference.min() < 0.1 and reference.max() > 0.9  # the comparison covers speech and non-speech


@pytest.mark.parametrize("block", [1, 511, 4000, 10**6])
def test_any_blocks_give_bitwise_the_same_probabilities(monkeypatch, block) -> None:
    monkeypatch.setattr(voice_activity, "BLOCK_CHUNKS", 7)  # several batches in a short signal
    samples = _speech_and_pauses(8.0)[: 16000 * 8 - 100]
    whole = SpeechStream()
    whole.push(samples)
    pieces = SpeechStream()
    for start in range(0, len(samples), block):
        pieces.push(samples[start : start + block])
    np.testing.assert_array_equal(pieces.finish(), whole.finish())
    assert pieces.n_samples == len(samples)


def test_pauses_become_non_speech_regions() -> None:
    samples = _speech_and_pauses()
    stream = SpeechStream()
    stream.push(samples)
    regions = regions_from_probabilities(stream.finish(), n_samples=len(samples), vad_threshold=0.5, min_silence=0.1, min_speech=0.25)
    assert any(start <= 2.2 and end >= 3.8 for start, end in regions)
    assert regions[-1][1] <= len(samples) / 16000
