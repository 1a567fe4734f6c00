"""Sound event detection metrics: sed_eval's event- and segment-based scores, and PSDS.

:func:`event_based` and :func:`segment_based` re-implement sed_eval 0.2's
``EventBasedMetrics(t_collar=0.2, percentage_of_length=0.5, event_matching_type='optimal')`` and
``SegmentBasedMetrics(time_resolution=1.0)`` in plain numpy (fast enough to tune thresholds; the
tests check agreement with sed_eval called directly). An estimated event matches a reference event
of the same class when their onsets differ by at most ``t_collar`` and their offsets by at most
``max(t_collar, percentage_of_length × reference length)``; matches are a maximum bipartite
matching per class and file. F1 is micro-averaged over all events (``f1``) and averaged over
classes (``macro_f1``); the error rate is (S + D + I) / N. :func:`psds` calls ``sed_scores_eval``
(DCASE scenarios 1 and 2), an optional dependency (``pip install turnpoint[events]``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from turnpoint.core.errors import TurnpointError
from turnpoint.events.annotations import Event

__all__ = ["PSDS_SCENARIOS", "SEDScores", "event_based", "merge_same_class", "psds", "segment_based"]

logger = logging.getLogger(__name__)

EPS = np.spacing(1)

PSDS_SCENARIOS: dict[int, dict] = {
    1: dict(dtc_threshold=0.7, gtc_threshold=0.7, cttc_threshold=None, alpha_ct=0.0, alpha_st=1.0, max_efpr=100.0),
    2: dict(dtc_threshold=0.1, gtc_threshold=0.1, cttc_threshold=0.3, alpha_ct=0.5, alpha_st=1.0, max_efpr=100.0),
}


@dataclass
class SEDScores:
    """Counts and rates of one evaluation (overall = micro over all events or segments)."""

    n_ref: int
    n_sys: int
    n_tp: int
    substitutions: int
    deletions: int
    insertions: int
    class_wise: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return float(self.n_tp / (self.n_sys + EPS))

    @property
    def recall(self) -> float:
        return float(self.n_tp / (self.n_ref + EPS))

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return float(2 * p * r / (p + r + EPS))

    @property
    def error_rate(self) -> float:
        return float((self.substitutions + self.deletions + self.insertions) / (self.n_ref + EPS))

    @property
    def macro_f1(self) -> float:
        values = [c["f1"] for c in self.class_wise.values() if not math.isnan(c["f1"])]
        return float(np.mean(values)) if values else 0.0

    def to_dict(self) -> dict:
        return {
            "f1": round(self.f1, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "error_rate": round(self.error_rate, 4),
            "macro_f1": round(self.macro_f1, 4),
            "n_ref": self.n_ref,
            "n_sys": self.n_sys,
            "n_tp": self.n_tp,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "class_wise": {k: {m: (None if math.isnan(v) else round(v, 4)) for m, v in c.items()} for k, c in self.class_wise.items()},
        }


def _class_stats(n_ref: float, n_sys: float, n_tp: float) -> dict[str, float]:
    # sed_eval's class-wise conventions: precision is NaN without estimates, recall NaN without
    # references, F is 0 when both are 0 and NaN when either is NaN; class averages skip NaN.
    p = math.nan if n_sys == 0 else n_tp / (n_sys + EPS)
    r = math.nan if n_ref == 0 else n_tp / (n_ref + EPS)
    f = 0.0 if (p == 0 and r == 0) else 2 * p * r / (p + r + EPS)
    return {"f1": float(f), "precision": float(p), "recall": float(r), "n_ref": float(n_ref),
            "n_sys": float(n_sys), "error_rate": float(((n_ref - n_tp) + (n_sys - n_tp)) / (n_ref + EPS))}


def _hits(ref: Sequence[Event], est: Sequence[Event], t_collar: float, percentage: float) -> np.ndarray:
    if not ref or not est:
        return np.zeros((len(ref), len(est)), dtype=bool)
    r_on = np.array([e.onset for e in ref])[:, None]
    r_off = np.array([e.offset for e in ref])[:, None]
    e_on = np.array([e.onset for e in est])[None, :]
    e_off = np.array([e.offset for e in est])[None, :]
    onset_ok = np.abs(r_on - e_on) <= t_collar
    offset_ok = np.abs(r_off - e_off) <= np.maximum(t_collar, percentage * (r_off - r_on))
    return onset_ok & offset_ok


def _max_matching(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if hits.size == 0 or not hits.any():
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    rows, cols = linear_sum_assignment(hits.astype(np.float64), maximize=True)
    keep = hits[rows, cols]
    return rows[keep], cols[keep]


def _labels(reference: Mapping[str, Sequence[Event]], estimated: Mapping[str, Sequence[Event]], classes: Sequence[str] | None) -> list[str]:
    if classes is not None:
        return list(classes)
    return sorted({e.label for items in [*reference.values(), *estimated.values()] for e in items})


def event_based(
    reference: Mapping[str, Sequence[Event]],
    estimated: Mapping[str, Sequence[Event]],
    *,
    classes: Sequence[str] | None = None,
    t_collar: float = 0.2,
    percentage_of_length: float = 0.5,
) -> SEDScores:
    """sed_eval event-based metrics over all files (keys of either mapping).

    Examples
    --------
    >>> ref = {"a": [Event(1.0, 2.0, "bell"), Event(5.0, 6.0, "bell")]}
    >>> est = {"a": [Event(1.1, 2.1, "bell"), Event(7.0, 8.0, "bell")]}
    >>> s = event_based(ref, est)
    >>> round(s.f1, 3), round(s.error_rate, 3)
    (0.5, 1.0)
    """
    labels = _labels(reference, estimated, classes)
    per_class = {label: [0, 0, 0] for label in labels}  # ref, sys, tp
    total = dict(ref=0, sys=0, tp=0, subs=0)
    for key in list(dict.fromkeys([*reference, *estimated])):
        ref = [e for e in reference.get(key, []) if e.label in per_class or classes is None]
        est = [e for e in estimated.get(key, []) if e.label in per_class or classes is None]
        ref_correct = np.zeros(len(ref), dtype=bool)
        est_correct = np.zeros(len(est), dtype=bool)
        for label in labels:
            r_idx = [i for i, e in enumerate(ref) if e.label == label]
            e_idx = [i for i, e in enumerate(est) if e.label == label]
            rows, cols = _max_matching(_hits([ref[i] for i in r_idx], [est[i] for i in e_idx], t_collar, percentage_of_length))
            ref_correct[[r_idx[i] for i in rows]] = True
            est_correct[[e_idx[i] for i in cols]] = True
            per_class[label][0] += len(r_idx)
            per_class[label][1] += len(e_idx)
            per_class[label][2] += len(rows)
        # substitutions: leftover pairs that match in time but not in label (sed_eval's greedy pass)
        hits = _hits(ref, est, t_collar, percentage_of_length)
        counted = np.zeros(len(est), dtype=bool)
        subs = 0
        for j in np.flatnonzero(~ref_correct):
            for i in np.flatnonzero(~est_correct):
                if not counted[i] and hits[j, i]:
                    counted[i] = True
                    subs += 1
                    break
        total["ref"] += len(ref)
        total["sys"] += len(est)
        total["tp"] += int(ref_correct.sum())
        total["subs"] += subs
    n_fp = total["sys"] - total["tp"] - total["subs"]
    n_fn = total["ref"] - total["tp"] - total["subs"]
    return SEDScores(
        n_ref=total["ref"], n_sys=total["sys"], n_tp=total["tp"], substitutions=total["subs"], deletions=n_fn, insertions=n_fp,
        class_wise={label: _class_stats(*map(float, counts)) for label, counts in per_class.items()},
    )


def _roll(events: Sequence[Event], labels: Sequence[str], n_segments: int, resolution: float) -> np.ndarray:
    roll = np.zeros((n_segments, len(labels)), dtype=bool)
    index = {label: i for i, label in enumerate(labels)}
    for e in events:
        if e.label in index:
            roll[int(math.floor(e.onset / resolution)) : int(math.ceil(e.offset / resolution)), index[e.label]] = True
    return roll


def segment_based(
    reference: Mapping[str, Sequence[Event]],
    estimated: Mapping[str, Sequence[Event]],
    *,
    classes: Sequence[str] | None = None,
    durations: Mapping[str, float] | None = None,
    time_resolution: float = 1.0,
) -> SEDScores:
    """sed_eval segment-based metrics (1 s segments by default) over all files.

    A file's length is its duration when given, else its last event's end (as sed_eval).

    Examples
    --------
    >>> ref = {"a": [Event(0.5, 2.5, "bell")]}
    >>> est = {"a": [Event(0.6, 1.4, "bell")]}
    >>> s = segment_based(ref, est, durations={"a": 4.0})
    >>> round(s.f1, 3), round(s.error_rate, 3)
    (0.8, 0.333)
    """
    labels = _labels(reference, estimated, classes)
    counts = dict(ref=0, sys=0, tp=0, s=0, d=0, i=0)
    per_class = np.zeros((len(labels), 3))
    for key in list(dict.fromkeys([*reference, *estimated])):
        ref, est = reference.get(key, []), estimated.get(key, [])
        if durations is not None and key in durations:
            length = durations[key]
        else:
            length = max([e.offset for e in [*ref, *est]], default=0.0)
        n = int(math.ceil(length / time_resolution))
        r = _roll(ref, labels, max(n, 0), time_resolution)[:n]
        s = _roll(est, labels, max(n, 0), time_resolution)[:n]
        tp = (r & s).sum(axis=1)
        n_ref, n_sys = r.sum(axis=1), s.sum(axis=1)
        counts["ref"] += int(n_ref.sum())
        counts["sys"] += int(n_sys.sum())
        counts["tp"] += int(tp.sum())
        counts["s"] += int((np.minimum(n_ref, n_sys) - tp).sum())
        counts["d"] += int(np.maximum(0, n_ref - n_sys).sum())
        counts["i"] += int(np.maximum(0, n_sys - n_ref).sum())
        per_class += np.stack([r.sum(axis=0), s.sum(axis=0), (r & s).sum(axis=0)], axis=1)
    return SEDScores(
        n_ref=counts["ref"], n_sys=counts["sys"], n_tp=counts["tp"], substitutions=counts["s"], deletions=counts["d"], insertions=counts["i"],
        class_wise={label: _class_stats(*per_class[k]) for k, label in enumerate(labels)},
    )


def merge_same_class(events: Sequence[Event]) -> list[Event]:
    """Join same-class events that overlap or touch (their union), sorted by onset.

    Examples
    --------
    >>> merge_same_class([Event(0.0, 2.0, "a"), Event(1.5, 3.0, "a"), Event(1.0, 1.2, "b")])
    [Event(onset=0.0, offset=3.0, label='a'), Event(onset=1.0, offset=1.2, label='b')]
    """
    merged: list[Event] = []
    for label in sorted({e.label for e in events}):
        current: list[float] | None = None
        for e in sorted((e for e in events if e.label == label), key=lambda e: (e.onset, e.offset)):
            if current is not None and e.onset <= current[1]:
                current[1] = max(current[1], e.offset)
                continue
            if current is not None:
                merged.append(Event(current[0], current[1], label))
            current = [e.onset, e.offset]
        if current is not None:
            merged.append(Event(current[0], current[1], label))
    return sorted(merged, key=lambda e: (e.onset, e.offset, e.label))


def _writable_score_arrays() -> None:
    """Work around sed_scores_eval 0.0.4 under pandas >= 3 (copy-on-write).

    pandas 3 hands out read-only views of DataFrame columns, and sed_scores_eval's Cython
    ``onset_offset_curves`` takes a writable memoryview: "buffer source array is read-only".
    Wrap it (once) so it receives writable copies; the numbers are unchanged.
    """
    from sed_scores_eval.base_modules import statistics

    original = statistics.onset_offset_curves
    if getattr(original, "_turnpoint_writable", False):
        return

    def onset_offset_curves(scores, timestamps, *args, **kwargs):
        return original(np.array(scores, dtype=np.float64), np.array(timestamps, dtype=np.float64), *args, **kwargs)

    onset_offset_curves._turnpoint_writable = True  # type: ignore[attr-defined]
    statistics.onset_offset_curves = onset_offset_curves


def frame_edges(count: int, frame_step: float) -> np.ndarray:
    """Boundaries (count + 1,) of the spans that ``count`` frame scores cover: frame ``i`` covers
    ``(i ± 0.5) · frame_step``, the first from 0 (sed_scores_eval's score tables start there).

    Examples
    --------
    >>> frame_edges(3, 0.02).round(3).tolist()
    [0.0, 0.01, 0.03, 0.05]
    """
    edges = (np.arange(count + 1) - 0.5) * frame_step
    edges[0] = 0.0
    edges[-1] = max(edges[-1], edges[-2] + 1e-3)
    return edges


def psds(
    scores: Mapping[str, np.ndarray],
    reference: Mapping[str, Sequence[Event]],
    *,
    frame_step: float,
    classes: Sequence[str],
    durations: Mapping[str, float],
    scenario: int = 1,
) -> float:
    """Polyphonic Sound Detection Score of per-frame scores (DCASE scenario 1 or 2) via sed_scores_eval.

    Parameters
    ----------
    scores : key -> (frames, n_classes) probabilities; frame ``i`` covers ``(i ± 0.5) · frame_step``
    reference : key -> reference events
    frame_step : seconds between frames
    classes : class names in column order
    durations : key -> audio length (s)
    scenario : 1 (dtc = gtc = 0.7, alpha_st = 1) or 2 (dtc = gtc = 0.1, cttc = 0.3, alpha_ct = 0.5, alpha_st = 1)

    Examples
    --------
    >>> # psds({"a": scores}, {"a": events}, frame_step=0.02, classes=["bell"], durations={"a": 10.0})
    """
    try:
        from sed_scores_eval.base_modules.scores import create_score_dataframe
    except ImportError:
        raise TurnpointError("PSDS needs sed_scores_eval: pip install 'turnpoint[events]'") from None
    tables = {}
    for key, values in scores.items():
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        tables[key] = create_score_dataframe(values, frame_edges(len(values), frame_step), list(classes))
    return psds_of_tables(tables, reference, durations=durations, scenario=scenario)


def _psds_classes(classes: Sequence[str], reference: Mapping[str, Sequence[Event]], keys: Iterable[str]) -> list[str]:
    """PSDS is defined over the classes that have reference events (sed_scores_eval asserts so)."""
    keys = list(keys)
    present = [c for c in classes if any(e.label == c for key in keys for e in reference.get(key, []))]
    if not present:
        raise TurnpointError("PSDS needs at least one reference event of the model's classes")
    if len(present) < len(classes):
        logger.warning("PSDS over %s only: no reference events for %s", ", ".join(present), ", ".join(c for c in classes if c not in present))
    return present


def psds_of_tables(
    tables: Mapping[str, Any],
    reference: Mapping[str, Sequence[Event]],
    *,
    durations: Mapping[str, float],
    scenario: int = 1,
) -> float:
    """PSDS of sed_scores_eval score tables (``onset offset <class>...`` data frames, one per file).

    The tables' classes without reference events are dropped (PSDS is defined over the others).

    Examples
    --------
    >>> # psds_of_tables(sed_scores_eval.base_modules.io.read_sed_scores("ev/scores"), reference, durations=durations)
    """
    try:
        from sed_scores_eval.intersection_based import psds as _psds
    except ImportError:
        raise TurnpointError("PSDS needs sed_scores_eval: pip install 'turnpoint[events]'") from None
    _writable_score_arrays()
    if scenario not in PSDS_SCENARIOS:
        raise TurnpointError(f"PSDS scenario must be 1 or 2, not {scenario}")
    if not tables:
        raise TurnpointError("PSDS needs at least one file's scores")
    classes = [c for c in next(iter(tables.values())).columns if c not in ("onset", "offset")]
    present = _psds_classes(classes, reference, tables)
    tables = {key: table[["onset", "offset", *present]] for key, table in tables.items()}
    # sed_scores_eval refuses same-class events that overlap or touch: use their union
    truth = {key: [(e.onset, e.offset, e.label) for e in merge_same_class(reference.get(key, [])) if e.label in present] for key in tables}
    try:
        result = _psds(tables, truth, {key: float(durations[key]) for key in tables}, **PSDS_SCENARIOS[scenario])
    except (AssertionError, ValueError) as error:
        raise TurnpointError(f"sed_scores_eval could not compute PSDS ({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
    return float(result[0] if isinstance(result, tuple) else result)
