"""A classical baseline for sound events: per-class GMMs on MFCC frames (the DCASE 2016 task 3 baseline's method).

For each class two Gaussian mixtures (diagonal covariances) are fitted on the training frames: one
on the frames inside that class's events, one on all the others. A frame's score is the log
likelihood ratio of the two averaged over a centred context, plus the class's prior log-odds; its
sigmoid is the class probability. The DCASE 2016 baseline accumulates 1 s; here the context is
chosen on validation among 1, 5, 15 and 50 frames unless given. Frames: the first 20 MFCC (c0-c19)
of the event features and their Δ (the DCASE 2016 baseline also used ΔΔ, which the event features
do not hold).

The scorer is a plain ``nn.Module`` with the CNN-LSTM's contract, (batch, frame, 2·n_mfcc + 1)
features in, (batch, frame, n_classes) logits out, so it goes through the same model file, sliding
windows, decoding, tuning and evaluation: the baseline is scored exactly as the network is. Fitting
uses scikit-learn's :class:`~sklearn.mixture.GaussianMixture` (``pip install scikit-learn``).

    turnpoint train --task events data/train --validation data/validation --out runs/gmm --architecture gmm
    turnpoint evaluate --task events test/events.tsv test/ --model runs/gmm/model.safetensors
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from turnpoint.core.errors import TurnpointError
from turnpoint.core.task import JsonConfig

logger = logging.getLogger(__name__)

__all__ = ["GMMEventConfig", "GMMEventDetector", "GMMTrainingConfig", "fit_gmm_detector", "train_gmm_baseline"]

GMM_KIND = "gmm"
# context widths tried on validation (frames of 20 ms): none, 0.1 s, 0.3 s, and the DCASE 2016 baseline's 1 s
CONTEXT_CHOICES = (1, 5, 15, 50)


@dataclass(frozen=True)
class GMMEventConfig(JsonConfig):
    """Architecture of :class:`GMMEventDetector` (the DCASE 2016 baseline's 16 components, 1 s context).

    Examples
    --------
    >>> GMMEventConfig(classes=("bell", "phone")).feature_columns[:3], GMMEventConfig().dims
    ((0, 1, 2), 40)
    """

    kind: str = GMM_KIND
    n_mfcc: int = 64  # the input's layout: n_mfcc coefficients, their Δ, the zero-crossing rate
    coefficients: int = 20  # the GMMs read c0 .. c(coefficients-1) and their Δ
    components: int = 16
    context_frames: int = 50  # log likelihood ratios averaged over this many frames (50 x 20 ms = 1 s), centred
    classes: tuple[str, ...] = ("event",)
    frames: int = 100  # sliding window length, as for the network

    def __post_init__(self) -> None:
        if self.kind != GMM_KIND:
            raise ValueError(f"a GMMEventConfig has kind {GMM_KIND!r}, not {self.kind!r}")
        if not 1 <= self.coefficients <= self.n_mfcc:
            raise ValueError(f"coefficients must be 1 to n_mfcc ({self.n_mfcc}), not {self.coefficients}")
        if self.components < 1 or self.context_frames < 1 or not self.classes:
            raise ValueError("need at least one component, one context frame and one class")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def input_dim(self) -> int:
        return 2 * self.n_mfcc + 1

    @property
    def dims(self) -> int:
        return 2 * self.coefficients

    @property
    def feature_columns(self) -> tuple[int, ...]:
        """Input columns the GMMs read: c0 .. c(k-1), then their Δ."""
        return tuple(range(self.coefficients)) + tuple(range(self.n_mfcc, self.n_mfcc + self.coefficients))


class GMMEventDetector(nn.Module):
    """Per-class event / background GMM log likelihood ratio, averaged over a context window.

    The mixtures' parameters are ``nn.Parameter`` without gradients (fitted by EM, see
    :func:`fit_gmm_detector`, not by backpropagation); index ``[class, 0]`` is the event model,
    ``[class, 1]`` the background model.

    Examples
    --------
    >>> model = GMMEventDetector(GMMEventConfig(classes=("a", "b"), components=4))
    >>> model(torch.zeros(2, 100, 129)).shape
    torch.Size([2, 100, 2])
    >>> model.num_parameters()
    1378
    """

    def __init__(self, config: GMMEventConfig):
        super().__init__()
        self.config = config
        shape = (config.n_classes, 2, config.components)

        def frozen(tensor: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(tensor, requires_grad=False)

        self.log_weights = frozen(torch.full(shape, -math.log(config.components)))
        self.means = frozen(torch.zeros(*shape, config.dims))
        self.log_variances = frozen(torch.zeros(*shape, config.dims))
        self.log_prior_odds = frozen(torch.zeros(config.n_classes))
        self.register_buffer("input_mean", torch.zeros(config.dims))
        self.register_buffer("input_scale", torch.ones(config.dims))
        self.register_buffer("columns", torch.tensor(config.feature_columns, dtype=torch.long), persistent=False)

    def log_likelihood_ratio(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> per-frame log p(x | event) - log p(x | background): (batch, frame, n_classes)
        x = (features[..., self.columns] - self.input_mean) / self.input_scale  # (batch, frame, dims)
        precision = torch.exp(-self.log_variances).flatten(0, 2)  # (classes·2·components, dims)
        means = self.means.flatten(0, 2)  # (classes·2·components, dims)
        # the squared distance expanded into matrix products, so no (batch, frame, components, dims) tensor is made
        constant = (means.square() * precision).sum(-1) + self.log_variances.flatten(0, 2).sum(-1) + self.config.dims * math.log(2 * math.pi)
        log_density = -0.5 * (x.square() @ precision.T - 2 * x @ (means * precision).T + constant)  # (batch, frame, classes·2·components)
        joint = log_density.unflatten(-1, self.log_weights.shape) + self.log_weights  # (batch, frame, classes, 2, components)
        per_model = torch.logsumexp(joint, dim=-1)  # (batch, frame, classes, 2)
        return per_model[..., 0] - per_model[..., 1]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> logits (batch, frame, n_classes)
        ratio = self.log_likelihood_ratio(features).transpose(1, 2)  # (batch, classes, frame)
        width = self.config.context_frames
        # centred mean over the context; at the window's edges over the frames there are
        padded = nn.functional.pad(ratio, ((width - 1) // 2, width // 2))
        ones = nn.functional.pad(torch.ones_like(ratio[:1, :1]), ((width - 1) // 2, width // 2))
        mean = nn.functional.avg_pool1d(padded, width, stride=1) / nn.functional.avg_pool1d(ones, width, stride=1)
        return mean.transpose(1, 2) + self.log_prior_odds  # (batch, frame, classes)

    @torch.no_grad()
    def scores(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> probabilities (batch, frame, n_classes)
        return torch.sigmoid(self.forward(features))

    def num_parameters(self, *, trainable_only: bool = False) -> int:
        """Fitted numbers: mixture weights, means, variances, prior odds (and the input standardisation)."""
        count = sum(p.numel() for p in self.parameters())
        return count if trainable_only else count + self.input_mean.numel() + self.input_scale.numel()

    def summary(self, *, frames: int | None = None, input_name: str = "MFCC") -> str:
        """What the baseline computes, with its parameter count."""
        c = self.config
        return "\n".join([
            f"GMM baseline (DCASE 2016 task 3 method) on {input_name} input ({c.input_dim} per frame; frames {frames or c.frames})",
            f"  reads c0-c{c.coefficients - 1} and their delta ({c.dims} dims), standardised",
            f"  per class: event GMM and background GMM, {c.components} diagonal components each",
            f"  score: log likelihood ratio averaged over {c.context_frames} frames + prior log-odds, sigmoid",
            f"Total parameters: {self.num_parameters():,}. Classes: {', '.join(c.classes)}.",
        ])


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
    from turnpoint.events.features import event_feature_config, event_specifications
    from turnpoint.events.modelfile import load_event_model, save_event_model
    from turnpoint.events.training import MODEL_NAME, _prepare, collect_event_files, split_validation, tune_event_model

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
    prepared = _prepare(train_items, classes, feature_config, show_progress, "features (train)")
    prepared_val = _prepare(validation_items, classes, feature_config, show_progress, "features (validation)")
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
