"""Evaluate a segmentation against reference turns: speaker-change precision/recall, purity and coverage.

Two families of numbers, per file and overall (count-weighted / time-weighted):

* **Speaker-change precision / recall / F1** (``boundaries="speaker"``, the default). A change is
  a point where the set of active speakers changes from one non-empty set to a different
  non-empty set (:func:`speaker_changes`): a change across a pause (A, silence, B) is one change
  located in the pause, an interval ``[pause start, pause end]``; consecutive turns of one speaker
  are not changes, with or without a pause between them; an overlap gives the changes of the
  active set (A, then A and B, then B: two changes; B's backchannel inside A's turn: two changes);
  speech onsets and ends are not changes. Short turns are never merged away. Hypothesis changes
  come from the hypothesis segments by the same definition, each segment's label being its
  speaker: ``turnpoint detect``'s ``seg0000, seg0001...`` segments, which cover the file, give
  every boundary between two segments; speaker-labelled segments with non-speech left out give a
  change between two differently-labelled segments, across the gap if there is one. Changes are
  matched one-to-one, maximally (:func:`turnpoint.changes.metrics.match_boundaries`), a reference
  interval ``[a, b]`` and a detection ``t`` matching when ``a - tolerance <= t <= b + tolerance``.
  ``boundaries="segmentation"`` is the older segmentation-boundary view, kept to reproduce
  earlier figures: every turn boundary (speech onsets and ends included), those closer than
  ``2 * tolerance`` merged at their mean, against every boundary between hypothesis segments.

* **Segmentation purity and coverage** (and their F-measure) computed by ``pyannote.metrics``
  (``SegmentationPurityCoverageFMeasure``). ``fill_gaps`` is its ``tolerance``: each speaker's own
  pauses shorter than this are filled before scoring. Only reference speech is scored: every
  hypothesis segment is cut at the reference's silences, so a change across a pause costs nothing.
  Purity alone is a trap: one segment per file scores 100 % purity wherever speakers never overlap
  and never talk without a pause. ``bridge`` (seconds, off by default) splits every silence shorter
  than that between the two turns around it, so changes across short pauses count too.

``turnpoint tune`` and ``turnpoint train``'s validation score changes with the same functions.

Examples
--------
>>> from turnpoint.changes.annotations import Turn
>>> ref = {"f": [Turn(start=0.0, end=4.0, speaker="A"), Turn(start=4.0, end=10.0, speaker="B")]}
>>> hyp = {"f": [Turn(start=0.0, end=4.2, speaker="s0"), Turn(start=4.2, end=10.0, speaker="s1")]}
>>> report = evaluate_annotations(ref, hyp, uem={"f": [(0.0, 10.0)]})
>>> round(report.overall.purity, 2), report.overall.boundary.f1
(0.98, 1.0)
>>> speaker_changes([Turn(start=0.0, end=4.0, speaker="A"), Turn(start=5.0, end=10.0, speaker="B")]).tolist()
[[4.0, 5.0]]
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from turnpoint.changes.annotations import Turn, change_points, read_rttm, read_uem
from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_text
from turnpoint.changes.metrics import BoundaryScore, PurityCoverage, boundary_score, merge_close

logger = logging.getLogger(__name__)

#: Boundaries this close to the edge of a scored region are not changes (they are the region's edge).
EDGE = 1e-3

#: What a change is: "speaker" (changes of the active speaker set) or "segmentation" (every turn boundary, the older view)
BOUNDARIES = ("speaker", "segmentation")

#: Times are rounded to this grid (s) before comparing them, so float noise in RTTM times
#: (34.29 + 0.48 = 34.769999999999996) makes neither a pause nor an overlap.
_GRID = 1e-6

Regions = list[tuple[float, float]]


@dataclass(frozen=True)
class FileScore:
    """Scores of one file.

    Attributes
    ----------
    uri : file identifier
    segmentation : purity/coverage components (seconds of speech)
    boundary : boundary hits / reference / hypothesis counts
    scored : seconds of the scored regions
    """

    uri: str
    segmentation: PurityCoverage
    boundary: BoundaryScore
    scored: float

    @property
    def purity(self) -> float:
        return self.segmentation.purity

    @property
    def coverage(self) -> float:
        return self.segmentation.coverage

    @property
    def f_measure(self) -> float:
        return self.segmentation.f_measure

    def to_dict(self) -> dict:
        return {
            "uri": self.uri,
            "purity": round(self.purity, 5),
            "coverage": round(self.coverage, 5),
            "f_measure": round(self.f_measure, 5),
            "precision": round(self.boundary.precision, 5),
            "recall": round(self.boundary.recall, 5),
            "f1": round(self.boundary.f1, 5),
            "hits": self.boundary.hits,
            "n_reference": self.boundary.n_reference,
            "n_hypothesis": self.boundary.n_hypothesis,
            "scored_seconds": round(self.scored, 3),
        }


@dataclass
class EvaluationReport:
    """Per-file scores, their totals, the settings, and which files were (not) scored."""

    files: list[FileScore]
    settings: dict
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def overall(self) -> FileScore:
        segmentation = sum((f.segmentation for f in self.files), PurityCoverage(0.0, 0.0, 0.0))
        boundary = sum((f.boundary for f in self.files), BoundaryScore(0, 0, 0))
        return FileScore("TOTAL", segmentation, boundary, sum(f.scored for f in self.files))

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "scored_files": [f.uri for f in self.files],
            "skipped_files": self.skipped,
            "files": [f.to_dict() for f in self.files],
            "overall": self.overall.to_dict(),
        }

    def to_csv(self) -> str:
        buffer = io.StringIO()
        rows = [f.to_dict() for f in [*self.files, self.overall]]
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def format_table(self) -> str:
        """A fixed-width table for the terminal (percentages)."""
        header = f"{'file':<24} {'purity':>7} {'cover':>7} {'F(p,c)':>7} {'prec':>7} {'recall':>7} {'F1':>7} {'ref':>5} {'hyp':>5}"
        lines = [header, "-" * len(header)]
        for item in [*self.files, self.overall]:
            if item.uri == "TOTAL":
                lines.append("-" * len(header))
            b = item.boundary
            lines.append(
                f"{item.uri[:24]:<24} {100 * item.purity:7.1f} {100 * item.coverage:7.1f} {100 * item.f_measure:7.1f} "
                f"{100 * b.precision:7.1f} {100 * b.recall:7.1f} {100 * b.f1:7.1f} {b.n_reference:5d} {b.n_hypothesis:5d}"
            )
        s = self.settings
        what = (
            "speaker changes (changes of the active speaker set; across a pause, the pause)"
            if s.get("boundaries", "speaker") == "speaker"
            else "segmentation boundaries (every turn boundary, closer than 2 x tolerance merged)"
        )
        lines.append(
            f"{len(self.files)} files scored; {what} matched one-to-one within ±{s['tolerance']} s; "
            f"purity/coverage by pyannote.metrics (fill_gaps {s['fill_gaps']} s, bridge {s['bridge']} s)"
        )
        if self.skipped:
            lines.append(f"not scored: {', '.join(f'{uri} ({why})' for uri, why in self.skipped.items())}")
        return "\n".join(lines)

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON (``.json``) or CSV (anything else), atomically."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) + "\n" if path.suffix.lower() == ".json" else self.to_csv()
        atomic_write_text(path, text)
        return path


# ---------------------------------------------------------------------------------------------
# loading


def _rttm_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.rttm"))
        if not files:
            raise TurnpointError("no .rttm files in this folder", path=path)
        return files
    if not path.exists():
        raise TurnpointError("no such file or folder", path=path)
    return [path]


def load_turns(path: str | Path) -> dict[str, list[Turn]]:
    """Turns per URI from an RTTM file or a folder of RTTM files (a URI may not span two files).

    Examples
    --------
    >>> load_turns("/nonexistent.rttm")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: /nonexistent.rttm: no such file or folder
    """
    turns: dict[str, list[Turn]] = {}
    origin: dict[str, Path] = {}
    for file in _rttm_files(Path(path)):
        for uri, uri_turns in read_rttm(file).items():
            if uri in origin:
                raise TurnpointError(f"URI {uri!r} is also in {origin[uri]}; each file's turns must be in one RTTM", path=file)
            origin[uri] = file
            turns[uri] = uri_turns
    return turns


def load_regions(path: str | Path) -> dict[str, Regions]:
    """Scored regions per URI from a UEM file or a folder of UEM files."""
    path = Path(path)
    files = sorted(path.glob("*.uem")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise TurnpointError("no .uem files in this folder", path=path)
    regions: dict[str, Regions] = {}
    for file in files:
        for uri, uri_regions in read_uem(file).items():
            regions.setdefault(uri, []).extend(uri_regions)
    return regions


def check_hypothesis(turns: Sequence[Turn], *, uri: str, path: str | Path | None = None) -> None:
    """Refuse a hypothesis whose segments overlap (a segmentation is a partition of time).

    Examples
    --------
    >>> check_hypothesis([Turn(start=0.0, end=2.0, speaker="a"), Turn(start=1.5, end=3.0, speaker="b")], uri="f")
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: hypothesis segments of 'f' overlap: 0.000-2.000 and 1.500-3.000 (a segmentation must not overlap)
    """
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    for before, after in zip(ordered[:-1], ordered[1:]):
        if after.start < before.end - 1e-6:
            raise TurnpointError(
                f"hypothesis segments of {uri!r} overlap: {before.start:.3f}-{before.end:.3f} and "
                f"{after.start:.3f}-{after.end:.3f} (a segmentation must not overlap)",
                path=path,
            )


def _hint(missing: Sequence[str], available: Sequence[str]) -> str:
    lowered = {a.lower(): a for a in available}
    stems = {a.rsplit(".", 1)[0]: a for a in available}
    for uri in missing:
        if uri.lower() in lowered:
            return f" (did you mean {lowered[uri.lower()]!r} for {uri!r}? URIs are case-sensitive)"
        if uri.rsplit(".", 1)[0] in stems or uri in stems:
            return " (URIs must be file names without extension)"
    return ""


def match_uris(
    reference: Mapping[str, object],
    hypothesis: Mapping[str, object],
    *,
    ignore_missing: bool = False,
    reference_path: str | Path | None = None,
    hypothesis_path: str | Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The URIs to score (in reference order) and, for the others, why they are not scored.

    Files in one side only are an error unless ``ignore_missing``; no file in common always is.

    Examples
    --------
    >>> match_uris({"a": [], "b": []}, {"a": []}, ignore_missing=True)
    (['a'], {'b': 'not in the hypothesis'})
    """
    only_ref = [uri for uri in reference if uri not in hypothesis]
    only_hyp = [uri for uri in hypothesis if uri not in reference]
    common = [uri for uri in reference if uri in hypothesis]
    if not common:
        raise TurnpointError(
            f"no file in common: reference has {sorted(reference)[:5]}, hypothesis has {sorted(hypothesis)[:5]}"
            + _hint(list(hypothesis), list(reference)),
            path=hypothesis_path,
        )
    if (only_ref or only_hyp) and not ignore_missing:
        parts = []
        if only_hyp:
            parts.append(f"hypothesis has {len(only_hyp)} file(s) the reference lacks: {', '.join(only_hyp[:5])}")
        if only_ref:
            parts.append(f"reference has {len(only_ref)} file(s) the hypothesis lacks: {', '.join(only_ref[:5])}")
        raise TurnpointError("; ".join(parts) + _hint(only_hyp, only_ref) + " (pass --ignore-missing to score the files in common)")
    skipped = {uri: "not in the hypothesis" for uri in only_ref}
    skipped.update({uri: "not in the reference" for uri in only_hyp})
    return common, skipped


