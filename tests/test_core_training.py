"""The task-free trainer of turnpoint.core.training on a toy task: a Linear layer learning y = 2x + 1."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from turnpoint.core.errors import TurnpointError
from turnpoint.core.training import LoopSettings, TrainingTask, Validation, check_run_folder, fit

VALIDATION_X = np.linspace(-1.0, 1.0, 16, dtype=np.float32)[:, None]


class LineTask(TrainingTask):
    """Regress y = 2x + 1 from random x; the score is minus the validation error."""

    best_score_key = "best_score"
    score_name = "val_score"

    def __init__(self, *, epochs: int, seed: int = 0):
        self.settings = LoopSettings(epochs=epochs, batch_size=8, seed=seed, learning_rate=0.2, grad_clip=1.0)
        self.chunks_per_epoch = 32
        self.criterion = torch.nn.MSELoss()
        self.logger = logging.getLogger("turnpoint.tests.line")
        self.resumed_states: list[dict] = []

    def build_model(self) -> torch.nn.Module:
        return torch.nn.Linear(1, 1)

    def initial_state(self) -> dict:
        return {"epoch": 0, "best_score": -1e9, "best_epoch": 0}

    def check_resumed(self, state: dict, *, path: Path | None) -> None:
        self.resumed_states.append(dict(state))

    def chunks(self, *, epoch: int, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.uniform(-1.0, 1.0, size=(count, 1)).astype(np.float32)
        return x, 2 * x + 1

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        x, y = batch
        return self.criterion(model(x), y)

    def validate(self, model: torch.nn.Module) -> Validation:
        with torch.no_grad():
            error = float(self.criterion(model(torch.from_numpy(VALIDATION_X)), torch.from_numpy(2 * VALIDATION_X + 1)))
        return Validation(score=-error, record={"val_error": round(error, 6)})

    def epoch_message(self, *, record: dict, train_loss: float, validation: Validation) -> str:
        return f"epoch {record['epoch']}: loss {train_loss:.4f}"

    def save_model(self, model: torch.nn.Module, *, path: Path, record: dict, validation: Validation) -> None:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"epoch": str(record["epoch"])})


def _metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as handle:
        return handle.metadata()


def _history(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


def test_the_loss_falls_and_the_best_epoch_is_kept(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="turnpoint.tests.line"):
        path = fit(LineTask(epochs=6), out_dir=tmp_path, resume=False, device="cpu", show_progress=False)
    history = _history(tmp_path)
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert list(history[0]) == ["epoch", "train_loss", "val_error", "seconds"]
    assert history[-1]["train_loss"] < 0.1 * history[0]["train_loss"]
    best = min(history, key=lambda h: h["val_error"])
    state = json.loads(_metadata(tmp_path / "checkpoint.safetensors")["turnpoint_checkpoint"])
    assert (state["epoch"], state["best_epoch"]) == (6, best["epoch"])
    assert _metadata(path)["epoch"] == str(best["epoch"])  # the model file is the best epoch's
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 6 and lines[0].startswith("epoch 1: loss ") and lines[0].endswith(" *")


def test_a_resumed_run_continues_exactly(tmp_path):
    fit(LineTask(epochs=5), out_dir=tmp_path / "straight", resume=False, device="cpu", show_progress=False)
    fit(LineTask(epochs=2), out_dir=tmp_path / "resumed", resume=False, device="cpu", show_progress=False)
    task = LineTask(epochs=5)
    fit(task, out_dir=tmp_path / "resumed", resume=True, device="cpu", show_progress=False)
    assert task.resumed_states[0]["epoch"] == 2
    straight = load_file(str(tmp_path / "straight" / "checkpoint.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "checkpoint.safetensors"))
    assert straight.keys() == resumed.keys() and any(k.startswith("optimizer.") for k in straight)
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    strip = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert strip(_history(tmp_path / "resumed")) == strip(_history(tmp_path / "straight"))
    assert (tmp_path / "straight" / "checkpoint.safetensors").read_bytes() == (tmp_path / "resumed" / "checkpoint.safetensors").read_bytes()


def test_another_seed_gives_other_weights(tmp_path):
    fit(LineTask(epochs=1, seed=0), out_dir=tmp_path / "a", resume=False, device="cpu", show_progress=False)
    fit(LineTask(epochs=1, seed=1), out_dir=tmp_path / "b", resume=False, device="cpu", show_progress=False)
    a, b = (load_file(str(tmp_path / run / "checkpoint.safetensors")) for run in ("a", "b"))
    assert not torch.equal(a["model.weight"], b["model.weight"])


def test_the_run_folder_and_the_checkpoint_are_checked(tmp_path):
    with pytest.raises(TurnpointError, match="nothing to resume"):
        check_run_folder(tmp_path, resume=True)
    fit(LineTask(epochs=1), out_dir=tmp_path, resume=False, device="cpu", show_progress=False)
    with pytest.raises(TurnpointError, match="--resume"):
        check_run_folder(tmp_path, resume=False)
    torch.save({"model": {}}, tmp_path / "checkpoint.safetensors")
    with pytest.raises(TurnpointError, match="pickle"):
        fit(LineTask(epochs=2), out_dir=tmp_path, resume=True, device="cpu", show_progress=False)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "checkpoint.safetensors"))
    with pytest.raises(TurnpointError, match="not a turnpoint training checkpoint"):
        fit(LineTask(epochs=2), out_dir=tmp_path, resume=True, device="cpu", show_progress=False)


def test_no_epoch_to_run_is_an_error(tmp_path):
    with pytest.raises(TurnpointError, match="without a model"):
        fit(LineTask(epochs=0), out_dir=tmp_path, resume=False, device="cpu", show_progress=False)
