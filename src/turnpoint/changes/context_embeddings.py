"""GE2E distances across candidate points: the audio just before and just after each time, embedded.

The first pass of the hybrid (:mod:`turnpoint.changes.rescoring`) asks, for every candidate
change of the BiLSTM curve, how far apart the speaker embeddings of the ``c`` seconds before and
the ``c`` seconds after it are, for each context length ``c``. The audio is streamed
(:func:`iter_segments`), candidates are embedded ``CHUNK`` at a time on ``WORKERS`` threads, and
one LSTM pass over each right-hand context gives the embeddings of all its lengths.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from turnpoint.core.audio import iter_audio
from turnpoint.core.signal import SAMPLE_RATE
from turnpoint.core.windows import torch_threads

FRAMES_PER_SECOND = 100  # the speaker encoder's mel frames (10 ms hop)
CHUNK = 128  # candidates (or windows) embedded together (bounds memory on long files)
WORKERS = 2  # threads embedding chunks side by side
MIN_CONTEXT = 0.4  # near the file's ends, less context is used, but not less than this


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


def candidate_distances(
    audio: str | Path | np.ndarray, times: np.ndarray, *, contexts: tuple[float, ...], device: str = "cpu"
) -> np.ndarray:
    """GE2E distances (candidate, context) across each of ``times`` (sorted, seconds), the audio streamed.

    The audio is a file (read block by block) or a 16 kHz mono waveform. Candidates are embedded
    ``CHUNK`` at a time as the audio streams by (memory stays bounded), on ``WORKERS`` threads:
    each torch op runs in its calling thread (one intra-op thread), so two threads use two cores
    without OpenMP's spinning, and simply share one core when it is busy.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 0.1, 64000).astype(np.float32)
    >>> candidate_distances(noise, np.array([2.0]), contexts=(1.6,)).shape
    (1, 1)
    """
    from turnpoint.changes.speaker_encoder import load_speaker_encoder

    if isinstance(audio, np.ndarray):
        blocks: Iterable[np.ndarray] = [np.asarray(audio, dtype=np.float32)]
    else:
        blocks = iter_audio(audio, sample_rate=SAMPLE_RATE)
    reach = max(contexts)
    offsets = [int(round(t * SAMPLE_RATE)) - max(0, int(round((t - reach) * SAMPLE_RATE))) for t in times]
    distances = np.zeros((len(times), len(contexts)), dtype=np.float32)
    chunk: list[np.ndarray] = []
    done = 0
    pending: list[tuple[int, Future]] = []

    def collect(keep: int) -> None:
        while len(pending) > keep:
            start, future = pending.pop(0)
            values = future.result()
            distances[start : start + len(values)] = values

    load_speaker_encoder(device)  # once, before the workers share it
    with torch_threads(1), ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for segment in iter_segments(blocks, times, context=reach):
            chunk.append(segment)
            if len(chunk) == CHUNK or done + len(chunk) == len(times):
                part = offsets[done : done + len(chunk)]
                pending.append((done, pool.submit(embedding_distances, chunk, part, contexts=contexts, device=device, threads=None, per_context=True)))
                done += len(chunk)
                chunk = []
                collect(WORKERS)
        collect(0)
    return distances
