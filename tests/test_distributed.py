"""Lightning DDP training: a real two-process CPU run (gloo) against the single-process trainer,
resume through Lightning's checkpoint, and the CLI's error paths."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from synth import make_conversation
from turnpoint.cli.main import main
from turnpoint.core.errors import TurnpointError
from turnpoint.changes.modelfile import load_model
from turnpoint.changes.training import TrainingConfig, train

needs_lightning = pytest.mark.skipif(find_spec("lightning") is None, reason="needs turnpoint[distributed] (lightning)")
CONFIG = dict(epochs=2, batch_size=16, chunks_per_epoch=48)  # both multiples of 2 processes: the same steps as one process

# Runs `turnpoint train` (argv) and, in every process Lightning starts, records the chunk indices
# the process trained on and its final weights.
DRIVER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import torch
    from turnpoint.core import distributed
    from turnpoint.cli.main import main

    record = Path(os.environ["TURNPOINT_TEST_RECORD"])
    seen = {}
    step = distributed.TaskModule.training_step

    def training_step(self, batch, index):
        seen.setdefault(self.current_epoch + 1, []).extend(int(i) for i in batch[0])
        return step(self, batch, index)

    def on_train_end(self):
        rank = self.global_rank
        torch.save({k: v.detach().cpu() for k, v in self.model.state_dict().items()}, record / f"weights{rank}.pt")
        info = {"world": self.trainer.world_size, "chunks": seen, "epoch_chunks": self.epoch_chunks()}
        (record / f"chunks{rank}.json").write_text(json.dumps(info))

    distributed.TaskModule.training_step = training_step
    distributed.TaskModule.on_train_end = on_train_end
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for seed in range(4):
        make_conversation(folder / f"conv{seed}.wav", seed=seed, duration=25.0)
    return folder


@pytest.fixture(scope="module")
def plain(corpus, tmp_path_factory):
    """The single-process trainer's run with the same settings."""
    out = tmp_path_factory.mktemp("plain")
    train(corpus, out_dir=out, config=TrainingConfig(**CONFIG), show_progress=False, num_threads=1)
    return out


def _weights(path):
    tensors = load_file(str(path))
    return {k.removeprefix("model."): v for k, v in tensors.items() if not k.startswith("optimizer.")}


