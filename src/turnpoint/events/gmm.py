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
from dataclasses import dataclass

import torch
from torch import nn

from turnpoint.core.task import JsonConfig

logger = logging.getLogger(__name__)

__all__ = ["GMMEventConfig", "GMMEventDetector"]

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
    :func:`turnpoint.events.gmm_training.fit_gmm_detector`, not by backpropagation); index ``[class, 0]`` is the event model,
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


