"""The speaker change detector of Yin, Bredin & Barras (Interspeech 2017) as a plain ``nn.Module``.

BiLSTM 32+32 → BiLSTM 20+20 → per-frame MLP 40 tanh → 10 tanh → 1. ``nn.Linear`` on a
(batch, frame, feature) tensor is already applied to every frame with shared weights — exactly
Keras' ``TimeDistributed(Dense)`` — so no wrapper is needed. ``forward`` returns logits; the
sigmoid of the paper's last layer is applied by :meth:`SpeakerChangeDetector.scores` (training
uses the numerically safer ``BCEWithLogitsLoss``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from turnpoint.core.layers import init_lstm_like_keras, keras_lstm_parameters
from turnpoint.core.task import JsonConfig

KERAS_SNIPPET_PARAMETERS = 108_941


@dataclass(frozen=True)
class SpeakerChangeConfig(JsonConfig):
    """Architecture of :class:`SpeakerChangeDetector`; the defaults are the paper's.

    Examples
    --------
    >>> SpeakerChangeConfig().lstm_hidden
    (32, 20)
    """

    input_dim: int = 35
    lstm_hidden: tuple[int, ...] = (32, 20)
    bidirectional: bool = True
    mlp_hidden: tuple[int, ...] = (40, 10)


class SpeakerChangeDetector(nn.Module):
    """Frame-level speaker change scorer.

    Examples
    --------
    >>> model = SpeakerChangeDetector(SpeakerChangeConfig())
    >>> model(torch.zeros(2, 200, 35)).shape
    torch.Size([2, 200, 1])
    >>> model.num_parameters()
    33485
    """

    def __init__(self, config: SpeakerChangeConfig):
        super().__init__()
        self.config = config
        directions = 2 if config.bidirectional else 1
        self.lstms = nn.ModuleList()
        size = config.input_dim
        for hidden in config.lstm_hidden:
            self.lstms.append(nn.LSTM(size, hidden, batch_first=True, bidirectional=config.bidirectional))
            size = hidden * directions
        self.mlp = nn.ModuleList()
        for hidden in config.mlp_hidden:
            self.mlp.append(nn.Linear(size, hidden))
            size = hidden
        self.output = nn.Linear(size, 1)
        # Fixed feature standardisation (set from training data; identity by default). Buffers, not
        # parameters: the paper's network is unchanged, it just sees unit-scale inputs.
        self.register_buffer("input_mean", torch.zeros(config.input_dim))
        self.register_buffer("input_scale", torch.ones(config.input_dim))
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As the original Keras layers: glorot input weights, orthogonal recurrent weights,
        # zero biases except a forget-gate bias of 1 (split over torch's two bias vectors).
        for lstm in self.lstms:
            init_lstm_like_keras(lstm)
        for linear in [*self.mlp, self.output]:
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> logits: (batch, frame, 1)
        hidden = (features - self.input_mean) / self.input_scale
        for lstm in self.lstms:
            hidden, _ = lstm(hidden)  # (batch, frame, directions * units)
        for linear in self.mlp:
            hidden = torch.tanh(linear(hidden))  # (batch, frame, units)
        return self.output(hidden)

    @torch.no_grad()
    def scores(self, features: torch.Tensor) -> torch.Tensor:
        # features: (batch, frame, input_dim) -> change probability: (batch, frame)
        return torch.sigmoid(self.forward(features))[..., 0]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def summary(self, *, frames: int = 200) -> str:
        """Keras-style table: layer, output shape, parameters (torch and Keras counts).

        Examples
        --------
        >>> print(SpeakerChangeDetector(SpeakerChangeConfig()).summary())  # doctest: +ELLIPSIS
        Layer ...
        """
        return summarize(self, frames=frames)


def summarize(model: SpeakerChangeDetector, *, frames: int = 200) -> str:
    """Render the layer table of ``model`` on a (None, frames, input_dim) input."""
    config = model.config
    directions = 2 if config.bidirectional else 1
    rows: list[tuple[str, str, int, int]] = []
    size = config.input_dim
    for index, (lstm, units) in enumerate(zip(model.lstms, config.lstm_hidden), start=1):
        torch_count = sum(p.numel() for p in lstm.parameters())
        keras_count = directions * keras_lstm_parameters(size, units)
        kind = "BiLSTM" if config.bidirectional else "LSTM"
        rows.append((f"{kind} {index} ({units}{f'+{units}' if directions == 2 else ''})", f"(None, {frames}, {units * directions})", torch_count, keras_count))
        size = units * directions
    for index, linear in enumerate(model.mlp, start=1):
        count = sum(p.numel() for p in linear.parameters())
        rows.append((f"Dense {index} per frame (tanh)", f"(None, {frames}, {linear.out_features})", count, count))
    count = sum(p.numel() for p in model.output.parameters())
    rows.append(("Dense out per frame (sigmoid)", f"(None, {frames}, 1)", count, count))

    total_torch = sum(row[2] for row in rows)
    total_keras = sum(row[3] for row in rows)
    assert total_torch == model.num_parameters()
    width = max(len(row[0]) for row in rows) + 2
    line = "=" * (width + 44)
    out = [f"{'Layer':<{width}}{'Output shape':<20}{'Params':>12}{'Keras':>12}", line]
    out.append(f"{'Input':<{width}}{f'(None, {frames}, {config.input_dim})':<20}{0:>12,}{0:>12,}")
    for name, shape, torch_count, keras_count in rows:
        out.append(f"{name:<{width}}{shape:<20}{torch_count:>12,}{keras_count:>12,}")
    out.append(line)
    out.append(f"Total parameters: {total_torch:,} (torch.nn.LSTM); {total_keras:,} in Keras terms.")
    n_lstm_biases = directions * 4 * sum(config.lstm_hidden)
    out.append(
        f"torch.nn.LSTM keeps two bias vectors per gate (b_ih and b_hh), Keras one: "
        f"+{n_lstm_biases} = 2 directions x 4 gates x ({' + '.join(map(str, config.lstm_hidden))}) units."
    )
    if config == SpeakerChangeConfig():
        snippet = (
            2 * keras_lstm_parameters(35, 64) + 2 * keras_lstm_parameters(128, 40) + (80 + 1) * 40 + (40 + 1) * 10 + 11
        )
        assert snippet == KERAS_SNIPPET_PARAMETERS
        out.append(
            f"The paper seed's Keras snippet reports {snippet:,}: Bidirectional(LSTM(64)) and Bidirectional(LSTM(40)) "
            f"give 64 and 40 units PER DIRECTION (outputs 128 and 80; "
            f"{2 * keras_lstm_parameters(35, 64):,} + {2 * keras_lstm_parameters(128, 40):,} + 3,240 + 410 + 11). "
            f"The paper's 32+32 and 20+20 are Bidirectional(LSTM(32, return_sequences=True)) and "
            f"Bidirectional(LSTM(20, return_sequences=True))."
        )
    return "\n".join(out)
