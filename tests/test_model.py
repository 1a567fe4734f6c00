"""The paper's network: parameter counts, and what ``forward`` does (shapes, per-frame MLP, BiLSTM context)."""

import pytest
import torch

from turnpoint.changes.model import KERAS_SNIPPET_PARAMETERS, SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.core.layers import keras_lstm_parameters


def _model(seed: int = 0, **config) -> SpeakerChangeDetector:
    torch.manual_seed(seed)
    return SpeakerChangeDetector(SpeakerChangeConfig(**config)).eval()


def test_parameter_counts_match_the_paper():
    model = SpeakerChangeDetector(SpeakerChangeConfig())
    assert model.num_parameters() == 33_485
    lstm1, lstm2 = (sum(p.numel() for p in lstm.parameters()) for lstm in model.lstms)
    assert (lstm1, lstm2) == (17_664, 13_760)
    assert 2 * keras_lstm_parameters(35, 32) == 17_408
    assert 2 * keras_lstm_parameters(64, 20) == 13_600


def test_summary_states_torch_keras_and_snippet_counts():
    text = SpeakerChangeDetector(SpeakerChangeConfig()).summary()
    assert "33,485" in text and "33,069" in text and f"{KERAS_SNIPPET_PARAMETERS:,}" in text
    assert "(None, 200, 64)" in text and "(None, 200, 40)" in text and "(None, 200, 1)" in text


@pytest.mark.parametrize("frames", [1, 7, 200, 321])
def test_forward_gives_one_logit_per_frame_and_scores_are_its_sigmoid(frames):
    model = _model()
    x = 3 * torch.randn(3, frames, 35)
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (3, frames, 1)
    scores = model.scores(x)
    assert scores.shape == (3, frames)
    assert bool(((scores > 0) & (scores < 1)).all())
    torch.testing.assert_close(scores, torch.sigmoid(logits)[..., 0])
    # batch items are independent: each scored alone gives the same
    torch.testing.assert_close(model.scores(x[1:2]), scores[1:2], atol=1e-6, rtol=1e-5)


def test_the_mlp_sees_one_frame_at_a_time_inside_forward():
    # Replace the last BiLSTM's output at one frame (a forward hook) and run the whole forward: only
    # that frame's logit may move, as with Keras' TimeDistributed(Dense).
    model = _model()
    x = torch.randn(2, 40, 35)
    frame = 17

    def perturb(_module, _inputs, output):
        hidden, state = output
        hidden = hidden.clone()
        hidden[:, frame] += 0.5
        return hidden, state

    with torch.no_grad():
        plain = model(x)
        handle = model.lstms[-1].register_forward_hook(perturb)
        try:
            moved = model(x)
        finally:
            handle.remove()
    changed = (moved - plain).abs()[..., 0].amax(dim=0)  # per frame
    assert changed[frame] > 1e-3
    assert float(torch.cat([changed[:frame], changed[frame + 1 :]]).max()) == 0.0


def test_the_bilstm_carries_future_context_back_and_a_forward_lstm_does_not():
    x = torch.randn(1, 100, 35)
    y = x.clone()
    y[:, 80:] += 1.0  # only the future changes
    bidirectional = _model()
    with torch.no_grad():
        before, after = bidirectional(x), bidirectional(y)
    assert float((before[:, :50] - after[:, :50]).abs().min()) > 0  # every earlier frame moves
    # a one-directional network is causal: the same edit leaves the earlier frames exactly as they were
    causal = _model(bidirectional=False)
    with torch.no_grad():
        torch.testing.assert_close(causal(x)[:, :80], causal(y)[:, :80], atol=0, rtol=0)
        assert not torch.allclose(causal(x)[:, 80:], causal(y)[:, 80:])


def test_forward_standardises_its_input_with_the_stored_statistics():
    model = _model()
    x = torch.randn(2, 30, 35) * 4 + 2
    mean, scale = x.mean(dim=(0, 1)), x.std(dim=(0, 1))
    with torch.no_grad():
        unit = model(((x - mean) / scale))
        model.input_mean.copy_(mean)
        model.input_scale.copy_(scale)
        torch.testing.assert_close(model(x), unit, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(model(x), model((x - mean)))  # the scale is used, not only the mean


def test_config_round_trip():
    config = SpeakerChangeConfig(lstm_hidden=(16, 8), mlp_hidden=(8,))
    assert SpeakerChangeConfig.from_dict(config.to_dict()) == config
    model = SpeakerChangeDetector(config)
    assert model(torch.zeros(1, 10, 35)).shape == (1, 10, 1)
    assert [lstm.hidden_size for lstm in model.lstms] == [16, 8] and model.output.in_features == 8