# ---------------------------------------------------------------------------------------------
# preprocessing


def crop_turns(turns: Sequence[Turn], regions: Regions) -> list[Turn]:
    """The parts of ``turns`` inside ``regions``.

    Examples
    --------
    >>> crop_turns([Turn(start=0.0, end=5.0, speaker="A")], [(1.0, 2.0), (4.0, 9.0)])
    [Turn(start=1.0, end=2.0, speaker='A'), Turn(start=4.0, end=5.0, speaker='A')]
    """
    cropped = []
    for turn in turns:
        for start, end in regions:
            s, e = max(turn.start, start), min(turn.end, end)
            if e > s:
                cropped.append(Turn(start=s, end=e, speaker=turn.speaker))
    return sorted(cropped, key=lambda t: (t.start, t.end, t.speaker))


def bridge_pauses(turns: Sequence[Turn], *, bridge: float) -> list[Turn]:
    """Split every silence shorter than ``bridge`` between the turns that end and start around it.

    Examples
    --------
    >>> bridge_pauses([Turn(start=0.0, end=2.0, speaker="A"), Turn(start=2.4, end=4.0, speaker="B")], bridge=1.0)
    [Turn(start=0.0, end=2.2, speaker='A'), Turn(start=2.2, end=4.0, speaker='B')]
    """
    if bridge <= 0 or not turns:
        return list(turns)
    spans = sorted((t.start, t.end) for t in turns)
    speech: list[list[float]] = []
    for start, end in spans:
        if speech and start <= speech[-1][1]:
            speech[-1][1] = max(speech[-1][1], end)
        else:
            speech.append([start, end])
    moved_end: dict[float, float] = {}
    moved_start: dict[float, float] = {}
    for (_, gap_start), (gap_end, _) in zip(speech[:-1], speech[1:]):
        if gap_end - gap_start < bridge:
            middle = round((gap_start + gap_end) / 2, 9)
            moved_end[gap_start] = middle
            moved_start[gap_end] = middle
    return [Turn(start=moved_start.get(t.start, t.start), end=moved_end.get(t.end, t.end), speaker=t.speaker) for t in turns]


