"""What counts as a speaker change, in reference turns and in hypothesis segments.

A change is a point where the set of active speakers changes from one non-empty set to a different
non-empty set (:func:`speaker_changes`): a change across a pause (A, silence, B) is one change
located in the pause, an interval ``[pause start, pause end]``; consecutive turns of one speaker are
not changes, with or without a pause between them; an overlap gives the changes of the active set;
speech onsets and ends are not changes. :func:`reference_changes` and :func:`hypothesis_changes`
apply it to reference turns and to hypothesis segments (each segment's label being its speaker)
inside the scored regions; ``boundaries="segmentation"`` is the older view, every turn boundary
(:func:`segment_boundaries`). :mod:`turnpoint.changes.evaluation` scores these changes against each
other; ``turnpoint tune`` and ``turnpoint train``'s validation use the same definitions.

Examples
--------
>>> from turnpoint.changes.annotations import Turn
>>> speaker_changes([Turn(start=0.0, end=4.0, speaker="A"), Turn(start=5.0, end=10.0, speaker="B")]).tolist()
[[4.0, 5.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from turnpoint.changes.annotations import Turn, change_points
from turnpoint.changes.metrics import merge_close
from turnpoint.core.errors import TurnpointError

#: Boundaries this close to the edge of a scored region are not changes (they are the region's edge).
EDGE = 1e-3

#: What a change is: "speaker" (changes of the active speaker set) or "segmentation" (every turn boundary, the older view)
BOUNDARIES = ("speaker", "segmentation")

#: Times are rounded to this grid (s) before comparing them, so float noise in RTTM times
#: (34.29 + 0.48 = 34.769999999999996) makes neither a pause nor an overlap.
_GRID = 1e-6

#: The scored regions of one file: (start, end) in seconds.
Regions = list[tuple[float, float]]


def check_boundaries(boundaries: str) -> None:
    """Refuse a change definition other than those of :data:`BOUNDARIES`."""
    if boundaries not in BOUNDARIES:
        raise TurnpointError(f"boundaries must be one of {', '.join(BOUNDARIES)}, not {boundaries!r}")


def speaker_changes(
    turns: Sequence[Turn] | Sequence[tuple[float, float, str]], regions: Regions | None = None
) -> np.ndarray:
    """Changes of the active speaker set, as ``(n, 2)`` intervals ``[start, end]`` (seconds).

    A change is a point where the set of active speakers changes from one non-empty set to a
    different non-empty set. Across a pause (A, silence, B) it is the pause, ``[end of A, start of
    B]``; between touching turns it is a point ``[t, t]``. Turns of one speaker that touch, overlap
    or follow each other after a pause are not changes; speech onsets and ends are not changes;
    each overlap gives the changes of the active set. Nothing is merged, however short a turn.
    With ``regions``, each region is scored on its own (turns cropped to it) and changes within
    ``EDGE`` of a region's edge are dropped.

    Examples
    --------
    >>> T = lambda s, e, who: Turn(start=s, end=e, speaker=who)
    >>> speaker_changes([T(0.5, 4.0, "A"), T(4.0, 6.0, "B"), T(7.0, 9.0, "A")]).tolist()   # touching, then a pause
    [[4.0, 4.0], [6.0, 7.0]]
    >>> speaker_changes([T(0.0, 4.0, "A"), T(5.0, 9.0, "A")]).tolist()                      # one speaker: no change
    []
    >>> speaker_changes([T(0.0, 5.0, "A"), T(4.0, 9.0, "B")]).tolist()                      # A -> A+B -> B
    [[4.0, 4.0], [5.0, 5.0]]
    >>> speaker_changes([T(0.0, 9.0, "A"), T(3.0, 3.5, "B")]).tolist()                      # a backchannel
    [[3.0, 3.0], [3.5, 3.5]]
    """
    spans = []
    for turn in turns:
        start, end, label = (turn.start, turn.end, turn.speaker) if isinstance(turn, Turn) else turn
        start, end = round(float(start), 6), round(float(end), 6)
        if end > start:
            spans.append((start, end, str(label)))
    if regions is None:
        regions = [(min(s for s, _, _ in spans), max(e for _, e, _ in spans))] if spans else []
    changes: list[tuple[float, float]] = []
    for region_start, region_end in regions:
        events: dict[float, list[tuple[str, int]]] = {}
        for start, end, label in spans:
            start, end = max(start, region_start), min(end, region_end)
            if end - start > _GRID / 2:
                events.setdefault(start, []).append((label, 1))
                events.setdefault(end, []).append((label, -1))
        active: dict[str, int] = {}
        previous: frozenset[str] | None = None  # the last non-empty set
        silent_since: float | None = None  # start of the current pause after speech
        for time in sorted(events):
            for label, step in events[time]:
                active[label] = active.get(label, 0) + step
            now = frozenset(label for label, count in active.items() if count > 0)
            if not now:
                if previous is not None and silent_since is None:
                    silent_since = time
                continue
            if previous is not None and now != previous:
                interval = (silent_since if silent_since is not None else time, time)
                if interval[1] > region_start + EDGE and interval[0] < region_end - EDGE:
                    changes.append(interval)
            previous, silent_since = now, None
    return np.array(sorted(changes), dtype=np.float64).reshape(-1, 2)


def reference_changes(turns: Sequence[Turn], regions: Regions, *, tolerance: float = 0.5, boundaries: str = "speaker") -> np.ndarray:
    """Reference changes inside the regions, as intervals (``"speaker"``) or times (``"segmentation"``).

    ``"speaker"``: :func:`speaker_changes` (``tolerance`` does not change them). ``"segmentation"``:
    every turn boundary strictly inside the regions, those closer than ``2 * tolerance`` merged at
    their mean (the older view).

    Examples
    --------
    >>> turns = [Turn(start=0.0, end=2.0, speaker="A"), Turn(start=2.4, end=5.0, speaker="B")]
    >>> reference_changes(turns, [(0.0, 5.0)]).tolist()
    [[2.0, 2.4]]
    >>> reference_changes(turns, [(0.0, 5.0)], tolerance=0.5, boundaries="segmentation").tolist()
    [2.2]
    """
    check_boundaries(boundaries)
    if boundaries == "speaker":
        return speaker_changes(turns, regions)
    inside = [c for c in change_points(list(turns)) if _strictly_inside(c, regions)]
    return merge_close(inside, within=2 * tolerance)


def _segment_turns(segments: Sequence[Turn] | Sequence[tuple[float, float]], labels: Sequence[str | None] | None) -> list[Turn]:
    """Hypothesis segments as turns: unlabelled (start, end) segments each get a label of their own."""
    turns = []
    for index, segment in enumerate(segments):
        if isinstance(segment, Turn):
            start, end, label = segment.start, segment.end, segment.speaker
        else:
            start, end = segment
            label = f"seg{index:04d}"
        if labels is not None:
            if labels[index] is None:  # non-speech
                continue
            label = labels[index]
        turns.append(Turn(start=float(start), end=float(end), speaker=str(label)))
    return turns


def segment_boundaries(segments: Sequence[Turn] | Sequence[tuple[float, float]], regions: Regions) -> np.ndarray:
    """Every boundary of the hypothesis segments strictly inside the regions (each once), as times.

    Examples
    --------
    >>> segment_boundaries([(0.0, 1.5), (1.5, 6.0)], [(0.0, 6.0)]).tolist()
    [1.5]
    """
    bounds = set()
    for segment in segments:
        start, end = (segment.start, segment.end) if isinstance(segment, Turn) else segment
        bounds.update((round(float(start), 6), round(float(end), 6)))
    return np.array(sorted(b for b in bounds if _strictly_inside(b, regions)), dtype=np.float64)


def hypothesis_changes(
    segments: Sequence[Turn] | Sequence[tuple[float, float]],
    regions: Regions,
    *,
    boundaries: str = "speaker",
    labels: Sequence[str | None] | None = None,
) -> np.ndarray:
    """Hypothesis changes inside the regions, as intervals (``"speaker"``) or times (``"segmentation"``).

    ``"speaker"``: :func:`speaker_changes` of the segments, each segment's label being its speaker
    (``labels``, one per segment, None for non-speech, overrides them; unlabelled ``(start, end)``
    segments each count as a speaker of their own), so two adjacent segments with different labels
    are a change, a gap between two differently-labelled segments is one change interval, and
    segments of one label are not changes. ``"segmentation"``: every segment boundary
    (:func:`segment_boundaries`).

    Examples
    --------
    >>> hypothesis_changes([(0.0, 1.5), (1.5, 6.0)], [(0.0, 6.0)]).tolist()
    [[1.5, 1.5]]
    >>> hypothesis_changes([(0.5, 2.0), (2.6, 4.0), (4.0, 6.0)], [(0.0, 6.0)], labels=["S0", "S1", "S1"]).tolist()
    [[2.0, 2.6]]
    """
    check_boundaries(boundaries)
    if labels is not None and len(labels) != len(segments):
        raise TurnpointError(f"{len(labels)} labels for {len(segments)} segments")
    if boundaries == "segmentation":
        kept = segments if labels is None else [s for s, label in zip(segments, labels) if label is not None]
        return segment_boundaries(kept, regions)
    return speaker_changes(_segment_turns(segments, labels), regions)


def _strictly_inside(time: float, regions: Regions) -> bool:
    return any(start + EDGE < time < end - EDGE for start, end in regions)


__all__ = [
    "BOUNDARIES", "EDGE", "Regions", "check_boundaries", "hypothesis_changes", "reference_changes", "segment_boundaries", "speaker_changes",
]
