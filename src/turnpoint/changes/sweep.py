"""Sweeping peak picking over (threshold, min_duration) on cached score curves, and choosing a point.

Every ``(alpha, min_duration)`` pair is scored without touching audio again: candidate peaks
(local maxima ``min_duration`` apart) are found once per ``min_duration`` and each alpha only
filters them. Purity/coverage use :func:`turnpoint.changes.metrics.purity_coverage`, a numpy
implementation that equals ``pyannote.metrics`` (tested) and is ~50x faster; change scores use
the same definitions as :mod:`turnpoint.changes.evaluation` (speaker changes by default), so the F1
of a point is what ``turnpoint evaluate`` reports for detection with that setting. Thresholds are
placed halfway between consecutive peak values, never on one, so rounding of the stored curves
cannot move a peak across a threshold.

Examples
--------
>>> # scores, seconds = score_files(files, system="bilstm")   # turnpoint.changes.score_curves
>>> # result = sweep(files, scores, system="bilstm"); best = select(result, criterion="boundary_f1")
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import argrelmax

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_open
from turnpoint.core.windows import Scores
from turnpoint.changes.change_definition import BOUNDARIES, EDGE, reference_changes
from turnpoint.changes.evaluation import bridge_pauses, crop_turns
from turnpoint.changes.metrics import BoundaryScore, PurityCoverage, boundary_score, purity_coverage, reference_pieces
from turnpoint.changes.peaks import ALPHA_SCALES
from turnpoint.changes.training_data import AnnotatedFile

logger = logging.getLogger(__name__)

MIN_DURATIONS = (0.5, 1.0, 1.5, 2.0)
CRITERIA = ("boundary_f1", "coverage", "f_measure")


@dataclass(frozen=True)
class SweepPoint:
    """Scores of one peak-picking setting over all files."""

    alpha: float
    min_duration: float
    purity: float
    coverage: float
    f_measure: float
    precision: float
    recall: float
    f1: float
    n_changes: int


@dataclass
class Sweep:
    """A system's purity–coverage / boundary curve over (alpha, min_duration)."""

    system: str
    points: list[SweepPoint]
    alpha_scale: str = "absolute"
    settings: dict = field(default_factory=dict)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["system", *SweepPoint.__dataclass_fields__], lineterminator="\n")
        writer.writeheader()
        for point in self.points:
            writer.writerow({"system": self.system, **{k: _round(v) for k, v in asdict(point).items()}})
        return buffer.getvalue()

    def at(self, min_duration: float) -> list[SweepPoint]:
        """The points of one min_duration, by increasing alpha."""
        return sorted((p for p in self.points if abs(p.min_duration - min_duration) < 1e-9), key=lambda p: p.alpha)


def _round(value: float) -> float:
    return float(f"{value:.6g}") if isinstance(value, float) else value


#: The cuts a second pass accepts (a cosine distance); its sweep is clipped to them, or the saved cut
#: would differ from the reported one (changes it always keeps are valued above 2)
CUT_RANGE = (1e-6, 2.0)


@dataclass
class _Prepared:
    regions: list[tuple[float, float]]
    pieces: np.ndarray
    changes: np.ndarray
    bounds: tuple[float, float]


def _prepare(item: AnnotatedFile, scores: Scores, *, tolerance: float, fill_gaps: float, bridge: float, boundaries: str) -> _Prepared:
    regions = list(item.annotated) if item.annotated is not None else [(0.0, scores.duration)]
    cropped = bridge_pauses(crop_turns(list(item.turns), regions), bridge=bridge)
    pieces = reference_pieces([(t.start, t.end, t.speaker) for t in cropped], tolerance=fill_gaps)
    changes = reference_changes(list(item.turns), regions, tolerance=tolerance, boundaries=boundaries)
    return _Prepared(regions, pieces, changes, (min(r[0] for r in regions), max(r[1] for r in regions)))


