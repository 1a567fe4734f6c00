"""From per-frame class scores to events: hysteresis thresholds, gap filling, minimum duration.

For each class, an event starts where the score reaches ``onset`` and lasts while it stays at or
above ``offset`` (``offset <= onset``: hysteresis); with ``start_ratio < 1`` its start is moved
back further, to where the score last rose past ``offset * start_ratio`` (onset refinement: a
curve that climbs slowly at an unfamiliar sound's start is not cut late, while the event's end
keeps the ``offset`` threshold). Events of the same class separated by less than
``min_gap`` seconds are joined, then events shorter than ``min_duration`` are dropped. Frame ``i``
is centred at ``i * frame_step`` and covers ``±frame_step / 2``; event times are clipped to
``[0, duration]``. :func:`tune_decoding` picks these settings per class on validation data by
event-based F1 (collar 0.2 s, offset 50 %).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from turnpoint.events.annotations import Event
from turnpoint.events.metrics import event_based

logger = logging.getLogger(__name__)

__all__ = ["DecodeParams", "decode_scores", "hysteresis", "tune_decoding"]


@dataclass(frozen=True)
class DecodeParams:
    """Decoding settings of one class.

    Examples
    --------
    >>> DecodeParams(onset=0.6, offset=0.3).offset
    0.3
    """

    onset: float = 0.5
    offset: float = 0.5
    min_duration: float = 0.0
    min_gap: float = 0.0
    start_ratio: float = 1.0  # the start extends back while the score is >= offset * start_ratio

    def __post_init__(self) -> None:
        if not 0.0 <= self.offset <= self.onset <= 1.0:
            raise ValueError(f"need 0 <= offset <= onset <= 1 (got onset={self.onset}, offset={self.offset})")
        if self.min_duration < 0 or self.min_gap < 0:
            raise ValueError("min_duration and min_gap must be >= 0")
        if not 0.0 < self.start_ratio <= 1.0:
            raise ValueError(f"start_ratio must be in (0, 1] (got {self.start_ratio})")

    def to_dict(self) -> dict:
        return asdict(self)


def hysteresis(curve: np.ndarray, *, onset: float, offset: float, start: float | None = None) -> list[tuple[int, int]]:
    """Frame runs ``[start, end)`` that reach ``onset`` and extend while ``>= offset``; with
    ``start`` (<= offset) each run's first frame moves back while the curve is ``>= start``.

    Examples
    --------
    >>> hysteresis(np.array([0.1, 0.4, 0.9, 0.5, 0.35, 0.2, 0.6]), onset=0.8, offset=0.3)
    [(1, 5)]
    >>> hysteresis(np.array([0.0, 0.2, 0.3, 0.5, 0.9, 0.2]), onset=0.8, offset=0.5, start=0.2)
    [(1, 5)]
    """
    curve = np.asarray(curve, dtype=np.float64)
    above = np.concatenate([[False], curve >= offset, [False]])
    starts = np.flatnonzero(~above[:-1] & above[1:])
    ends = np.flatnonzero(above[:-1] & ~above[1:])
    runs = []
    for first, end in zip(starts, ends):
        if curve[first:end].max() >= onset:
            if start is not None:
                while first > 0 and curve[first - 1] >= start:
                    first -= 1
            runs.append((int(first), int(end)))
    return runs


def decode_scores(
    scores: np.ndarray,
    *,
    frame_step: float,
    classes: Sequence[str],
    params: DecodeParams | Mapping[str, DecodeParams] | None = None,
    duration: float | None = None,
) -> list[Event]:
    """Turn (frames, classes) scores into events sorted by onset.

    Parameters
    ----------
    scores : array (frames, n_classes) or (frames,) for one class
    frame_step : seconds between frame centres
    classes : class names, in column order
    params : one :class:`DecodeParams` for all classes, or one per class name (missing -> default)
    duration : audio length; events are clipped to it (default: the last frame's end)

    Examples
    --------
    >>> curve = np.array([0.0, 0.9, 0.9, 0.1, 0.9, 0.9, 0.0, 0.0])
    >>> decode_scores(curve, frame_step=1.0, classes=["bell"], duration=8.0)
    [Event(onset=0.5, offset=2.5, label='bell'), Event(onset=3.5, offset=5.5, label='bell')]
    >>> decode_scores(curve, frame_step=1.0, classes=["bell"], params=DecodeParams(min_gap=1.5), duration=8.0)
    [Event(onset=0.5, offset=5.5, label='bell')]
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim == 1:
        scores = scores[:, None]
    if scores.shape[1] != len(classes):
        raise ValueError(f"scores have {scores.shape[1]} columns but {len(classes)} classes were given")
    end_time = duration if duration is not None else (len(scores) - 0.5) * frame_step
    events: list[Event] = []
    for column, label in enumerate(classes):
        p = params.get(label, DecodeParams()) if isinstance(params, Mapping) else (params or DecodeParams())
        spans = []
        rise = p.offset * p.start_ratio if p.start_ratio < 1.0 else None
        for start, end in hysteresis(scores[:, column], onset=p.onset, offset=p.offset, start=rise):
            on = min(max(0.0, (start - 0.5) * frame_step), end_time)
            off = min(max(0.0, (end - 0.5) * frame_step), end_time)
            if spans and on - spans[-1][1] < p.min_gap:
                spans[-1][1] = off
            else:
                spans.append([on, off])
        events.extend(Event(round(on, 6), round(off, 6), label) for on, off in spans if off - on >= p.min_duration and off > on)
    return sorted(events, key=lambda e: (e.onset, e.offset, e.label))


ONSET_GRID = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
OFFSET_RATIOS = (1.0, 0.7, 0.4)
MIN_DURATION_GRID = (0.0, 0.1, 0.25)
MIN_GAP_GRID = (0.0, 0.1, 0.3)
START_RATIO_GRID = (1.0, 0.7, 0.4)  # onset refinement: 1 = none


def tune_decoding(
    scores: Mapping[str, np.ndarray],
    reference: Mapping[str, Sequence[Event]],
    *,
    frame_step: float,
    classes: Sequence[str],
    durations: Mapping[str, float] | None = None,
) -> dict[str, DecodeParams]:
    """Per-class decoding settings that maximise event-based F1 on validation files.

    Each class is tuned on its own (its events do not interact with other classes' in the
    class-wise event-based F1), over a grid of onset thresholds, offset/onset ratios, minimum
    durations, minimum gaps and onset refinements (``start_ratio`` 1, 0.7, 0.4). Ties go to the
    settings closest to onset 0.5 with no smoothing and no refinement.

    Examples
    --------
    >>> curve = {"a": np.r_[np.zeros(10), np.full(20, 0.35), np.zeros(10)]}
    >>> ref = {"a": [Event(0.5, 1.5, "bell")]}
    >>> tune_decoding(curve, ref, frame_step=0.05, classes=["bell"])["bell"].onset <= 0.3
    True
    """
    tuned: dict[str, DecodeParams] = {}
    for column, label in enumerate(classes):
        class_ref = {key: [e for e in reference.get(key, []) if e.label == label] for key in scores}

        def score(p: DecodeParams, column: int = column, label: str = label, class_ref: dict = class_ref) -> float:
            estimated = {
                key: decode_scores(
                    np.asarray(values)[:, column] if np.asarray(values).ndim == 2 else values,
                    frame_step=frame_step,
                    classes=[label],
                    params=p,
                    duration=None if durations is None else durations.get(key),
                )
                for key, values in scores.items()
            }
            return event_based(class_ref, estimated, classes=[label]).f1

        best: tuple[tuple[float, float], DecodeParams] | None = None
        grid = itertools.product(ONSET_GRID, OFFSET_RATIOS, MIN_DURATION_GRID, MIN_GAP_GRID, START_RATIO_GRID)
        for onset, ratio, min_duration, min_gap, start_ratio in grid:
            p = DecodeParams(onset=onset, offset=round(onset * ratio, 3), min_duration=min_duration, min_gap=min_gap, start_ratio=start_ratio)
            rank = (round(score(p), 9), -abs(onset - 0.5) - 0.1 * (1 - ratio) - min_duration - min_gap - 0.1 * (1 - start_ratio))
            if best is None or rank > best[0]:
                best = (rank, p)
        assert best is not None
        tuned[label] = best[1]
        logger.info("decoding for %s: %s (event F1 %.3f)", label, best[1], best[0][0])
    return tuned
