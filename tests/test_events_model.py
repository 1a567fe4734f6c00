"""The CNN-LSTM hybrid of seed 004: parameter counts, per-frame convolution, shapes, summary."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from turnpoint.events.model import FrameConv, SoundEventConfig, SoundEventDetector, TimeDistributed
from turnpoint.model import keras_lstm_parameters


def test_parameter_counts_one_class_match_spec():
    model = SoundEventDetector(SoundEventConfig())
    assert model.num_parameters() == 39_044
    assert model.num_parameters(trainable_only=True) == 38_916
    conv = sum(p.numel() for p in model.frame_conv.parameters())
    lstm = sum(p.numel() for p in model.lstm.parameters())
    assert (conv, lstm, sum(p.numel() for p in model.aux.parameters()), sum(p.numel() for p in model.output.parameters())) == (1_088, 33_280, 4_290, 130)
    keras = 1_088 + 256 + keras_lstm_parameters(64, 64) + 4_290 + 130
    assert keras == 38_788


def test_parameter_counts_grow_with_classes_and_directions():
    five = SoundEventDetector(SoundEventConfig(classes=tuple("abcde")))
    assert five.num_parameters() == 39_044 + 4 * 130
    bi = SoundEventDetector(SoundEventConfig(bidirectional=True))
    assert bi.num_parameters() == 39_044 + 33_280 + 64
    assert bi(torch.zeros(2, 30, 129)).shape == (2, 30, 1)


def test_per_frame_convolution_equals_frame_by_frame_loop():
    torch.manual_seed(0)
    model = SoundEventDetector(SoundEventConfig()).eval()
    mfcc = torch.randn(3, 17, 64)
    batched = model.frame_conv(mfcc)  # (3, 17, 64)
    conv = model.frame_conv.module.conv
    looped = torch.stack(
        [torch.stack([torch.relu(conv(mfcc[b, t].view(1, 1, 64))).amax(dim=-1)[0] for t in range(17)]) for b in range(3)]
    )
    assert batched.shape == (3, 17, 64)
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.frame_conv.module(mfcc[0]), model.frame_conv.module.reference_forward(mfcc[0]), atol=1e-5, rtol=1e-5)


def test_time_distributed_is_generic_and_needs_no_weights_of_its_own():
    layer = TimeDistributed(nn.Linear(4, 2))
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(layer(x), layer.module(x))
    assert sum(p.numel() for p in layer.parameters()) == 10
    assert FrameConv(filters=8, kernel=3)(torch.randn(6, 10)).shape == (6, 8)


def test_forward_is_causal_per_frame_in_the_aux_branch_and_shapes():
    model = SoundEventDetector(SoundEventConfig(classes=("a", "b"))).eval()
    x = torch.randn(4, 100, 129)
    out = model(x)
    assert out.shape == (4, 100, 2)
    probabilities = model.scores(x)
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    # frames are independent before the LSTM: changing frame 99 cannot change frame 0's output
    y = x.clone()
    y[:, 99] += 5
    torch.testing.assert_close(model(y)[:, 0], out[:, 0])


def test_config_round_trip_and_validation():
    config = SoundEventConfig(classes=("bell", "phone"), frames=150)
    assert SoundEventConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError):
        SoundEventConfig.from_dict({"classes": [], "n_mfcc": 64})
    with pytest.raises(ValueError):
        SoundEventConfig.from_dict({"surprise": 1})


def test_summary_cli_prints_counts_and_shapes(capsys):
    from turnpoint.cli import main

    assert main(["summary", "--task", "events"]) == 0
    out = capsys.readouterr().out
    assert "39,044" in out and "38,788" in out
    for shape in ("(None, 100, 64)", "(None·100, 64, 49)", "(None, 100, 65)", "(None, 100, 129)", "(None, 100, 1)"):
        assert shape in out