def _normalised_peaks(scores: Scores, *, min_duration: float, alpha_scale: str) -> tuple[np.ndarray, np.ndarray]:
    """Candidate peak times and their values on the alpha scale (peak kept when value > alpha)."""
    values = np.asarray(scores.values, dtype=np.float64)
    if len(values) < 3:
        return np.zeros(0), np.zeros(0)
    order = max(1, int(np.rint(min_duration / scores.frame_step)))
    index = argrelmax(values, order=order)[0]
    peak_values = values[index]
    if alpha_scale == "percentile":
        low, high = np.percentile(values, [1, 99])
    elif alpha_scale == "relative":
        low, high = values.min(), values.max()
    else:
        low, high = 0.0, 1.0
    scale = high - low if high > low else 1.0
    return index * scores.frame_step, (peak_values - low) / scale


def alpha_grid(values: np.ndarray, *, n_alphas: int = 60, alpha_range: tuple[float, float] | None = None) -> np.ndarray:
    """Thresholds from "every peak" to "none": halfway between consecutive distinct peak values.

    About ``n_alphas`` of them, spread like the values (quantiles). A threshold on a value itself
    would make the point depend on float rounding (``value > alpha``); halfway, a curve stored as
    float32 and one computed in float64 keep the same peaks. ``alpha_range`` clips the grid to
    the settings a detector accepts (a second pass's cut is a cosine distance in (0, 2]).

    Examples
    --------
    >>> alpha_grid(np.array([0.2, 0.6, 0.6, 0.9])).round(3).tolist()
    [0.199, 0.4, 0.75, 0.901]
    >>> alpha_grid(np.array([0.4, 1.0, 3.0]), alpha_range=(1e-6, 2.0)).round(3).tolist()
    [0.397, 0.7, 2.0]
    """
    distinct = np.unique(np.asarray(values, dtype=np.float64))
    if len(distinct) == 0:
        distinct = np.zeros(1)
    margin = 1e-3 * max(1.0, float(np.abs(distinct).max()))
    grid = np.r_[distinct[0] - margin, (distinct[:-1] + distinct[1:]) / 2, distinct[-1] + margin]
    if len(grid) > n_alphas:
        grid = grid[np.unique(np.rint(np.linspace(0, len(grid) - 1, n_alphas)).astype(np.int64))]
    if alpha_range is not None:
        grid = np.clip(grid, *alpha_range)
    return np.unique(grid)


