"""Change metrics: precision, recall and F1 of change times or intervals under an optimal one-to-one matching."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Slack (seconds) on the tolerance test, so that float noise (10.0 + 1.0 vs 11.000000000000002) never decides a match.
_SLACK = 1e-9


def as_intervals(changes: Sequence[float] | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Changes as a sorted ``(n, 2)`` array of ``[start, end]``; a time ``t`` is the interval ``[t, t]``.

    A change across a pause is an interval (the pause); a change between touching turns is a point.

    Examples
    --------
    >>> as_intervals([2.0, 1.0]).tolist()
    [[1.0, 1.0], [2.0, 2.0]]
    >>> as_intervals([[3.0, 3.5], [1.0, 1.0]]).tolist()
    [[1.0, 1.0], [3.0, 3.5]]
    """
    array = np.asarray(changes, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 2))
    if array.ndim == 1:
        array = np.stack([array, array], axis=1)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"changes must be times (n,) or intervals (n, 2), not an array of shape {array.shape}")
    if np.any(array[:, 1] < array[:, 0]):
        raise ValueError("a change interval ends before it starts")
    return array[np.lexsort((array[:, 1], array[:, 0]))]


def match_boundaries(
    reference: Sequence[float] | np.ndarray, hypothesis: Sequence[float] | np.ndarray, *, tolerance: float
) -> list[tuple[int, int]]:
    """Largest one-to-one matching of hypothesis to reference changes within ``tolerance`` seconds.

    Each side is change times or ``[start, end]`` intervals (:func:`as_intervals`). A reference
    interval ``[a, b]`` and a hypothesis interval ``[c, d]`` may be matched when they are at most
    ``tolerance`` apart: ``c <= b + tolerance`` and ``a <= d + tolerance`` (for a detection time
    ``t``: ``a - tolerance <= t <= b + tolerance``). The matching is a maximum bipartite matching
    (Hopcroft-Karp, :func:`scipy.sparse.csgraph.maximum_bipartite_matching`): greedy
    nearest-first matching, as in ``pyannote.metrics.SegmentationPrecision``, can under-count.
    Returns pairs of indices into the *sorted* inputs, by reference index.

    Examples
    --------
    >>> match_boundaries([1.0, 2.0], [1.45, 1.55], tolerance=0.5)
    [(0, 0), (1, 1)]
    >>> match_boundaries([[10.0, 12.0]], [13.5], tolerance=1.0)   # a change across a 2 s pause
    []
    >>> match_boundaries([[10.0, 12.0]], [12.9], tolerance=1.0)
    [(0, 0)]
    """
    ref = as_intervals(reference)
    hyp = as_intervals(hypothesis)
    if len(ref) == 0 or len(hyp) == 0:
        return []
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    reach = tolerance + _SLACK
    # Hypotheses are sorted by start, so those starting by b + tolerance are a prefix; those before
    # the first whose running-maximum end reaches a - tolerance all end too early. The candidates in
    # between are then filtered exactly (they all pass when ends are sorted too, as for change times).
    last = np.searchsorted(hyp[:, 0], ref[:, 1] + reach, side="right")
    first = np.minimum(np.searchsorted(np.maximum.accumulate(hyp[:, 1]), ref[:, 0] - reach, side="left"), last)
    counts = last - first
    rows = np.repeat(np.arange(len(ref)), counts)
    cols = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(first, counts)
    keep = hyp[cols, 1] >= ref[rows, 0] - reach
    rows, cols = rows[keep], cols[keep]
    if len(rows) == 0:
        return []
    graph = csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(len(ref), len(hyp)))
    partner = maximum_bipartite_matching(graph, perm_type="column")
    return [(int(i), int(j)) for i, j in enumerate(partner) if j >= 0]


@dataclass(frozen=True)
class BoundaryScore:
    """Counts and rates of a change comparison."""

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


def boundary_score(
    reference: Sequence[float] | np.ndarray, hypothesis: Sequence[float] | np.ndarray, *, tolerance: float = 0.5
) -> BoundaryScore:
    """Hits / reference / hypothesis counts at ``tolerance`` seconds (times or intervals, see :func:`match_boundaries`).

    Examples
    --------
    >>> s = boundary_score([1.0, 5.0], [1.2, 3.0], tolerance=0.5)
    >>> s.precision, s.recall, s.f1
    (0.5, 0.5, 0.5)
    >>> boundary_score([[10.0, 11.0]], [9.6, 11.4], tolerance=0.5).hits   # one change, one hit
    1
    """
    return BoundaryScore(
        len(match_boundaries(reference, hypothesis, tolerance=tolerance)), len(as_intervals(reference)), len(as_intervals(hypothesis))
    )


def merge_close(times: Sequence[float], *, within: float) -> np.ndarray:
    """Replace each run of times closer than ``within`` to their neighbour by the run's mean.

    Used by the segmentation-boundary view only (``boundaries="segmentation"`` in
    :mod:`turnpoint.changes.evaluation`), which reproduces earlier figures: there, the end of one turn
    and the start of the next across a short pause were one boundary at the pause's middle.

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
