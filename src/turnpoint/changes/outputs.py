"""Writing detections: RTTM, JSON, CSV, score curves and plots, always atomically."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from turnpoint.changes.annotations import read_rttm, write_rttm
from turnpoint.changes.detection import Detection, segments_as_turns
from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_open, atomic_write_text

#: Every ``--format`` value; the other tools' formats are written by :mod:`turnpoint.changes.formats`.
OUTPUT_FORMATS = ("rttm", "json", "csv", "textgrid", "audacity", "vtt", "srt", "eaf")
#: What is written when no format is chosen.
DEFAULT_FORMATS = ("rttm", "json", "csv")
#: File suffixes that are not ``.<format>``.
FORMAT_SUFFIXES = {"textgrid": ".TextGrid", "audacity": ".labels.txt"}
#: The :mod:`turnpoint.changes.formats` writer of each other tool's format.
FORMAT_WRITERS = {"textgrid": "write_textgrid", "audacity": "write_audacity", "vtt": "write_vtt", "srt": "write_srt", "eaf": "write_eaf"}


def output_paths(uri: str, *, out_dir: str | Path, formats: Sequence[str], scores: bool = False, plot: bool = False,
                 report: bool = False) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each output of ``uri``.

    Examples
    --------
    >>> sorted(output_paths("a", out_dir="out", formats=["rttm"], plot=True))
    ['plot', 'rttm']
    >>> output_paths("a", out_dir="out", formats=["textgrid", "audacity"])["audacity"].name
    'a.labels.txt'
    """
    out_dir = Path(out_dir)
    paths = {fmt: out_dir / f"{uri}{FORMAT_SUFFIXES.get(fmt, '.' + fmt)}" for fmt in formats}
    if scores:
        paths["scores"] = out_dir / f"{uri}.scores.csv"
    if plot:
        paths["plot"] = out_dir / f"{uri}.png"
    if report:
        paths["report"] = out_dir / f"{uri}.html"
    return paths


def write_outputs(
    detection: Detection,
    *,
    out_dir: str | Path,
    formats: Sequence[str] = DEFAULT_FORMATS,
    scores: bool = False,
    plot: bool = False,
    reference: str | Path | None = None,
    protected: Sequence[str | Path] = (),
    report: bool = False,
) -> dict[str, Path]:
    """Write the chosen outputs of one detection; returns {kind: path}.

    Parameters
    ----------
    detection : result of :func:`turnpoint.detect_changes`
    out_dir : output folder (created)
    formats : any of :data:`OUTPUT_FORMATS`: "rttm", "json", "csv" (the default) and the other
        tools' "textgrid" (``.TextGrid``), "audacity" (``.labels.txt``), "vtt", "srt", "eaf"
        (see :mod:`turnpoint.changes.formats`)
    scores : also write ``<uri>.scores.csv`` (time, score per frame)
    plot : also write ``<uri>.png`` (score curve, threshold, changes; reference turns if given)
    reference : an RTTM with this file's reference turns, drawn on the plot and the report
    protected : input files that must never be overwritten
    report : also write ``<uri>.html``, a self-contained page to zoom and play (:mod:`turnpoint.changes.report`)

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from turnpoint.changes.detect import detect_changes
    >>> d = detect_changes(np.zeros(16000, dtype=np.float32), uri="silence")
    >>> sorted(p.name for p in write_outputs(d, out_dir=tempfile.mkdtemp(), formats=["rttm", "json"]).values())
    ['silence.json', 'silence.rttm']
    """
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    paths = output_paths(detection.uri, out_dir=out_dir, formats=formats, scores=scores, plot=plot, report=report)
    guarded = {Path(p).resolve() for p in [*protected, detection.path, *([reference] if reference else [])] if p}
    for path in paths.values():
        if path.resolve() in guarded:
            raise TurnpointError("refusing to overwrite an input file; choose another --out folder", path=path)

    if "rttm" in paths:
        write_rttm(paths["rttm"], {detection.uri: segments_as_turns(detection)})
    if "json" in paths:
        atomic_write_text(paths["json"], json.dumps(detection.to_dict(), indent=2) + "\n")
    if "csv" in paths:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        labelled = detection.labels is not None  # speaker-labelled detections add speech and speaker columns
        writer.writerow(["uri", "segment", "start", "end", "duration", *(["speech", "speaker"] if labelled else [])])
        for index, (start, end) in enumerate(detection.segments):
            extra = [] if not labelled else ["yes" if detection.labels[index] else "no", detection.labels[index] or ""]
            writer.writerow([detection.uri, index, f"{start:.3f}", f"{end:.3f}", f"{end - start:.3f}", *extra])
        atomic_write_text(paths["csv"], buffer.getvalue())
    if set(paths) & set(FORMAT_WRITERS):
        from turnpoint.changes import formats as other_tools  # imported only when one of its formats is asked for

        for fmt in FORMAT_WRITERS:
            if fmt in paths:
                getattr(other_tools, FORMAT_WRITERS[fmt])(detection, paths[fmt])
    if "scores" in paths:
        with atomic_open(paths["scores"]) as handle:
            handle.write("time,score\n")
            for time, value in zip(detection.scores.times, detection.scores.values):
                handle.write(f"{time:.3f},{value:.5f}\n")
    if "plot" in paths or "report" in paths:
        reference_turns = None
        if reference is not None:
            reference_turns = read_rttm(reference).get(detection.uri)
            if reference_turns is None:
                raise TurnpointError(f"no turns for {detection.uri!r} in this reference RTTM", path=reference)
        if "plot" in paths:
            plot_detection(detection, paths["plot"], reference=reference_turns)
        if "report" in paths:
            from turnpoint.changes.report import write_report

            write_report(detection, paths["report"], reference=reference_turns)
    return paths


# the figures moved to turnpoint.changes.plots; kept importable from here
from turnpoint.changes.plots import plot_detection  # noqa: E402
