"""PNG figures of a detection: score curve, threshold, changes and speaker turns, readable on long files.

Layout
------
A file up to ``overview_from`` seconds (2 minutes by default) is one strip: the score curve with its
threshold and the detected changes, and under it a row of coloured bars for the detected speaker
turns (when the detection labels its segments) and one for the reference turns (when given).

A longer file gets, in the same PNG, an *overview* strip of the whole file (the score's envelope,
changes as short ticks along the top instead of full-height lines, and the turn bars) followed by
*detail strips* of ``strip_seconds`` each (60 s by default, all on the same time scale), stacked
top to bottom. One PNG per file keeps the outputs one-per-kind (``<uri>.png``), so batch runs can
tell a finished file from an unfinished one; to keep it within what image viewers open, a file of
more than ``max_strips`` strips gets longer strips instead of more of them. For browsing a long
file, the HTML report (:mod:`turnpoint.changes.report`) zooms and plays the audio.

The legend sits outside the axes (under the plot for a single strip, under the title for a long
file) and names every speaker colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from turnpoint.changes.annotations import Turn, change_points
from turnpoint.changes.detection import Detection
from turnpoint.core.fileio import atomic_open

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn, not with turnpoint
    from matplotlib.figure import Figure

#: Files longer than this (seconds) get an overview strip and detail strips.
OVERVIEW_FROM = 120.0
#: Length of one detail strip (seconds).
STRIP_SECONDS = 60.0
#: At most this many detail strips; longer files get proportionally longer strips.
MAX_STRIPS = 60

#: Colours of the reference speakers and of the detected speaker labels: two palettes, because a
#: detected "SPEAKER_00" is not known to be any particular reference speaker.
REFERENCE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DETECTED_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def strip_ranges(duration: float, *, strip_seconds: float = STRIP_SECONDS, overview_from: float = OVERVIEW_FROM,
                 max_strips: int = MAX_STRIPS) -> list[tuple[float, float]]:
    """Time ranges of the detail strips of a file; ``[]`` when the file is drawn as one strip.

    Every strip spans the same time (the last one may run past the end of the file), so all strips
    share one time scale.

    Examples
    --------
    >>> strip_ranges(90.0)
    []
    >>> strip_ranges(150.0)
    [(0.0, 60.0), (60.0, 120.0), (120.0, 180.0)]
    >>> len(strip_ranges(3 * 3600.0)), strip_ranges(3 * 3600.0)[0]
    (60, (0.0, 180.0))
    """
    if not duration > overview_from:
        return []
    length = max(float(strip_seconds), duration / max_strips)
    count = math.ceil(duration / length - 1e-9)
    return [(i * length, (i + 1) * length) for i in range(count)]


def speaker_colours(labels: Sequence[str | None], palette: Sequence[str]) -> dict[str, str]:
    """One colour per distinct label (sorted; ``None`` skipped), cycling through ``palette``.

    Examples
    --------
    >>> speaker_colours(["B", None, "A", "B"], ["red", "blue"])
    {'A': 'red', 'B': 'blue'}
    """
    names = sorted({label for label in labels if label is not None})
    return {name: palette[i % len(palette)] for i, name in enumerate(names)}


def detected_turns(detection: Detection) -> list[Turn]:
    """The detection's labelled segments as turns (unlabelled and non-speech segments left out).

    Examples
    --------
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection("a", "", Scores(np.zeros(300, np.float32), 0.01, 3.0), np.array([1.0, 2.0]),
    ...               [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)], labels=["SPEAKER_00", None, "SPEAKER_01"])
    >>> [(t.start, t.speaker) for t in detected_turns(d)]
    [(0.0, 'SPEAKER_00'), (2.0, 'SPEAKER_01')]
    """
    if detection.labels is None:
        return []
    return [Turn(start=s, end=e, speaker=label) for (s, e), label in zip(detection.segments, detection.labels) if label is not None]


def decision_threshold(detection: Detection) -> tuple[float, str]:
    """The threshold that decides the changes, and its legend label.

    With re-scoring that is the re-scoring threshold (on the candidates' re-scored scores), otherwise
    the peak threshold on the score curve.

    Examples
    --------
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection("a", "", Scores(np.zeros(10, np.float32), 0.01, 0.1), np.array([]), [(0.0, 0.1)],
    ...               settings={"alpha": 0.4, "alpha_scale": "absolute"})
    >>> decision_threshold(d)
    (0.4, 'threshold 0.400')
    """
    if detection.candidates is not None:
        value = float(detection.settings["rescoring"]["threshold"])
        return value, f"re-scoring threshold {value:.3f}"
    if "speakers" in detection.settings:  # the curve is a speaker distance; the clustering cut decides
        value = float(detection.settings["speakers"]["threshold"])
        return value, f"speaker cut {value:.3f}"
    from turnpoint.changes.peaks import threshold_for

    value = threshold_for(detection.scores.values, alpha=detection.settings["alpha"], alpha_scale=detection.settings["alpha_scale"])
    return value, f"threshold {value:.3f}"


def clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for tick labels of long files.

    Examples
    --------
    >>> clock(75.0), clock(3725.0)
    ('1:15', '1:02:05')
    """
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _tick_step(span: float) -> float:
    """A round clock step (5 s, 10 s, 30 s, 1 min, 5 min...) giving about 6 to 15 ticks over ``span`` seconds."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 15:
            return float(step)
    return float(math.ceil(span / 15 / 3600) * 3600)


def _envelope(times: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Max per bin: a curve of ``bins`` points that keeps every peak of a long one."""
    if len(values) <= 2 * bins:
        return times, values
    edges = np.linspace(0, len(values), bins + 1).astype(int)
    return times[edges[:-1]], np.maximum.reduceat(values, edges[:-1])


def _draw_turns(axis, rows: list[tuple[str, list[Turn], dict[str, str]]], start: float, end: float) -> None:
    """One row of coloured bars per (name, turns, colours), top row first."""
    for row, (_, turns, colours) in enumerate(rows):
        y = len(rows) - 1 - row
        for speaker, colour in colours.items():
            spans = [(t.start, t.duration) for t in turns if t.speaker == speaker and t.end > start and t.start < end]
            if spans:
                axis.broken_barh(spans, (y + 0.12, 0.76), facecolors=colour, linewidth=0)
    axis.set_ylim(0, len(rows))
    axis.set_yticks([len(rows) - 0.5 - i for i in range(len(rows))], [name for name, _, _ in rows], fontsize=8)
    axis.tick_params(axis="y", length=0)


def _draw_panel(figure, detection: Detection, *, rects: list[list[float]], start: float, end: float, overview: bool,
                rows: list[tuple[str, list[Turn], dict[str, str]]], reference_changes: list[float],
                threshold: float, long_file: bool, title: str) -> list:
    """Score axes (and turn-row axes under it) at ``rects`` for ``[start, end]``; returns the axes, top first."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    score_axis = figure.add_axes(rects[0])
    axes = [score_axis]
    if rows:
        axes.append(figure.add_axes(rects[1], sharex=score_axis))
    times, values = detection.scores.times, detection.scores.values
    inside = (times >= start - detection.scores.frame_step) & (times <= end + detection.scores.frame_step)
    t, v = times[inside], values[inside]
    if overview:
        t, v = _envelope(t, v, bins=1500)
    score_axis.plot(t, v, color="tab:blue", lw=0.7 if overview else 0.8)
    score_axis.axhline(threshold, color="tab:orange", lw=1.0, ls="--")
    if detection.candidates is not None:
        keep = (detection.candidates >= start) & (detection.candidates <= end)
        score_axis.plot(detection.candidates[keep], np.asarray(detection.candidate_scores)[keep], "o",
                        ms=2 if overview else 3, color="tab:purple")
    changes = np.asarray(detection.changes, dtype=float)
    changes = changes[(changes >= start) & (changes <= end)]
    dropped = np.asarray(detection.dropped if detection.dropped is not None else [], dtype=float)
    dropped = dropped[(dropped >= start) & (dropped <= end)]
    boundaries = [b for b in reference_changes if start <= b <= end]
    transform = score_axis.get_xaxis_transform()  # x in seconds, y in axes fraction
    if overview:  # full-height lines would merge into a wall: short ticks along the top instead
        score_axis.vlines(boundaries, 0.0, 0.08, transform=transform, color="tab:green", lw=0.8)
        score_axis.vlines(dropped, 0.84, 0.92, transform=transform, color="tab:gray", lw=0.8)
        score_axis.vlines(changes, 0.90, 1.0, transform=transform, color="tab:red", lw=0.8)
    else:
        score_axis.vlines(boundaries, 0.0, 1.0, transform=transform, color="tab:green", lw=1.0, ls=":")
        score_axis.vlines(dropped, 0.0, 1.0, transform=transform, color="tab:gray", lw=1.0, ls="--", alpha=0.8)
        score_axis.vlines(changes, 0.0, 1.0, transform=transform, color="tab:red", lw=1.2, alpha=0.8)
    score_axis.set_ylim(0, 1.02)
    score_axis.set_yticks([0.0, 0.5, 1.0])
    score_axis.set_ylabel("score", fontsize=8)
    score_axis.set_xlim(start, end if end > start else start + 1e-3)
    score_axis.set_title(title, fontsize=10 if overview else 9, loc="left")
    score_axis.tick_params(labelsize=8)
    if rows:
        _draw_turns(axes[1], rows, start, end)
        score_axis.tick_params(axis="x", labelbottom=False)
    if long_file:
        axes[-1].xaxis.set_major_locator(MultipleLocator(_tick_step(end - start)))
        axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(x)))
    axes[-1].set_xlabel("time (m:ss)" if long_file else "time (s)", fontsize=8)
    axes[-1].tick_params(axis="x", labelsize=8)
    return axes


def _legend_handles(detection: Detection, *, threshold_label: str, reference: Sequence[Turn] | None,
                    reference_colours: dict[str, str], detected_colours: dict[str, str], long_file: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    score_label = "change score" if detection.candidates is None else "BiLSTM score"
    handles = [Line2D([], [], color="tab:blue", lw=1.0, label=score_label),
               Line2D([], [], color="tab:orange", lw=1.0, ls="--", label=threshold_label)]
    if detection.candidates is not None:
        handles.append(Line2D([], [], ls="", marker="o", ms=4, color="tab:purple", label="re-scored candidate"))
    handles.append(Line2D([], [], color="tab:red", lw=1.2, label=f"detected change ({len(detection.changes)})"))
    if detection.dropped is not None and len(detection.dropped):
        handles.append(Line2D([], [], color="tab:gray", lw=1.0, ls="--", label="dropped: one speaker cluster"))
    if reference:
        handles.append(Line2D([], [], color="tab:green", lw=1.0, ls=":" if not long_file else "-", label="reference turn boundary"))
    handles += [Patch(facecolor=colour, label=f"detected: {name}") for name, colour in detected_colours.items()]
    handles += [Patch(facecolor=colour, label=f"reference: {name}") for name, colour in reference_colours.items()]
    return handles


def detection_figure(detection: Detection, *, reference: Sequence[Turn] | None = None, strip_seconds: float = STRIP_SECONDS,
                     overview_from: float = OVERVIEW_FROM, max_strips: int = MAX_STRIPS) -> Figure:
    """The figure :func:`plot_detection` saves (see the module's docstring for its layout).

    The figure is a plain :class:`matplotlib.figure.Figure` (no pyplot state): inspect it, or save it
    with ``figure.savefig``.

    Parameters
    ----------
    detection : result of :func:`turnpoint.detect_changes`
    reference : the file's reference turns, drawn as a row of speaker bars and as turn boundaries
    strip_seconds : length of one detail strip of a long file
    overview_from : files longer than this (seconds) get an overview strip and detail strips
    max_strips : at most this many detail strips

    Examples
    --------
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection("a", "", Scores(np.zeros(30000, np.float32), 0.01, 300.0), np.array([100.0]),
    ...               [(0.0, 100.0), (100.0, 300.0)], settings={"alpha": 0.5, "alpha_scale": "absolute"})
    >>> figure = detection_figure(d)
    >>> len(figure.axes)  # score axes of the overview and of five 60 s strips
    6
    """
    from matplotlib.figure import Figure

    strips = strip_ranges(detection.duration, strip_seconds=strip_seconds, overview_from=overview_from, max_strips=max_strips)
    long_file = bool(strips)
    turns = detected_turns(detection)
    detected_colours = speaker_colours([t.speaker for t in turns], DETECTED_COLOURS)
    reference_colours = speaker_colours([t.speaker for t in reference or []], REFERENCE_COLOURS)
    rows = []
    if detection.labels is not None:
        rows.append(("detected", turns, detected_colours))
    if reference:
        rows.append(("reference", list(reference), reference_colours))
    reference_changes = change_points(reference) if reference else []
    threshold, threshold_label = decision_threshold(detection)
    duration = max(detection.duration, 1e-3)

    handles = _legend_handles(detection, threshold_label=threshold_label, reference=reference,
                              reference_colours=reference_colours, detected_colours=detected_colours, long_file=long_file)
    columns = min(len(handles), 5)
    headline = f"{detection.uri}: {len(detection.changes)} changes in {clock(duration) if long_file else f'{duration:.1f} s'}"
    # a long file's headline titles its overview: the legend takes the top of the figure
    panels = [(0.0, duration, True, f"{headline} (whole file)")] if long_file else [(0.0, duration, False, "")]
    panels += [(a, b, False, f"{clock(a)} – {clock(min(b, duration))}") for a, b in strips]

    # fixed sizes in inches, so that every strip of a long file looks the same (a layout engine
    # squeezes axes differently as the figure grows, and is slow on dozens of axes)
    left, right, score_h, row_h, gap = 0.85, 0.3, 1.25, 0.2, 0.04
    title_h, axis_h, legend_h = (0.3 if long_file else 0.05), 0.5, 0.2 * math.ceil(len(handles) / columns) + 0.15
    panel_h = title_h + score_h + (gap + row_h * len(rows) if rows else 0.0) + axis_h
    head_h = legend_h if long_file else 0.35
    foot_h = 0.1 if long_file else legend_h
    width = 14.0 if long_file else float(np.clip(duration / 8.0 + 4.0, 10.0, 16.0))
    height = head_h + panel_h * len(panels) + foot_h
    figure = Figure(figsize=(width, height))
    x0, w = left / width, (width - left - right) / width
    top = height - head_h  # inches from the bottom
    for start, end, overview, title in panels:
        score_top = top - title_h
        rects = [[x0, (score_top - score_h) / height, w, score_h / height]]
        if rows:
            rows_top = score_top - score_h - gap
            rects.append([x0, (rows_top - row_h * len(rows)) / height, w, row_h * len(rows) / height])
        _draw_panel(figure, detection, rects=rects, start=start, end=end, overview=overview, rows=rows,
                    reference_changes=reference_changes, threshold=threshold, long_file=long_file, title=title)
        top -= panel_h
    if long_file:
        figure.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1.0 - 0.05 / height), ncols=columns, fontsize=8, frameon=False)
    else:
        figure.suptitle(headline, fontsize=11, y=1.0 - 0.08 / height, va="top")
        figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.02 / height), ncols=columns, fontsize=8, frameon=False)
    return figure


def plot_detection(detection: Detection, path: str | Path, *, reference: Sequence[Turn] | None = None,
                   strip_seconds: float = STRIP_SECONDS, overview_from: float = OVERVIEW_FROM) -> Path:
    """PNG of the score curve with the threshold, detected changes, speaker turns and (optionally) reference turns.

    Files longer than ``overview_from`` seconds get an overview of the whole file and detail strips
    of ``strip_seconds`` stacked in the same PNG (see :mod:`turnpoint.changes.plots`). With re-scoring, the
    BiLSTM curve is drawn with its candidates at their re-scored values and the re-scoring threshold
    (the one that decides); with its second pass, the first-pass changes it dropped (same speaker
    cluster) are drawn dashed grey. The file is written atomically.

    Parameters
    ----------
    detection : result of :func:`turnpoint.detect_changes`
    path : the PNG to write
    reference : the file's reference turns (a row of speaker bars and the turn boundaries)
    strip_seconds, overview_from : layout of long files, as in :func:`detection_figure`

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection("a", "", Scores(np.zeros(500, np.float32), 0.01, 5.0), np.array([2.0]), [(0.0, 2.0), (2.0, 5.0)],
    ...               settings={"alpha": 0.5, "alpha_scale": "absolute"}, labels=["SPEAKER_00", "SPEAKER_01"])
    >>> plot_detection(d, os.path.join(tempfile.mkdtemp(), "a.png")).stat().st_size > 1000
    True
    """
    figure = detection_figure(detection, reference=reference, strip_seconds=strip_seconds, overview_from=overview_from)
    with atomic_open(path, mode="wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    return Path(path)