def _check_boundaries(boundaries: str) -> None:
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
    _check_boundaries(boundaries)
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
    _check_boundaries(boundaries)
    if labels is not None and len(labels) != len(segments):
        raise TurnpointError(f"{len(labels)} labels for {len(segments)} segments")
    if boundaries == "segmentation":
        kept = segments if labels is None else [s for s, label in zip(segments, labels) if label is not None]
        return segment_boundaries(kept, regions)
    return speaker_changes(_segment_turns(segments, labels), regions)


def _strictly_inside(time: float, regions: Regions) -> bool:
    return any(start + EDGE < time < end - EDGE for start, end in regions)


def default_regions(reference: Sequence[Turn], hypothesis: Sequence[Turn]) -> Regions:
    """Without a UEM: from 0 to the last reference or hypothesis end."""
    end = max([t.end for t in [*reference, *hypothesis]], default=0.0)
    return [(0.0, end)] if end > 0 else []


# ---------------------------------------------------------------------------------------------
# scoring


def segmentation_components(
    reference: Sequence[Turn], hypothesis_bounds: Sequence[float], *, fill_gaps: float = 0.5
) -> PurityCoverage:
    """Purity/coverage components from ``pyannote.metrics`` for one file.

    ``hypothesis_bounds`` are the sorted boundaries of the hypothesis partition, its start and end
    included.

    Examples
    --------
    >>> ref = [Turn(start=0.0, end=4.0, speaker="A"), Turn(start=4.0, end=10.0, speaker="B")]
    >>> pc = segmentation_components(ref, [0.0, 10.0])   # one segment: the purity trap
    >>> round(pc.purity, 2), round(pc.coverage, 2)
    (0.6, 1.0)
    """
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.segmentation import PTY_CVG_INTER, SegmentationCoverage, SegmentationPurity

    annotation = Annotation()
    for index, turn in enumerate(reference):
        if turn.end > turn.start:
            annotation[Segment(turn.start, turn.end), index] = turn.speaker
    bounds = sorted(set(float(b) for b in hypothesis_bounds))
    timeline = Timeline([Segment(s, e) for s, e in zip(bounds[:-1], bounds[1:]) if e > s])
    purity = SegmentationPurity(tolerance=fill_gaps).compute_components(annotation, timeline)
    coverage = SegmentationCoverage(tolerance=fill_gaps).compute_components(annotation, timeline)
    total = float(coverage["total duration"])
    return PurityCoverage(total, float(purity[PTY_CVG_INTER]), float(coverage[PTY_CVG_INTER]))


