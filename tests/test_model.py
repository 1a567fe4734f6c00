"""The paper's network: parameter counts, shapes, per-frame MLP semantics."""

import torch

from turnpoint.model import KERAS_SNIPPET_PARAMETERS, SpeakerChangeConfig, SpeakerChangeDetector, keras_lstm_parameters


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


def test_output_is_one_score_per_frame_for_any_length():
    model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    for frames in (1, 7, 200, 321):
        assert model(torch.randn(3, frames, 35)).shape == (3, frames, 1)
        scores = model.scores(torch.randn(2, frames, 35))
        assert scores.shape == (2, frames) and bool(((scores > 0) & (scores < 1)).all())


def test_mlp_is_shared_across_frames_like_time_distributed():
    torch.manual_seed(0)
    model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    hidden = torch.randn(2, 50, 40)
    whole = hidden
    for linear in model.mlp:
        whole = torch.tanh(linear(whole))
    whole = model.output(whole)
    for t in range(50):
        frame = hidden[:, t]
        for linear in model.mlp:
            frame = torch.tanh(linear(frame))
        torch.testing.assert_close(whole[:, t], model.output(frame))


def test_bidirectional_context_reaches_back_in_time():
    torch.manual_seed(0)
    model = SpeakerChangeDetector(SpeakerChangeConfig()).eval()
    x = torch.randn(1, 100, 35)
    y = x.clone()
    y[:, 80:] += 1.0  # only the future changes
    assert not torch.allclose(model(x)[:, :50], model(y)[:, :50])


def test_config_round_trip():
    config = SpeakerChangeConfig(lstm_hidden=(16, 8), mlp_hidden=(8,))
    assert SpeakerChangeConfig.from_dict(config.to_dict()) == config
    model = SpeakerChangeDetector(config)
    assert model(torch.zeros(1, 10, 35)).shape == (1, 10, 1)
