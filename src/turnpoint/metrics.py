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
