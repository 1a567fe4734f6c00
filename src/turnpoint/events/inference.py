"""Sliding-window scoring of whole files: (frames, classes) probabilities, averaged over overlaps.

Windows of ``frames_per_chunk`` frames start every ``frames_per_step`` frames, the last one aligned
with the end (:func:`turnpoint.inference.window_starts`, shared with the speaker change detector);
a file shorter than one window is scored in one pass.
"""

from __future__ import annotations

import numpy as np
import torch

from turnpoint.events.model import SoundEventDetector
from turnpoint.inference import window_starts
from turnpoint.specs import Specifications

__all__ = ["score_event_features"]


def score_event_features(
    features: np.ndarray,
    *,
    model: SoundEventDetector,
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
    n = len(features)
    k = model.config.n_classes
    window, step = specifications.frames_per_chunk, specifications.frames_per_step
    total = np.zeros((n, k), dtype=np.float64)
    count = np.zeros((n, 1), dtype=np.float64)
    starts = window_starts(n, window=window, step=step)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(starts), batch_size):
            group = starts[first : first + batch_size]
            length = min(window, n)
            batch = np.stack([features[s : s + length] for s in group]).astype(np.float32)  # (batch, frame, dim)
            scores = model.scores(torch.from_numpy(batch).to(device)).float().cpu().numpy()  # (batch, frame, classes)
            for s, values in zip(group, scores):
                total[s : s + length] += values
                count[s : s + length] += 1
    model.train(was_training)
    return (total / np.maximum(count, 1)).astype(np.float32)
