"""Decoding score curves into events, on hand-made curves."""

from __future__ import annotations

import numpy as np
import pytest

from turnpoint.events.annotations import Event
from turnpoint.events.decode import DecodeParams, decode_scores, hysteresis, tune_decoding
from turnpoint.events.metrics import event_based


def test_hysteresis_needs_onset_and_extends_down_to_offset():
    curve = np.array([0.0, 0.4, 0.6, 0.9, 0.6, 0.4, 0.1, 0.6, 0.65, 0.0])
    assert hysteresis(curve, onset=0.8, offset=0.35) == [(1, 6)]  # 0.6-0.65 bump never reaches 0.8
    assert hysteresis(curve, onset=0.6, offset=0.6) == [(2, 5), (7, 9)]
    assert hysteresis(np.full(5, 0.9), onset=0.5, offset=0.5) == [(0, 5)]  # runs to both ends
    assert hysteresis(np.zeros(5), onset=0.5, offset=0.5) == []


def test_frame_times_are_centred_and_clipped():
    curve = np.array([1.0, 1.0, 0.0, 0.0, 1.0])
    events = decode_scores(curve, frame_step=0.5, classes=["x"], duration=2.1)
    assert events == [Event(0.0, 0.75, "x"), Event(1.75, 2.1, "x")]


def test_gap_filling_and_minimum_duration_per_class():
    step = 0.1
    a = np.zeros(60)
    a[5:15] = 0.9   # 1.0 s
    a[17:27] = 0.9  # gap of 0.2 s
    a[40:42] = 0.9  # 0.2 s blip
    b = np.zeros(60)
    b[30:50] = 0.7
    scores = np.stack([a, b], axis=1)
    plain = decode_scores(scores, frame_step=step, classes=["a", "b"], duration=6.0)
    assert [(e.label, e.onset, e.offset) for e in plain] == [("a", 0.45, 1.45), ("a", 1.65, 2.65), ("b", 2.95, 4.95), ("a", 3.95, 4.15)]
    params = {"a": DecodeParams(min_gap=0.3, min_duration=0.5), "b": DecodeParams(onset=0.8, offset=0.5)}
    tuned = decode_scores(scores, frame_step=step, classes=["a", "b"], params=params, duration=6.0)
    assert [(e.label, e.onset, e.offset) for e in tuned] == [("a", 0.45, 2.65)]  # joined; blip dropped; b below 0.8


def test_params_are_validated():
    with pytest.raises(ValueError):
        DecodeParams(onset=0.3, offset=0.5)
    with pytest.raises(ValueError):
        decode_scores(np.zeros((5, 2)), frame_step=0.1, classes=["a"])


def test_tuning_finds_low_threshold_for_a_weak_class_and_keeps_strong_one():
    step = 0.05
    weak = np.zeros(200)
    weak[40:80] = 0.3
    weak[58:61] = 0.1  # a dip that splits the event unless gaps are filled
    strong = np.zeros(200)
    strong[120:160] = 0.95
    strong[170:172] = 0.6  # a short false alarm that a high threshold or min_duration removes
    scores = {"f": np.stack([weak, strong], axis=1)}
    reference = {"f": [Event(2.0, 4.0, "weak"), Event(6.0, 8.0, "strong")]}
    tuned = tune_decoding(scores, reference, frame_step=step, classes=["weak", "strong"], durations={"f": 10.0})
    assert tuned["weak"].offset <= 0.3 and tuned["weak"].onset <= 0.3
    decoded = decode_scores(scores["f"], frame_step=step, classes=["weak", "strong"], params=tuned, duration=10.0)
    assert [e.label for e in decoded] == ["weak", "strong"]


def test_onset_refinement_moves_only_the_start_back():
    step = 0.02
    curve = np.zeros(100)
    curve[20:30] = np.linspace(0.1, 0.55, 10)  # a slow rise from 0.40 s ...
    curve[30:60] = 0.95                         # ... before the score is sure (0.60 s)
    curve[60:66] = 0.5                          # a tail below the 0.7 offset
    plain = decode_scores(curve, frame_step=step, classes=["x"], params=DecodeParams(onset=0.7, offset=0.7), duration=2.0)
    refined = decode_scores(curve, frame_step=step, classes=["x"], params=DecodeParams(onset=0.7, offset=0.7, start_ratio=0.4), duration=2.0)
    first_rise = np.flatnonzero(curve >= 0.7 * 0.4)[0]
    assert plain == [Event(pytest.approx((30 - 0.5) * step), pytest.approx((60 - 0.5) * step), "x")]
    assert refined == [Event(pytest.approx((first_rise - 0.5) * step), plain[0].offset, "x")]  # end unchanged
    with pytest.raises(ValueError):
        DecodeParams(start_ratio=0.0)


def test_tuning_picks_onset_refinement_only_when_it_finds_late_starting_events():
    step = 0.02
    rng = np.random.default_rng(0)
    scores, reference = {}, {}
    for i in range(4):
        curve = rng.uniform(0.0, 0.05, 500)
        reference[f"f{i}"] = []
        for start in (30 + 150 * j + 7 * i for j in range(3)):
            curve[start : start + 25] = np.linspace(0.1, 0.6, 25)  # the score needs 0.5 s to be sure
            curve[start + 25 : start + 60] = 0.95
            curve[start + 60 : start + 110] = 0.6  # and lingers after the sound: the end needs offset > 0.6
            reference[f"f{i}"].append(Event(round(start * step, 3), round((start + 60) * step, 3), "x"))
        scores[f"f{i}"] = curve[:, None]
    durations = {k: 10.0 for k in scores}
    late = tune_decoding(scores, reference, frame_step=step, classes=["x"], durations=durations)["x"]
    assert late.start_ratio < 1.0 and late.offset > 0.6
    decoded = {k: decode_scores(v, frame_step=step, classes=["x"], params=late, duration=10.0) for k, v in scores.items()}
    assert event_based(reference, decoded, classes=["x"]).f1 == 1.0
    sharp = {k: np.where(v >= 0.9, v, 0.0) for k, v in scores.items()}  # sharp rises: nothing to refine
    reference_sharp = {k: [Event(round(e.onset + 25 * step, 3), e.offset, "x") for e in v] for k, v in reference.items()}
    assert tune_decoding(sharp, reference_sharp, frame_step=step, classes=["x"], durations=durations)["x"].start_ratio == 1.0
