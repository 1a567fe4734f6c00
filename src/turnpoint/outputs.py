"""Writing detections: RTTM, JSON, CSV, score curves and plots, always atomically."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from turnpoint.annotations import Turn, change_points, read_rttm, write_rttm
from turnpoint.detect import Detection
from turnpoint.errors import TurnpointError
from turnpoint.fileio import atomic_open, atomic_write_text

OUTPUT_FORMATS = ("rttm", "json", "csv")


def output_paths(uri: str, *, out_dir: str | Path, formats: Sequence[str], scores: bool = False, plot: bool = False) -> dict[str, Path]:
    """Where :func:`write_outputs` puts each output of ``uri``.

    Examples
    --------
    >>> sorted(output_paths("a", out_dir="out", formats=["rttm"], plot=True))
    ['plot', 'rttm']
    """
    out_dir = Path(out_dir)
    paths = {fmt: out_dir / f"{uri}.{fmt}" for fmt in formats}
    if scores:
        paths["scores"] = out_dir / f"{uri}.scores.csv"
    if plot:
        paths["plot"] = out_dir / f"{uri}.png"
    return paths


def segments_as_turns(detection: Detection) -> list[Turn]:
    """Segments labelled ``seg0000``, ``seg0001``… (a change detector does not know who speaks)."""
    return [Turn(start=s, end=e, speaker=f"seg{i:04d}") for i, (s, e) in enumerate(detection.segments)]


def write_outputs(
    detection: Detection,
    *,
    out_dir: str | Path,
    formats: Sequence[str] = OUTPUT_FORMATS,
    scores: bool = False,
    plot: bool = False,
    reference: str | Path | None = None,
    protected: Sequence[str | Path] = (),
) -> dict[str, Path]:
    """Write the chosen outputs of one detection; returns {kind: path}.

    Parameters
    ----------
    detection : result of :func:`turnpoint.detect_changes`
    out_dir : output folder (created)
    formats : any of "rttm", "json", "csv"
    scores : also write ``<uri>.scores.csv`` (time, score per frame)
    plot : also write ``<uri>.png`` (score curve, threshold, changes; reference turns if given)
    reference : an RTTM with this file's reference turns, drawn on the plot
    protected : input files that must never be overwritten

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from turnpoint.detect import detect_changes
    >>> d = detect_changes(np.zeros(16000, dtype=np.float32), uri="silence")
    >>> sorted(p.name for p in write_outputs(d, out_dir=tempfile.mkdtemp(), formats=["rttm", "json"]).values())
    ['silence.json', 'silence.rttm']
    """
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    paths = output_paths(detection.uri, out_dir=out_dir, formats=formats, scores=scores, plot=plot)
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
        writer.writerow(["uri", "segment", "start", "end", "duration"])
        for index, (start, end) in enumerate(detection.segments):
            writer.writerow([detection.uri, index, f"{start:.3f}", f"{end:.3f}", f"{end - start:.3f}"])
        atomic_write_text(paths["csv"], buffer.getvalue())
    if "scores" in paths:
        with atomic_open(paths["scores"]) as handle:
            handle.write("time,score\n")
            for time, value in zip(detection.scores.times, detection.scores.values):
                handle.write(f"{time:.3f},{value:.5f}\n")
    if "plot" in paths:
        reference_turns = None
        if reference is not None:
            reference_turns = read_rttm(reference).get(detection.uri)
            if reference_turns is None:
                raise TurnpointError(f"no turns for {detection.uri!r} in this reference RTTM", path=reference)
        plot_detection(detection, paths["plot"], reference=reference_turns)
    return paths


def plot_detection(detection: Detection, path: str | Path, *, reference: Sequence[Turn] | None = None) -> Path:
    """PNG of the score curve with the threshold, detected changes and (optionally) reference turns.

    With re-scoring, the BiLSTM curve is drawn with its candidates at their re-scored values and the
    re-scoring threshold (the one that decides); with its second pass, the first-pass changes it
    dropped (same speaker cluster) are drawn dashed grey.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from turnpoint.peaks import threshold_for

    values, times = detection.scores.values, detection.scores.times
    threshold = threshold_for(values, alpha=detection.settings["alpha"], alpha_scale=detection.settings["alpha_scale"])
    width = float(np.clip(detection.duration / 6.0, 8.0, 40.0))
    figure, axis = plt.subplots(figsize=(width, 3.6))
    if reference:
        speakers = sorted({turn.speaker for turn in reference})
        colours = plt.get_cmap("tab10")
        for turn in reference:
            axis.axvspan(turn.start, turn.end, ymin=0.0, ymax=0.06, color=colours(speakers.index(turn.speaker) % 10), lw=0)
        for index, time in enumerate(change_points(reference)):
            axis.axvline(time, color="tab:green", lw=1.0, ls=":", label="reference turn boundary" if index == 0 else None)
    if detection.candidates is None:
        axis.plot(times, values, color="tab:blue", lw=0.8, label="change score")
        axis.axhline(threshold, color="tab:orange", lw=1.0, ls="--", label=f"threshold {threshold:.3f}")
    else:  # the hybrid: BiLSTM curve, its candidates' re-scored scores and the re-scoring threshold
        axis.plot(times, values, color="tab:blue", lw=0.8, label="BiLSTM score")
        axis.plot(detection.candidates, detection.candidate_scores, "o", ms=3, color="tab:purple", label="re-scored candidate")
        rescored = detection.settings["rescoring"]["threshold"]
        axis.axhline(rescored, color="tab:orange", lw=1.0, ls="--", label=f"re-scoring threshold {rescored:.3f}")
    for index, time in enumerate(detection.changes):
        axis.axvline(time, color="tab:red", lw=1.2, alpha=0.8, label="detected change" if index == 0 else None)
    for index, time in enumerate(detection.dropped if detection.dropped is not None else []):
        axis.axvline(time, color="tab:gray", lw=1.0, ls="--", alpha=0.8, label="dropped: one speaker cluster" if index == 0 else None)
    axis.set_xlim(0, max(detection.duration, 1e-3))
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("time (s)")
    axis.set_ylabel("score")
    axis.set_title(f"{detection.uri}: {len(detection.changes)} changes")
    axis.legend(loc="upper right", fontsize=8, ncols=4)
    figure.tight_layout()
    with atomic_open(path, mode="wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
    return Path(path)
