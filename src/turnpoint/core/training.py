"""One trainer for every task: the loop, seeding, resume, checkpoints, best epoch and history.

In the shape of asteroid's ``System``, the trainer knows no task: a task hands it a
:class:`TrainingTask` (its network, each epoch's chunks, its loss, its validation score and its
model file) and :func:`fit` runs the epochs.

* Epoch ``e`` (1-based) draws its chunks from ``numpy.random.default_rng([seed, e])`` and seeds
  torch with ``seed * 100003 + e``: a function of the seed and the epoch alone, so a run resumed
  from its checkpoint continues exactly as if it had never stopped.
* The optimiser is Adam, with the task's learning rate of each epoch and gradient-norm clipping.
* The best epoch has the highest validation score; its model file is written when it is reached.
* After every epoch the checkpoint (``checkpoint.safetensors``: weights, Adam's state and the run
  state as JSON; never a pickle) is replaced, then a line is appended to ``history.jsonl``.

:mod:`turnpoint.core.distributed` runs the same task under Lightning's DDP.
"""

from __future__ import annotations

import abc
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from tqdm.auto import tqdm

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_bytes
from turnpoint.core.modelfile import looks_like_pickle

__all__ = [
    "CHECKPOINT_NAME", "HISTORY_NAME", "MODEL_NAME", "DistributedTrainingTask", "LoopSettings", "TrainingTask", "Validation", "append_history", "check_run_folder",
    "epoch_rng", "fit", "load_checkpoint", "log_epoch", "resolve_device", "save_checkpoint", "score_epoch", "seed_epoch", "set_input_standardisation",
]

CHECKPOINT_NAME = "checkpoint.safetensors"
MODEL_NAME = "model.safetensors"
HISTORY_NAME = "history.jsonl"
CHECKPOINT_METADATA_KEY = "turnpoint_checkpoint"

Batch = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class LoopSettings:
    """What the loop itself takes from a task's configuration.

    Parameters
    ----------
    epochs : last epoch of the run (a resumed run continues up to it)
    batch_size : chunks per optimiser step
    seed : seeds the initial weights and every epoch's chunks and torch generator
    learning_rate : Adam's learning rate (per epoch: :meth:`TrainingTask.learning_rate_at`)
    grad_clip : largest gradient norm of a step (0: no clipping)
    """

    epochs: int
    batch_size: int
    seed: int
    learning_rate: float
    grad_clip: float

    @classmethod
    def from_config(cls, config: Any) -> LoopSettings:
        """The loop's settings of a task's configuration, which has fields of the same names."""
        return cls(epochs=config.epochs, batch_size=config.batch_size, seed=config.seed, learning_rate=config.learning_rate, grad_clip=config.grad_clip)


@dataclass(frozen=True)
class Validation:
    """One epoch's validation, as a task reports it to the trainer.

    Parameters
    ----------
    score : higher is better; the best epoch is the one of the highest score
    record : the validation fields of the epoch's ``history.jsonl`` line
    kept_if_best : run-state fields a new best epoch sets beside the score and the epoch
    details : whatever else the task's own hooks (its model file, its log line) need
    """

    score: float
    record: dict
    kept_if_best: dict = field(default_factory=dict)
    details: Any = None


