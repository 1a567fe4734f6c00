"""Speaker change scores: the BiLSTM's change probabilities through the core's sliding windows.

3.2 s windows every 0.8 s (the model file's :class:`~turnpoint.core.task.Specifications`), batched
and averaged where they overlap by :mod:`turnpoint.core.windows`, run by onnxruntime or torch
(:mod:`turnpoint.core.runners`). This module supplies what is speaker change specific: the scoring
module (the sigmoid of the detector's one output per frame), the inputs the ONNX export is checked
on (around the model's feature normalisation), and the 35-dim MFCC feature stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from turnpoint.changes.model import SpeakerChangeDetector
from turnpoint.core import windows
from turnpoint.core.audio import DEFAULT_BLOCK_DURATION
from turnpoint.core.features import FeatureStream
from turnpoint.core.runners import Inputs, Runner, make_runner
from turnpoint.core.task import Specifications
from turnpoint.core.windows import DEFAULT_BACKEND, DEFAULT_BATCH_SIZE, DEFAULT_THREADS, Scores, WindowAggregator, torch_threads

__all__ = ["ChangeAggregator", "ChangeScores", "change_inputs", "change_runner", "score_blocks", "score_features", "score_file"]


class ChangeScores(torch.nn.Module):
    """The detector as a scoring module: features (batch, frame, 35) -> change probability (batch, frame).

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> ChangeScores(SpeakerChangeDetector(SpeakerChangeConfig()))(torch.zeros(2, 7, 35)).shape
    torch.Size([2, 7])
    """

    def __init__(self, model: SpeakerChangeDetector):
        super().__init__()
        self.model = model
        self.config = model.config  # the architecture, for the export cache's digest

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> (batch, frame)
        return torch.sigmoid(self.model(features))[..., 0]


def change_inputs(model: SpeakerChangeDetector) -> Inputs:
    """What the detector reads: its feature width, around its normalisation's mean and scale.

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> change_inputs(SpeakerChangeDetector(SpeakerChangeConfig())).dim
    35
    """
    return Inputs(model.config.input_dim, model.input_mean.cpu().numpy(), model.input_scale.cpu().numpy())


def change_runner(model: SpeakerChangeDetector, backend: str = DEFAULT_BACKEND, *, threads: int | None = DEFAULT_THREADS) -> Runner:
    """The window runner of ``model`` for ``backend`` ("auto", "onnx" or "torch"; :func:`turnpoint.core.runners.make_runner`).

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> change_runner(SpeakerChangeDetector(SpeakerChangeConfig()), "torch").name
    'torch'
    """
    return make_runner(ChangeScores(model), backend, inputs=change_inputs(model), threads=threads)


class ChangeAggregator(WindowAggregator):
    """The streaming :class:`~turnpoint.core.windows.WindowAggregator` over a speaker change detector.

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    >>> agg = ChangeAggregator(model, Specifications())
    >>> x = np.zeros((300, 35), dtype=np.float32)
    >>> len(np.concatenate([agg.push(x[:120]), agg.push(x[120:]), agg.finish()]))
    300
    """

    def __init__(
        self,
        model: SpeakerChangeDetector,
        specifications: Specifications,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        backend: str = "torch",
        threads: int | None = DEFAULT_THREADS,
        pool: ThreadPoolExecutor | None = None,
    ):
        super().__init__(change_runner(model, backend, threads=threads), specifications, batch_size=batch_size, pool=pool)
        self.model = model


def score_features(
    features: np.ndarray,
    *,
    model: SpeakerChangeDetector,
    specifications: Specifications,
    batch_size: int = DEFAULT_BATCH_SIZE,
    backend: str = "torch",
) -> np.ndarray:
    """Score a whole (frames, 35) feature array with sliding windows -> (frames,) float32.

    ``backend`` is torch by default here (training validates with weights that change every epoch);
    file scoring (:func:`score_blocks`, :func:`score_file`) uses :data:`~turnpoint.core.windows.DEFAULT_BACKEND`.

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    >>> score_features(np.zeros((50, 35), dtype=np.float32), model=model, specifications=Specifications()).shape
    (50,)
    """
    with torch_threads(DEFAULT_THREADS):  # the runner's set-up (an ONNX check runs torch) too
        runner = change_runner(model, backend, threads=DEFAULT_THREADS)
        return windows.score_features(features, runner=runner, specifications=specifications, batch_size=batch_size)


def score_blocks(
    blocks: Iterable[np.ndarray],
    *,
    model: SpeakerChangeDetector,
    specifications: Specifications,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_threads: int | None = DEFAULT_THREADS,
    backend: str = DEFAULT_BACKEND,
    prefetch: int = 2,
    model_workers: int | None = None,
    total: float | None = None,
) -> Scores:
    """Score a stream of 16 kHz mono sample blocks; memory is bounded by the block size.

    ``backend``: "auto" (onnxruntime if installed, else torch), "onnx" or "torch" — equal within
    1e-5. Other options: :func:`turnpoint.core.windows.score_blocks`; progress is reported as
    stage "scoring".

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    >>> x = np.zeros(48000, np.float32)
    >>> score_blocks([x[:20000], x[20000:]], model=model, specifications=Specifications(), backend="torch").values.shape
    (188,)
    """
    return windows.score_blocks(
        blocks, runner=lambda: change_runner(model, backend, threads=num_threads), stream=FeatureStream(specifications.features),
        specifications=specifications, batch_size=batch_size, num_threads=num_threads, prefetch=prefetch, model_workers=model_workers,
        total=total,
    )


def score_file(
    path: str | Path,
    *,
    model: SpeakerChangeDetector,
    specifications: Specifications,
    batch_size: int = DEFAULT_BATCH_SIZE,
    block_duration: float = DEFAULT_BLOCK_DURATION,
    num_threads: int | None = DEFAULT_THREADS,
    backend: str = DEFAULT_BACKEND,
    prefetch: int = 2,
    model_workers: int | None = None,
) -> Scores:
    """Read, featurise and score an audio/video file block by block (options: :func:`score_blocks`).

    A file that decodes shorter than its header says is scored as far as it goes, with a warning
    (logged, and kept in :attr:`~turnpoint.core.windows.Scores.warnings`).

    Examples
    --------
    >>> import turnpoint
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    >>> score_file(turnpoint.example_path(), model=model, specifications=Specifications(), backend="torch").frame_step
    0.016
    """
    return windows.score_file(
        path, runner=lambda: change_runner(model, backend, threads=num_threads), stream=FeatureStream(specifications.features),
        specifications=specifications, block_duration=block_duration, batch_size=batch_size, num_threads=num_threads,
        prefetch=prefetch, model_workers=model_workers,
    )
