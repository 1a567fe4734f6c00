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
``recipes/choose_rescoring.py`` and shipped in the bundled model's header: the bundled
``default`` model is this hybrid, ``paper`` the BiLSTM alone (see MODEL_CARD.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from turnpoint.core.audio import iter_audio
from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import Scores, torch_threads
from turnpoint.changes.peaks import find_peaks, strict_local_maxima

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # the speaker encoder's mel frames (10 ms hop)
CHUNK = 128  # candidates embedded together (bounds memory on long files)
WORKERS = 2  # threads embedding chunks side by side
MIN_CONTEXT = 0.4  # near the file's ends, less context is used, but not less than this
MAX_GAP = 5.0  # seconds to the neighbouring candidates are capped here as scorer features
CLUSTER_BLOCK = 2000  # segments clustered together by the second pass (memory is quadratic in it)
EXTRA_FEATURES = ("bilstm", "log_bilstm", "distance_zscore", "gap_before", "gap_after")


def candidate_features(distances: np.ndarray, bilstm: np.ndarray, times: np.ndarray, *, duration: float) -> np.ndarray:
    """The learned scorer's input: one row per candidate of one file.

    Columns: the GE2E distance at each context length (``distances``, (candidate, context)), then
    :data:`EXTRA_FEATURES`: the BiLSTM score, its log, the file-level z-score of the mean distance
    (speaker embeddings drift with channel and noise: a file's own spread is the yardstick) and
    the seconds since the previous and until the next candidate (capped at ``MAX_GAP``).

    Examples
    --------
    >>> f = candidate_features(np.array([[0.2], [0.6]]), np.array([0.1, 0.9]), np.array([2.0, 3.0]), duration=10.0)
    >>> f.shape, f[:, -2:].tolist()
    ((2, 6), [[2.0, 1.0], [1.0, 5.0]])
    """
    distances = np.asarray(distances, dtype=np.float64).reshape(len(times), -1)
    mean = distances.mean(axis=1) if distances.size else np.zeros(len(times))
    zscore = (mean - mean.mean()) / (mean.std() + 1e-3) if len(times) > 1 else np.zeros(len(times))
    before = np.diff(np.concatenate([[0.0], times]))
    after = np.diff(np.concatenate([times, [duration]]))
    bilstm = np.asarray(bilstm, dtype=np.float64)
    extra = [bilstm, np.log(bilstm + 1e-3), zscore, np.minimum(before, MAX_GAP), np.minimum(after, MAX_GAP)]
    return np.column_stack([distances, *extra]).astype(np.float32)


def _floats(values, name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(np.isfinite(out)):
        raise ValueError(f"candidate scorer {name} holds NaN or infinite values")
    return out


@dataclass(frozen=True)
class CandidateScorer:
    """A small tanh MLP (no hidden layer: logistic regression) scoring candidate changes.

    It maps :func:`candidate_features` (standardised by ``mean`` / ``scale``) to the probability
    that a candidate is a speaker change. Its few hundred weights travel in the model file's JSON
    header with the other re-scoring settings (shapes checked on load); :func:`fit_candidate_scorer`
    fits one.

    Examples
    --------
    >>> scorer = CandidateScorer(mean=(0.0, 0.0), scale=(1.0, 1.0), weights=(((2.0, 0.0),),), biases=((0.0,),))
    >>> [round(float(p), 3) for p in scorer(np.array([[1.0, 5.0], [-1.0, 5.0]]))]
    [0.881, 0.119]
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[tuple[tuple[float, ...], ...], ...]  # per layer: (out, in)
    biases: tuple[tuple[float, ...], ...]  # per layer: (out,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _floats(self.mean, "mean"))
        object.__setattr__(self, "scale", _floats(self.scale, "scale"))
        object.__setattr__(self, "weights", tuple(tuple(_floats(row, "weights") for row in layer) for layer in self.weights))
        object.__setattr__(self, "biases", tuple(_floats(layer, "biases") for layer in self.biases))
        if len(self.scale) != len(self.mean) or min(self.scale, default=0.0) <= 0:
            raise ValueError("candidate scorer needs one positive scale per feature")
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError("candidate scorer needs as many bias vectors as weight matrices (at least one)")
        width = len(self.mean)
        for index, (layer, bias) in enumerate(zip(self.weights, self.biases)):
            if not layer or any(len(row) != width for row in layer) or len(bias) != len(layer):
                raise ValueError(f"candidate scorer layer {index} has the wrong shape (needs rows of {width} inputs and one bias per row)")
            width = len(layer)
        if width != 1:
            raise ValueError("candidate scorer must end in a single output")

    @property
    def n_features(self) -> int:
        return len(self.mean)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (candidate,) for ``features`` (candidate, feature)."""
        hidden = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            hidden = hidden @ np.asarray(weight).T + bias
            if index < len(self.weights) - 1:
                hidden = np.tanh(hidden)
        return (1.0 / (1.0 + np.exp(-hidden[:, 0]))).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "scale": list(self.scale), "weights": [[list(row) for row in layer] for layer in self.weights],
                "biases": [list(layer) for layer in self.biases]}

    @classmethod
    def from_dict(cls, data: dict) -> CandidateScorer:
        return cls(**data)


def fit_candidate_scorer(
    features: np.ndarray, labels: np.ndarray, *, hidden: tuple[int, ...] = (), epochs: int = 300, seed: int = 0
) -> CandidateScorer:
    """Fit a :class:`CandidateScorer` (full-batch Adam on the logistic loss, small weight decay).

    Parameters
    ----------
    features : (candidate, feature) rows of :func:`candidate_features`, pooled over files
    labels : (candidate,) 1 where a reference change lies within the evaluation tolerance
    hidden : tanh layer widths; () is logistic regression

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2)); y = (x[:, 0] > 0).astype(np.float32)
    >>> scorer = fit_candidate_scorer(x, y, epochs=200)
    >>> bool(((scorer(x) > 0.5) == (y > 0)).mean() > 0.95)
    True
    """
    import torch

    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(labels) or len(features) == 0:
        raise ValueError(f"need (candidate, feature) features with one label each, got {features.shape} and {labels.shape}")
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    width = features.shape[1]
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.Tanh()]
        width = size
    layers.append(torch.nn.Linear(width, 1))
    network = torch.nn.Sequential(*layers)
    inputs = torch.from_numpy((features - mean) / scale)
    targets = torch.from_numpy(labels)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(network(inputs)[:, 0], targets)  # (candidate,)
        loss.backward()
        optimizer.step()
    linear = [module for module in network if isinstance(module, torch.nn.Linear)]
    return CandidateScorer(mean=mean.tolist(), scale=scale.tolist(), weights=[m.weight.detach().double().tolist() for m in linear],
                           biases=[m.bias.detach().double().tolist() for m in linear])