def sweep(
    files: Sequence[AnnotatedFile],
    scores: Mapping[str, Scores],
    *,
    system: str = "bilstm",
    alphas: Sequence[float] | None = None,
    min_durations: Sequence[float] = MIN_DURATIONS,
    alpha_scale: str = "absolute",
    n_alphas: int = 60,
    tolerance: float = 0.5,
    fill_gaps: float = 0.5,
    bridge: float = 0.0,
    boundaries: str = "speaker",
    alpha_range: tuple[float, float] | None = None,
) -> Sweep:
    """Score every (alpha, min_duration) on the files' cached curves.

    Parameters
    ----------
    files : annotated files (turns, regions); their ``uri`` keys ``scores``
    scores : score curve per URI (:func:`score_files`)
    alphas : thresholds to try; default: :func:`alpha_grid` of the candidate peaks' values
        (so every system, whatever its score units, gets a full curve from "every peak" to "none")
    min_durations : minimum seconds between changes to try
    alpha_scale : "absolute" (alpha in score units), or the paper's per-file "percentile" / "relative"
    tolerance, fill_gaps, bridge, boundaries : as in :func:`turnpoint.changes.evaluation.evaluate`
    alpha_range : the thresholds the detector accepts; the default grid is clipped to it

    Examples
    --------
    >>> from turnpoint.changes.annotations import Turn
    >>> item = AnnotatedFile("f", Path("f.wav"), (Turn(start=0.0, end=5.0, speaker="A"), Turn(start=5.0, end=10.0, speaker="B")))
    >>> curve = np.zeros(626, dtype=np.float32); curve[312] = 0.9
    >>> result = sweep([item], {"f": Scores(curve, 0.016, 10.0)}, alphas=[0.5], min_durations=[1.0])
    >>> result.points[0].f1, round(result.points[0].purity, 3)
    (1.0, 0.999)
    """
    if alpha_scale not in ALPHA_SCALES:
        raise TurnpointError(f"alpha_scale must be one of {ALPHA_SCALES}, not {alpha_scale!r}")
    if boundaries not in BOUNDARIES:
        raise TurnpointError(f"boundaries must be one of {', '.join(BOUNDARIES)}, not {boundaries!r}")
    missing = [item.uri for item in files if item.uri not in scores]
    if missing:
        raise TurnpointError(f"no scores for {', '.join(missing[:5])}")
    if not files:
        raise TurnpointError("nothing to tune on: no annotated files")
    prepared = {
        item.uri: _prepare(item, scores[item.uri], tolerance=tolerance, fill_gaps=fill_gaps, bridge=bridge, boundaries=boundaries)
        for item in files
    }
    peaks = {
        (item.uri, md): _normalised_peaks(scores[item.uri], min_duration=md, alpha_scale=alpha_scale)
        for item in files
        for md in min_durations
    }
    if alphas is None:
        alphas = alpha_grid(np.concatenate([v for _, v in peaks.values()] or [np.zeros(0)]), n_alphas=n_alphas, alpha_range=alpha_range)
    points = []
    for md in min_durations:
        for alpha in alphas:
            segmentation = PurityCoverage(0.0, 0.0, 0.0)
            boundary = BoundaryScore(0, 0, 0)
            n_changes = 0
            for item in files:
                p = prepared[item.uri]
                times, values = peaks[(item.uri, md)]
                found = times[values > alpha]
                found = found[[any(s + EDGE < t < e - EDGE for s, e in p.regions) for t in found]] if len(found) else found
                n_changes += len(found)
                segmentation = segmentation + purity_coverage(p.pieces, [p.bounds[0], *found, p.bounds[1]])
                boundary = boundary + boundary_score(p.changes, found, tolerance=tolerance)
            points.append(
                SweepPoint(
                    float(alpha), float(md), segmentation.purity, segmentation.coverage, segmentation.f_measure,
                    boundary.precision, boundary.recall, boundary.f1, n_changes,
                )
            )
    settings = {
        "boundaries": boundaries, "tolerance": tolerance, "fill_gaps": fill_gaps, "bridge": bridge, "files": [item.uri for item in files],
    }
    return Sweep(system=system, points=points, alpha_scale=alpha_scale, settings=settings)


def coverage_at_purity(points: Sequence[SweepPoint], purity: float) -> float:
    """Best coverage among settings whose purity is at least ``purity`` (NaN if none).

    Examples
    --------
    >>> pts = [SweepPoint(0.1, 1.0, 0.8, 0.9, 0, 0, 0, 0, 0), SweepPoint(0.5, 1.0, 0.92, 0.7, 0, 0, 0, 0, 0)]
    >>> coverage_at_purity(pts, 0.9)
    0.7
    """
    ok = [p.coverage for p in points if p.purity >= purity - 1e-12]
    return max(ok) if ok else float("nan")


def purity_at_coverage(points: Sequence[SweepPoint], coverage: float) -> float:
    """Best purity among settings whose coverage is at least ``coverage`` (NaN if none)."""
    ok = [p.purity for p in points if p.coverage >= coverage - 1e-12]
    return max(ok) if ok else float("nan")


_CRITERION_VALUE = {"boundary_f1": lambda p: p.f1, "coverage": lambda p: p.coverage, "f_measure": lambda p: p.f_measure}


def degenerate(result: Sweep, point: SweepPoint, *, criterion: str = "boundary_f1") -> str | None:
    """Why a chosen setting is degenerate (it finds no change, or the criterion is flat), else None.

    Examples
    --------
    >>> pts = [SweepPoint(0.1, 1.0, 1.0, 0.9, 0.95, 0.5, 0.5, 0.5, 9), SweepPoint(0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0)]
    >>> degenerate(Sweep("x", pts), pts[1], criterion="coverage")
    'the chosen setting finds no change'
    >>> degenerate(Sweep("x", pts), pts[0]) is None
    True
    >>> degenerate(Sweep("x", pts), pts[0], criterion="f_measure") is None
    True
    >>> degenerate(Sweep("x", pts[:1] * 2), pts[0])
    'boundary_f1 is 0.5 at every point of the sweep'
    """
    values = [_CRITERION_VALUE[criterion](p) for p in result.points]
    if len(values) > 1 and max(values) - min(values) <= 1e-12:
        return f"{criterion} is {values[0]:.3g} at every point of the sweep"
    if point.n_changes == 0:
        return "the chosen setting finds no change"
    return None


