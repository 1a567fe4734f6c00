"""Evaluate a segmentation against reference turns: speaker-change precision/recall, purity and coverage.

Two families of numbers, per file and overall (count-weighted / time-weighted):

* **Speaker-change precision / recall / F1** (``boundaries="speaker"``, the default). A change is
  a point where the set of active speakers changes from one non-empty set to a different
  non-empty set (:func:`~turnpoint.changes.change_definition.speaker_changes`): a change across a pause (A, silence, B) is one change
  located in the pause, an interval ``[pause start, pause end]``; consecutive turns of one speaker
  are not changes, with or without a pause between them; an overlap gives the changes of the
  active set (A, then A and B, then B: two changes; B's backchannel inside A's turn: two changes);
  speech onsets and ends are not changes. Short turns are never merged away. Hypothesis changes
  come from the hypothesis segments by the same definition, each segment's label being its
  speaker (:mod:`turnpoint.changes.change_definition`): ``turnpoint detect``'s ``seg0000,
  seg0001...`` segments, which cover the file, give every boundary between two segments; speaker-labelled segments with non-speech left out give a
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
This module loads the files, scores them and sums the scores into an
:class:`~turnpoint.changes.evaluation_report.EvaluationReport` (its table, CSV and JSON).

Examples
--------
>>> from turnpoint.changes.annotations import Turn
>>> ref = {"f": [Turn(start=0.0, end=4.0, speaker="A"), Turn(start=4.0, end=10.0, speaker="B")]}
>>> hyp = {"f": [Turn(start=0.0, end=4.2, speaker="s0"), Turn(start=4.2, end=10.0, speaker="s1")]}
>>> report = evaluate_annotations(ref, hyp, uem={"f": [(0.0, 10.0)]})
>>> round(report.overall.purity, 2), report.overall.boundary.f1
(0.98, 1.0)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from turnpoint.changes.annotations import Turn, read_rttm, read_uem
from turnpoint.changes.change_definition import (
    Regions,
    check_boundaries,
    hypothesis_changes,
    reference_changes,
    segment_boundaries,
)
from turnpoint.changes.evaluation_report import EvaluationReport, FileScore
from turnpoint.changes.metrics import PurityCoverage, boundary_score
from turnpoint.core.errors import TurnpointError

logger = logging.getLogger(__name__)


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
    check_boundaries(boundaries)
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
    "bridge_pauses", "check_hypothesis", "crop_turns", "default_regions", "evaluate", "evaluate_annotations", "load_regions", "load_turns",
    "match_uris", "score_file", "segmentation_components",
]
