"""The hybrid's second pass: segments between first-pass changes grouped by speaker.

Each segment between kept changes is embedded whole (GE2E embeddings of its ``window``-second
windows every ``step`` seconds, summed: :func:`segment_embeddings`), the segments are clustered
(agglomerative, cosine distance) and a change between two segments of one cluster is dropped
unless its re-scored value reached ``keep_above`` (:func:`separation_scores`,
:func:`cluster_changes`). A segment is compared with everything its speaker says in the file, not
only with the few seconds next to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from turnpoint.core.audio import iter_audio
from turnpoint.core.signal import SAMPLE_RATE
from turnpoint.core.windows import torch_threads
from turnpoint.changes.context_embeddings import CHUNK, MIN_CONTEXT, WORKERS, iter_spans

CLUSTER_BLOCK = 2000  # segments clustered together by the second pass (memory is quadratic in it)


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

    # CHUNK windows at a time on WORKERS threads, as candidate_distances() embeds its candidates
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
