"""Fitting the GMM sound event baseline: EM per class on MFCC frames, its context and decoding chosen on validation.

The network it fits is :class:`turnpoint.events.gmm.GMMEventDetector`; the data are read as
:func:`turnpoint.events.training.train_events` reads them.

    turnpoint train --task events data/train --validation data/validation --out runs/gmm --architecture gmm
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from turnpoint.core.errors import TurnpointError
from turnpoint.core.training import MODEL_NAME
from turnpoint.events.features import event_feature_config, event_specifications
from turnpoint.events.gmm import CONTEXT_CHOICES, GMMEventConfig, GMMEventDetector
from turnpoint.events.modelfile import load_event_model, save_event_model
from turnpoint.events.training import tune_event_model
from turnpoint.events.training_data import collect_event_files, prepare_event_files, split_validation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GMMTrainingConfig:
    """How :func:`train_gmm_baseline` fits the mixtures."""

    components: int = 16
    coefficients: int = 20
    context_frames: int | None = None  # None: the one of CONTEXT_CHOICES with the best tuned event F1 on validation
    max_frames: int = 100_000  # frames per mixture at most (a seeded random subset), so fitting stays a few minutes
    max_iter: int = 100
    seed: int = 0


def _fit_mixture(frames: np.ndarray, *, components: int, max_iter: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log weights, means, log variances of a diagonal GMM fitted by EM (scikit-learn)."""
    try:
        from sklearn.mixture import GaussianMixture
    except ImportError:
        raise TurnpointError("the GMM baseline needs scikit-learn: pip install scikit-learn") from None
    components = min(components, len(frames))
    mixture = GaussianMixture(n_components=components, covariance_type="diag", max_iter=max_iter, reg_covar=1e-3, random_state=seed)
    mixture.fit(frames)
    return np.log(mixture.weights_), mixture.means_, np.log(mixture.covariances_)


def fit_gmm_detector(
    features: Sequence[np.ndarray],
    targets: Sequence[np.ndarray],
    *,
    classes: Sequence[str],
    n_mfcc: int,
    config: GMMTrainingConfig | None = None,
    frames: int = 100,
) -> GMMEventDetector:
    """Fit the event and background mixtures of every class on frames and their (frames, classes) 0/1 targets.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 129)).astype(np.float32); y = np.zeros((2000, 1), np.float32)
    >>> x[:500, 0] += 4; y[:500] = 1  # the event frames have a higher c0
    >>> model = fit_gmm_detector([x], [y], classes=("loud",), n_mfcc=64, config=GMMTrainingConfig(components=2))
    >>> p = model.scores(torch.from_numpy(x[None, 450:550])).squeeze()
    >>> bool(p[:25].mean() > 0.9 > 0.1 > p[-25:].mean())
    True
    """
    config = config or GMMTrainingConfig()
    architecture = GMMEventConfig(n_mfcc=n_mfcc, coefficients=config.coefficients, components=config.components,
                                  context_frames=config.context_frames or GMMEventConfig.context_frames, classes=tuple(classes), frames=frames)
    columns = list(architecture.feature_columns)
    x = np.concatenate([f[:, columns] for f in features]).astype(np.float64)
    y = np.concatenate(list(targets)) > 0.5
    if len(x) != len(y) or y.shape[1] != len(classes):
        raise TurnpointError(f"features ({len(x)} frames) and targets ({y.shape}) do not match the {len(classes)} classes")
    mean, scale = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
    x = (x - mean) / scale
    model = GMMEventDetector(architecture)
    rng = np.random.default_rng(config.seed)
    shape = model.log_weights.shape[2:]
    with torch.no_grad():
        model.input_mean.copy_(torch.from_numpy(mean))
        model.input_scale.copy_(torch.from_numpy(scale))
        for index, label in enumerate(classes):
            positive = y[:, index]
            if positive.sum() < 2 or (~positive).sum() < 2:
                raise TurnpointError(f"class {label!r} needs at least two event frames and two other frames to fit its mixtures")
            for side, mask in enumerate((positive, ~positive)):
                rows = np.flatnonzero(mask)
                if len(rows) > config.max_frames:
                    rows = np.sort(rng.choice(rows, size=config.max_frames, replace=False))
                log_weights, means, log_variances = _fit_mixture(x[rows], components=config.components, max_iter=config.max_iter, seed=config.seed)
                k = len(log_weights)  # fewer components than asked when there are few frames: the rest get no weight
                model.log_weights[index, side] = torch.full(shape, -1e4)
                model.log_weights[index, side, :k] = torch.from_numpy(log_weights)
                model.means[index, side, :k] = torch.from_numpy(means)
                model.log_variances[index, side, :k] = torch.from_numpy(log_variances)
            share = float(positive.mean())
            model.log_prior_odds[index] = math.log(share / (1 - share))
            logger.info("GMM baseline: %s fitted on %d event and %d other frames", label, int(positive.sum()), int((~positive).sum()))
    return model


