"""Sliding-window scoring for any frame-labelling network: windows batched, scores averaged where they overlap.

A *runner* (:mod:`turnpoint.core.runners`) maps feature windows ``(batch, frame, feature)`` to
scores ``(batch, frame)`` or ``(batch, frame, output)``; the window length and step are the task's
:class:`~turnpoint.core.task.Specifications` (``frames_per_chunk``, ``frames_per_step``). Windows
start every step; a last window is aligned with the end of the input so every frame is seen, and an
input shorter than one window is scored in one (shorter) pass. The streaming
:class:`WindowAggregator` gives exactly the offline result while holding only a few windows of
features; :func:`score_blocks` and :func:`score_file` feed it from audio blocks through a feature
stream, so memory does not grow with the file's length.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from turnpoint.core import progress
from turnpoint.core.audio import DEFAULT_BLOCK_DURATION, audio_info, iter_audio
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import frame_times
from turnpoint.core.runners import Runner
from turnpoint.core.task import Specifications

DEFAULT_BATCH_SIZE = 128
# Files are scored through onnxruntime when it is installed ("auto"; see turnpoint.core.runners), else torch.
DEFAULT_BACKEND = "auto"
# Python threads that run window batches side by side during file scoring (each engine call keeps
# DEFAULT_THREADS intra-op threads; onnxruntime and torch release the GIL). No spinning: idle
# threads sleep. 2 gives the model the core the feature thread leaves free; a batch process that
# shares the machine with others gets fewer (see cpu_budget).
DEFAULT_MODEL_WORKERS = min(2, os.cpu_count() or 1)
MIN_SPLIT = 16  # windows per half below which a batch is not split
# One intra-op thread: the small networks scored here gain little from more, and on a busy machine
# torch's spinning worker threads made inference ~40x slower (0.4 s vs 19 s for 2 min of audio).
DEFAULT_THREADS = 1


_cpu_budget: int | None = None


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS tells, else the count).

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_budget() -> int:
    """Cores this process should keep busy: :func:`set_cpu_budget`'s value, else all available.

    A batch of N processes on C cores gives each C // N (``turnpoint.core.batch.run_batch``), so that
    their thread pools do not fight over the same cores.

    Examples
    --------
    >>> previous = set_cpu_budget(1); cpu_budget()
    1
    >>> _ = set_cpu_budget(previous); cpu_budget() == available_cpus()
    True
    """
    return _cpu_budget if _cpu_budget is not None else available_cpus()


def set_cpu_budget(cores: int | None) -> int | None:
    """Set this process's share of the cores (None: all of them); the previous setting is returned.

    See :func:`cpu_budget`.
    """
    global _cpu_budget
    if cores is not None and cores < 1:
        raise ValueError("a CPU budget is at least one core")
    previous, _cpu_budget = _cpu_budget, cores
    return previous


def _model_workers(requested: int | None) -> int:
    return requested if requested is not None else max(1, min(DEFAULT_MODEL_WORKERS, cpu_budget()))


def _blas_threads(count: int) -> contextlib.AbstractContextManager:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a core dependency; without it BLAS keeps its threads
        return contextlib.nullcontext()
    return threadpool_limits(limits=count, user_api="blas")


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads and BLAS threads (None: leave both).

    BLAS (numpy's OpenBLAS, used by the features' mel and DCT products) is limited too: its idle
    threads spin, and on 2 cores they took as much CPU as the real work (1 h: 6 s of CPU for 3 s of
    wall time, vs 3 s / 3 s with one BLAS thread).
    """
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        with _blas_threads(count):
            yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Scores:
    """Per-frame scores of one file, with their timestamps.

    Attributes
    ----------
    values : (frames,) float32 array of probabilities (e.g. speaker change), or (frames, outputs)
        (e.g. one column per sound event class)
    frame_step : seconds between frames (frame ``i`` is centred at ``i * frame_step``)
    duration : length of the audio in seconds (as decoded)
    warnings : problems met reading the audio that did not stop it, e.g. a file decoding shorter
        than its header says (:func:`turnpoint.core.audio.iter_audio`)
    """

    values: np.ndarray
    frame_step: float
    duration: float
    warnings: list[str] = field(default_factory=list)

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.values)) * self.frame_step


