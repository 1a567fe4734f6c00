"""The 35-dim features against librosa, and streaming/batching equivalence."""

import numpy as np
import pytest

from turnpoint.core.features import FeatureStream, extract_features, n_frames, static_cepstra
from turnpoint.core.task import FeatureConfig

librosa = pytest.importorskip("librosa")


def _speechlike(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    tone = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate([140, 280, 420, 900, 2400]))
    return (0.1 * tone * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.normal(size=len(t))).astype(np.float32)


@pytest.mark.parametrize("config", [FeatureConfig(), FeatureConfig.released_code()], ids=["paper-32-16", "code-25-10"])
def test_cepstra_match_librosa_mfcc(config):
    x = _speechlike(3.0)
    mel = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=config.n_fft, win_length=config.win_length, hop_length=config.hop_length,
        window="hann", center=True, pad_mode="constant", power=2.0, n_mels=40, fmin=130, fmax=6854,
    )
    expected = librosa.feature.mfcc(S=np.log(np.maximum(mel, 1e-10)), n_mfcc=12).T  # (frames, 12): c0..c11
    ours = static_cepstra(x, config)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-3 * np.abs(expected).max())


def test_layout_and_deltas_match_librosa():
    config = FeatureConfig()
    x = _speechlike(4.0, seed=1)
    features = extract_features(x, config=config)
    cepstra = static_cepstra(x, config)
    delta = librosa.feature.delta(cepstra.T, width=9, order=1).T
    delta2 = librosa.feature.delta(delta.T, width=9, order=1).T
    assert features.shape == (n_frames(len(x), config), 35)
    inner = slice(8, -8)  # librosa fits the edges differently; we repeat the edge frames
    np.testing.assert_allclose(features[inner, :11], cepstra[inner, 1:12], atol=1e-4)
    np.testing.assert_allclose(features[inner, 11:22], delta[inner, 1:12], atol=1e-4)
    np.testing.assert_allclose(features[inner, 22:33], delta2[inner, 1:12], atol=1e-4)
    np.testing.assert_allclose(features[inner, 33], delta[inner, 0], atol=1e-4)
    np.testing.assert_allclose(features[inner, 34], delta2[inner, 0], atol=1e-4)


def test_frame_rate_options():
    x = _speechlike(3.2)
    assert extract_features(x).shape == (201, 35)  # 16 ms: 3.2 s = 200 steps
    assert extract_features(x, config=FeatureConfig.released_code()).shape == (321, 35)


def test_gain_changes_only_energy_deltas():
    x = _speechlike(2.0)
    a, b = extract_features(x), extract_features(4 * x)
    np.testing.assert_allclose(a[:, :33], b[:, :33], atol=1e-3)


@pytest.mark.parametrize("sizes", [[1], [257, 3000], [16000], [1000000], [5, 123, 4097]])
def test_streaming_equals_offline(sizes):
    x = _speechlike(5.0, seed=2)
    offline = extract_features(x)
    stream = FeatureStream()
    parts, position, k = [], 0, 0
    while position < len(x):
        size = sizes[k % len(sizes)]
        parts.append(stream.push(x[position : position + size]))
        position += size
        k += 1
    parts.append(stream.finish())
    streamed = np.concatenate(parts)
    assert streamed.shape == offline.shape
    np.testing.assert_allclose(streamed, offline, atol=1e-4)


@pytest.mark.parametrize("length", [1, 100, 256, 257, 4000])
def test_very_short_signals(length):
    x = _speechlike(1.0)[:length]
    stream = FeatureStream()
    streamed = np.concatenate([stream.push(x), stream.finish()])
    np.testing.assert_allclose(streamed, extract_features(x), atol=1e-4)
    assert len(streamed) == 1 + length // 256


def test_batch_equals_one_by_one():
    batch = np.stack([_speechlike(1.5, seed=s) for s in range(3)])
    together = extract_features(batch)
    for row in range(3):
        np.testing.assert_allclose(together[row], extract_features(batch[row]), atol=1e-4)
