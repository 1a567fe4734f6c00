"""Peak picking on hand-made curves."""

import numpy as np
import pytest

from turnpoint.changes.peaks import find_peaks, segments_from_changes, threshold_for

STEP = 0.016


def _curve(n=1000, peaks=()):
    y = np.full(n, 0.05)
    for index, height in peaks:
        y[index] = height
        y[index - 1] = y[index + 1] = height * 0.8
    return y


def test_peaks_above_alpha_are_kept():
    y = _curve(peaks=[(100, 0.9), (400, 0.6), (700, 0.3)])
    assert find_peaks(y, frame_step=STEP, alpha=0.5, min_duration=1.0).tolist() == [100, 400]
    assert find_peaks(y, frame_step=STEP, alpha=0.2, min_duration=1.0).tolist() == [100, 400, 700]
    assert find_peaks(y, frame_step=STEP, alpha=0.95, min_duration=1.0).tolist() == []


def test_min_duration_keeps_the_higher_of_two_close_peaks():
    y = _curve(peaks=[(100, 0.7), (140, 0.9)])  # 0.64 s apart
    assert find_peaks(y, frame_step=STEP, alpha=0.5, min_duration=1.0).tolist() == [140]
    assert find_peaks(y, frame_step=STEP, alpha=0.5, min_duration=0.5).tolist() == [100, 140]


def test_percentile_scale_is_relative_to_the_file():
    y = _curve(peaks=[(100, 0.2), (500, 0.12)]) * 0.5  # a shy model: nothing above 0.5
    assert find_peaks(y, frame_step=STEP, alpha=0.5, min_duration=1.0).tolist() == []
    assert threshold_for(y, alpha=0.0, alpha_scale="percentile") == pytest.approx(np.percentile(y, 1))
    found = find_peaks(y, frame_step=STEP, alpha=0.5, min_duration=1.0, alpha_scale="relative")
    assert found.tolist() == [100]


def test_flat_and_tiny_curves_have_no_peaks():
    assert find_peaks(np.zeros(1000), frame_step=STEP, alpha=0.0).tolist() == []
    assert find_peaks(np.ones(2), frame_step=STEP, alpha=0.0).tolist() == []
    assert find_peaks(np.array([]), frame_step=STEP, alpha=0.0).tolist() == []


def test_segments_cover_the_file():
    assert segments_from_changes(np.array([]), duration=3.0) == [(0.0, 3.0)]
    segments = segments_from_changes(np.array([1.0, 2.5]), duration=4.0)
    assert segments == [(0.0, 1.0), (1.0, 2.5), (2.5, 4.0)]


def test_local_maxima_equal_scipy_argrelmax():
    from scipy.signal import argrelmax

    from turnpoint.changes.peaks import strict_local_maxima

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(0, 300))
        values = np.round(rng.random(n), 1)  # ties and plateaus on purpose
        order = int(rng.integers(1, 70))
        assert strict_local_maxima(values, order=order).tolist() == argrelmax(values, order=order)[0].tolist()