def window_starts(n_frames: int, *, window: int, step: int) -> list[int]:
    """Start frames of the sliding windows over ``n_frames`` frames (last one end-aligned).

    Examples
    --------
    >>> window_starts(260, window=200, step=50)
    [0, 50, 60]
    >>> window_starts(120, window=200, step=50)
    [0]
    """
    if n_frames <= window:
        return [0] if n_frames > 0 else []
    starts = list(range(0, n_frames - window + 1, step))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def _run_windows(
    runner: Callable[[np.ndarray], np.ndarray], windows: list[np.ndarray], batch_size: int, pool: ThreadPoolExecutor | None = None
) -> list[np.ndarray]:
    batches = [windows[first : first + batch_size] for first in range(0, len(windows), batch_size)]
    if pool is not None and len(batches) == 1 and len(windows) >= 2 * MIN_SPLIT:
        half = (len(windows) + 1) // 2  # one batch: run its two halves side by side
        batches = [windows[:half], windows[half:]]
    if pool is not None and len(batches) > 1:
        # the calling thread runs the first batch while the pool runs the others; results in order
        later = [pool.submit(lambda batch: runner(np.stack(batch)), batch) for batch in batches[1:]]
        results = [runner(np.stack(batches[0])), *(future.result() for future in later)]
    else:
        results = [runner(np.stack(batch)) for batch in batches]
    outputs: list[np.ndarray] = []
    for scores in results:
        outputs.extend(scores)  # (batch, frame)
    return outputs


class FeatureStreamLike(Protocol):
    """Audio blocks in, feature frames ``(frames, feature)`` out (:class:`turnpoint.core.features.FeatureStream`)."""

    def push(self, samples: np.ndarray) -> np.ndarray: ...

    def finish(self) -> np.ndarray: ...


class WindowAggregator:
    """Streaming sliding-window scoring: push feature frames, get final averaged scores back.

    ``runner`` maps windows ``(batch, frame, feature)`` to ``(batch, frame)`` scores, or to
    ``(batch, frame, outputs)`` when ``outputs`` is given. Batches run side by side on ``pool``'s
    threads when one is given (same results).

    Examples
    --------
    >>> def mean(windows):  # (batch, frame, feature) -> (batch, frame)
    ...     return windows.mean(axis=2)
    >>> agg = WindowAggregator(mean, Specifications())
    >>> x = np.ones((300, 35), dtype=np.float32)
    >>> scores = np.concatenate([agg.push(x[:120]), agg.push(x[120:]), agg.finish()])
    >>> scores.shape, float(scores.min()), float(scores.max())
    ((300,), 1.0, 1.0)
    """

    def __init__(
        self,
        runner: Runner,
        specifications: Specifications,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pool: ThreadPoolExecutor | None = None,
        outputs: int | None = None,
    ):
        self.runner = runner
        self.pool = pool
        self.window = specifications.frames_per_chunk
        self.step = specifications.frames_per_step
        self.batch_size = batch_size
        self._features: np.ndarray | None = None  # its width is the first pushed block's
        self._features_start = 0
        self._received = 0
        self._next_start = 0
        self._windows_run = 0
        self._last_end = 0
        self._sum = np.zeros((0,) if outputs is None else (0, outputs), dtype=np.float64)
        self._count = np.zeros(0, dtype=np.int32)
        self._emitted = 0  # absolute index of self._sum[0]

    def _add(self, starts: list[int], lengths: list[int]) -> None:
        windows = [
            self._features[s - self._features_start : s - self._features_start + n] for s, n in zip(starts, lengths)
        ]
        needed = max(s + n for s, n in zip(starts, lengths)) - self._emitted
        if needed > len(self._sum):  # grow once per call, not once per window
            self._sum = np.concatenate([self._sum, np.zeros((needed - len(self._sum),) + self._sum.shape[1:])])
            self._count = np.concatenate([self._count, np.zeros(needed - len(self._count), dtype=np.int32)])
        for start, length, scores in zip(starts, lengths, _run_windows(self.runner, windows, self.batch_size, self.pool)):
            local = start - self._emitted
            self._sum[local : local + length] += scores[:length]
            self._count[local : local + length] += 1
            self._windows_run += 1
            self._last_end = max(self._last_end, start + length)

    def _emit(self, upto: int) -> np.ndarray:
        count = max(0, upto - self._emitted)
        counts = self._count[:count].reshape((-1,) + (1,) * (self._sum.ndim - 1))
        out = (self._sum[:count] / counts).astype(np.float32)
        self._sum, self._count = self._sum[count:], self._count[count:]
        self._emitted += count
        keep_from = min(self._next_start, max(0, self._received - self.window))
        if keep_from > self._features_start:
            self._features = self._features[keep_from - self._features_start :]
            self._features_start = keep_from
        return out

    def push(self, features: np.ndarray) -> np.ndarray:
        """Add feature frames (frames, dim); return the scores that can no longer change."""
        features = np.asarray(features, dtype=np.float32)
        self._features = features if self._features is None else np.concatenate([self._features, features])
        self._received += len(features)
        starts = []
        while self._next_start + self.window <= self._received:
            starts.append(self._next_start)
            self._next_start += self.step
        if starts:
            self._add(starts, [self.window] * len(starts))
        return self._emit(min(self._next_start, self._received - self.window))

    def finish(self) -> np.ndarray:
        """Run the end-aligned last window (or the single short one) and return the rest."""
        n = self._received
        if n == 0:
            return np.zeros(self._sum.shape, dtype=np.float32)
        if n <= self.window and self._windows_run == 0:
            self._add([0], [n])
        elif self._last_end < n:
            self._add([n - self.window], [self.window])
        return self._emit(n)