class TrainingTask(abc.ABC):
    """The hooks through which a task drives :func:`fit` (and :mod:`turnpoint.core.distributed`).

    Attributes
    ----------
    settings : the loop's settings
    chunks_per_epoch : chunks drawn in one epoch
    criterion : the loss module; the trainer moves it with the network (its buffers, such as a
        positive weight, must live on the network's device)
    logger : where the epoch and resume lines go (the task's own module logger)
    best_score_key : the run state's field of the best score so far (checkpoints keep it)
    score_name : what the score is called in a progress bar
    """

    settings: LoopSettings
    chunks_per_epoch: int
    criterion: torch.nn.Module
    logger: logging.Logger
    best_score_key: str
    score_name: str

    @abc.abstractmethod
    def build_model(self) -> torch.nn.Module:
        """A new network (torch is seeded first, so its initial weights follow the seed)."""

    @abc.abstractmethod
    def initial_state(self) -> dict:
        """The run state before epoch 1; it holds at least ``epoch``, ``best_epoch`` and :attr:`best_score_key`."""

    @abc.abstractmethod
    def check_resumed(self, state: dict, *, path: Path | None) -> None:
        """Check the run state read from the checkpoint at ``path`` against this run; say where it resumes."""

    @abc.abstractmethod
    def chunks(self, *, epoch: int, rng: np.random.Generator, count: int) -> tuple[np.ndarray, ...]:
        """``count`` training chunks of ``epoch`` drawn with ``rng`` only: arrays with one row per chunk."""

    @abc.abstractmethod
    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """The loss of one batch (rows of :meth:`chunks` as tensors on the network's device)."""

    @abc.abstractmethod
    def validate(self, model: torch.nn.Module) -> Validation:
        """Score the network on the validation files."""

    @abc.abstractmethod
    def epoch_message(self, *, record: dict, train_loss: float, validation: Validation) -> str:
        """The log line of an epoch (the trainer marks a new best epoch with `` *``)."""

    @abc.abstractmethod
    def save_model(self, model: torch.nn.Module, *, path: Path, record: dict, validation: Validation) -> None:
        """Write the model file of a new best epoch."""

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of ``epoch``; a function of the epoch alone, so a resumed run follows it too."""
        return self.settings.learning_rate

    def epoch_notes(self, epoch: int) -> dict:
        """Fields that close the epoch's history line after the validation and the time (none by default)."""
        return {}