LINKAGES = ("average", "complete", "single")


@dataclass(frozen=True)
class SegmentClustering:
    """Second re-scoring pass: changes inside one speaker cluster are dropped.

    Segments between the kept changes are embedded (``window``-second GE2E windows every ``step``
    seconds, summed; a segment shorter than ``MIN_CONTEXT`` gets no embedding and keeps both its
    boundaries) and clustered by agglomerative clustering (``linkage``) on cosine distance, cut at
    ``threshold``. A change between two segments of the same cluster is dropped, unless its
    re-scored value is at least ``keep_above`` (None: never kept for that).

    Examples
    --------
    >>> SegmentClustering(threshold=0.3).linkage
    'average'
    """

    threshold: float = 0.3
    linkage: str = "average"
    keep_above: float | None = 0.5
    window: float = 1.6
    step: float = 0.8

    def __post_init__(self) -> None:
        if self.linkage not in LINKAGES:
            raise ValueError(f"clustering linkage must be one of {', '.join(LINKAGES)}, not {self.linkage!r}")
        if not 0 < self.threshold <= 2:
            raise ValueError(f"clustering threshold is a cosine distance in (0, 2], not {self.threshold}")
        if not self.window >= MIN_CONTEXT or not self.step > 0:
            raise ValueError(f"clustering window must be at least {MIN_CONTEXT} s and step positive")

    def to_dict(self) -> dict:
        return asdict(self)


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


def iter_segments(blocks: Iterable[np.ndarray], times: np.ndarray, *, context: float) -> Iterator[np.ndarray]:
    """Samples from ``t - context`` to ``t + context`` around each (sorted) time, yielded in order.

    Streaming: a segment is yielded as soon as the blocks have covered it, so memory holds one
    block and the segments still open, never the file.

    Examples
    --------
    >>> x = np.arange(48000, dtype=np.float32)
    >>> blocks = [x[i : i + 7000] for i in range(0, len(x), 7000)]
    >>> [s[[0, -1]].tolist() for s in iter_segments(blocks, np.array([1.0, 2.9]), context=0.5)]
    [[8000.0, 23999.0], [38400.0, 47999.0]]
    """
    bounds = [(max(0, int(round((t - context) * SAMPLE_RATE))), int(round((t + context) * SAMPLE_RATE))) for t in times]
    return iter_spans(blocks, bounds)


