"""The shipped model files: their header values pinned, so that a rebuilt or swapped file shows.

Read with the package's own readers (the same checks users get). When a model is rebuilt on purpose,
update these values together with MODEL_CARD.md and the docs that quote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from turnpoint.changes.modelfile import load_model, read_header, resolve_model_path
from turnpoint.changes.speaker_encoder import bundled_speaker_encoder_path, load_speaker_encoder, read_speaker_encoder_header
from turnpoint.changes.speakers import SpeakerSettings
from turnpoint.core.modelfile import FORMAT_NAME
from turnpoint.events.model import SoundEventConfig, SoundEventDetector
from turnpoint.events.modelfile import load_event_model, resolve_event_model_path

REPO = Path(__file__).resolve().parents[1]
SPEAKER_FEATURES = {"sample_rate": 16000, "window_duration": 0.032, "step_duration": 0.016, "n_mels": 40, "n_mfcc": 11,
                    "fmin": 130.0, "fmax": 6854.0, "delta_width": 9}
EVENT_CLASSES = ("alarm", "beep", "chime", "phone", "shutter")


@pytest.mark.parametrize("name, version", [("default", 3), ("fast", 3), ("hybrid", 2), ("paper", 1)])
def test_speaker_change_models_are_the_papers_bilstm(name, version):
    header = read_header(resolve_model_path(name))
    assert (header["format"], header["format_version"], header["task"]) == (FORMAT_NAME, version, "speaker_change")
    assert header["architecture"] == {"input_dim": 35, "lstm_hidden": [32, 20], "bidirectional": True, "mlp_hidden": [40, 10]}
    assert header["specifications"] == {"features": SPEAKER_FEATURES, "chunk_duration": 3.2, "step_duration": 0.8, "classes": ["change"]}
    loaded = load_model(name)
    assert loaded.model.num_parameters() == 33_485
    assert (loaded.defaults.alpha, loaded.defaults.min_duration, loaded.defaults.alpha_scale) == (0.3, 1.0, "absolute")
    training = header["training"]
    assert (training["train_files"], training["validation_files"], training["epoch"]) == (90, 10, 15)
    assert training["validation"]["val_f1"] == 0.5472 and training["validation"]["val_alpha"] == 0.3
    recipe = training["recipe"].split()[0]
    assert (REPO / recipe).is_file(), f"the recipe named in the {name} header is not in the repository: {recipe}"


def test_the_default_model_runs_the_speaker_pipeline_chosen_on_real_dev():
    default = load_model("default")
    assert default.name == "default"
    assert default.defaults.speakers.to_dict() == {
        "encoder": "ge2e", "window": 1.0, "step": 0.2, "smoothing_radius": 1, "smoothing_sharpness": 10.0, "threshold": 0.3,
        "relative_threshold": 0.8, "switch_penalty": 0.1, "min_speaker_duration": 0.0, "vad_threshold": 0.2, "min_silence": 0.1, "min_speech": 0.25,
    }
    selection = default.training["speakers_selection"]
    assert selection["recipe"] == "recipes/choose_speaker_settings.py" and (REPO / selection["recipe"]).is_file()
    assert selection["in_sample"]["f1"] == 0.5621 and selection["leave_one_file_out"]["f1"] == 0.4852
    # the committed selection result is the one the header records
    choice = json.loads((REPO / "docs" / "results" / "speaker_settings_choice.json").read_text())
    assert SpeakerSettings.from_dict({**choice["base"], **choice["best"]["settings"]}) == default.defaults.speakers
    # the hybrid's networks and re-scoring travel along, unused unless asked for
    assert default.defaults.rescoring == load_model("hybrid").defaults.rescoring


def test_the_fast_model_runs_the_speaker_pipeline_on_the_compact_encoder():
    fast = load_model("fast")
    assert fast.name == "fast"
    assert fast.defaults.speakers.to_dict() == {
        "encoder": "compact", "window": 1.0, "step": 0.192, "smoothing_radius": 2, "smoothing_sharpness": 10.0, "threshold": 0.15,
        "relative_threshold": 0.6, "switch_penalty": 0.1, "min_speaker_duration": 0.5, "vad_threshold": 0.2, "min_silence": 0.1, "min_speech": 0.25,
    }
    selection = fast.training["speakers_selection"]
    choice = json.loads((REPO / "docs" / "results" / "speaker_settings_compact.json").read_text())
    # the header's selection figures are those of the committed choice
    assert selection["in_sample"]["f1"] == round(choice["best"]["f1"], 4)
    assert selection["leave_one_file_out"]["f1"] == round(choice["leave_one_file_out"]["f1"], 4)
    assert SpeakerSettings.from_dict({**choice["base"], **choice["best"]["settings"]}) == fast.defaults.speakers
    # the committed comparison ran these settings
    comparison = json.loads((REPO / "docs" / "results" / "encoder_comparison.json").read_text())
    assert SpeakerSettings.from_dict(comparison["compact"]) == fast.defaults.speakers
    assert SpeakerSettings.from_dict(comparison["ge2e"]) == load_model("default").defaults.speakers


def test_the_hybrid_model_is_the_paper_bilstm_with_ge2e_rescoring_and_a_second_pass():
    default, paper = load_model("hybrid"), load_model("paper")
    assert default.name == "hybrid (BiLSTM + GE2E re-scoring)"
    assert paper.defaults.rescoring is None
    # the hybrid's BiLSTM is the paper model's, tensor for tensor
    ours, theirs = default.model.state_dict(), paper.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert default.defaults.rescoring.to_dict() == {
        "threshold": 0.26, "candidate_floor": 0.003, "candidate_spacing": 0.5, "min_duration": 1.0, "contexts": [2.4],
        "bilstm_weight": 0.1, "method": "ge2e",
        "clustering": {"threshold": 0.35, "linkage": "average", "keep_above": 0.5, "window": 1.6, "step": 0.8},
    }
    selection = default.training["rescoring_selection"]
    assert selection["validation"] == ["sim/validation", "sim/dev2", "sim/dev_real"]  # relative to the data folder
    assert (selection["files"], selection["f1"], selection["best_f1"], selection["source_model"]) == (70, 0.6972, 0.7086, "paper.safetensors")
    assert selection["scorer"] is None and selection["rule"] == "cheapest within one standard error of the best F1"
    second = selection["clustering_selection"]
    assert second["adopted"] is True and second["setting"] == default.defaults.rescoring.clustering.to_dict()
    assert (second["real_files"], second["real_f1"], second["real_f1_without"]) == (30, 0.6933, 0.6467)


def test_the_speaker_encoder_is_resemblyzers_ge2e():
    header = read_speaker_encoder_header(bundled_speaker_encoder_path())
    assert (header["format"], header["format_version"], header["name"]) == ("turnpoint-speaker-encoder", 1, "ge2e")
    assert header["architecture"] == {"mel_channels": 40, "hidden_size": 256, "num_layers": 3, "embedding_size": 256,
                                      "sample_rate": 16000, "n_fft": 400, "hop_length": 160, "target_dbfs": -30.0}
    assert header["weights_dtype"] == "float16" and header["source"] == "resemblyzer 0.1.4 pretrained.pt"
    assert header["source_sha256"] == "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
    assert header["source_step"] == 1_564_501
    assert "Apache-2.0" in header["licence"] and (REPO / "src" / "turnpoint" / "models" / "GE2E_LICENSE.txt").is_file()
    assert sum(p.numel() for p in load_speaker_encoder().parameters()) == 1_423_616


def test_the_event_model_is_an_ensemble_of_six_cnn_lstm_networks():
    header = read_header(resolve_event_model_path("default"), task="sound_events")
    assert (header["format"], header["format_version"], header["task"], header["name"]) == (FORMAT_NAME, 2, "sound_events", "default")
    assert header["architecture"] == {"n_mfcc": 64, "conv_filters": 64, "conv_kernel": 16, "dropout": 0.4, "lstm_units": 64,
                                      "bidirectional": True, "aux_units": 65, "classes": list(EVENT_CLASSES), "frames": 100,
                                      "conv_regions": 4, "members": 6}
    assert header["specifications"]["features"] == {"sample_rate": 16000, "window_duration": 0.04, "step_duration": 0.02, "n_mels": 64,
                                                     "n_mfcc": 64, "fmin": 20.0, "fmax": 8000.0, "delta_width": 9, "coefficients": "logmel"}
    loaded = load_event_model("default")
    assert loaded.classes == EVENT_CLASSES and len(loaded.model.members) == 6
    single = SoundEventDetector(SoundEventConfig.from_dict({**header["architecture"], "members": 1}))
    assert single.num_parameters() == 172_236 and loaded.model.num_parameters() == 6 * 172_236
    members = header["training"]["ensemble_of"]
    assert [(m["name"], m["training"]["config"]["seed"], m["training"]["config"].get("mixup")) for m in members] == [
        ("T_s0", 0, None), ("T_s1", 1, None), ("T_s2", 2, None), ("M_s0", 0, 0.5), ("M_s1", 1, 0.5), ("M_s2", 2, 0.5)]
    assert header["training"]["validation_tuned"] == {"event_f1": 0.7701, "segment_f1": 0.9029}
    assert {label: p.to_dict() for label, p in loaded.decode.items()} == {
        "alarm": {"onset": 0.8, "offset": 0.8, "min_duration": 0.25, "min_gap": 0.3, "start_ratio": 1.0},
        "beep": {"onset": 0.7, "offset": 0.49, "min_duration": 0.0, "min_gap": 0.1, "start_ratio": 1.0},
        "chime": {"onset": 0.7, "offset": 0.28, "min_duration": 0.25, "min_gap": 0.1, "start_ratio": 1.0},
        "phone": {"onset": 0.8, "offset": 0.8, "min_duration": 0.25, "min_gap": 0.3, "start_ratio": 1.0},
        "shutter": {"onset": 0.7, "offset": 0.7, "min_duration": 0.0, "min_gap": 0.0, "start_ratio": 0.4},
    }
    assert load_event_model("events").path == loaded.path  # an alias of the default


def test_the_gmm_baseline_is_dcase_style_per_class_mixtures():
    header = read_header(resolve_event_model_path("gmm"), task="sound_events")
    assert (header["format"], header["format_version"], header["name"]) == (FORMAT_NAME, 2, "gmm")
    assert header["architecture"] == {"kind": "gmm", "n_mfcc": 64, "coefficients": 20, "components": 16, "context_frames": 15,
                                      "classes": list(EVENT_CLASSES), "frames": 100}
    assert header["specifications"]["features"]["n_mels"] == 96
    loaded = load_event_model("gmm")
    assert sum(v.numel() for v in loaded.model.state_dict().values()) == 13_045
    assert header["training"]["context_choice"] == {"1": 0.2443, "5": 0.2831, "15": 0.3881, "50": 0.3451}
    assert header["training"]["validation_tuned"] == {"event_f1": 0.3881, "segment_f1": 0.7002}  # context 15 chosen, as its best
    assert {label: (p.onset, p.offset) for label, p in loaded.decode.items()} == {
        "alarm": (0.7, 0.28), "beep": (0.2, 0.2), "chime": (0.6, 0.24), "phone": (0.8, 0.32), "shutter": (0.3, 0.3)}
