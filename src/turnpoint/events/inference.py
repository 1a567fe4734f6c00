"""Sound event scores: (frames, classes) probabilities through the core's sliding windows.

Windows of ``frames_per_chunk`` frames start every ``frames_per_step`` frames, the last one aligned
with the end, averaged where they overlap (:mod:`turnpoint.core.windows`); a file shorter than one
window is scored in one pass. :func:`score_event_file` streams a file block by block, so memory
does not grow with its length. The network runs in torch, in eval mode for the call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from turnpoint.core import windows
from turnpoint.core.audio import DEFAULT_BLOCK_DURATION
from turnpoint.core.features import EventFeatureStream
from turnpoint.core.runners import TorchRunner
from turnpoint.core.task import Specifications
from turnpoint.core.windows import DEFAULT_THREADS, Scores
from turnpoint.events.model import EventNetwork, SoundEventDetector

__all__ = ["score_event_blocks", "score_event_features", "score_event_file"]


class _EventScores(torch.nn.Module):
    """A network's class probabilities as the forward, for :class:`~turnpoint.core.runners.TorchRunner`."""

    def __init__(self, model: EventNetwork):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, feature) -> (batch, frame, classes)
        return self.model.scores(features)


def _runner(model: EventNetwork) -> TorchRunner:
    return TorchRunner(_EventScores(model))


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
        return windows.score_features(
            features, runner=_runner(model), specifications=specifications, batch_size=batch_size, outputs=model.config.n_classes
        )


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
    with _evaluating(model):
        # no prefetch thread, one model thread and no progress stage: the sound event path as it was tuned
        return windows.score_blocks(
            blocks, runner=lambda: _runner(model), stream=EventFeatureStream(specifications.features), specifications=specifications,
            batch_size=batch_size, num_threads=num_threads, prefetch=0, model_workers=1, outputs=model.config.n_classes, stage=None,
        )


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
    with _evaluating(model):
        return windows.score_file(
            path, runner=lambda: _runner(model), stream=EventFeatureStream(specifications.features), specifications=specifications,
            block_duration=block_duration, batch_size=batch_size, num_threads=num_threads, prefetch=0, model_workers=1,
            outputs=model.config.n_classes, stage=None,
        )
