"""Event features: 64 MFCC + Δ + ZCR from the shared feature code."""

from __future__ import annotations

import numpy as np
import pytest

from turnpoint.events.features import EVENT_FEATURES, file_features
from turnpoint.features import EventFeatureStream, _delta_edge, event_features, static_cepstra, zero_crossing_rate
from turnpoint.specs import FeatureConfig


def test_columns_are_cepstra_delta_and_zcr():
    rng = np.random.default_rng(0)
    x = rng.normal(size=16000 * 2).astype(np.float32) * 0.1
    features = event_features(x, config=EVENT_FEATURES)
    cepstra = static_cepstra(x, EVENT_FEATURES)[:, :64]
    assert features.shape == (101, 129)
    np.testing.assert_allclose(features[:, :64], cepstra, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(features[:, 64:128], _delta_edge(cepstra, 9), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(features[:, 128], zero_crossing_rate(x, EVENT_FEATURES))
    assert np.isfinite(features).all()


def test_zero_crossing_rate_equals_a_loop_over_frames():
    rng = np.random.default_rng(1)
    x = rng.normal(size=5000).astype(np.float32)
    cfg = EVENT_FEATURES
    zcr = zero_crossing_rate(x, cfg)
    padded = np.pad(x, cfg.n_fft // 2)
    offset = (cfg.n_fft - cfg.win_length) // 2
    for i in (0, 3, len(zcr) - 1):
        frame = padded[i * cfg.hop_length + offset : i * cfg.hop_length + offset + cfg.win_length]
        s = np.signbit(frame)
        assert abs(zcr[i] - np.mean(s[1:] != s[:-1])) < 1e-6
    tone = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    assert abs(float(np.median(zero_crossing_rate(tone, cfg))) - 2 * 1000 / 16000) < 0.01


def test_file_features_reads_any_rate(tmp_path):
    import soundfile as sf

    path = tmp_path / "a.wav"
    sf.write(path, np.zeros((44100, 2), dtype=np.float32), 44100)
    features, duration = file_features(path)
    assert features.shape == (51, 129) and duration == 1.0


@pytest.mark.parametrize("block", [1, 7, 319, 320, 1601, 100_000])
@pytest.mark.parametrize("n", [1, 320, 639, 16000, 33333])
def test_streamed_event_features_equal_the_whole_signal_s(n, block):
    x = np.random.default_rng(n).normal(scale=0.1, size=n).astype(np.float32)
    stream = EventFeatureStream(EVENT_FEATURES)
    streamed = np.concatenate([*(stream.push(x[i : i + block]) for i in range(0, n, block)), stream.finish()])
    whole = event_features(x, config=EVENT_FEATURES)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, rtol=1e-4, atol=1e-4)


def test_event_feature_stream_refuses_too_few_mels():
    with pytest.raises(ValueError, match="n_mels > n_mfcc"):
        EventFeatureStream(FeatureConfig(n_mels=40, n_mfcc=40))