def iter_spans(blocks: Iterable[np.ndarray], bounds: list[tuple[int, int]]) -> Iterator[np.ndarray]:
    """Samples ``start:stop`` for each (start, stop) of ``bounds`` (starts and stops non-decreasing), streamed.

    Examples
    --------
    >>> x = np.arange(10, dtype=np.float32)
    >>> [s.tolist() for s in iter_spans([x[:4], x[4:]], [(1, 3), (2, 6), (8, 12)])]
    [[1.0, 2.0], [2.0, 3.0, 4.0, 5.0], [8.0, 9.0]]
    """
    parts: dict[int, list[np.ndarray]] = {}
    position = 0
    first_open = 0
    for block in blocks:
        end = position + len(block)
        for index in range(first_open, len(bounds)):
            start, stop = bounds[index]
            if start >= end:
                break
            if stop > position:
                parts.setdefault(index, []).append(block[max(0, start - position) : max(0, min(stop, end) - position)])
        while first_open < len(bounds) and bounds[first_open][1] <= end:
            done = parts.pop(first_open, [])
            yield np.concatenate(done) if done else np.zeros(0, dtype=np.float32)
            first_open += 1
        position = end
    for index in range(first_open, len(bounds)):  # cut short by the end of the file
        done = parts.pop(index, [])
        yield np.concatenate(done) if done else np.zeros(0, dtype=np.float32)


def gather_segments(blocks: Iterable[np.ndarray], times: np.ndarray, *, context: float) -> list[np.ndarray]:
    """All segments of :func:`iter_segments` as a list (for a few times; :func:`rescore` streams)."""
    return list(iter_segments(blocks, times, context=context))


def _right_embeddings(encoder, pieces: list[np.ndarray], lengths: list[list[int]]) -> list[list[np.ndarray | None]]:
    """Embeddings of the first ``n`` frames of each piece for every ``n`` in ``lengths[i]``.

    One LSTM pass per piece gives all its prefixes: the last layer's output at frame ``n - 1`` is
    the final hidden state of the first ``n`` frames.
    """
    import torch

    from turnpoint.core.runners import full_float32

    out: list[list[np.ndarray | None]] = [[None] * len(wanted) for wanted in lengths]
    by_length: dict[int, list[int]] = {}
    for index, piece in enumerate(pieces):
        by_length.setdefault(len(piece), []).append(index)
    for length, indices in by_length.items():
        for first in range(0, len(indices), 64):
            chosen = indices[first : first + 64]
            batch = torch.from_numpy(np.stack([pieces[i] for i in chosen])).to(next(encoder.parameters()).device)
            with full_float32():
                hidden, _ = encoder.lstm(batch)  # (batch, frame, hidden)
            for row, index in enumerate(chosen):
                for slot, n in enumerate(lengths[index]):
                    out[index][slot] = hidden[row, n - 1].clone()  # not a view: the batch's outputs can go
    flat = [(i, s) for i, wanted in enumerate(lengths) for s in range(len(wanted))]
    if flat:
        states = torch.stack([out[i][s] for i, s in flat])
        embeddings = torch.nn.functional.normalize(encoder.relu(encoder.linear(states)), dim=1).cpu().numpy()
        for (i, s), e in zip(flat, embeddings):
            out[i][s] = e
    return out