class DistributedTrainingTask(TrainingTask):
    """A :class:`TrainingTask` whose loss and validation split across processes (:mod:`turnpoint.core.distributed`)."""

    @abc.abstractmethod
    def loss_sum(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """The batch's summed loss, before it is divided by the (global) loss weight."""

    @abc.abstractmethod
    def loss_weight(self, batch: Batch) -> torch.Tensor:
        """What the batch's loss is averaged over (e.g. its annotated frames), as a 0-d tensor."""

    @abc.abstractmethod
    def validation_counts(self, model: torch.nn.Module, *, rank: int, world: int) -> np.ndarray:
        """Validation counts of process ``rank``'s share of the files; the shares' counts add up."""

    @abc.abstractmethod
    def validation_from_counts(self, counts: np.ndarray) -> Validation:
        """The validation of the counts summed over all processes."""


def set_input_standardisation(model: torch.nn.Module, frames: np.ndarray) -> None:
    """Set a network's fixed input mean and scale (its buffers ``input_mean``, ``input_scale``) from training frames."""
    model.input_mean.copy_(torch.from_numpy(frames.mean(axis=0)))
    model.input_scale.copy_(torch.from_numpy(np.maximum(frames.std(axis=0), 1e-3)))


def check_run_folder(out_dir: Path, *, resume: bool) -> Path:
    """The checkpoint path of a run folder; an error unless ``resume`` matches whether a run is there.

    Examples
    --------
    >>> check_run_folder(Path("/nonexistent"), resume=False)
    PosixPath('/nonexistent/checkpoint.safetensors')
    """
    checkpoint_path = out_dir / CHECKPOINT_NAME
    if resume and not checkpoint_path.exists():
        raise TurnpointError("nothing to resume: no checkpoint here", path=checkpoint_path)
    if not resume and checkpoint_path.exists():
        raise TurnpointError("a run already exists here; pass --resume to continue it or choose another folder", path=out_dir)
    return checkpoint_path


def resolve_device(device: str) -> str:
    """``device``, with "auto" meaning CUDA when there is one, else the CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The chunk sampler of one epoch (1-based): the same on every process and after a resume."""
    return np.random.default_rng([seed, epoch])


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed torch for one epoch (1-based), as every trainer of turnpoint does."""
    torch.manual_seed(seed * 100003 + epoch)


def score_epoch(task: TrainingTask, state: dict, *, epoch: int, train_loss: float, validation: Validation, seconds: float) -> tuple[dict, bool]:
    """The epoch's history line and whether it is the new best; ``state`` is brought up to the epoch."""
    improved = validation.score > state[task.best_score_key]
    record = {"epoch": epoch, "train_loss": round(train_loss, 5), **validation.record, "seconds": round(seconds, 1), **task.epoch_notes(epoch)}
    if improved:
        state.update({task.best_score_key: validation.score, "best_epoch": epoch, **validation.kept_if_best})
    state["epoch"] = epoch
    return record, improved


def log_epoch(task: TrainingTask, *, record: dict, train_loss: float, validation: Validation, improved: bool) -> None:
    """Log the epoch's line, marking a new best epoch."""
    task.logger.info("%s%s", task.epoch_message(record=record, train_loss=train_loss, validation=validation), " *" if improved else "")


def append_history(path: Path, record: dict) -> None:
    """Append one epoch's line to ``history.jsonl``."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


# ---------------------------------------------------------------------------------------------
# checkpoints


def save_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Write weights, the optimiser's state and the run state as one safetensors file, atomically."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_state = optimizer.state_dict()
    for index, values in optim_state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    meta = dict(state, param_groups=optim_state["param_groups"])
    atomic_write_bytes(path, save(tensors, metadata={CHECKPOINT_METADATA_KEY: json.dumps(meta)}))


def load_checkpoint(path: Path, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Load a checkpoint of :func:`save_checkpoint` into ``model`` and ``optimizer``; return the run state."""
    if looks_like_pickle(path):
        raise TurnpointError("refusing to load a pickle checkpoint; turnpoint checkpoints are safetensors", path=path)
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads(handle.metadata()[CHECKPOINT_METADATA_KEY])
    except (SafetensorError, OSError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise TurnpointError(f"not a turnpoint training checkpoint ({error})", path=path) from None
    model_state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_state)
    except RuntimeError as error:
        raise TurnpointError(f"checkpoint does not match the architecture ({str(error).splitlines()[0]})", path=path) from None
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    return meta


# ---------------------------------------------------------------------------------------------
# the loop


def _train_epoch(
    task: TrainingTask,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    chunks: Sequence[np.ndarray],
    *,
    epoch: int,
    device: str,
    show_progress: bool,
) -> float:
    """One pass over the epoch's chunks in order, a batch a step; the mean loss per chunk."""
    settings = task.settings
    count = len(chunks[0])
    model.train()
    running = 0.0
    bar = tqdm(range(0, count, settings.batch_size), desc=f"epoch {epoch}/{settings.epochs}", disable=not show_progress, dynamic_ncols=True, leave=False)
    for first in bar:
        batch = tuple(torch.from_numpy(array[first : first + settings.batch_size]).to(device) for array in chunks)
        loss = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        value = float(loss.detach())
        running += value * len(batch[0])
        bar.set_postfix(loss=f"{value:.4f}")
    return running / count


def fit(task: TrainingTask, *, out_dir: Path, resume: bool, device: str, show_progress: bool = True) -> Path:
    """Train ``task``'s network in ``out_dir``; return the path of the best epoch's model file.

    Parameters
    ----------
    task : the task's hooks
    out_dir : run folder: ``checkpoint.safetensors``, ``model.safetensors``, ``history.jsonl``
    resume : continue from ``out_dir/checkpoint.safetensors`` (check it first: :func:`check_run_folder`)
    device : a torch device ("cpu", "cuda"; see :func:`resolve_device`)
    show_progress : a progress bar per epoch

    Examples
    --------
    >>> # fit(task, out_dir=Path("runs/exp1"), resume=False, device="cpu")
    """
    settings = task.settings
    checkpoint_path = out_dir / CHECKPOINT_NAME
    torch.manual_seed(settings.seed)
    model = task.build_model().to(device)
    task.criterion.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    state = task.initial_state()
    if resume:
        state = load_checkpoint(checkpoint_path, model=model, optimizer=optimizer)
        task.check_resumed(state, path=checkpoint_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    for epoch in range(state["epoch"] + 1, settings.epochs + 1):
        started = time.time()
        rng = epoch_rng(settings.seed, epoch)
        seed_epoch(settings.seed, epoch)
        chunks = task.chunks(epoch=epoch, rng=rng, count=task.chunks_per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = task.learning_rate_at(epoch)
        train_loss = _train_epoch(task, model, optimizer, chunks, epoch=epoch, device=device, show_progress=show_progress)
        validation = task.validate(model)
        record, improved = score_epoch(task, state, epoch=epoch, train_loss=train_loss, validation=validation, seconds=time.time() - started)
        if improved:
            task.save_model(model.cpu(), path=out_dir / MODEL_NAME, record=record, validation=validation)
            model.to(device)
        save_checkpoint(checkpoint_path, model=model, optimizer=optimizer, state=state)
        append_history(out_dir / HISTORY_NAME, record)
        log_epoch(task, record=record, train_loss=train_loss, validation=validation, improved=improved)
    if not (out_dir / MODEL_NAME).exists():
        raise TurnpointError("training finished without a model (0 epochs?)", path=out_dir)
    return out_dir / MODEL_NAME