def score_file(
    reference: Sequence[Turn],
    hypothesis: Sequence[Turn],
    *,
    uri: str,
    regions: Regions,
    tolerance: float = 0.5,
    fill_gaps: float = 0.5,
    bridge: float = 0.0,
    boundaries: str = "speaker",
) -> FileScore:
    """Purity, coverage and change scores of one file's hypothesis segments.

    Examples
    --------
    >>> ref = [Turn(start=0.0, end=4.0, speaker="A"), Turn(start=4.0, end=10.0, speaker="B")]
    >>> hyp = [Turn(start=0.0, end=10.0, speaker="seg0000")]
    >>> s = score_file(ref, hyp, uri="f", regions=[(0.0, 10.0)])
    >>> round(s.purity, 2), s.coverage, s.boundary.recall
    (0.6, 1.0, 0.0)
    """
    cropped = bridge_pauses(crop_turns(reference, regions), bridge=bridge)
    # purity/coverage compare the partition made by every segment boundary, whatever a change is
    inner = segment_boundaries(hypothesis, regions)
    starts = [r[0] for r in regions]
    ends = [r[1] for r in regions]
    bounds = [min(starts), *inner.tolist(), max(ends)] if regions else []
    segmentation = segmentation_components(cropped, bounds, fill_gaps=fill_gaps) if bounds else PurityCoverage(0.0, 0.0, 0.0)
    reference_found = reference_changes(reference, regions, tolerance=tolerance, boundaries=boundaries)
    boundary = boundary_score(reference_found, hypothesis_changes(hypothesis, regions, boundaries=boundaries), tolerance=tolerance)
    return FileScore(uri, segmentation, boundary, float(sum(e - s for s, e in regions)))


