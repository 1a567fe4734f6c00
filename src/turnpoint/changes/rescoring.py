"""Speaker-embedding re-scoring of the BiLSTM's candidate changes (beyond the paper).

The BiLSTM is good at *where* something changes (it fires at speaker changes but also at
pauses and clip joins); a pretrained speaker encoder is good at *whether the voice changed*.
Every local maximum of the BiLSTM curve (at least ``candidate_spacing`` apart, above
``candidate_floor``) becomes a candidate. For each context length, the cosine distance between
the GE2E embeddings (:mod:`turnpoint.changes.speaker_encoder`, Resemblyzer's pretrained weights) of the
audio just before and just after it is measured. The candidate's new score is either the mean
distance plus ``bilstm_weight`` times its BiLSTM score, or, when the settings carry a learned
:class:`CandidateScorer`, the probability that scorer gives from those distances, the BiLSTM score
and the candidate's place in the file (:func:`candidate_features`). Candidates scoring above
``threshold`` are kept, at least ``min_duration`` apart. Only candidates are embedded, in
batches, never the whole file densely.

Optionally (:class:`SegmentClustering`, ``RescoringSettings.clustering``) a second pass groups the
segments between kept changes by speaker: each segment is embedded whole (GE2E embeddings of its
1.6 s windows every 0.8 s, summed), the segments are clustered (agglomerative, cosine distance)
and a change between two segments of one cluster is dropped unless its re-scored value reached
``keep_above``. A segment is compared with everything its speaker says in the file, not only with
the few seconds next to it.

Settings are chosen on the simulated validation splits (unseen voices) by
``recipes/choose_rescoring.py`` and shipped in the bundled model's header: the bundled ``hybrid``
model is this pipeline, ``paper`` the BiLSTM alone (see MODEL_CARD.md). :func:`rescore` returns
everything it computed as one :class:`HybridEvidence`, which detection, ``tune`` and the selection
recipe read instead of computing it again.

The parts live beside this module: :mod:`turnpoint.changes.context_embeddings` (distances across
each candidate), :mod:`turnpoint.changes.candidate_scorer` (the learned score) and
:mod:`turnpoint.changes.segment_clustering` (the second pass).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import Scores
from turnpoint.changes.candidate_scorer import EXTRA_FEATURES, CandidateScorer, candidate_features
from turnpoint.changes.context_embeddings import MIN_CONTEXT, candidate_distances
from turnpoint.changes.peaks import find_peaks, strict_local_maxima
from turnpoint.changes.segment_clustering import SegmentClustering, segment_embeddings, separation_scores

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RescoringSettings:
    """Candidate selection, context lengths, score and threshold of GE2E re-scoring.

    Examples
    --------
    >>> RescoringSettings(contexts=[2.4]).contexts
    (2.4,)
    """

    threshold: float = 0.34
    candidate_floor: float = 0.01
    candidate_spacing: float = 0.5
    min_duration: float = 1.0
    contexts: tuple[float, ...] = (2.4,)  # seconds embedded on each side
    bilstm_weight: float = 0.0  # without a scorer: score = mean distance + bilstm_weight * BiLSTM score
    scorer: CandidateScorer | None = None  # learned score from distances, BiLSTM score and gaps
    clustering: SegmentClustering | None = None  # second pass: drop changes inside one speaker cluster

    def __post_init__(self) -> None:
        object.__setattr__(self, "contexts", tuple(float(c) for c in self.contexts))
        if not self.contexts or min(self.contexts) < MIN_CONTEXT:
            raise ValueError(f"re-scoring contexts must be at least {MIN_CONTEXT} s, not {list(self.contexts)}")
        if not self.candidate_spacing > 0 or not self.min_duration > 0:
            raise ValueError("re-scoring candidate_spacing and min_duration must be positive")
        if isinstance(self.scorer, dict):
            object.__setattr__(self, "scorer", CandidateScorer.from_dict(self.scorer))
        if isinstance(self.clustering, dict):
            object.__setattr__(self, "clustering", SegmentClustering(**self.clustering))
        wanted = len(self.contexts) + len(EXTRA_FEATURES)
        if self.scorer is not None and self.scorer.n_features != wanted:
            raise ValueError(f"the candidate scorer takes {self.scorer.n_features} features; {len(self.contexts)} contexts give {wanted}")

    def to_dict(self) -> dict:
        data = dict(asdict(self), contexts=list(self.contexts), method="ge2e")
        if self.scorer is None:
            del data["scorer"]  # files without a scorer keep the layout older readers know
        else:
            data["scorer"] = self.scorer.to_dict()
        if self.clustering is None:
            del data["clustering"]  # likewise
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RescoringSettings:
        return cls(**{key: value for key, value in data.items() if key != "method"})

    def score(self, distances: np.ndarray, bilstm: np.ndarray, times: np.ndarray, *, duration: float) -> np.ndarray:
        """Candidates' new scores from their per-context distances (candidate, context) and BiLSTM scores.

        Examples
        --------
        >>> new = RescoringSettings(bilstm_weight=0.5).score(np.array([[0.3]]), np.array([0.2]), np.array([1.0]), duration=5.0)
        >>> round(float(new[0]), 3)
        0.4
        """
        distances = np.asarray(distances, dtype=np.float32).reshape(len(times), len(self.contexts))
        if self.scorer is not None:
            return self.scorer(candidate_features(distances, bilstm, times, duration=duration))
        mean = distances.mean(axis=1) if len(times) else np.zeros(0, dtype=np.float32)
        return (mean + self.bilstm_weight * np.asarray(bilstm, dtype=np.float32)).astype(np.float32)

    def with_overrides(self, *, threshold: float | None = None, min_duration: float | None = None,
                       clustering: bool | None = None) -> RescoringSettings:
        """A copy with ``threshold`` / ``min_duration`` replaced where given; ``clustering`` False drops the
        second pass, True adds one (:class:`SegmentClustering`'s defaults) where there is none.

        Examples
        --------
        >>> RescoringSettings(clustering=SegmentClustering()).with_overrides(clustering=False).clustering is None
        True
        """
        changes: dict = {key: value for key, value in (("threshold", threshold), ("min_duration", min_duration)) if value is not None}
        if clustering is False:
            changes["clustering"] = None
        elif clustering and self.clustering is None:
            changes["clustering"] = SegmentClustering()
        return replace(self, **changes)


def resolve_rescoring(model_default: RescoringSettings | None, rescoring: RescoringSettings | bool | None) -> RescoringSettings | None:
    """The re-scoring to run: the model's default (None), on (True), off (False) or given settings.

    Examples
    --------
    >>> shipped = RescoringSettings(threshold=0.4)
    >>> resolve_rescoring(shipped, None).threshold, resolve_rescoring(shipped, False)
    (0.4, None)
    >>> resolve_rescoring(None, True) == RescoringSettings()
    True
    """
    if rescoring is None:
        return model_default
    if rescoring is False:
        return None
    if rescoring is True:
        return model_default or RescoringSettings()
    if isinstance(rescoring, RescoringSettings):
        return rescoring
    raise TurnpointError(f"rescoring must be None, True, False or RescoringSettings, not {rescoring!r}")


def candidates(scores: Scores, *, settings: RescoringSettings) -> np.ndarray:
    """Frame indices of the BiLSTM curve's candidate changes.

    Examples
    --------
    >>> curve = np.zeros(300); curve[[50, 60, 200]] = [0.3, 0.5, 0.02]
    >>> candidates(Scores(curve, 0.016, 4.8), settings=RescoringSettings()).tolist()
    [60, 200]
    """
    order = max(1, int(round(settings.candidate_spacing / scores.frame_step)))
    peaks = strict_local_maxima(scores.values, order=order)
    return peaks[scores.values[peaks] > settings.candidate_floor]


def first_pass(scores: Scores, times: np.ndarray, values: np.ndarray, *, settings: RescoringSettings) -> tuple[np.ndarray, np.ndarray]:
    """Change times kept by the re-scoring's first pass (before any clustering) and their re-scored values.

    Candidates (``times``) scoring above ``settings.threshold`` are peaks of a sparse curve,
    kept at least ``settings.min_duration`` apart.

    Examples
    --------
    >>> scores = Scores(np.zeros(500), 0.01, 5.0)
    >>> first_pass(scores, np.array([1.0, 1.5, 3.0]), np.array([0.5, 0.6, 0.2]), settings=RescoringSettings(threshold=0.3, min_duration=1.0))
    (array([1.5]), array([0.6]))
    """
    frames = np.rint(np.asarray(times) / scores.frame_step).astype(np.int64)
    sparse = np.zeros(len(scores.values), dtype=np.float64)
    sparse[frames] = values
    kept = find_peaks(sparse, frame_step=scores.frame_step, alpha=settings.threshold, min_duration=settings.min_duration)
    return kept * scores.frame_step, sparse[kept]


@dataclass(frozen=True)
class HybridEvidence:
    """Everything the hybrid computed for one file: candidates, first pass, second pass, changes.

    Attributes
    ----------
    candidate_times : (candidate,) seconds of the BiLSTM curve's candidate changes
    candidate_scores : (candidate,) their re-scored values
    first_times : (first,) seconds of the changes the first pass keeps (re-scored value above the
        threshold, at least ``min_duration`` apart)
    first_values : (first,) their re-scored values
    separation : (first,) how far apart the second pass puts the two sides of each first-pass
        change (:func:`turnpoint.changes.segment_clustering.separation_scores`); None without one
    cut : the separation above which a first-pass change is kept (the clustering threshold)
    changes : the detected change times (seconds)

    Examples
    --------
    >>> evidence = HybridEvidence(candidate_times=np.array([1.0, 2.0]), candidate_scores=np.array([0.5, 0.6]),
    ...                           first_times=np.array([1.0, 2.0]), first_values=np.array([0.5, 0.6]),
    ...                           separation=np.array([0.1, 0.9]), cut=0.3, changes=np.array([2.0]))
    >>> evidence.dropped.tolist()
    [1.0]
    """

    candidate_times: np.ndarray
    candidate_scores: np.ndarray
    first_times: np.ndarray
    first_values: np.ndarray
    separation: np.ndarray | None
    cut: float | None
    changes: np.ndarray

    @property
    def dropped(self) -> np.ndarray | None:
        """The first-pass changes the second pass dropped (None without a second pass)."""
        if self.separation is None:
            return None
        return self.first_times[~(self.separation > self.cut)]

    def curve(self, scores: Scores) -> Scores:
        """The decision as a sparse curve on ``scores``' frames: its peaks above the deciding threshold
        (the re-scoring threshold, or with a second pass the clustering cut) are the detected changes.

        Without a second pass: each candidate valued by its re-scored value. With one: each
        first-pass change valued by its separation. ``turnpoint tune`` sweeps that threshold.
        """
        times, values = (self.candidate_times, self.candidate_scores) if self.separation is None else (self.first_times, self.separation)
        sparse = np.zeros(len(scores.values), dtype=np.float32)
        sparse[np.rint(times / scores.frame_step).astype(np.int64)] = values
        return Scores(sparse, scores.frame_step, scores.duration)


def rescore(
    audio: str | Path | np.ndarray,
    scores: Scores,
    *,
    settings: RescoringSettings | None = None,
    device: str = "cpu",
) -> HybridEvidence:
    """Re-score the BiLSTM's candidate changes with GE2E distances, then run the second pass if the settings have one.

    Parameters
    ----------
    audio : the file (read again, streaming) or the 16 kHz mono waveform that ``scores`` came from
    scores : the BiLSTM's score curve
    settings : candidate selection, contexts, score, threshold and second pass

    Returns
    -------
    HybridEvidence : candidates, their new scores, the first pass, the separations and the changes

    Examples
    --------
    >>> # changes = rescore("talk.wav", detection.scores).changes
    """
    settings = settings or RescoringSettings()
    cut = None if settings.clustering is None else settings.clustering.threshold
    frames = candidates(scores, settings=settings)
    times = frames * scores.frame_step
    if len(times) == 0:
        none = np.zeros(0, dtype=np.float64)
        return HybridEvidence(times, np.zeros(0, dtype=np.float32), none, none, None if cut is None else none, cut, times)
    distances = candidate_distances(audio, times, contexts=settings.contexts, device=device)
    new_scores = settings.score(distances, scores.values[frames], times, duration=scores.duration)
    first, values = first_pass(scores, times, new_scores, settings=settings)
    logger.debug("%d of %d candidates kept", len(first), len(frames))
    if settings.clustering is None:
        return HybridEvidence(times, new_scores, first, values, None, None, first)
    separation = np.zeros(0, dtype=np.float64)
    changes = first
    if len(first):
        sums, counts = segment_embeddings(audio, first, duration=scores.duration, clustering=settings.clustering, device=device)
        separation = separation_scores(values, sums, counts, clustering=settings.clustering)
        changes = np.asarray(first, dtype=np.float64)[separation > cut]
        logger.debug("%d of %d changes separate speaker clusters", len(changes), len(first))
    return HybridEvidence(times, new_scores, first, values, separation, cut, changes)