def train_gmm_baseline(
    train_source: str | Path,
    *,
    out_dir: str | Path,
    validation_source: str | Path | None = None,
    classes: Sequence[str] | None = None,
    config: GMMTrainingConfig | None = None,
    features: str = "mfcc",
    show_progress: bool = True,
    name: str = "",
) -> Path:
    """Fit the GMM baseline on an annotated folder, tune its decoding on validation; write ``out_dir/model.safetensors``.

    The data are read as :func:`turnpoint.events.training.train_events` reads them; without a
    validation set 10 % of the training files are held out (seeded) for tuning. Unless
    ``config.context_frames`` is given, the context is chosen among :data:`CONTEXT_CHOICES` by the
    tuned validation event F1 (recorded as ``training["context_choice"]``), so the baseline gets the
    same per-class decoding search as the network and a context search of its own.

    Examples
    --------
    >>> # train_gmm_baseline("data/train", validation_source="data/validation", out_dir="runs/gmm")
    """

    config = config or GMMTrainingConfig()
    feature_config = event_feature_config(features)
    if feature_config.coefficients != "mfcc":
        raise TurnpointError(f"the GMM baseline reads MFCC (--features mfcc), not {features}")
    out_dir = Path(out_dir)
    if (out_dir / MODEL_NAME).exists():
        raise TurnpointError("a model already exists here; choose another folder", path=out_dir / MODEL_NAME)
    train_items = collect_event_files(train_source, labels=classes)
    train_items, validation_items = split_validation(train_items, validation_source, labels=classes, seed=config.seed)
    classes = tuple(classes) if classes else tuple(sorted({e.label for f in train_items for e in f.events}))
    if not classes:
        raise TurnpointError("the training annotations hold no events")
    specifications = event_specifications(classes=classes, features=feature_config)
    prepared = prepare_event_files(train_items, classes, feature_config, show_progress, "features (train)")
    prepared_val = prepare_event_files(validation_items, classes, feature_config, show_progress, "features (validation)")
    model = fit_gmm_detector([p.features for p in prepared], [p.targets for p in prepared], classes=classes,
                             n_mfcc=feature_config.n_mfcc, config=config, frames=specifications.frames_per_chunk)
    summary = {"train_files": len(prepared), "validation_files": len(prepared_val),
               "train_hours": round(sum(p.duration for p in prepared) / 3600, 3), "config": {"architecture": "gmm", **config.__dict__}}
    out_dir.mkdir(parents=True, exist_ok=True)
    tried: dict[int, Path] = {}
    event_f1: dict[int, float] = {}
    for width in (config.context_frames,) if config.context_frames else CONTEXT_CHOICES:
        candidate = GMMEventDetector(replace(model.config, context_frames=width))
        candidate.load_state_dict(model.state_dict())
        tried[width] = save_event_model(out_dir / f"context{width}.safetensors", model=candidate, specifications=specifications,
                                        training=summary, name=name or out_dir.name)
        event_f1[width] = load_event_model(tune_event_model(tried[width], prepared_val)).training["validation_tuned"]["event_f1"]
        logger.info("GMM baseline, context %d frames: tuned validation event F1 %.3f", width, event_f1[width])
    best = max(event_f1, key=lambda width: event_f1[width])
    chosen = load_event_model(tried[best])
    training = dict(chosen.training, context_choice={str(width): f1 for width, f1 in event_f1.items()})
    path = save_event_model(out_dir / MODEL_NAME, model=chosen.model, specifications=specifications, decode=chosen.decode,
                            training=training, name=chosen.name)
    for candidate_path in tried.values():
        candidate_path.unlink()
    return path


__all__ = ["GMMTrainingConfig", "fit_gmm_detector", "train_gmm_baseline"]
