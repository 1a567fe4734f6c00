"""Sliding-window scoring: (frames, classes) probabilities, averaged over overlapping windows.

Windows of ``frames_per_chunk`` frames start every ``frames_per_step`` frames, the last one aligned
with the end, through the speaker change detector's streaming :class:`turnpoint.core.windows.WindowAggregator`
(same windows, same averaging); a file shorter than one window is scored in one pass.
:func:`score_event_file` streams a file block by block, so memory does not grow with its length.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from turnpoint.core.audio import DEFAULT_BLOCK_DURATION, iter_audio
from turnpoint.events.model import EventNetwork, SoundEventDetector
from turnpoint.core.runners import full_float32
from turnpoint.core.features import EventFeatureStream
from turnpoint.core.windows import DEFAULT_THREADS, Scores, WindowAggregator, torch_threads
from turnpoint.core.task import Specifications

__all__ = ["score_event_blocks", "score_event_features", "score_event_file"]


def _runner(model: EventNetwork) -> Callable[[np.ndarray], np.ndarray]:
    device = next(model.parameters()).device

    def run(batch: np.ndarray) -> np.ndarray:  # (batch, frame, dim) -> (batch, frame, classes)
        with torch.inference_mode(), full_float32():
            return model.scores(torch.from_numpy(np.ascontiguousarray(batch)).to(device)).float().cpu().numpy()

    return run


def _aggregator(model: EventNetwork, specifications: Specifications, batch_size: int) -> WindowAggregator:
    return WindowAggregator(model, specifications, batch_size=batch_size, backend=_runner(model), outputs=model.config.n_classes)


@contextlib.contextmanager
def _evaluating(model: EventNetwork) -> Iterator[None]:
    """The model in eval mode for the block (training validates with it), then back as it was."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def score_event_features(
    features: np.ndarray,
    *,
    model: EventNetwork,
    specifications: Specifications,
    batch_size: int = 64,
) -> np.ndarray:
    """Score a (frames, dim) feature array -> (frames, n_classes) float32 probabilities.

    Examples
    --------
    >>> from turnpoint.events.model import SoundEventConfig
    >>> from turnpoint.events.features import event_specifications
    >>> model = SoundEventDetector(SoundEventConfig(classes=("a", "b"))).eval()
    >>> score_event_features(np.zeros((230, 129), np.float32), model=model, specifications=event_specifications(classes=("a", "b"))).shape
    (230, 2)
    """
    with _evaluating(model):
        aggregator = _aggregator(model, specifications, batch_size)
        return np.concatenate([aggregator.push(features), aggregator.finish()])


def score_event_blocks(
    blocks: Iterable[np.ndarray],
    *,
    model: EventNetwork,
    specifications: Specifications,
    batch_size: int = 64,
    num_threads: int | None = DEFAULT_THREADS,
) -> Scores:
    """Score a stream of mono sample blocks (at the features' sample rate): memory is bounded by a block.

    The scores equal :func:`score_event_features` on the whole file's features (within float rounding).
    ``num_threads``: torch intra-op threads for the block (None: leave them as they are). One by
    default, as for speaker changes: on a busy machine torch's own choice was many times slower
    (``benchmarks/events.py --threads-peer``).

    Examples
    --------
    >>> from turnpoint.events.model import SoundEventConfig
    >>> from turnpoint.events.features import event_specifications
    >>> model = SoundEventDetector(SoundEventConfig(classes=("a",))).eval()
    >>> x = np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32)
    >>> scores = score_event_blocks([x[:20000], x[20000:]], model=model, specifications=event_specifications(classes=("a",)))
    >>> scores.values.shape, scores.duration
    ((151, 1), 3.0)
    """
    config = specifications.features
    stream = EventFeatureStream(config)
    parts: list[np.ndarray] = []
    n_samples = 0
    with _evaluating(model), torch_threads(num_threads):
        aggregator = _aggregator(model, specifications, batch_size)
        for block in blocks:
            n_samples += len(block)
            parts.append(aggregator.push(stream.push(block)))
        parts.append(aggregator.push(stream.finish()))
        parts.append(aggregator.finish())
    return Scores(np.concatenate(parts), config.frame_step, n_samples / config.sample_rate)


def score_event_file(
    path: str | Path,
    *,
    model: EventNetwork,
    specifications: Specifications,
    batch_size: int = 64,
    block_duration: float = DEFAULT_BLOCK_DURATION,
    num_threads: int | None = DEFAULT_THREADS,
) -> Scores:
    """Read, featurise and score an audio/video file block by block (see :func:`score_event_blocks`)."""
    blocks = iter_audio(path, sample_rate=specifications.features.sample_rate, block_duration=block_duration)
    return score_event_blocks(blocks, model=model, specifications=specifications, batch_size=batch_size, num_threads=num_threads)
