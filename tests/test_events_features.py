"""Event features: 64 MFCC + Δ + ZCR from the shared feature code."""

from __future__ import annotations

import numpy as np
import pytest

from turnpoint.events.features import EVENT_FEATURES, file_features
from turnpoint.core.features import EventFeatureStream, _delta_edge, event_features, static_cepstra, zero_crossing_rate
from turnpoint.core.task import FeatureConfig


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
    from turnpoint.core.features import _analysis_matrices

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
    from turnpoint.core.features import slaney_mel_filterbank

    filters = slaney_mel_filterbank(sample_rate=16000, n_fft=EVENT_LOGMEL_FEATURES.n_fft, n_mels=64, fmin=20.0, fmax=8000.0)
    peak_hz = np.argmax(filters, axis=0)[np.argmax(band_energy)] * 16000 / EVENT_LOGMEL_FEATURES.n_fft
    assert abs(peak_hz - 1000) < 100


@pytest.mark.parametrize("name", ["logmel", "logmel128", "pcen"])
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
    from turnpoint.core.features import FeatureStream, extract_features

    with pytest.raises(ValueError, match="coefficients must be one of"):
        FeatureConfig(coefficients="mel")
    for coefficients in ("logmel", "pcen"):
        with pytest.raises(ValueError, match=f"{coefficients} event features use every band: n_mfcc must equal n_mels"):
            event_features(np.zeros(800, np.float32), config=FeatureConfig(n_mels=40, n_mfcc=20, coefficients=coefficients))
    with pytest.raises(ValueError, match="speaker change features are cepstral"):
        extract_features(np.zeros(800, np.float32), config=FeatureConfig(n_mels=40, n_mfcc=40, coefficients="logmel"))
    with pytest.raises(ValueError, match="speaker change features are cepstral"):
        FeatureStream(FeatureConfig(n_mels=40, n_mfcc=40, coefficients="logmel"))
    with pytest.raises(ValueError, match="'mfcc', 'logmel', 'logmel128', 'pcen', not 'mel'"):
        event_feature_config("mel")
    # the default is left out of model headers, so MFCC models read as before; log-mel is written
    assert "coefficients" not in FeatureConfig().to_dict()
    assert event_feature_config("logmel").to_dict()["coefficients"] == "logmel"


@pytest.mark.parametrize("gap", [40.0, 80.0])
def test_fine_logmel_bands_resolve_two_tones_that_the_64_bands_merge(gap):
    # a beep a few tens of Hz from a voice harmonic: 128 bands of a 64 ms window show two peaks, 64 bands one
    from turnpoint.events.features import event_feature_config
    from turnpoint.core.features import slaney_mel_filterbank

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


def test_pcen_follows_its_recursion_frame_by_frame():
    # M[t] = (1 - s) M[t-1] + s E[t], M[0] = E[0]; out = (E / (eps + M)^0.98 + 2)^0.5 - 2^0.5, on mel magnitudes x 2^31
    from turnpoint.events.features import EVENT_PCEN_FEATURES as config
    from turnpoint.core.features import _analysis_matrices

    x = np.random.default_rng(7).normal(scale=0.05, size=16000).astype(np.float32)
    x[6000:10000] += 0.3 * np.sin(2 * np.pi * 700 * np.arange(4000) / 16000).astype(np.float32)
    padded = np.pad(x, config.n_fft // 2)
    window, filters, _ = _analysis_matrices(config)
    starts = np.arange(1 + len(x) // config.hop_length) * config.hop_length
    magnitudes = np.stack([np.abs(np.fft.rfft(padded[i : i + config.n_fft] * window)) @ filters for i in starts]) * 2.0**31
    frames = 0.4 / config.frame_step
    s = (np.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2)
    smooth = magnitudes[0].astype(np.float64)
    expected = []
    for energy in magnitudes:
        smooth = (1 - s) * smooth + s * energy
        expected.append((energy / (1e-6 + smooth) ** 0.98 + 2.0) ** 0.5 - np.sqrt(2.0))
    np.testing.assert_allclose(event_features(x, config=config)[:, :64], np.array(expected), rtol=2e-3, atol=2e-3)


def test_pcen_ignores_the_level_and_marks_what_starts_over_a_steady_background():
    from turnpoint.events.features import EVENT_LOGMEL_FEATURES, EVENT_PCEN_FEATURES
    from turnpoint.core.features import slaney_mel_filterbank

    rng = np.random.default_rng(8)
    t = np.arange(3 * 16000) / 16000
    hum = np.where(t >= 0.5, 0.05 * np.sin(2 * np.pi * 300 * t), 0.0) + rng.normal(scale=0.003, size=t.size)  # a note held from 0.5 s
    beep = np.where((t >= 2.0) & (t < 2.3), 0.05 * np.sin(2 * np.pi * 1000 * t), 0.0)  # a beep as loud, 2 s later
    x = (hum + beep).astype(np.float32)
    filters = slaney_mel_filterbank(sample_rate=16000, n_fft=1024, n_mels=64, fmin=20.0, fmax=8000.0)
    centres = (np.arange(513) * 16000 / 1024) @ filters / filters.sum(axis=0)
    note, tone = int(np.argmin(abs(centres - 300))), int(np.argmin(abs(centres - 1000)))
    frame = 105  # 2.1 s: inside the beep, 1.6 s into the held note
    log_mel = event_features(x, config=EVENT_LOGMEL_FEATURES)[:, :64]
    assert abs(log_mel[frame, tone] - log_mel[frame, note]) < 1.0  # log-mel: both equally loud
    for level in (1.0, 0.01):
        pcen = event_features(x * np.float32(level), config=EVENT_PCEN_FEATURES)[:, :64]
        assert pcen[frame, tone] > 2.5 * pcen[frame, note]  # PCEN: the new sound stands out, the held note has faded
        assert pcen[25, note] > 5 * pcen[frame, note]  # the note itself stood out when it began
    quiet = event_features(x * np.float32(0.01), config=EVENT_PCEN_FEATURES)[:, :64]
    loud = event_features(x, config=EVENT_PCEN_FEATURES)[:, :64]
    # 40 dB quieter: log-mel moves every band by ln(1e4) = 9.2, PCEN by a few per cent of its range
    assert np.abs(loud[50:] - quiet[50:]).max() < 0.15 * loud[50:].max()
