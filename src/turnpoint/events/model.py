"""The CNN-LSTM hybrid sound event detector of the seed design, in PyTorch.

Per frame (all layers share their weights across frames)::

    A: 64 MFCC ─ TimeDistributed(Conv1d(1, 64, 16) + ReLU + max over the 49 positions) ─ BatchNorm
       ─ Dropout 0.4 ─ LSTM 64 (one output per frame) ──────────────────────────────┐
    B: 64 Δ + ZCR (65) ─ Dense 65 per frame (linear, as in the seed) ───────────────┴─ concat (129)
       ─ Dense n_classes per frame (sigmoid)

The seed design's Keras code failed because ``TimeDistributed(Conv1D)`` on a (100, 64) input hands
``Conv1D`` one rank-1 vector per step; the convolution needs a channel axis. Here
:class:`TimeDistributed` folds the frame axis into the batch, the per-frame module adds the
channel axis, (B·T, 64) → (B·T, 1, 64) → Conv1d → (B·T, 64, 49) → max → (B·T, 64), and the result
is unfolded to (B, T, 64). The network reads one (batch, frame, 129) tensor: MFCC, Δ, ZCR
(see :func:`turnpoint.core.features.event_features`), standardised by fixed buffers set from training data.

Parameter count for one class: 39,044 in PyTorch terms, counting the 128 BatchNorm running
statistics as Keras does (38,916 trainable); 38,788 in Keras terms (Keras' LSTM has one bias per
gate, torch two: +256).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from turnpoint.events.gmm import GMMEventDetector
from turnpoint.core.layers import init_lstm_like_keras, keras_lstm_parameters
from turnpoint.core.task import JsonConfig

__all__ = ["FrameConv", "SoundEventConfig", "SoundEventDetector", "EventNetwork", "SoundEventEnsemble", "TimeDistributed", "build_event_network", "summarize_events"]

MAX_MEMBERS = 16


@dataclass(frozen=True)
class SoundEventConfig(JsonConfig):
    """Architecture of :class:`SoundEventDetector`; the defaults are the seed design's (one class).

    Examples
    --------
    >>> SoundEventConfig().input_dim
    129
    >>> SoundEventConfig(classes=("bell", "phone")).n_classes
    2
    """

    n_mfcc: int = 64
    conv_filters: int = 64
    conv_kernel: int = 16
    dropout: float = 0.4
    lstm_units: int = 64
    bidirectional: bool = False
    aux_units: int = 65
    classes: tuple[str, ...] = ("event",)
    frames: int = 100  # input length used in training and for the sliding windows
    conv_regions: int = 1  # the max over positions is taken in this many frequency regions (1: all, as the seed)
    members: int = 1  # networks of this architecture whose scores are averaged (1: one network, as the seed)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def aux_dim(self) -> int:
        return self.n_mfcc + 1  # Δ + zero-crossing rate

    @property
    def input_dim(self) -> int:
        return self.n_mfcc + self.aux_dim

    @property
    def conv_positions(self) -> int:
        return self.n_mfcc - self.conv_kernel + 1

    @property
    def conv_features(self) -> int:
        """Numbers per frame after the frame convolution's max: filters × regions."""
        return self.conv_filters * self.conv_regions

    def to_dict(self) -> dict:
        data = super().to_dict()
        for key in ("conv_regions", "members"):
            if data[key] == 1:
                del data[key]  # the default is left out, so such files read in older versions too
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SoundEventConfig:
        config = super().from_dict(data)
        if config.n_classes < 1 or config.conv_kernel > config.n_mfcc:
            raise ValueError("need at least one class and conv_kernel <= n_mfcc")
        if not 1 <= config.conv_regions <= config.conv_positions:
            raise ValueError(f"conv_regions must be 1 to {config.conv_positions} (the positions)")
        if not 1 <= config.members <= MAX_MEMBERS:
            raise ValueError(f"members must be 1 to {MAX_MEMBERS}, not {config.members}")
        return config