def _history(folder):
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@needs_lightning
@pytest.mark.parametrize("layout", ["two devices", "two nodes"])
def test_ddp_on_two_cpu_processes_matches_one_process(layout, corpus, plain, tmp_path, capsys):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    record = tmp_path / "record"
    record.mkdir()
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", TURNPOINT_TEST_RECORD=str(record))
    for name in ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "RANK"):
        env.pop(name, None)
    command = [sys.executable, str(driver), "-q", "train", str(corpus), "--out", str(out), "--epochs", "2", "--batch-size", "16",
               "--chunks-per-epoch", "48", "--threads", "1", "--accelerator", "cpu"]
    if layout == "two devices":  # Lightning starts the second process itself
        done = subprocess.run(command + ["--devices", "2"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        stdout = done.stdout
    else:  # the multi-node recipe of docs/performance.md: the same command on each "node", ranked by NODE_RANK
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
        command += ["--devices", "1", "--num-nodes", "2"]
        nodes = [subprocess.Popen(command, env=dict(env, NODE_RANK=str(rank)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
        outputs = [node.communicate(timeout=300) for node in nodes]
        assert [node.returncode for node in nodes] == [0, 0], [err[-3000:] for _, err in outputs]
        stdout = outputs[0][0] + outputs[1][0]
    assert stdout.count("best model:") == 1  # printed by process 0 only

    # each process trained on its own share of every epoch's chunks, and the shares cover the epoch
    shares = [json.loads((record / f"chunks{rank}.json").read_text()) for rank in (0, 1)]
    assert [s["world"] for s in shares] == [2, 2]
    for epoch in ("1", "2"):
        first, second = shares[0]["chunks"][epoch], shares[1]["chunks"][epoch]
        assert len(first) == len(second) == 24
        assert not set(first) & set(second)
        assert sorted(first + second) == list(range(48))

    # DDP kept the two copies of the network identical ...
    ranks = [torch.load(record / f"weights{rank}.pt") for rank in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    # ... and took the same steps as the single-process trainer (up to summation order)
    reference = _weights(plain / "checkpoint.safetensors")
    for key, value in reference.items():
        np.testing.assert_allclose(ranks[0][key].numpy(), value.numpy(), atol=1e-5, err_msg=key)
    ddp_history, plain_history = _history(out), _history(plain)
    assert [h["epoch"] for h in ddp_history] == [1, 2]
    for a, b in zip(ddp_history, plain_history):
        assert (a["val_f1"], a["val_alpha"]) == (b["val_f1"], b["val_alpha"])
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)

    # the best epoch is the same kind of model file: turnpoint's loader and `detect --model` use it
    model = out / "model.safetensors"
    loaded = load_model(model)
    devices, nodes = (2, 1) if layout == "two devices" else (1, 2)
    assert loaded.training["lightning"] == {"strategy": "ddp", "accelerator": "cpu", "devices": devices, "num_nodes": nodes}
    assert loaded.training["epoch"] == max(ddp_history, key=lambda h: h["val_f1"])["epoch"]
    assert loaded.defaults.alpha == load_model(plain / "model.safetensors").defaults.alpha
    assert (out / "last.ckpt").exists()
    capsys.readouterr()
    assert main(["detect", str(corpus / "conv1.wav"), "--model", str(model), "--out", str(tmp_path / "detected")]) == 0
    assert "conv1:" in capsys.readouterr().out
    assert json.loads((tmp_path / "detected" / "conv1.json").read_text())["model"]["path"] == str(model)


@needs_lightning
def test_lightning_checkpoint_resumes_exactly(corpus, plain, tmp_path):
    from turnpoint.changes.distributed import train_distributed

    def run(epochs, **options):
        config = TrainingConfig(**dict(CONFIG, epochs=epochs))
        return train_distributed(corpus, out_dir=tmp_path / "run", config=config, accelerator="cpu", devices=1, show_progress=False, **options)

    run(1)
    with pytest.raises(TurnpointError, match="--resume"):
        run(2)
    shutil.copytree(tmp_path / "run", tmp_path / "after_one_epoch")
    model = run(2, resume=True)
    # one process through Lightning is the single-process trainer, bit for bit, resume included
    checkpoint = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)
    assert json.loads(checkpoint["turnpoint"])["epoch"] == 2
    reference = _weights(plain / "checkpoint.safetensors")
    for key, value in reference.items():
        assert torch.equal(checkpoint["state_dict"][f"model.{key}"], value), key
    assert all(torch.equal(a, b) for a, b in zip(_weights(model).values(), _weights(plain / "model.safetensors").values()))
    assert [h["epoch"] for h in _history(tmp_path / "run")] == [1, 2]

    # a SLURM requeue: Lightning's pre-emption checkpoint lets the same command continue
    shutil.rmtree(tmp_path / "run")
    (tmp_path / "after_one_epoch").rename(tmp_path / "run")
    (tmp_path / "run" / "last.ckpt").rename(tmp_path / "run" / "hpc_ckpt_1.ckpt")
    run(2)
    checkpoint = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)
    assert all(torch.equal(checkpoint["state_dict"][f"model.{k}"], v) for k, v in reference.items())


@needs_lightning
def test_a_plain_run_folder_is_not_continued_by_lightning(corpus, plain, tmp_path):
    from turnpoint.changes.distributed import train_distributed

    with pytest.raises(TurnpointError, match="single-process trainer"):
        train_distributed(corpus, out_dir=plain, config=TrainingConfig(**CONFIG), resume=True, show_progress=False)
    with pytest.raises(TurnpointError, match="nothing to resume"):
        train_distributed(corpus, out_dir=tmp_path / "empty", config=TrainingConfig(**CONFIG), resume=True, show_progress=False)


def test_cli_says_in_one_line_that_lightning_is_missing(monkeypatch, tmp_path, capsys):
    from turnpoint.core import distributed

    monkeypatch.setattr(distributed, "pl", None)
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--devices", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "turnpoint: error: training on several devices or nodes needs Lightning: pip install 'turnpoint[distributed]'"


def test_cli_refuses_mixed_device_options(tmp_path, capsys):
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--devices", "2", "--device", "cuda"]) == 1
    assert "--accelerator" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--task", "events", "--num-nodes", "2"]) == 1
    assert "--task changes" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path), "--out", str(tmp_path / "run"), "--devices", "0"])