def embedding_distances(
    segments: list[np.ndarray],
    offsets: list[int],
    *,
    contexts: tuple[float, ...],
    device: str = "cpu",
    threads: int | None = 1,
    per_context: bool = False,
) -> np.ndarray:
    """Mean cosine distance between the embeddings before and after ``offsets[i]`` in ``segments[i]``.

    For each context length ``c`` the ``c`` seconds before the offset are compared with the ``c``
    seconds after it (less near a file's ends, but at least ``MIN_CONTEXT``; a context with too
    little audio on a side is left out of the mean; none left gives 0). With ``per_context`` the
    result is (segment, context) instead, a missing context filled with the mean of the others.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 0.1, 64000).astype(np.float32)
    >>> tone = (0.1 * np.sin(np.arange(64000) * 0.2)).astype(np.float32)
    >>> same, different = embedding_distances([noise, np.concatenate([noise[:32000], tone[:32000]])], [32000, 32000], contexts=(1.6, 2.0))
    >>> bool(different > same)
    True
    """
    import torch

    from turnpoint.changes.speaker_encoder import embed_segments, load_speaker_encoder, mel_frames, normalize_volume

    encoder = load_speaker_encoder(device)
    minimum = int(MIN_CONTEXT * FRAMES_PER_SECOND)
    spans = [int(round(c * FRAMES_PER_SECOND)) for c in contexts]
    lefts: list[np.ndarray] = []
    left_owner: list[tuple[int, int]] = []
    rights: list[np.ndarray] = []
    right_lengths: list[list[int]] = []
    right_owner: list[int] = []
    for index, (segment, offset) in enumerate(zip(segments, offsets)):
        segment = np.asarray(segment, dtype=np.float32)
        if len(segment) and np.sqrt(np.mean(segment**2)) > 1e-6:
            segment = normalize_volume(segment)
        mel = mel_frames(segment)  # (frames, 40), 10 ms
        split = int(round(offset / SAMPLE_RATE * FRAMES_PER_SECOND))
        right = mel[split : split + max(spans)]
        for slot, span in enumerate(spans):
            left = mel[max(0, split - span) : split]
            if len(left) >= minimum and min(span, len(right)) >= minimum:
                lefts.append(left)
                left_owner.append((index, slot))
        if len(right) >= minimum:
            rights.append(np.ascontiguousarray(right))
            right_lengths.append([min(span, len(right)) for span in spans])
            right_owner.append(index)
    distances = np.zeros((len(segments), len(spans)), dtype=np.float32)
    valid = np.zeros((len(segments), len(spans)), dtype=bool)
    with torch.inference_mode(), torch_threads(threads):  # threads=None: the caller set them
        left_embeddings = embed_segments(lefts, encoder=encoder) if lefts else np.zeros((0, 256), dtype=np.float32)
        right_embeddings = _right_embeddings(encoder, rights, right_lengths)
    right_of = {index: embeddings for index, embeddings in zip(right_owner, right_embeddings)}
    for (index, slot), left in zip(left_owner, left_embeddings):
        distances[index, slot] = 1.0 - float(np.dot(left, right_of[index][slot]))
        valid[index, slot] = True
    counts = valid.sum(axis=1)
    mean = np.where(counts > 0, distances.sum(axis=1) / np.maximum(counts, 1), 0.0).astype(np.float32)
    if not per_context:
        return mean
    return np.where(valid, distances, mean[:, None]).astype(np.float32)


def segment_windows(changes: np.ndarray, *, duration: float, window: float, step: float) -> list[tuple[int, int, int]]:
    """(start sample, stop sample, segment) of the embedding windows of the segments between ``changes``.

    A segment gets windows of ``window`` seconds every ``step`` seconds, the last one aligned with
    its end; one shorter than ``window`` is one window; one shorter than ``MIN_CONTEXT`` none.

    Examples
    --------
    >>> [(a / 16000, b / 16000, i) for a, b, i in segment_windows(np.array([1.0, 1.2]), duration=3.0, window=1.6, step=0.8)]
    [(0.0, 1.0, 0), (1.2, 2.8, 2), (1.4, 3.0, 2)]
    """
    edges = np.concatenate([[0.0], np.asarray(changes, dtype=np.float64), [duration]])
    out: list[tuple[int, int, int]] = []
    for index, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        length = stop - start
        if length < MIN_CONTEXT:
            continue
        if length <= window:
            starts = [start]
        else:
            starts = list(np.arange(start, stop - window + 1e-9, step))
            if starts[-1] + window < stop - 1e-9:
                starts.append(stop - window)
        span = min(window, length)
        out.extend((int(round(a * SAMPLE_RATE)), int(round((a + span) * SAMPLE_RATE)), index) for a in starts)
    return out


