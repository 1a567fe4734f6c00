"""Training: labels, data collection, exact resume, and a CLI train -> detect round trip."""

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from synth import make_conversation
from turnpoint.cli.main import main
from turnpoint.core.errors import TurnpointError
from turnpoint.changes.modelfile import load_model
from turnpoint.core.task import Specifications
from turnpoint.changes.training import TrainingConfig, train
from turnpoint.changes.training_data import collect_files, frame_labels, prepare_file


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for seed in range(4):
        make_conversation(folder / f"conv{seed}.wav", seed=seed, duration=25.0)
    return folder


def test_frame_labels_mark_the_collar_around_each_change():
    labels = frame_labels([1.0], n_frames=200, frame_step=0.016, collar=0.05)
    positive = np.flatnonzero(labels) * 0.016
    assert positive.min() >= 0.95 - 1e-9 and positive.max() <= 1.05 + 1e-9
    assert len(positive) == 6
    wider = frame_labels([1.0], n_frames=200, frame_step=0.016, collar=0.07)
    assert wider.sum() > labels.sum()


def test_collect_files_from_folder_and_list(corpus, tmp_path):
    files = collect_files(corpus)
    assert [f.uri for f in files] == [f"conv{i}" for i in range(4)]
    assert all(len(f.turns) > 3 for f in files)
    listing = tmp_path / "train.lst"
    listing.write_text("".join(f"{corpus / f'conv{i}.wav'}\n" for i in (1, 3)))
    assert [f.uri for f in collect_files(listing)] == ["conv1", "conv3"]


def test_uem_limits_the_loss_mask(corpus, tmp_path):
    (tmp_path / "c.uem").write_text("conv0 1 5.0 12.0\n")
    item = collect_files(corpus, uem=tmp_path / "c.uem")[0]
    prepared = prepare_file(item, specifications=Specifications(), collar=0.05)
    times = np.arange(len(prepared.mask)) * 0.016
    assert prepared.mask[(times >= 5.0) & (times < 12.0)].all()
    assert not prepared.mask[(times < 4.9) | (times > 12.1)].any()
    assert (prepared.changes > 5.0).all() and (prepared.changes < 12.0).all()
    assert prepared.labels.sum() > 0


def test_malformed_rttm_is_reported_with_its_line(tmp_path):
    make_conversation(tmp_path / "a.wav", seed=0, duration=8.0)
    lines = (tmp_path / "a.rttm").read_text().splitlines()
    lines[1] = "SPEAKER a 1 oops 1.0 <NA> <NA> spk0 <NA> <NA>"
    (tmp_path / "a.rttm").write_text("\n".join(lines) + "\n")
    with pytest.raises(TurnpointError, match=r"a\.rttm:2"):
        collect_files(tmp_path)


