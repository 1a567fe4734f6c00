"""PNG figures: legend outside the data, speaker colours named, long files as an overview plus strips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb

import turnpoint.changes.outputs
from turnpoint.changes.annotations import Turn
from turnpoint.changes.detection import Detection
from turnpoint.core.windows import Scores
from turnpoint.changes.plots import DETECTED_COLOURS, REFERENCE_COLOURS, detection_figure, plot_detection, strip_ranges

STEP = 0.01


def detection(duration: float, *, labelled: bool = True, seed: int = 0) -> tuple[Detection, list[Turn]]:
    """A detection with score peaks at its changes, labelled segments (one non-speech gap in seven)
    and reference turns of three speakers whose boundaries are near the changes."""
    rng = np.random.default_rng(seed)
    bounds = np.cumsum(rng.uniform(3.0, 12.0, size=int(duration / 3) + 2))
    bounds = bounds[bounds < duration - 1.0]
    times = np.arange(int(duration / STEP)) * STEP
    values = 0.05 * rng.random(len(times))
    for b in bounds:
        values = values + 0.8 * np.exp(-0.5 * ((times - b) / 0.15) ** 2)
    changes = bounds + rng.normal(0, 0.1, size=len(bounds))
    edges = [0.0, *changes.tolist(), duration]
    segments = list(zip(edges[:-1], edges[1:]))
    labels = [None if i % 7 == 3 else f"SPEAKER_0{i % 2}" for i in range(len(segments))] if labelled else None
    ref_edges = [0.0, *bounds.tolist(), duration]
    reference = [Turn(start=a, end=b, speaker=("alice", "bob", "carol")[i % 3]) for i, (a, b) in enumerate(zip(ref_edges[:-1], ref_edges[1:]))]
    result = Detection(uri=f"talk{int(duration)}", path="", scores=Scores(np.clip(values, 0, 1).astype(np.float32), STEP, duration),
                       changes=changes, segments=segments, settings={"alpha": 0.5, "alpha_scale": "absolute", "min_duration": 1.0},
                       labels=labels)
    return result, reference


def drawn(figure):
    FigureCanvasAgg(figure).draw()
    return figure


def legend_texts(figure) -> list[str]:
    return [t.get_text() for t in figure.legends[0].get_texts()]


def assert_legend_clear_of_axes(figure) -> None:
    (legend,) = figure.legends
    box = legend.get_window_extent()
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1 and figure.bbox.y0 <= box.y0 and box.y1 <= figure.bbox.y1
    for axis in figure.axes:
        assert not box.overlaps(axis.get_window_extent()), f"legend covers the axes titled {axis.get_title(loc='left')!r}"


def bar_colours(axis) -> set[str]:
    return {to_hex(c) for collection in axis.collections for c in collection.get_facecolors() if len(collection.get_paths())}


def test_short_file_legend_below_the_axes_names_every_speaker_colour():
    d, reference = detection(45.0)
    figure = drawn(detection_figure(d, reference=reference))
    assert_legend_clear_of_axes(figure)
    score_axis, turn_axis = figure.axes  # one strip: the score and the turn rows under it
    assert figure.legends[0].get_window_extent().y1 < turn_axis.get_window_extent().y0  # below the plot
    assert score_axis.get_xlim() == pytest.approx((0.0, 45.0))
    assert [t.get_text() for t in turn_axis.get_yticklabels()] == ["detected", "reference"]
    texts = legend_texts(figure)
    assert f"detected change ({len(d.changes)})" in texts
    assert {"detected: SPEAKER_00", "detected: SPEAKER_01", "reference: alice", "reference: bob", "reference: carol"} <= set(texts)
    # every bar colour has its legend entry, and the entries' colours are the bars' colours
    patches = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(figure.legends[0].get_texts(), figure.legends[0].legend_handles)
               if t.get_text().startswith(("detected:", "reference:"))}
    assert set(patches.values()) == bar_colours(turn_axis)
    assert patches["detected: SPEAKER_00"] == DETECTED_COLOURS[0] and patches["reference: alice"] == REFERENCE_COLOURS[0]


def test_png_is_written_and_shows_the_turn_colours(tmp_path: Path):
    d, reference = detection(45.0)
    path = plot_detection(d, tmp_path / "talk.png", reference=reference)
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    figure = detection_figure(d, reference=reference)
    width, height = figure.get_size_inches() * 100
    assert Image.open(path).size == (round(width), round(height))
    for colour in (DETECTED_COLOURS[0], DETECTED_COLOURS[1], REFERENCE_COLOURS[0], REFERENCE_COLOURS[2]):
        rgb = np.round(np.array(to_rgb(colour)) * 255).astype(int)
        assert np.sum(np.all(pixels == rgb, axis=1)) > 500, colour  # solid bars, not just the legend swatch
    assert not list(tmp_path.glob(".*.tmp"))


def test_unlabelled_detection_without_reference_has_no_turn_rows():
    d, _ = detection(45.0, labelled=False)
    figure = drawn(detection_figure(d))
    assert len(figure.axes) == 1
    assert not [t for t in legend_texts(figure) if t.startswith(("detected:", "reference:"))]
    assert_legend_clear_of_axes(figure)


def test_long_file_gets_an_overview_and_60_second_strips():
    d, reference = detection(300.0)
    figure = drawn(detection_figure(d, reference=reference))
    assert_legend_clear_of_axes(figure)
    score_axes = figure.axes[0::2]  # score axes, each followed by its turn rows
    assert np.allclose([a.get_xlim() for a in score_axes], [(0, 300), (0, 60), (60, 120), (120, 180), (180, 240), (240, 300)])
    assert score_axes[0].get_title(loc="left").startswith(f"{d.uri}: {len(d.changes)} changes")
    # stacked top to bottom, none overlapping another, the legend above them all
    boxes = [a.get_window_extent() for a in figure.axes]
    assert all(upper.y0 > lower.y1 for upper, lower in zip(boxes, boxes[1:]))
    assert figure.legends[0].get_window_extent().y0 > boxes[0].y1
    # the overview marks changes with short ticks along the top, the strips with full-height lines
    def red_extent(axis) -> tuple[int, float]:
        (lines,) = [c for c in axis.collections if len(c.get_segments()) and to_hex(c.get_colors()[0]) == to_hex("tab:red")]
        spans = [seg[1][1] - seg[0][1] for seg in lines.get_segments()]
        return len(spans), max(spans)

    count, span = red_extent(score_axes[0])
    assert count == len(d.changes) and span <= 0.11
    per_strip = [red_extent(a) for a in score_axes[1:]]
    assert sum(n for n, _ in per_strip) == len(d.changes)
    assert all(span == pytest.approx(1.0) for _, span in per_strip)
    # every strip shows the same time span in the same width: one time scale
    widths = {round(b.width, 3) for b in boxes}
    assert len(widths) == 1


def test_strips_of_very_long_files_grow_instead_of_multiplying():
    assert strip_ranges(120.0) == []
    assert len(strip_ranges(121.0)) == 3
    ranges = strip_ranges(5 * 3600.0, max_strips=60)
    assert len(ranges) == 60 and ranges[-1][1] == pytest.approx(5 * 3600.0)
    assert {round(b - a, 6) for a, b in ranges} == {300.0}


def test_outputs_keeps_plot_detection():
    from turnpoint.changes import plots

    assert turnpoint.changes.outputs.plot_detection is plots.plot_detection
