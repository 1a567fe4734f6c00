"""The CNN-LSTM sound event network: parameter counts, per-frame convolution, TimeDistributed, shapes, summary."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from turnpoint.events.model import FrameConv, SoundEventConfig, SoundEventDetector, TimeDistributed
from turnpoint.core.layers import keras_lstm_parameters


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


def test_time_distributed_applies_a_per_frame_module_to_each_frame_alone():
    # A module over one frame's (channels, positions): convolution, ReLU, max over positions. Wrapped, it must
    # give exactly a loop over frames (batch and frame sizes differ, so a wrong fold/unfold order shows).
    torch.manual_seed(0)
    per_frame = nn.Sequential(nn.Conv1d(2, 5, 3), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten())
    layer = TimeDistributed(per_frame)
    x = torch.randn(3, 7, 2, 9)  # (batch, frame, channels, positions)
    out = layer(x)
    assert out.shape == (3, 7, 5)
    looped = torch.stack([per_frame(x[:, t]) for t in range(7)], dim=1)
    torch.testing.assert_close(out, looped, atol=1e-6, rtol=1e-5)
    # frames stay independent: editing frame 4 moves only frame 4's output
    y = x.clone()
    y[:, 4] += 1.0
    moved = (layer(y) - out).detach().abs().amax(dim=(0, 2))
    assert moved[4] > 0 and float(torch.cat([moved[:4], moved[5:]]).max()) == 0.0
    # the wrapper adds no weights of its own
    assert sum(p.numel() for p in layer.parameters()) == sum(p.numel() for p in per_frame.parameters()) == 2 * 5 * 3 + 5


def test_time_distributed_gives_the_module_per_frame_axes_not_the_sequence():
    # A non-pointwise module (softmax over its first axis): on the whole sequence that axis is time, under
    # TimeDistributed it is each frame's own first axis. The two differ; the wrapped one equals the loop.
    softmax = nn.Softmax(dim=1)
    x = torch.randn(2, 6, 4, 3)  # (batch, frame, positions, features)
    wrapped = TimeDistributed(softmax)(x)
    torch.testing.assert_close(wrapped, torch.stack([softmax(x[:, t]) for t in range(6)], dim=1))
    torch.testing.assert_close(wrapped.sum(dim=2), torch.ones(2, 6, 3))  # normalised within each frame
    assert not torch.allclose(wrapped, softmax(x), atol=1e-3)
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
    from turnpoint.cli.main import main

    assert main(["summary", "--task", "events"]) == 0
    out = capsys.readouterr().out
    assert "39,044" in out and "38,788" in out
    for shape in ("(None, 100, 64)", "(None·100, 64, 49)", "(None, 100, 65)", "(None, 100, 129)", "(None, 100, 1)"):
        assert shape in out


def test_conv_regions_keep_a_coarse_position_and_equal_a_loop():
    torch.manual_seed(1)
    config = SoundEventConfig(conv_regions=4, bidirectional=True)
    model = SoundEventDetector(config).eval()
    bands = torch.randn(2, 9, 64)
    batched = model.frame_conv(bands)  # (2, 9, 64 filters · 4 regions)
    assert batched.shape == (2, 9, 256)
    conv = model.frame_conv.module.conv
    # 49 positions split as adaptive_max_pool1d does: [0, 13), [12, 25), [24, 37), [36, 49)
    regions = [(0, 13), (12, 25), (24, 37), (36, 49)]
    looped = torch.stack([
        torch.stack([
            torch.stack([torch.relu(conv(bands[b, t].view(1, 1, 64)))[0, :, lo:hi].amax(dim=-1) for lo, hi in regions], dim=-1).flatten()
            for t in range(9)])
        for b in range(2)])
    torch.testing.assert_close(batched, looped, atol=1e-5, rtol=1e-5)
    # a pattern moved from the lowest to the highest bands moves between regions (one region: it would not)
    low, high = torch.zeros(1, 64), torch.zeros(1, 64)
    low[0, 20:28], high[0, 40:48] = 3.0, 3.0  # away from the edges: every alignment exists for both
    one = FrameConv(filters=8, kernel=16)
    four = FrameConv(filters=8, kernel=16, regions=4)
    four.load_state_dict(one.state_dict())
    torch.testing.assert_close(one(low), one(high))
    assert not torch.allclose(four(low), four(high))
    # LSTM and BatchNorm widen to 256 inputs; the default is left out of the file header
    assert model.lstm.input_size == 256 and model.norm.num_features == 256
    assert "conv_regions" not in SoundEventConfig().to_dict()
    assert SoundEventConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="conv_regions"):
        SoundEventConfig.from_dict({"classes": ["a"], "conv_kernel": 60, "conv_regions": 6})


def test_an_ensemble_scores_the_mean_of_its_members_probabilities():
    from turnpoint.events.model import SoundEventEnsemble, build_event_network

    torch.manual_seed(3)
    config = SoundEventConfig(classes=("a", "b"), members=3, bidirectional=True)
    ensemble = SoundEventEnsemble(config).eval()
    for member in ensemble.members:  # members start from different random weights; make their scores differ more
        member.output.bias.data.normal_(0, 1)
    x = torch.randn(2, 30, 129)
    each = torch.stack([torch.sigmoid(member(x)) for member in ensemble.members])  # (3, 2, 30, 2)
    assert not torch.allclose(each[0], each[1])
    torch.testing.assert_close(ensemble.scores(x), each.mean(dim=0))
    torch.testing.assert_close(torch.sigmoid(ensemble(x)), each.mean(dim=0), atol=1e-6, rtol=1e-5)
    assert ensemble.scores(x).shape == (2, 30, 2)
    single = SoundEventDetector(SoundEventConfig(classes=("a", "b"), bidirectional=True))
    assert ensemble.num_parameters() == 3 * single.num_parameters()
    assert all(member.config.members == 1 for member in ensemble.members)
    assert "Ensemble of 3 such networks" in ensemble.summary() and f"{3 * single.num_parameters():,}" in ensemble.summary()
    # the weights of member i live under members.i.
    assert {key.split(".")[1] for key in ensemble.state_dict()} == {"0", "1", "2"}
    assert isinstance(build_event_network(SoundEventConfig()), SoundEventDetector)
    # one member is the default, left out of headers; a detector refuses to be several networks
    assert "members" not in SoundEventConfig().to_dict()
    assert SoundEventConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="SoundEventEnsemble"):
        SoundEventDetector(config)
    for members in (0, 17):
        with pytest.raises(ValueError, match="members must be 1 to 16"):
            SoundEventConfig.from_dict({"classes": ["a"], "members": members})