def select(result: Sweep, *, criterion: str = "boundary_f1", target_purity: float = 0.9) -> SweepPoint:
    """The chosen setting: best speaker-change F1, best coverage at ``target_purity``, or best F(purity, coverage).

    ``"boundary_f1"`` (the default) is F1 of the changes the sweep scored (speaker changes unless
    it was run with ``boundaries="segmentation"``); ties go to the better F(purity, coverage).
    Coverage at a target purity is a trap where speakers seldom overlap: pyannote.metrics cuts
    hypothesis segments at the reference's silences, so with pauses between turns purity is
    100 % at every setting, and finding nothing has the best coverage. If no setting reaches
    the target purity, the purest one is chosen (with a warning); a degenerate choice
    (:func:`degenerate`) is flagged with a one-line warning.

    Examples
    --------
    >>> pts = [SweepPoint(0.1, 1.0, 0.8, 0.9, 0.85, 0, 0, 0.5, 9), SweepPoint(0.5, 1.0, 0.92, 0.7, 0.8, 0, 0, 0.6, 4)]
    >>> select(Sweep("x", pts)).alpha, select(Sweep("x", pts), criterion="f_measure").alpha
    (0.5, 0.1)
    >>> select(Sweep("x", pts), criterion="coverage", target_purity=0.9).alpha
    0.5
    """
    if criterion not in CRITERIA:
        raise TurnpointError(f"criterion must be one of {', '.join(CRITERIA)}, not {criterion!r}")
    points = result.points
    if not points:
        raise TurnpointError("empty sweep")
    if criterion == "f_measure":
        best = max(points, key=lambda p: (p.f_measure, p.f1))
    elif criterion == "boundary_f1":
        best = max(points, key=lambda p: (p.f1, p.f_measure))
    else:
        ok = [p for p in points if p.purity >= target_purity - 1e-12]
        if ok:
            best = max(ok, key=lambda p: (p.coverage, p.purity))
        else:
            best = max(points, key=lambda p: (p.purity, p.coverage))
            logger.warning("%s: no setting reaches %.1f %% purity; taking the purest (%.1f %%)", result.system, 100 * target_purity, 100 * best.purity)
    reason = degenerate(result, best, criterion=criterion)
    if reason is not None:
        logger.warning("%s: degenerate sweep: %s (%s %.4g, min_duration %g); check the dev set and the criterion",
                       result.system, reason, "threshold", best.alpha, best.min_duration)
    return best


def pareto(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """Settings no other setting beats in both purity and coverage, by increasing coverage."""
    front: list[SweepPoint] = []
    for point in sorted(points, key=lambda p: (-p.purity, -p.coverage)):
        if not front or point.coverage > front[-1].coverage + 1e-12:
            front.append(point)
    return sorted(front, key=lambda p: p.coverage)


def plot_curves(sweeps: Sequence[Sweep], path: str | Path, *, title: str = "") -> Path:
    """PNG of purity against coverage, one line per system (the best envelope over all settings).

    Like the paper's Fig. 4, each line shows what a system can trade between the two metrics.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 5.2), dpi=120)
    for result in sweeps:
        front = pareto(result.points)
        axes.plot([100 * p.coverage for p in front], [100 * p.purity for p in front], marker=".", label=result.system)
    axes.set_xlabel("coverage (%)")
    axes.set_ylabel("purity (%)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    with atomic_open(path, mode="wb") as handle:
        figure.savefig(handle, format="png")
    plt.close(figure)
    return Path(path)
