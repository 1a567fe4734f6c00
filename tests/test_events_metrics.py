"""Event metrics agree with sed_eval called directly; PSDS through sed_scores_eval."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from turnpoint.events.annotations import Event, read_events
from turnpoint.events.metrics import event_based, psds, segment_based

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "formats" / "sed_eval" / "tests" / "data" / "sound_event"


def _sed_eval(reference, estimated, labels, durations=None):
    sed_eval = pytest.importorskip("sed_eval")
    event = sed_eval.sound_event.EventBasedMetrics(event_label_list=labels, t_collar=0.2, percentage_of_length=0.5)
    segment = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=labels, time_resolution=1.0)
    for key in dict.fromkeys([*reference, *estimated]):
        ref = [{"filename": key, "onset": e.onset, "offset": e.offset, "event_label": e.label} for e in reference.get(key, [])]
        est = [{"filename": key, "onset": e.onset, "offset": e.offset, "event_label": e.label} for e in estimated.get(key, [])]
        event.evaluate(ref, est)
        if durations is None:
            segment.evaluate(ref, est)
        else:
            segment.evaluate(ref, est, evaluated_length_seconds=durations[key])
    return event, segment


def _compare(reference, estimated, durations=None):
    labels = sorted({e.label for d in (reference, estimated) for items in d.values() for e in items})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        event, segment = _sed_eval(reference, estimated, labels, durations)
    ours_event = event_based(reference, estimated, classes=labels)
    ours_segment = segment_based(reference, estimated, classes=labels, durations=durations)
    e, s = event.results_overall_metrics(), segment.results_overall_metrics()
    assert ours_event.f1 == pytest.approx(e["f_measure"]["f_measure"], abs=1e-9)
    assert ours_event.error_rate == pytest.approx(e["error_rate"]["error_rate"], abs=1e-9)
    assert ours_event.substitutions == event.overall["Nsubs"]
    assert ours_event.macro_f1 == pytest.approx(event.results_class_wise_average_metrics()["f_measure"]["f_measure"], abs=1e-9)
    assert ours_segment.f1 == pytest.approx(s["f_measure"]["f_measure"], abs=1e-9)
    assert ours_segment.error_rate == pytest.approx(s["error_rate"]["error_rate"], abs=1e-9)
    assert ours_segment.macro_f1 == pytest.approx(segment.results_class_wise_average_metrics()["f_measure"]["f_measure"], abs=1e-9)
    return ours_event, ours_segment


@pytest.mark.skipif(not FORMATS.exists(), reason="../shared/formats not present")
@pytest.mark.parametrize("pair", ["office_snr0_high_v2", "office_snr0_med_v2", "street_fold1", "mini"])
def test_agreement_with_sed_eval_on_its_own_test_files(pair):
    reference_name = {"street_fold1": "street_fold1_reference", "mini": "mini_reference"}.get(pair, pair)
    detected_name = {"mini": "mini_detected_a"}.get(pair, f"{pair}_detected")
    reference = read_events(FORMATS / f"{reference_name}.txt", default_key="f")
    estimated = read_events(FORMATS / f"{detected_name}.txt", default_key="f")
    _compare(reference, estimated)


def test_agreement_with_sed_eval_on_random_polyphonic_lists():
    rng = np.random.default_rng(3)
    labels = ["bell", "dog", "phone"]
    reference, estimated = {}, {}
    for f in range(6):
        ref = []
        for _ in range(rng.integers(0, 6)):
            onset = float(np.round(rng.uniform(0, 8), 3))
            ref.append(Event(onset, float(np.round(onset + rng.uniform(0.1, 2.0), 3)), labels[rng.integers(3)]))
        est = []
        for e in ref:
            if rng.random() < 0.7:  # jittered detections, sometimes with the wrong label
                label = e.label if rng.random() < 0.8 else labels[rng.integers(3)]
                on = max(0.0, e.onset + float(rng.normal(0, 0.15)))
                est.append(Event(round(on, 3), round(max(on + 0.05, e.offset + float(rng.normal(0, 0.3))), 3), label))
        for _ in range(rng.integers(0, 3)):
            onset = float(np.round(rng.uniform(0, 8), 3))
            est.append(Event(onset, round(onset + 0.5, 3), labels[rng.integers(3)]))
        reference[f"f{f}"], estimated[f"f{f}"] = sorted(ref, key=lambda e: e.onset), sorted(est, key=lambda e: e.onset)
    event, segment = _compare(reference, estimated, durations={k: 10.0 for k in reference})
    assert 0 < event.f1 < 1 and 0 < segment.f1 < 1


def test_perfect_and_empty_outputs():
    reference = {"a": [Event(1.0, 2.0, "bell"), Event(3.0, 5.0, "dog")]}
    perfect = event_based(reference, reference)
    assert perfect.f1 == pytest.approx(1.0) and perfect.error_rate == 0.0
    empty = event_based(reference, {"a": []})
    assert empty.f1 == 0.0 and empty.error_rate == pytest.approx(1.0)
    assert segment_based(reference, reference, durations={"a": 6.0}).f1 == pytest.approx(1.0)


def test_psds_scenarios_on_frame_scores():
    pytest.importorskip("sed_scores_eval")
    step = 0.02
    n = 500
    reference = {"a": [Event(1.0, 3.0, "bell"), Event(6.0, 7.0, "dog")], "b": [Event(2.0, 4.0, "dog")]}
    classes = ["bell", "dog"]
    perfect = {}
    for key, events in reference.items():
        scores = np.zeros((n, 2))
        for e in events:
            scores[int(round(e.onset / step)) : int(round(e.offset / step)), classes.index(e.label)] = 0.9
        perfect[key] = scores
    durations = {"a": 10.0, "b": 10.0}
    for scenario in (1, 2):
        assert psds(perfect, reference, frame_step=step, classes=classes, durations=durations, scenario=scenario) > 0.95
    rng = np.random.default_rng(0)
    noise = {k: rng.uniform(size=(n, 2)) * 0.5 for k in reference}
    assert psds(noise, reference, frame_step=step, classes=classes, durations=durations, scenario=1) < 0.3