def _check_setting(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise TurnpointError(f"{name} must be a non-negative number of seconds, not {value}")


def evaluate_annotations(
    reference: Mapping[str, Sequence[Turn]],
    hypothesis: Mapping[str, Sequence[Turn]],
    *,
    uem: Mapping[str, Regions] | None = None,
    tolerance: float = 0.5,
    fill_gaps: float = 0.5,
    bridge: float = 0.0,
    ignore_missing: bool = False,
    reference_path: str | Path | None = None,
    hypothesis_path: str | Path | None = None,
    boundaries: str = "speaker",
) -> EvaluationReport:
    """Score hypothesis segments against reference turns, per file and overall.

    Parameters
    ----------
    reference, hypothesis : turns per URI (hypothesis: segments labelled ``seg0000...`` that
        cover the file, or segments with speaker labels; they may overlap only with
        ``boundaries="speaker"``)
    uem : scored regions per URI; default: from 0 to the last end of either side
    tolerance : change matching window (s)
    fill_gaps : pyannote.metrics' ``tolerance``: a speaker's own pauses shorter than this are filled
    bridge : silences between turns shorter than this are split between the turns around them
        (purity/coverage only)
    ignore_missing : score the files in common instead of refusing mismatched file sets
    boundaries : "speaker" (changes of the active speaker set, the default) or "segmentation"
        (every turn boundary, closer ones than ``2 * tolerance`` merged: the older view)

    Examples
    --------
    >>> ref = {"f": [Turn(start=0.0, end=4.0, speaker="A"), Turn(start=4.0, end=10.0, speaker="B")]}
    >>> evaluate_annotations(ref, {"f": [Turn(start=0.0, end=10.0, speaker="s")]}).overall.boundary.recall
    0.0
    """
    for name, value in (("tolerance", tolerance), ("fill_gaps", fill_gaps), ("bridge", bridge)):
        _check_setting(name, value)
    _check_boundaries(boundaries)
    uris, skipped = match_uris(
        reference, hypothesis, ignore_missing=ignore_missing, reference_path=reference_path, hypothesis_path=hypothesis_path
    )
    files = []
    for uri in uris:
        if boundaries == "segmentation":  # a partition; speaker-labelled hypotheses may overlap
            check_hypothesis(hypothesis[uri], uri=uri, path=hypothesis_path)
        if uem is not None:
            if uri not in uem:
                if not ignore_missing:
                    raise TurnpointError(f"no UEM region for {uri!r} (pass --ignore-missing to skip such files)")
                skipped[uri] = "not in the UEM"
                continue
            regions = list(uem[uri])
        else:
            regions = default_regions(reference[uri], hypothesis[uri])
        files.append(
            score_file(
                reference[uri], hypothesis[uri], uri=uri, regions=regions, tolerance=tolerance, fill_gaps=fill_gaps, bridge=bridge,
                boundaries=boundaries,
            )
        )
    if not files:
        raise TurnpointError("no file left to score")
    settings = {"boundaries": boundaries, "tolerance": tolerance, "fill_gaps": fill_gaps, "bridge": bridge, "uem": uem is not None}
    logger.info("scored %d files (%d skipped)", len(files), len(skipped))
    return EvaluationReport(files=files, settings=settings, skipped=skipped)


def evaluate(
    reference: str | Path,
    hypothesis: str | Path,
    *,
    uem: str | Path | None = None,
    tolerance: float = 0.5,
    fill_gaps: float = 0.5,
    bridge: float = 0.0,
    ignore_missing: bool = False,
    boundaries: str = "speaker",
) -> EvaluationReport:
    """Evaluate hypothesis RTTM(s) (e.g. ``turnpoint detect`` outputs) against reference RTTM(s).

    Parameters
    ----------
    reference, hypothesis : an RTTM file or a folder of RTTM files each
    uem : a UEM file or folder (scored regions); see :func:`evaluate_annotations` for the rest

    Examples
    --------
    >>> # report = evaluate("corpus/test/", "out/", uem="corpus/test/"); print(report.format_table())
    """
    return evaluate_annotations(
        load_turns(reference),
        load_turns(hypothesis),
        uem=load_regions(uem) if uem is not None else None,
        tolerance=tolerance,
        fill_gaps=fill_gaps,
        bridge=bridge,
        ignore_missing=ignore_missing,
        reference_path=reference,
        hypothesis_path=hypothesis,
        boundaries=boundaries,
    )


__all__ = [
    "BOUNDARIES", "EvaluationReport", "FileScore", "bridge_pauses", "check_hypothesis", "crop_turns", "evaluate", "evaluate_annotations",
    "hypothesis_changes", "load_regions", "load_turns", "match_uris", "reference_changes", "score_file", "segment_boundaries",
    "segmentation_components", "speaker_changes",
]