class TimeDistributed(nn.Module):
    """Apply ``module`` to every frame independently: (batch, frame, *x) -> (batch, frame, *y).

    Frames are folded into the batch axis, so one call runs them all with shared weights —
    Keras' ``TimeDistributed``. (``nn.Linear`` needs no wrapper: it already acts on the last axis.)

    Examples
    --------
    >>> layer = TimeDistributed(nn.Flatten())
    >>> layer(torch.zeros(2, 5, 3, 4)).shape
    torch.Size([2, 5, 12])
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, frame, *per_frame) -> (batch, frame, *per_frame_out)
        batch, frames = x.shape[:2]
        y = self.module(x.reshape(batch * frames, *x.shape[2:]))  # (batch·frame, *per_frame_out)
        return y.reshape(batch, frames, *y.shape[1:])


class FrameConv(nn.Module):
    """One frame's 1-D convolution over its coefficients, ReLU, then the max over positions.

    With ``regions`` > 1 the max is taken separately in that many contiguous groups of positions
    (``adaptive_max_pool1d``'s split), so over log-mel bands the output keeps a coarse *where* in
    frequency; the result is (n, filters × regions), filter-major.

    Examples
    --------
    >>> FrameConv(filters=64, kernel=16)(torch.zeros(7, 64)).shape
    torch.Size([7, 64])
    >>> FrameConv(filters=64, kernel=16, regions=4)(torch.zeros(7, 64)).shape
    torch.Size([7, 256])
    """

    def __init__(self, *, filters: int, kernel: int, regions: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(1, filters, kernel)
        self.regions = regions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (n, coefficients) -> (n, filters · regions): max over positions of ReLU(conv1d(x[:, None, :]))
        # Computed as patches @ kernels, max, + bias, ReLU: the same numbers as reference_forward
        # (ReLU and +bias commute with the max), about twice as fast on CPU, where a 1-channel
        # Conv1d is slow. See tests/test_events_model.py.
        patches = x.unfold(-1, self.conv.kernel_size[0], 1)  # (n, positions, kernel)
        responses = patches @ self.conv.weight[:, 0, :].T  # (n, positions, filters)
        if self.regions == 1:
            return torch.relu(responses.max(dim=1).values + self.conv.bias)  # (n, filters)
        pooled = nn.functional.adaptive_max_pool1d(responses.transpose(1, 2), self.regions)  # (n, filters, regions)
        return torch.relu(pooled + self.conv.bias[:, None]).flatten(1)  # (n, filters · regions)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (n, coefficients) -> (n, 1, coefficients) -> Conv1d (n, filters, positions) -> ReLU -> max -> (n, filters · regions)
        responses = torch.relu(self.conv(x.unsqueeze(1)))  # (n, filters, positions)
        return nn.functional.adaptive_max_pool1d(responses, self.regions).flatten(1)  # (n, filters · regions)


class SoundEventDetector(nn.Module):
    """Frame-level multi-label sound event scorer (the seed design's CNN-LSTM hybrid).

    ``forward`` returns logits (batch, frame, n_classes); :meth:`scores` their sigmoid.

    Examples
    --------
    >>> model = SoundEventDetector(SoundEventConfig())
    >>> model(torch.zeros(2, 100, 129)).shape
    torch.Size([2, 100, 1])
    >>> model.num_parameters(), model.num_parameters(trainable_only=True)
    (39044, 38916)
    """

    def __init__(self, config: SoundEventConfig):
        super().__init__()
        if config.members != 1:
            raise ValueError(f"a SoundEventDetector is one network; build {config.members} members with SoundEventEnsemble")
        self.config = config
        self.frame_conv = TimeDistributed(FrameConv(filters=config.conv_filters, kernel=config.conv_kernel, regions=config.conv_regions))
        self.norm = nn.BatchNorm1d(config.conv_features, eps=1e-3, momentum=0.01)  # Keras momentum 0.99
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(config.conv_features, config.lstm_units, batch_first=True, bidirectional=config.bidirectional)
        self.aux = nn.Linear(config.aux_dim, config.aux_units)
        directions = 2 if config.bidirectional else 1
        self.output = nn.Linear(directions * config.lstm_units + config.aux_units, config.n_classes)
        self.register_buffer("input_mean", torch.zeros(config.input_dim))
        self.register_buffer("input_scale", torch.ones(config.input_dim))
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Keras defaults: glorot weights, orthogonal recurrent weights, zero biases, forget bias 1.
        init_lstm_like_keras(self.lstm)
        for linear in (self.aux, self.output):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, 2·n_mfcc + 1) -> logits (batch, frame, n_classes)
        x = (features - self.input_mean) / self.input_scale
        n = self.config.n_mfcc
        mfcc, aux = x[..., :n], x[..., n:]  # (batch, frame, 64), (batch, frame, 65)
        a = self.frame_conv(mfcc)  # (batch, frame, filters · regions)
        a = self.norm(a.transpose(1, 2)).transpose(1, 2)  # (batch, frame, filters · regions)
        a = self.dropout(a)
        a, _ = self.lstm(a)  # (batch, frame, directions·units)
        b = self.aux(aux)  # (batch, frame, aux_units)
        return self.output(torch.cat([a, b], dim=-1))  # (batch, frame, n_classes)

    @torch.no_grad()
    def scores(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> probabilities (batch, frame, n_classes)
        return torch.sigmoid(self.forward(features))

    def num_parameters(self, *, trainable_only: bool = False) -> int:
        """Parameters; by default with BatchNorm's running mean/variance, as Keras counts them."""
        count = sum(p.numel() for p in self.parameters())
        if not trainable_only:
            count += self.norm.running_mean.numel() + self.norm.running_var.numel()
        return count

    def summary(self, *, frames: int | None = None, input_name: str = "MFCC") -> str:
        """Keras-style layer table with output shapes and parameter counts (see :func:`summarize_events`)."""
        return summarize_events(self, frames=frames, input_name=input_name)


class SoundEventEnsemble(nn.Module):
    """Several :class:`SoundEventDetector` of one architecture; the scores are the members' mean probability.

    Members trained from different seeds err in different places, so their averaged score curves
    rank frames better than any one of them (docs/events.md). ``forward`` returns the logit of that
    mean, so ``sigmoid(forward(x)) == scores(x)`` as for one network. Built from ``config.members``;
    the weights of member ``i`` live under ``members.i.`` in the model file.

    Examples
    --------
    >>> ensemble = SoundEventEnsemble(SoundEventConfig(members=3))
    >>> ensemble.scores(torch.zeros(2, 100, 129)).shape
    torch.Size([2, 100, 1])
    >>> ensemble.num_parameters() == 3 * SoundEventDetector(SoundEventConfig()).num_parameters()
    True
    """

    def __init__(self, config: SoundEventConfig):
        super().__init__()
        self.config = config
        member = replace(config, members=1)
        self.members = nn.ModuleList(SoundEventDetector(member) for _ in range(config.members))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> logit of the members' mean probability (batch, frame, n_classes)
        return torch.logit(self._mean_probability(features), eps=1e-7)

    def _mean_probability(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> (batch, frame, n_classes)
        return torch.stack([torch.sigmoid(member(features)) for member in self.members]).mean(dim=0)

    @torch.no_grad()
    def scores(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> probabilities (batch, frame, n_classes)
        return self._mean_probability(features)

    def num_parameters(self, *, trainable_only: bool = False) -> int:
        return sum(member.num_parameters(trainable_only=trainable_only) for member in self.members)

    def summary(self, *, frames: int | None = None, input_name: str = "MFCC") -> str:
        """One member's layer table, then the ensemble's total."""
        return (summarize_events(self.members[0], frames=frames, input_name=input_name)
                + f"\nEnsemble of {len(self.members)} such networks, scores averaged: {self.num_parameters():,} parameters in all.")


EventNetwork = SoundEventDetector | SoundEventEnsemble | GMMEventDetector  # what inference, tuning and model files accept


def build_event_network(config: SoundEventConfig) -> EventNetwork:
    """The network a configuration describes: one detector, or an ensemble when ``config.members`` > 1.

    Examples
    --------
    >>> type(build_event_network(SoundEventConfig(members=2))).__name__
    'SoundEventEnsemble'
    """
    return SoundEventEnsemble(config) if config.members > 1 else SoundEventDetector(config)


def summarize_events(model: SoundEventDetector, *, frames: int | None = None, input_name: str = "MFCC") -> str:
    """Render the layer table of ``model`` on a (None, frames, input_dim) input.

    ``input_name`` labels input A (the model file's features say which: "MFCC" or "log-mel").

    Shapes are measured by running a dummy batch through the layers, so they are the real ones.

    Examples
    --------
    >>> print(summarize_events(SoundEventDetector(SoundEventConfig())).splitlines()[-2])  # doctest: +ELLIPSIS
    Total parameters: 39,044 ...
    """
    config = model.config
    t = frames or config.frames
    n, k = config.n_mfcc, config.n_classes
    directions = 2 if config.bidirectional else 1
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = torch.zeros(1, t, config.input_dim)
        mfcc, aux = x[..., :n], x[..., n:]
        folded = mfcc.reshape(t, n).unsqueeze(1)
        conv = model.frame_conv.module.conv(folded)
        pooled = model.frame_conv(mfcc)
        lstm_out, _ = model.lstm(pooled)
        aux_out = model.aux(aux)
        out = model(x)
    model.train(was_training)

    def shape(tensor: torch.Tensor, *, folded_axis: bool = False) -> str:
        dims = ["None·" + str(t)] if folded_axis else ["None"]
        dims += [str(d) for d in tensor.shape[(1 if folded_axis else 1):]]
        return "(" + ", ".join(dims) + ")"

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    lstm_keras = directions * keras_lstm_parameters(config.conv_features, config.lstm_units)
    bn_torch = count(model.norm) + 2 * config.conv_features
    regions = f" in {config.conv_regions} regions" if config.conv_regions > 1 else ""
    rows = [
        (f"Input A: {input_name}", f"(None, {t}, {n})", 0, 0),
        ("  fold frames into batch", f"(None·{t}, 1, {n})", 0, 0),
        (f"  Conv1d {config.conv_filters}x{config.conv_kernel} ReLU per frame", shape(conv, folded_axis=True), count(model.frame_conv), count(model.frame_conv)),
        (f"  max over {config.conv_positions} positions{regions}", f"(None, {t}, {pooled.shape[-1]})", 0, 0),
        ("BatchNorm (+ running stats)", f"(None, {t}, {config.conv_features})", bn_torch, bn_torch),
        (f"Dropout {config.dropout}", f"(None, {t}, {config.conv_features})", 0, 0),
        (f"{'BiLSTM' if directions == 2 else 'LSTM'} {config.lstm_units} per frame", f"(None, {t}, {lstm_out.shape[-1]})", count(model.lstm), lstm_keras),
        ("Input B: delta + ZCR", f"(None, {t}, {config.aux_dim})", 0, 0),
        (f"Dense {config.aux_units} per frame (linear)", f"(None, {t}, {aux_out.shape[-1]})", count(model.aux), count(model.aux)),
        ("Concatenate", f"(None, {t}, {lstm_out.shape[-1] + aux_out.shape[-1]})", 0, 0),
        (f"Dense {k} per frame (sigmoid)", f"(None, {t}, {out.shape[-1]})", count(model.output), count(model.output)),
    ]
    total_torch = sum(r[2] for r in rows)
    total_keras = sum(r[3] for r in rows)
    assert total_torch == model.num_parameters()
    width = max(len(r[0]) for r in rows) + 2
    line = "=" * (width + 48)
    out_lines = [f"{'Layer':<{width}}{'Output shape':<24}{'Params':>12}{'Keras':>12}", line]
    out_lines += [f"{name:<{width}}{shp:<24}{a:>12,}{b:>12,}" for name, shp, a, b in rows]
    out_lines.append(line)
    out_lines.append(
        f"Total parameters: {total_torch:,} (torch; {model.num_parameters(trainable_only=True):,} trainable + "
        f"{2 * config.conv_features} BatchNorm running statistics); {total_keras:,} in Keras terms."
    )
    out_lines.append(
        f"torch.nn.LSTM keeps two bias vectors per gate, Keras one: +{directions * 4 * config.lstm_units}. "
        f"Classes: {', '.join(config.classes)}."
    )
    return "\n".join(out_lines)