def score_features(
    features: np.ndarray,
    *,
    runner: Runner,
    specifications: Specifications,
    batch_size: int = DEFAULT_BATCH_SIZE,
    outputs: int | None = None,
) -> np.ndarray:
    """Score a whole (frames, feature) array with sliding windows -> (frames,) or (frames, outputs) float32.

    Examples
    --------
    >>> def first(windows):  # (batch, frame, feature) -> (batch, frame)
    ...     return windows[..., 0]
    >>> score_features(np.zeros((50, 35), dtype=np.float32), runner=first, specifications=Specifications()).shape
    (50,)
    """
    aggregator = WindowAggregator(runner, specifications, batch_size=batch_size, outputs=outputs)
    return np.concatenate([aggregator.push(features), aggregator.finish()])


_DONE = object()


def _features_ahead(blocks: Iterable[np.ndarray], stream: FeatureStreamLike, depth: int) -> Iterator[tuple[int, np.ndarray]]:
    """(samples, features) per block, computed by a background thread up to ``depth`` blocks ahead.

    Decoding and feature extraction (numpy/scipy/soxr release the GIL) then overlap with the model
    (onnxruntime and torch release it too): two cores work on one file. The order of every
    computation is unchanged, so the scores are the same as without it; memory grows by at most
    ``depth`` blocks of features.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put((len(block), stream.push(block))):
                    return
            if put((0, stream.finish())):
                put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, raised there
            put(error)

    worker = threading.Thread(target=produce, name="turnpoint-features", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _no_progress(seconds: float) -> None:
    """Progress not reported (a stage of None)."""


def score_blocks(
    blocks: Iterable[np.ndarray],
    *,
    runner: Callable[[], Runner],
    stream: FeatureStreamLike,
    specifications: Specifications,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_threads: int | None = DEFAULT_THREADS,
    prefetch: int = 2,
    model_workers: int | None = None,
    outputs: int | None = None,
    stage: str | None = "scoring",
    total: float | None = None,
) -> Scores:
    """Score a stream of mono sample blocks (at the features' sample rate); memory is bounded by the block size.

    ``runner``: makes the window runner, called under the thread limit (a first ONNX runner checks
    itself against torch, and with torch's default threads that check spun for 10 s of CPU on a
    busy 2-core machine, 1 s with one thread). ``stream``: the blocks' feature stream.
    ``num_threads``: torch intra-op and BLAS threads for the call (None: leave them).
    ``prefetch``: blocks decoded and featurised ahead by a background thread (0: none; same scores).
    ``model_workers``: threads running window batches side by side (1: the calling thread only;
    None: :data:`DEFAULT_MODEL_WORKERS` within this process's :func:`cpu_budget`). ``outputs``: see
    :class:`WindowAggregator`. Progress is reported to :mod:`turnpoint.core.progress` as ``stage``
    (None: not reported; ``total``: the seconds expected).

    Examples
    --------
    >>> from turnpoint.core.features import FeatureStream
    >>> def first(windows):  # (batch, frame, feature) -> (batch, frame)
    ...     return windows[..., 0]
    >>> x = np.zeros(48000, np.float32)
    >>> scores = score_blocks([x[:20000], x[20000:]], runner=lambda: first, stream=FeatureStream(Specifications().features),
    ...                       specifications=Specifications())
    >>> scores.values.shape, scores.duration
    ((188,), 3.0)
    """
    model_workers = _model_workers(model_workers)
    rate = specifications.features.sample_rate
    pool = ThreadPoolExecutor(model_workers - 1, thread_name_prefix="turnpoint-model") if model_workers > 1 else None
    reporting = progress.stage(stage, total=total) if stage is not None else contextlib.nullcontext()
    advance = progress.advance if stage is not None else _no_progress
    parts: list[np.ndarray] = []
    n_samples = 0
    with torch_threads(num_threads), (pool or contextlib.nullcontext()), reporting:
        aggregator = WindowAggregator(runner(), specifications, batch_size=batch_size, pool=pool, outputs=outputs)
        if prefetch > 0:
            for count, features in _features_ahead(blocks, stream, prefetch):
                n_samples += count
                parts.append(aggregator.push(features))
                advance(count / rate)
        else:
            for block in blocks:
                n_samples += len(block)
                parts.append(aggregator.push(stream.push(block)))
                advance(len(block) / rate)
            parts.append(aggregator.push(stream.finish()))
        parts.append(aggregator.finish())
    step = specifications.features.frame_step
    return Scores(np.concatenate(parts), step, n_samples / rate)


def score_file(
    path: str | Path,
    *,
    runner: Callable[[], Runner],
    stream: FeatureStreamLike,
    specifications: Specifications,
    block_duration: float = DEFAULT_BLOCK_DURATION,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_threads: int | None = DEFAULT_THREADS,
    prefetch: int = 2,
    model_workers: int | None = None,
    outputs: int | None = None,
    stage: str | None = "scoring",
) -> Scores:
    """Read, featurise and score an audio/video file block by block (options: :func:`score_blocks`).

    A file that decodes shorter than its header says is scored as far as it goes, with a warning
    (logged, and kept in :attr:`Scores.warnings`).

    Examples
    --------
    >>> from importlib import resources
    >>> from turnpoint.core.features import FeatureStream
    >>> example = resources.files("turnpoint") / "examples" / "two_speakers.flac"
    >>> scores = score_file(example, runner=lambda: (lambda windows: windows[..., 0]),
    ...                     stream=FeatureStream(Specifications().features), specifications=Specifications())
    >>> scores.values.ndim, scores.warnings
    (1, [])
    """
    total = None
    if stage is not None and progress.active():  # the header's duration, for the bar only
        try:
            total = audio_info(path).duration
        except TurnpointError:
            pass  # reading it fails the same way below, with the same message
    warnings: list[str] = []
    blocks: Iterator[np.ndarray] = iter_audio(
        path, sample_rate=specifications.features.sample_rate, block_duration=block_duration, warnings=warnings
    )
    scores = score_blocks(
        blocks, runner=runner, stream=stream, specifications=specifications, batch_size=batch_size, num_threads=num_threads,
        prefetch=prefetch, model_workers=model_workers, outputs=outputs, stage=stage, total=total,
    )
    scores.warnings.extend(warnings)
    return scores


__all__ = [
    "DEFAULT_BACKEND", "DEFAULT_BATCH_SIZE", "DEFAULT_THREADS", "FeatureStreamLike", "Scores", "WindowAggregator", "available_cpus",
    "cpu_budget", "frame_times", "score_blocks", "score_features", "score_file", "set_cpu_budget", "torch_threads", "window_starts",
]
