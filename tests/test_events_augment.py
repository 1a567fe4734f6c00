"""FilterAugment on event feature chunks: what it adds is what a real filter on the audio does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turnpoint.events.augment import filter_augment, filter_gains
from turnpoint.events.features import EVENT_FEATURES, EVENT_LOGMEL_FEATURES, EVENT_PCEN_FEATURES
from turnpoint.core.features import _analysis_matrices, event_features
from turnpoint.core.task import FeatureConfig

SR = 16000


def _filtered(audio: np.ndarray, gains_db: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The audio through a real zero-phase filter whose response is ``gains_db`` at the mel bands' centres."""
    filters = _analysis_matrices(config)[1]  # (fft bins, mels)
    centres = np.argmax(filters, axis=0) * SR / config.n_fft
    spectrum = np.fft.rfft(audio)
    frequencies = np.fft.rfftfreq(len(audio), 1 / SR)
    response = np.interp(frequencies, centres, gains_db)
    return np.fft.irfft(spectrum * 10 ** (response / 20), n=len(audio)).astype(np.float32)


@pytest.mark.parametrize("config", [EVENT_LOGMEL_FEATURES, EVENT_FEATURES], ids=["logmel", "mfcc"])
def test_the_added_offset_is_what_filtering_the_audio_gives(config):
    audio = np.random.default_rng(3).normal(scale=0.1, size=8 * SR).astype(np.float32)
    plain = event_features(audio, config=config)
    augmented = filter_augment(plain[None].copy(), config=config, db_range=6.0, rng=np.random.default_rng(11))[0]
    gains = filter_gains(config.n_mels, db_range=6.0, rng=np.random.default_rng(11))  # the same draw
    assert np.ptp(gains) > 3.0  # a filter worth testing
    real = event_features(_filtered(audio, gains, config), config=config)
    n = config.n_mfcc
    # time-averaged static coefficients: the augmentation's offset against the real filter's, away from the edge frames
    expected = (real[10:-10, :n] - plain[10:-10, :n]).mean(axis=0)
    added = augmented[0, :n] - plain[0, :n]
    assert np.allclose(added, expected, atol=0.06), np.abs(added - expected).max()
    assert np.allclose(augmented[:, n:], plain[:, n:])  # Δ and ZCR untouched
    assert np.allclose(augmented[:, :n] - plain[:, :n], added, atol=1e-5)  # one filter for the whole chunk


def test_gains_follow_the_filter_augment_recipe():
    for seed in range(50):
        gains = filter_gains(64, db_range=6.0, rng=np.random.default_rng(seed))
        assert gains.shape == (64,) and np.abs(gains).max() <= 6.0
        # piecewise linear: the second difference is zero except at 2-4 inner band edges
        kinks = np.flatnonzero(np.abs(np.diff(gains, 2)) > 1e-9)
        assert len(kinks) <= 2 * 4
    chunks = np.zeros((32, 5, 129), dtype=np.float32)
    filter_augment(chunks, config=EVENT_LOGMEL_FEATURES, db_range=6.0, rng=np.random.default_rng(0))
    offsets = chunks[:, 0, :64] / (math.log(10) / 10)
    assert len({tuple(np.round(o, 4)) for o in offsets}) == 32  # each chunk its own filter
    assert 5.0 < np.abs(offsets).max() <= 6.0 + 1e-4


def test_zero_range_changes_nothing_and_bad_settings_are_refused():
    chunks = np.random.default_rng(0).normal(size=(4, 10, 129)).astype(np.float32)
    before = chunks.copy()
    rng = np.random.default_rng(1)
    assert np.array_equal(filter_augment(chunks, config=EVENT_LOGMEL_FEATURES, db_range=0.0, rng=rng), before)
    assert rng.integers(1 << 30) == np.random.default_rng(1).integers(1 << 30)  # no draw consumed
    with pytest.raises(ValueError, match="PCEN"):
        filter_augment(chunks, config=EVENT_PCEN_FEATURES, db_range=6.0, rng=rng)
    with pytest.raises(ValueError, match=">= 0"):
        filter_augment(chunks, config=EVENT_LOGMEL_FEATURES, db_range=-1.0, rng=rng)


def test_mixup_features_are_those_of_the_added_audio():
    from turnpoint.events.augment import mixup

    config = EVENT_LOGMEL_FEATURES
    rng = np.random.default_rng(4)
    t = np.arange(4 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * 700 * t) * (t > 1.0)).astype(np.float32)  # a tone from 1 s
    noise = rng.normal(scale=0.05, size=4 * SR).astype(np.float32)
    speechy = (rng.normal(size=4 * SR) * 0.1 * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)  # gated noise
    a, b = tone + noise, speechy
    chunks = np.stack([event_features(a, config=config), event_features(b, config=config)])
    targets = np.zeros(chunks.shape[:2] + (2,), dtype=np.float32)
    targets[0, 50:, 0] = 1  # the tone
    targets[1, :10, 1] = 1
    mixed, joined = mixup(chunks, targets, config=config, probability=1.0, rng=np.random.default_rng(0), gain_db=(-3.0, -3.0))
    real = event_features(a + 10 ** (-3 / 20) * b, config=config)
    n = config.n_mels
    # per frame and band the cross terms of two noises do not cancel (about 0.04 nepers typical), nor does the log of
    # their sum average to the log of their mean powers; a gain 3 dB off doubles both errors
    error = mixed[0, :, :n] - real[:, :n]
    assert np.abs(error.mean(axis=0)).max() < 0.2 and np.median(np.abs(error)) < 0.06
    assert np.corrcoef(mixed[0, :, n : 2 * n].ravel(), real[:, n : 2 * n].ravel())[0, 1] > 0.93
    assert np.abs(mixed[0, :, -1] - real[:, -1]).mean() < 0.03
    # the partner of chunk 0 is chunk 1 and vice versa: both carry both sounds' targets
    assert np.array_equal(joined[0], joined[1]) and joined[0, 50:, 0].all() and joined[0, :10, 1].all()
    assert np.array_equal(chunks[0], event_features(a, config=config))  # the inputs are not modified
    with pytest.raises(ValueError, match="log-mel"):
        mixup(chunks, targets, config=EVENT_FEATURES, probability=0.5, rng=rng)
    same = mixup(chunks, targets, config=config, probability=0.0, rng=rng)
    assert same[0] is chunks and same[1] is targets
