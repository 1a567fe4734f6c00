"""The learned score of a candidate change: a small MLP over its GE2E distances, BiLSTM score and place.

:class:`CandidateScorer` maps :func:`candidate_features` to the probability that a candidate is a
speaker change; its few hundred weights travel in the model file's header with the other
re-scoring settings (:class:`turnpoint.changes.rescoring.RescoringSettings`).
:func:`fit_candidate_scorer` fits one (``recipes/choose_rescoring.py --learned``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_GAP = 5.0  # seconds to the neighbouring candidates are capped here as scorer features
EXTRA_FEATURES = ("bilstm", "log_bilstm", "distance_zscore", "gap_before", "gap_after")


def candidate_features(distances: np.ndarray, bilstm: np.ndarray, times: np.ndarray, *, duration: float) -> np.ndarray:
    """The learned scorer's input: one row per candidate of one file.

    Columns: the GE2E distance at each context length (``distances``, (candidate, context)), then
    :data:`EXTRA_FEATURES`: the BiLSTM score, its log, the file-level z-score of the mean distance
    (speaker embeddings drift with channel and noise: a file's own spread is the yardstick) and
    the seconds since the previous and until the next candidate (capped at ``MAX_GAP``).

    Examples
    --------
    >>> f = candidate_features(np.array([[0.2], [0.6]]), np.array([0.1, 0.9]), np.array([2.0, 3.0]), duration=10.0)
    >>> f.shape, f[:, -2:].tolist()
    ((2, 6), [[2.0, 1.0], [1.0, 5.0]])
    """
    distances = np.asarray(distances, dtype=np.float64).reshape(len(times), -1)
    mean = distances.mean(axis=1) if distances.size else np.zeros(len(times))
    zscore = (mean - mean.mean()) / (mean.std() + 1e-3) if len(times) > 1 else np.zeros(len(times))
    before = np.diff(np.concatenate([[0.0], times]))
    after = np.diff(np.concatenate([times, [duration]]))
    bilstm = np.asarray(bilstm, dtype=np.float64)
    extra = [bilstm, np.log(bilstm + 1e-3), zscore, np.minimum(before, MAX_GAP), np.minimum(after, MAX_GAP)]
    return np.column_stack([distances, *extra]).astype(np.float32)


def _floats(values, name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(np.isfinite(out)):
        raise ValueError(f"candidate scorer {name} holds NaN or infinite values")
    return out


@dataclass(frozen=True)
class CandidateScorer:
    """A small tanh MLP (no hidden layer: logistic regression) scoring candidate changes.

    It maps :func:`candidate_features` (standardised by ``mean`` / ``scale``) to the probability
    that a candidate is a speaker change. Its few hundred weights travel in the model file's JSON
    header with the other re-scoring settings (shapes checked on load); :func:`fit_candidate_scorer`
    fits one.

    Examples
    --------
    >>> scorer = CandidateScorer(mean=(0.0, 0.0), scale=(1.0, 1.0), weights=(((2.0, 0.0),),), biases=((0.0,),))
    >>> [round(float(p), 3) for p in scorer(np.array([[1.0, 5.0], [-1.0, 5.0]]))]
    [0.881, 0.119]
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[tuple[tuple[float, ...], ...], ...]  # per layer: (out, in)
    biases: tuple[tuple[float, ...], ...]  # per layer: (out,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _floats(self.mean, "mean"))
        object.__setattr__(self, "scale", _floats(self.scale, "scale"))
        object.__setattr__(self, "weights", tuple(tuple(_floats(row, "weights") for row in layer) for layer in self.weights))
        object.__setattr__(self, "biases", tuple(_floats(layer, "biases") for layer in self.biases))
        if len(self.scale) != len(self.mean) or min(self.scale, default=0.0) <= 0:
            raise ValueError("candidate scorer needs one positive scale per feature")
        if not self.weights or len(self.weights) != len(self.biases):
            raise ValueError("candidate scorer needs as many bias vectors as weight matrices (at least one)")
        width = len(self.mean)
        for index, (layer, bias) in enumerate(zip(self.weights, self.biases)):
            if not layer or any(len(row) != width for row in layer) or len(bias) != len(layer):
                raise ValueError(f"candidate scorer layer {index} has the wrong shape (needs rows of {width} inputs and one bias per row)")
            width = len(layer)
        if width != 1:
            raise ValueError("candidate scorer must end in a single output")

    @property
    def n_features(self) -> int:
        return len(self.mean)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Probabilities (candidate,) for ``features`` (candidate, feature)."""
        hidden = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            hidden = hidden @ np.asarray(weight).T + bias
            if index < len(self.weights) - 1:
                hidden = np.tanh(hidden)
        return (1.0 / (1.0 + np.exp(-hidden[:, 0]))).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "scale": list(self.scale), "weights": [[list(row) for row in layer] for layer in self.weights],
                "biases": [list(layer) for layer in self.biases]}

    @classmethod
    def from_dict(cls, data: dict) -> CandidateScorer:
        return cls(**data)


def fit_candidate_scorer(
    features: np.ndarray, labels: np.ndarray, *, hidden: tuple[int, ...] = (), epochs: int = 300, seed: int = 0
) -> CandidateScorer:
    """Fit a :class:`CandidateScorer` (full-batch Adam on the logistic loss, small weight decay).

    Parameters
    ----------
    features : (candidate, feature) rows of :func:`candidate_features`, pooled over files
    labels : (candidate,) 1 where a reference change lies within the evaluation tolerance
    hidden : tanh layer widths; () is logistic regression

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2)); y = (x[:, 0] > 0).astype(np.float32)
    >>> scorer = fit_candidate_scorer(x, y, epochs=200)
    >>> bool(((scorer(x) > 0.5) == (y > 0)).mean() > 0.95)
    True
    """
    import torch

    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float32)
    if features.ndim != 2 or len(features) != len(labels) or len(features) == 0:
        raise ValueError(f"need (candidate, feature) features with one label each, got {features.shape} and {labels.shape}")
    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    width = features.shape[1]
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.Tanh()]
        width = size
    layers.append(torch.nn.Linear(width, 1))
    network = torch.nn.Sequential(*layers)
    inputs = torch.from_numpy((features - mean) / scale)
    targets = torch.from_numpy(labels)
    optimizer = torch.optim.Adam(network.parameters(), lr=0.01, weight_decay=1e-4)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(network(inputs)[:, 0], targets)  # (candidate,)
        loss.backward()
        optimizer.step()
    linear = [module for module in network if isinstance(module, torch.nn.Linear)]
    return CandidateScorer(mean=mean.tolist(), scale=scale.tolist(), weights=[m.weight.detach().double().tolist() for m in linear],
                           biases=[m.bias.detach().double().tolist() for m in linear])
