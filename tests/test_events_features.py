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


def test_logmel_features_are_the_energies_whose_dct_gives_the_mfcc():
    from turnpoint.events.features import EVENT_LOGMEL_FEATURES
    from turnpoint.features import _analysis_matrices

    x = np.random.default_rng(4).normal(scale=0.1, size=16000).astype(np.float32)
    features = event_features(x, config=EVENT_LOGMEL_FEATURES)
    assert features.shape == (51, 129)
    log_mel = features[:, :64]
    cepstral = FeatureConfig(**{**EVENT_LOGMEL_FEATURES.to_dict(), "coefficients": "mfcc", "n_mfcc": 20})
    np.testing.assert_allclose(log_mel @ _analysis_matrices(cepstral)[2], static_cepstra(x, cepstral), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(features[:, 64:128], _delta_edge(log_mel, 9), rtol=1e-5, atol=1e-4)
    # a 1 kHz tone lights up the bands around 1 kHz, not the others
    tone = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    band_energy = event_features(tone, config=EVENT_LOGMEL_FEATURES)[25, :64]
    from turnpoint.features import slaney_mel_filterbank

    filters = slaney_mel_filterbank(sample_rate=16000, n_fft=EVENT_LOGMEL_FEATURES.n_fft, n_mels=64, fmin=20.0, fmax=8000.0)
    peak_hz = np.argmax(filters, axis=0)[np.argmax(band_energy)] * 16000 / EVENT_LOGMEL_FEATURES.n_fft
    assert abs(peak_hz - 1000) < 100


@pytest.mark.parametrize("name", ["logmel", "logmel128"])
@pytest.mark.parametrize("block", [1, 319, 1601])
def test_streamed_logmel_features_equal_the_whole_signal(block, name):
    from turnpoint.events.features import event_feature_config

    config = event_feature_config(name)
    x = np.random.default_rng(block).normal(scale=0.1, size=16001).astype(np.float32)
    stream = EventFeatureStream(config)
    streamed = np.concatenate([*(stream.push(x[i : i + block]) for i in range(0, len(x), block)), stream.finish()])
    np.testing.assert_allclose(streamed, event_features(x, config=config), rtol=1e-4, atol=1e-4)


def test_logmel_settings_are_checked():
    from turnpoint.events.features import event_feature_config
    from turnpoint.features import FeatureStream, extract_features

    with pytest.raises(ValueError, match="coefficients must be one of"):
        FeatureConfig(coefficients="mel")
    with pytest.raises(ValueError, match="n_mfcc must equal n_mels"):
        event_features(np.zeros(800, np.float32), config=FeatureConfig(n_mels=40, n_mfcc=20, coefficients="logmel"))
    with pytest.raises(ValueError, match="speaker change features are cepstral"):
        extract_features(np.zeros(800, np.float32), config=FeatureConfig(n_mels=40, n_mfcc=40, coefficients="logmel"))
    with pytest.raises(ValueError, match="speaker change features are cepstral"):
        FeatureStream(FeatureConfig(n_mels=40, n_mfcc=40, coefficients="logmel"))
    with pytest.raises(ValueError, match="'mfcc', 'logmel', 'logmel128', not 'mel'"):
        event_feature_config("mel")
    # the default is left out of model headers, so MFCC models read as before; log-mel is written
    assert "coefficients" not in FeatureConfig().to_dict()
    assert event_feature_config("logmel").to_dict()["coefficients"] == "logmel"


@pytest.mark.parametrize("gap", [40.0, 80.0])
def test_fine_logmel_bands_resolve_two_tones_that_the_64_bands_merge(gap):
    # a beep a few tens of Hz from a voice harmonic: 128 bands of a 64 ms window show two peaks, 64 bands one
    from turnpoint.events.features import event_feature_config
    from turnpoint.features import slaney_mel_filterbank

    t = np.arange(16000) / 16000
    x = (0.1 * (np.sin(2 * np.pi * (500 - gap / 2) * t) + np.sin(2 * np.pi * (500 + gap / 2) * t))).astype(np.float32)
    peaks = {}
    for name in ("logmel", "logmel128"):
        config = event_feature_config(name)
        energies = event_features(x, config=config)[:, : config.n_mels].mean(axis=0)
        filters = slaney_mel_filterbank(sample_rate=16000, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)
        centres = (np.arange(config.n_fft // 2 + 1) * 16000 / config.n_fft) @ filters / filters.sum(axis=0)
        band = energies[(centres > 400) & (centres < 600)]
        peaks[name] = sum(band[i] > band[i - 1] and band[i] >= band[i + 1] for i in range(1, len(band) - 1))
    assert peaks == {"logmel": 1, "logmel128": 2}