def test_resume_continues_exactly(corpus, tmp_path):
    config = TrainingConfig(epochs=3, batch_size=16, chunks_per_epoch=48)
    straight = train(corpus, out_dir=tmp_path / "straight", config=config, show_progress=False)
    train(corpus, out_dir=tmp_path / "resumed", config=TrainingConfig(epochs=1, batch_size=16, chunks_per_epoch=48), show_progress=False)
    with pytest.raises(TurnpointError, match="--resume"):
        train(corpus, out_dir=tmp_path / "resumed", config=config, show_progress=False)
    train(corpus, out_dir=tmp_path / "resumed", config=config, resume=True, show_progress=False)
    a = load_file(str(tmp_path / "straight" / "checkpoint.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "checkpoint.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    history = [json.loads(line) for line in (tmp_path / "resumed" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert load_model(straight).training["train_files"] == 3


def test_cli_train_then_detect(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    code = main(["--quiet", "train", str(corpus), "--out", str(run), "--epochs", "4", "--batch-size", "16", "--chunks-per-epoch", "96"])
    assert code == 0
    model = run / "model.safetensors"
    loaded = load_model(model)
    assert 0 < loaded.defaults.alpha < 1
    assert loaded.training["validation_files"] == 1
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["detect", str(corpus / "conv1.wav"), "--model", str(model), "--out", str(out), "--plot"]) == 0
    printed = capsys.readouterr().out
    assert "conv1:" in printed
    result = json.loads((out / "conv1.json").read_text())
    assert result["model"]["path"] == str(model)
    assert result["settings"]["alpha"] == loaded.defaults.alpha
    assert (out / "conv1.png").stat().st_size > 1000
    first = (out / "conv1.rttm").read_text().split()
    assert first[0] == "SPEAKER" and first[1] == "conv1"


def test_train_on_a_pyannote_database_protocol(corpus, tmp_path):
    (tmp_path / "train.lst").write_text("conv0\nconv1\nconv2\n")
    (tmp_path / "dev.lst").write_text("conv3\n")
    rttm = "".join((corpus / f"conv{i}.rttm").read_text() for i in range(4))
    (tmp_path / "all.rttm").write_text(rttm)
    (tmp_path / "database.yml").write_text(
        f"Databases:\n  Synth: {corpus}/{{uri}}.wav\n"
        "Protocols:\n  Synth:\n    SpeakerDiarization:\n      Talk:\n"
        "        train:\n          uri: train.lst\n          annotation: all.rttm\n"
        "        development:\n          uri: dev.lst\n          annotation: all.rttm\n"
    )
    run = tmp_path / "run"
    code = main(["-q", "train", "--protocol", str(tmp_path / "database.yml"), "Synth.SpeakerDiarization.Talk",
                 "--out", str(run), "--epochs", "1", "--batch-size", "16", "--chunks-per-epoch", "32"])
    assert code == 0
    training = load_model(run / "model.safetensors").training
    assert (training["train_files"], training["validation_files"]) == (3, 1)
    assert main(["-q", "train", "--protocol", str(tmp_path / "database.yml"), "Synth.SpeakerDiarization.Nope", "--out", str(tmp_path / "r2")]) == 1


def test_resume_refuses_a_pickle_checkpoint(corpus, tmp_path):
    import torch

    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": {}}, run / "checkpoint.safetensors")
    with pytest.raises(TurnpointError, match="pickle"):
        train(corpus, out_dir=run, config=TrainingConfig(epochs=1), resume=True, show_progress=False)


def test_bilstm_training_learns_the_change_signal_of_synthetic_conversations(tmp_path):
    # Two voices of different pitch and timbre alternate (tests/synth.py): where a turn ends is learnable.
    # A short run must do clearly better than both the class prior and the same network untrained.
    import math

    import torch

    from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
    from turnpoint.changes.training import prepare_files, set_input_standardisation, training_specifications, validate
    from turnpoint.changes.training_data import split_sources

    (tmp_path / "train").mkdir()
    (tmp_path / "validation").mkdir()
    for seed in range(6):
        make_conversation(tmp_path / "train" / f"t{seed}.wav", seed=seed, duration=30.0)
    for seed in (100, 101):  # unseen conversations
        make_conversation(tmp_path / "validation" / f"v{seed}.wav", seed=seed, duration=30.0)
    config = TrainingConfig(epochs=8, batch_size=32, chunks_per_epoch=128, learning_rate=0.003, seed=0)
    train(tmp_path / "train", validation_source=tmp_path / "validation", out_dir=tmp_path / "run", config=config,
          show_progress=False, num_threads=1)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]

    # the untrained network (same seed, same input standardisation) on the same validation files
    specifications = training_specifications(config)
    train_items, validation_items = split_sources(tmp_path / "train", tmp_path / "validation", validation_fraction=0.1, seed=0)
    prepared, prepared_val = prepare_files(train_items, validation_items, specifications=specifications, config=config, show_progress=False)
    torch.manual_seed(config.seed)
    untrained = SpeakerChangeDetector(SpeakerChangeConfig())
    set_input_standardisation(untrained, prepared)
    before = validate(untrained, prepared_val, specifications=specifications, min_duration=config.min_duration, tolerance=config.tolerance)

    # the loss of always predicting the validation frames' positive rate: what a network that learned nothing
    # beyond the class balance reaches
    labels = np.concatenate([item.labels[item.mask > 0] for item in prepared_val])
    rate = float(labels.mean())
    prior = -(rate * math.log(rate) + (1 - rate) * math.log(1 - rate))
    assert history[-1]["val_loss"] < 0.85 * prior, (history[-1]["val_loss"], prior)
    best = max(h["val_f1"] for h in history)
    assert best >= 0.8 and best >= before.f1 + 0.25, (before.f1, best)
    assert load_model(tmp_path / "run" / "model.safetensors").training["validation"]["val_f1"] == best
