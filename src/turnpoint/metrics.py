"""Boundary metrics: precision, recall and F1 of change times under an optimal one-to-one matching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def match_boundaries(reference: Sequence[float], hypothesis: Sequence[float], *, tolerance: float) -> list[tuple[int, int]]:
    """Largest one-to-one matching of hypothesis to reference times with ``|r - h| <= tolerance``.

    On a line, the two-pointer sweep over sorted times is optimal: matching the earliest
    reference with the earliest hypothesis that can reach it never removes a better choice.
    (Greedy nearest-first matching, as in ``pyannote.metrics.SegmentationPrecision``, can
    under-count.) Returns pairs of indices into the *sorted* inputs.

    Examples
    --------
    >>> match_boundaries([1.0, 2.0], [1.45, 1.55], tolerance=0.5)
    [(0, 0), (1, 1)]
    """
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    hyp = np.sort(np.asarray(hypothesis, dtype=np.float64))
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < len(ref) and j < len(hyp):
        if abs(ref[i] - hyp[j]) <= tolerance + 1e-9:
            pairs.append((i, j))
            i += 1
            j += 1
        elif hyp[j] < ref[i]:
            j += 1
        else:
            i += 1
    return pairs


@dataclass(frozen=True)
class BoundaryScore:
    """Counts and rates of a boundary comparison."""

    hits: int
    n_reference: int
    n_hypothesis: int

    @property
    def precision(self) -> float:
        return self.hits / self.n_hypothesis if self.n_hypothesis else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.n_reference if self.n_reference else 1.0

    @property
    def f1(self) -> float:
        total = self.n_reference + self.n_hypothesis
        return 2 * self.hits / total if total else 1.0

    def __add__(self, other: BoundaryScore) -> BoundaryScore:
        return BoundaryScore(self.hits + other.hits, self.n_reference + other.n_reference, self.n_hypothesis + other.n_hypothesis)


def boundary_score(reference: Sequence[float], hypothesis: Sequence[float], *, tolerance: float = 0.5) -> BoundaryScore:
    """Boundary hits / reference / hypothesis counts at ``tolerance`` seconds.

    Examples
    --------
    >>> s = boundary_score([1.0, 5.0], [1.2, 3.0], tolerance=0.5)
    >>> s.precision, s.recall, s.f1
    (0.5, 0.5, 0.5)
    """
    return BoundaryScore(len(match_boundaries(reference, hypothesis, tolerance=tolerance)), len(reference), len(hypothesis))


def merge_close(times: Sequence[float], *, within: float) -> np.ndarray:
    """Replace each run of times closer than ``within`` to their neighbour by the run's mean.

    A speaker change with a short pause is two turn boundaries (end of A, start of B) but one
    change: evaluation counts it once, at the middle of the pause.

    Examples
    --------
    >>> merge_close([1.0, 1.3, 5.0], within=0.5).tolist()
    [1.15, 5.0]
    """
    times = np.sort(np.asarray(times, dtype=np.float64))
    if len(times) == 0:
        return times
    groups = np.split(times, np.flatnonzero(np.diff(times) >= within) + 1)
    return np.array([group.mean() for group in groups])


# ---------------------------------------------------------------------------------------------
# segmentation purity and coverage (the pyannote.metrics definitions, computed with numpy)


@dataclass(frozen=True)
class PurityCoverage:
    """Components of segmentation purity and coverage (pyannote.metrics' definitions).

    ``total`` is the speech time shared by the reference and hypothesis partitions;
    ``purity_hits`` sums, over hypothesis pieces, the largest overlap with one reference piece;
    ``coverage_hits`` sums, over reference pieces, the largest overlap with one hypothesis piece.
    """

    total: float
    purity_hits: float
    coverage_hits: float

    @property
    def purity(self) -> float:
        return self.purity_hits / self.total if self.total > 0 else 1.0

    @property
    def coverage(self) -> float:
        return self.coverage_hits / self.total if self.total > 0 else 1.0

    @property
    def f_measure(self) -> float:
        p, c = self.purity, self.coverage
        return 2 * p * c / (p + c) if p + c > 0 else 0.0

    def __add__(self, other: PurityCoverage) -> PurityCoverage:
        return PurityCoverage(self.total + other.total, self.purity_hits + other.purity_hits, self.coverage_hits + other.coverage_hits)


def reference_pieces(turns: Sequence[tuple[float, float, str]], *, tolerance: float = 0.5) -> np.ndarray:
    """The reference partition pyannote.metrics' purity/coverage compare against, as (pieces, 2).

    Each speaker's gaps shorter than ``tolerance`` are filled; the pieces are the intervals between
    consecutive boundaries of all (filled) turns that lie inside speech. Overlapped speech is its own
    piece; silence is in no piece.

    Examples
    --------
    >>> reference_pieces([(0.0, 1.0, "A"), (1.2, 2.0, "A"), (2.5, 3.0, "B")], tolerance=0.5).tolist()
    [[0.0, 2.0], [2.5, 3.0]]
    """
    by_label: dict[str, list[tuple[float, float]]] = {}
    for start, end, label in turns:
        if end > start:
            by_label.setdefault(label, []).append((float(start), float(end)))
    filled: list[tuple[float, float]] = []
    for spans in by_label.values():
        spans.sort()
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start - cur_end < tolerance:
                cur_end = max(cur_end, end)
            else:
                filled.append((cur_start, cur_end))
                cur_start, cur_end = start, end
        filled.append((cur_start, cur_end))
    if not filled:
        return np.zeros((0, 2))
    spans = np.array(sorted(filled))
    bounds = np.unique(spans.ravel())
    starts, ends = bounds[:-1], bounds[1:]
    mids = (starts + ends) / 2
    # inside speech: some filled span contains the midpoint
    covered_until = np.maximum.accumulate(spans[:, 1])
    last = np.searchsorted(spans[:, 0], mids, side="right") - 1
    inside = (last >= 0) & (covered_until[np.maximum(last, 0)] > mids)
    return np.stack([starts[inside], ends[inside]], axis=1)


def purity_coverage(pieces: np.ndarray, hypothesis_bounds: Sequence[float]) -> PurityCoverage:
    """Purity/coverage components of a hypothesis partition against reference ``pieces``.

    Exactly pyannote.metrics' ``SegmentationPurityCoverageFMeasure`` given the pieces from
    :func:`reference_pieces`: the hypothesis partition (segments between consecutive
    ``hypothesis_bounds``, which include its start and end) is cut by the reference's speech
    regions, and every cut piece counts as its own segment.

    Examples
    --------
    >>> pieces = reference_pieces([(0.0, 4.0, "A"), (4.0, 10.0, "B")])
    >>> pc = purity_coverage(pieces, [0.0, 10.0])      # a single segment
    >>> round(pc.purity, 2), round(pc.coverage, 2)
    (0.6, 1.0)
    >>> pc = purity_coverage(pieces, [0.0, 4.0, 10.0])
    >>> pc.purity, pc.coverage
    (1.0, 1.0)
    """
    pieces = np.asarray(pieces, dtype=np.float64).reshape(-1, 2)
    bounds = np.unique(np.asarray(hypothesis_bounds, dtype=np.float64))
    if len(pieces) == 0 or len(bounds) < 2:
        return PurityCoverage(0.0, 0.0, 0.0)
    # coverage components: runs of touching reference pieces
    new_component = np.r_[True, pieces[1:, 0] > pieces[:-1, 1] + 1e-9]
    component = np.cumsum(new_component) - 1
    cuts = np.unique(np.concatenate([pieces.ravel(), bounds]))
    starts, ends = cuts[:-1], cuts[1:]
    mids, durations = (starts + ends) / 2, ends - starts
    ref = np.searchsorted(pieces[:, 0], mids, side="right") - 1
    in_ref = (ref >= 0) & (pieces[np.maximum(ref, 0), 1] > mids)
    hyp = np.searchsorted(bounds, mids, side="right") - 1
    keep = in_ref & (hyp >= 0) & (hyp < len(bounds) - 1)
    if not keep.any():
        return PurityCoverage(0.0, 0.0, 0.0)
    ref, hyp, durations = ref[keep], hyp[keep], durations[keep]
    hyp_piece = hyp * (component[-1] + 1) + component[ref]
    pairs, inverse = np.unique(np.stack([ref, hyp_piece], axis=1), axis=0, return_inverse=True)
    overlap = np.bincount(inverse.ravel(), weights=durations)
    coverage_hits = _group_max_sum(pairs[:, 0], overlap)
    purity_hits = _group_max_sum(pairs[:, 1], overlap)
    return PurityCoverage(float(overlap.sum()), purity_hits, coverage_hits)


def _group_max_sum(groups: np.ndarray, values: np.ndarray) -> float:
    """Sum over groups of the largest value in each group."""
    _, inverse = np.unique(groups, return_inverse=True)
    best = np.full(inverse.max() + 1, -np.inf)
    np.maximum.at(best, inverse, values)
    return float(best.sum())
