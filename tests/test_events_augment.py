"""FilterAugment on event feature chunks: what it adds is what a real filter on the audio does."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turnpoint.events.augment import filter_augment, filter_gains
from turnpoint.events.features import EVENT_FEATURES, EVENT_LOGMEL_FEATURES, EVENT_PCEN_FEATURES
from turnpoint.features import _analysis_matrices, event_features
from turnpoint.specs import FeatureConfig

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