def segment_embeddings(
    audio: str | Path | np.ndarray,
    changes: np.ndarray,
    *,
    duration: float,
    clustering: SegmentClustering,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the GE2E window embeddings of each segment between ``changes`` (segments, 256), and window counts.

    The audio (a file, read again block by block, or a 16 kHz waveform) is streamed: memory holds
    one block and CHUNK windows.
    """
    import torch

    from turnpoint.changes.speaker_encoder import embed_segments, load_speaker_encoder, mel_frames, normalize_volume

    windows = segment_windows(changes, duration=duration, window=clustering.window, step=clustering.step)
    sums = np.zeros((len(changes) + 1, 256), dtype=np.float64)
    counts = np.zeros(len(changes) + 1, dtype=np.int64)
    if not windows:
        return sums, counts
    blocks: Iterable[np.ndarray] = [np.asarray(audio, dtype=np.float32)] if isinstance(audio, np.ndarray) else iter_audio(audio, sample_rate=SAMPLE_RATE)
    encoder = load_speaker_encoder(device)
    mels: list[np.ndarray] = []
    owners: list[int] = []
    pending: list[tuple[list[int], Future]] = []

    def embed(batch: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return embed_segments(batch, encoder=encoder)

    def collect(keep: int) -> None:  # in submission order: the sums do not depend on the threads
        while len(pending) > keep:
            chunk_owners, future = pending.pop(0)
            np.add.at(sums, chunk_owners, future.result())
            np.add.at(counts, chunk_owners, 1)

    # CHUNK windows at a time on WORKERS threads, as rescore() embeds its candidates
    with torch_threads(1), ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for (_, _, owner), samples in zip(windows, iter_spans(blocks, [(a, b) for a, b, _ in windows])):
            if len(samples) < MIN_CONTEXT * SAMPLE_RATE:  # cut short by the end of the file
                continue
            if np.sqrt(np.mean(samples**2)) > 1e-6:
                samples = normalize_volume(samples)
            mels.append(mel_frames(samples))
            owners.append(owner)
            if len(mels) == CHUNK:
                pending.append((owners, pool.submit(embed, mels)))
                mels, owners = [], []
                collect(WORKERS)
        if mels:
            pending.append((owners, pool.submit(embed, mels)))
        collect(0)
    return sums, counts


ALWAYS = 3.0  # separation of a change the second pass never drops (above any cosine distance, the largest cut is 2)


def _neighbour_cophenetic(sums: np.ndarray, counts: np.ndarray, linkage_method: str) -> np.ndarray:
    """Cophenetic distance between each two consecutive segments (ALWAYS where one has no embedding).

    Two segments fall in one cluster when the tree is cut at ``t`` exactly when this distance is at
    most ``t`` (scipy's ``fcluster(..., criterion="distance")``).
    """
    from scipy.cluster.hierarchy import cophenet, linkage

    out = np.full(max(0, len(counts) - 1), ALWAYS)
    embedded = np.flatnonzero(np.asarray(counts) > 0)
    if len(embedded) < 2:
        return out
    vectors = sums[embedded] / np.maximum(np.linalg.norm(sums[embedded], axis=1, keepdims=True), 1e-12)
    condensed = cophenet(linkage(vectors, method=linkage_method, metric="cosine"))
    n = len(embedded)
    k = np.flatnonzero(np.diff(embedded) == 1)  # consecutive segments both embedded: items k and k + 1
    out[embedded[k]] = condensed[n * k - k * (k + 1) // 2]  # condensed index of the pair (k, k + 1)
    return out


def separation_scores(
    values: np.ndarray, sums: np.ndarray, counts: np.ndarray, *, clustering: SegmentClustering, block: int = CLUSTER_BLOCK
) -> np.ndarray:
    """How far apart the second pass puts the two sides of each first-pass change: it keeps those above its cut.

    The cophenetic distance of the two neighbouring segments in the clustering tree, or ALWAYS when a
    side has no embedding or the change's re-scored value reaches ``keep_above``. Segments are
    clustered ``block`` at a time (consecutive blocks share one segment, so every change is decided
    inside one block): agglomerative clustering needs memory quadratic in the number of segments,
    and only neighbouring segments matter here; hours of speech fit in one block.

    Examples
    --------
    >>> a, b = np.eye(256)[0], np.eye(256)[1]
    >>> sums = np.stack([a, a + 0.1 * b, b])  # segments A, A', B
    >>> separation_scores(np.array([0.4, 0.4]), sums, np.ones(3), clustering=SegmentClustering(linkage="single")).round(3).tolist()
    [0.005, 0.9]
    """
    if block < 2:
        raise ValueError("block must be at least 2 segments")
    n = len(counts)
    separation = np.full(max(0, n - 1), ALWAYS)
    for first in range(0, max(1, n - 1), block - 1):  # segments first .. first + block - 1
        last = min(first + block, n)
        separation[first : last - 1] = _neighbour_cophenetic(sums[first:last], counts[first:last], clustering.linkage)
    if clustering.keep_above is not None:
        separation[np.asarray(values) >= clustering.keep_above] = ALWAYS
    return separation


def cluster_changes(
    changes: np.ndarray,
    values: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    *,
    clustering: SegmentClustering,
    block: int = CLUSTER_BLOCK,
) -> np.ndarray:
    """The changes that separate two speaker clusters (or whose re-scored ``values`` reach ``keep_above``).

    Examples
    --------
    >>> a, b = np.eye(256)[0], np.eye(256)[1]
    >>> sums = np.stack([a, a + 0.1 * b, b, b])  # segments: A, A, B, B
    >>> cluster_changes(np.array([1.0, 2.0, 3.0]), np.array([0.4, 0.4, 0.6]), sums, np.ones(4), clustering=SegmentClustering())
    array([2., 3.])
    """
    changes = np.asarray(changes, dtype=np.float64)
    return changes[separation_scores(values, sums, counts, clustering=clustering, block=block) > clustering.threshold]


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


def rescore(
    audio: str | Path | np.ndarray,
    scores: Scores,
    *,
    settings: RescoringSettings | None = None,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Change times after GE2E re-scoring, with every candidate time and its new score.

    Parameters
    ----------
    audio : the file (read again, streaming) or the 16 kHz mono waveform that ``scores`` came from
    scores : the BiLSTM's score curve
    settings : candidate selection, contexts, score and threshold

    Returns
    -------
    changes, candidate_times, candidate_scores

    Examples
    --------
    >>> # changes, times, new_scores = rescore("talk.wav", detection.scores)
    """
    settings = settings or RescoringSettings()
    frames = candidates(scores, settings=settings)
    times = frames * scores.frame_step
    if len(times) == 0:
        return times, times, np.zeros(0, dtype=np.float32)
    if isinstance(audio, np.ndarray):
        blocks: Iterable[np.ndarray] = [np.asarray(audio, dtype=np.float32)]
    else:
        blocks = iter_audio(audio, sample_rate=SAMPLE_RATE)
    reach = max(settings.contexts)
    offsets = [int(round(t * SAMPLE_RATE)) - max(0, int(round((t - reach) * SAMPLE_RATE))) for t in times]
    distances = np.zeros((len(times), len(settings.contexts)), dtype=np.float32)
    chunk: list[np.ndarray] = []
    done = 0
    pending: list[tuple[int, Future]] = []

    def collect(keep: int) -> None:
        while len(pending) > keep:
            start, future = pending.pop(0)
            values = future.result()
            distances[start : start + len(values)] = values

    from turnpoint.changes.speaker_encoder import load_speaker_encoder

    load_speaker_encoder(device)  # once, before the workers share it
    # Candidates are embedded CHUNK at a time as the audio streams by (memory stays bounded), on
    # WORKERS threads: each torch op runs in its calling thread (one intra-op thread), so two
    # threads use two cores without OpenMP's spinning, and simply share one core when it is busy.
    with torch_threads(1), ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for segment in iter_segments(blocks, times, context=reach):
            chunk.append(segment)
            if len(chunk) == CHUNK or done + len(chunk) == len(times):
                part = offsets[done : done + len(chunk)]
                pending.append((done, pool.submit(embedding_distances, chunk, part, contexts=settings.contexts, device=device, threads=None, per_context=True)))
                done += len(chunk)
                chunk = []
                collect(WORKERS)
        collect(0)
    new_scores = settings.score(distances, scores.values[frames], times, duration=scores.duration)
    first, values = first_pass(scores, times, new_scores, settings=settings)
    logger.debug("%d of %d candidates kept", len(first), len(frames))
    if settings.clustering is None or len(first) == 0:
        return first, times, new_scores
    sums, counts = segment_embeddings(audio, first, duration=scores.duration, clustering=settings.clustering, device=device)
    changes = cluster_changes(first, values, sums, counts, clustering=settings.clustering)
    logger.debug("%d of %d changes separate speaker clusters", len(changes), len(first))
    return changes, times, new_scores
