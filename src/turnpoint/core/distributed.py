"""Training on several devices or nodes with Lightning's DDP (``pip install 'turnpoint[distributed]'``).

The trainer of :mod:`turnpoint.core.training` for one
:class:`~turnpoint.core.training.DistributedTrainingTask`, run by a
Lightning ``Trainer(strategy="ddp")``: the same chunks, loss, optimiser, gradient clipping, best
epoch and model file. Lightning starts the processes, places them on the devices, keeps the
weights in sync, checkpoints every epoch (``last.ckpt``, resumed through
``fit(ckpt_path=...)``) and, on SLURM, requeues pre-empted jobs.

How the work is split, with W processes in all (``devices * num_nodes``):

* Each epoch's chunks are drawn exactly as by the single-process trainer, from the seed and the
  epoch number, on every process; a ``DistributedSampler`` without shuffling gives process r the
  chunks r, r + W, r + 2W, ... (Lightning's automatic sampler is turned off because it always
  shuffles training data). The chunk count is rounded up to a multiple of W, so the shares are
  disjoint and cover the epoch.
* ``batch_size`` stays the global batch: each process takes ``ceil(batch_size / W)`` chunks a step.
  The loss of a step is normalised by the task's loss weight (e.g. annotated frames) of the whole
  global batch (one all-reduce of two numbers), so the averaged DDP gradient is the gradient of
  the single-process loss: with ``batch_size`` and the chunk count multiples of W, a DDP run takes
  the same steps as :func:`turnpoint.core.training.fit`, up to floating-point summation order.
* Validation files are shared out among the processes; the task's additive validation counts are
  summed across processes, so every process chooses the same best epoch; process 0 writes
  ``model.safetensors`` and ``history.jsonl``.

The run folder must be on a file system all nodes share (process 0 writes the checkpoint, every
process reads it on resume).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from turnpoint.core.errors import TurnpointError
from turnpoint.core.training import (
    CHECKPOINT_NAME,
    HISTORY_NAME,
    MODEL_NAME,
    DistributedTrainingTask,
    append_history,
    epoch_rng,
    log_epoch,
    score_epoch,
    seed_epoch,
)

try:
    import lightning.pytorch as pl
except ImportError:  # the optional extra is not installed: require_lightning says so
    pl = None

logger = logging.getLogger(__name__)

__all__ = ["EpochChunks", "TaskModule", "fit_distributed", "is_global_zero", "lightning_strategy",
           "require_lightning", "resume_checkpoint"]

LAST_CHECKPOINT = "last.ckpt"
INSTALL_HINT = "training on several devices or nodes needs Lightning: pip install 'turnpoint[distributed]'"


def require_lightning() -> None:
    """Raise a one-line :class:`TurnpointError` when Lightning is not installed."""
    if pl is None:
        raise TurnpointError(INSTALL_HINT)


def is_global_zero() -> bool:
    """True in the process of global rank 0 (and outside any distributed run)."""
    if pl is None:
        return True
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


class EpochChunks(Dataset):
    """One epoch's chunks; item i is ``(i, *row i of each array)``."""

    def __init__(self, chunks: tuple[np.ndarray, ...]):
        self.chunks = chunks

    def __len__(self) -> int:
        return len(self.chunks[0])

    def __getitem__(self, index: int):
        return (index, *(array[index] for array in self.chunks))


_Base = pl.LightningModule if pl is not None else torch.nn.Module


class TaskModule(_Base):
    """A task's network, loss and validation as a ``LightningModule`` (see the module docs)."""

    def __init__(self, task: DistributedTrainingTask, *, out_dir: Path, resume_path: Path | None = None):
        super().__init__()
        self.task = task
        self.out_dir = Path(out_dir)
        self.resume_path = resume_path
        torch.manual_seed(task.settings.seed)  # the same initial weights as the single-process trainer
        self.model = task.build_model()
        self.loss_fn = task.criterion  # a submodule, so that its buffers follow the module's device
        self.run_state = task.initial_state()
        self._loss_sum: torch.Tensor | None = None
        self._started = 0.0

    # -- data ---------------------------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return self.trainer.world_size

    def epoch_chunks(self) -> int:
        """Chunks in one epoch over all processes: a multiple of the process count."""
        world = self.world_size
        return math.ceil(self.task.chunks_per_epoch / world) * world

    def train_dataloader(self) -> DataLoader:
        epoch = self.current_epoch + 1  # reloaded every epoch (reload_dataloaders_every_n_epochs=1)
        dataset = EpochChunks(self.task.chunks(epoch=epoch, rng=epoch_rng(self.task.settings.seed, epoch), count=self.epoch_chunks()))
        world = self.world_size
        # Lightning's automatic sampler (use_distributed_sampler) always shuffles training data; the
        # chunks are random already, and taking them in order makes global step k use chunks
        # [k * batch_size, (k + 1) * batch_size), as the single-process trainer does.
        sampler = DistributedSampler(dataset, num_replicas=world, rank=self.global_rank, shuffle=False) if world > 1 else None
        return DataLoader(dataset, batch_size=math.ceil(self.task.settings.batch_size / world), sampler=sampler, shuffle=False, num_workers=0)

    # -- training -----------------------------------------------------------------------------

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.task.settings.learning_rate)

    def on_train_start(self) -> None:
        if self.trainer.is_global_zero:  # after a crash between history and checkpoint: drop what the resume redoes
            _trim_history(self.out_dir / HISTORY_NAME, self.run_state["epoch"])

    def on_train_epoch_start(self) -> None:
        epoch = self.current_epoch + 1
        seed_epoch(self.task.settings.seed, epoch)
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.task.learning_rate_at(epoch)
        self._loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._started = time.time()

    def training_step(self, batch, batch_index):
        chunks = tuple(batch[1:])  # batch[0]: the chunks' indices in the epoch
        # loss weight and chunks of the whole global batch (all processes)
        weight = self.task.loss_weight(chunks)
        totals = self.trainer.strategy.reduce(torch.stack([weight, torch.tensor(float(len(chunks[0])), device=weight.device)]), reduce_op="sum")
        world = self.world_size
        loss = self.task.loss_sum(self.model, chunks) / totals[0].clamp_min(1.0) * world  # DDP averages gradients over W
        self._loss_sum += loss.detach().double() / world * totals[1]
        self.log("loss", loss.detach(), prog_bar=True, logger=False)  # this process's estimate of the global batch loss
        return loss

    def on_train_epoch_end(self) -> None:
        epoch = self.current_epoch + 1
        strategy = self.trainer.strategy
        train_loss = float(strategy.reduce(self._loss_sum.clone(), reduce_op="sum")) / self.epoch_chunks()
        counts = self.task.validation_counts(self.model, rank=self.global_rank, world=self.world_size)
        self.model.train()
        summed = strategy.reduce(torch.from_numpy(counts).to(self.device), reduce_op="sum")
        validation = self.task.validation_from_counts(summed.cpu().numpy())
        record, improved = score_epoch(self.task, self.run_state, epoch=epoch, train_loss=train_loss, validation=validation,
                                       seconds=time.time() - self._started)
        if self.trainer.is_global_zero:
            if improved:
                self.task.save_model(self.model, path=self.out_dir / MODEL_NAME, record=record, validation=validation)
            append_history(self.out_dir / HISTORY_NAME, record)
            log_epoch(self.task, record=record, train_loss=train_loss, validation=validation, improved=improved)
        self.log(self.task.score_name, validation.score, prog_bar=True, logger=False)

    # -- checkpoints (Lightning's own; the run state rides along as JSON) -----------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["turnpoint"] = json.dumps(self.run_state)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "turnpoint" not in checkpoint:
            raise TurnpointError("not a turnpoint Lightning checkpoint (no run state in it)")
        self.run_state = json.loads(checkpoint["turnpoint"])
        self.task.check_resumed(self.run_state, path=self.resume_path)


def _trim_history(path: Path, epoch: int) -> None:
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) <= epoch]
    if len(kept) != len(lines):
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def resume_checkpoint(out_dir: Path, *, resume: bool) -> Path | None:
    """The checkpoint to continue from: ``last.ckpt`` or, newer, a SLURM requeue ``hpc_ckpt_N.ckpt``."""
    if (out_dir / CHECKPOINT_NAME).exists():
        raise TurnpointError(
            "this folder holds a run of the single-process trainer; continue it without --devices/--num-nodes, or choose another folder",
            path=out_dir,
        )
    last = out_dir / LAST_CHECKPOINT
    requeued = sorted(out_dir.glob("hpc_ckpt_*.ckpt"))
    candidates = [p for p in (last, *requeued) if p.exists()]
    if resume:
        if not candidates:
            raise TurnpointError("nothing to resume: no Lightning checkpoint here", path=last)
        return max(candidates, key=lambda p: p.stat().st_mtime)
    if requeued:  # Lightning saved these when SLURM pre-empted the job; the requeued job continues
        return max(candidates, key=lambda p: p.stat().st_mtime)
    if last.exists():
        raise TurnpointError("a run already exists here; pass --resume to continue it or choose another folder", path=out_dir)
    return None


def lightning_strategy(strategy: str, *, devices: int, num_nodes: int) -> str:
    """The strategy Lightning is given: its single-device "auto" for one process in all, else ``strategy``.

    Examples
    --------
    >>> lightning_strategy("ddp", devices=1, num_nodes=1), lightning_strategy("ddp", devices=2, num_nodes=1)
    ('auto', 'ddp')
    """
    return "auto" if devices == 1 and num_nodes == 1 else strategy


def fit_distributed(
    task: DistributedTrainingTask,
    *,
    out_dir: Path,
    ckpt_path: Path | None,
    accelerator: str,
    devices: int,
    num_nodes: int,
    strategy: str,
    show_progress: bool,
) -> Path:
    """Train ``task`` with Lightning on ``devices`` per node times ``num_nodes`` processes.

    Parameters
    ----------
    task : the task's hooks
    out_dir : run folder: ``model.safetensors``, ``last.ckpt``, ``history.jsonl``
    ckpt_path : the checkpoint to continue from (:func:`resume_checkpoint`), or None
    accelerator : "cpu", "gpu" or "auto" (Lightning's names)
    devices, num_nodes : processes per node, and nodes
    strategy : Lightning strategy for several processes (see :func:`lightning_strategy`)
    show_progress : Lightning's progress bar

    Returns
    -------
    Path of the best model file (on every process).
    """
    require_lightning()
    from lightning.pytorch.callbacks import ModelCheckpoint

    if not show_progress:
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
    module = TaskModule(task, out_dir=out_dir, resume_path=ckpt_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = ModelCheckpoint(dirpath=out_dir, save_last=True, save_top_k=0, enable_version_counter=False)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy=lightning_strategy(strategy, devices=devices, num_nodes=num_nodes),
        max_epochs=task.settings.epochs,
        gradient_clip_val=task.settings.grad_clip or None,
        gradient_clip_algorithm="norm",
        reload_dataloaders_every_n_epochs=1,
        use_distributed_sampler=False,  # train_dataloader shares the chunks out itself, in order
        callbacks=[checkpoints],
        default_root_dir=out_dir,
        logger=False,
        enable_model_summary=False,
        enable_progress_bar=show_progress,
        num_sanity_val_steps=0,
    )
    if not trainer.is_global_zero:
        logging.getLogger("turnpoint").setLevel(logging.WARNING)  # one voice: process 0's
    fit_options = {"ckpt_path": str(ckpt_path) if ckpt_path else None}
    if "weights_only" in inspect.signature(trainer.fit).parameters:
        fit_options["weights_only"] = True  # the checkpoint holds tensors, numbers and strings only
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LeafSpec.*is deprecated.*")
        warnings.filterwarnings("ignore", ".*sync_dist=True.*")  # the score is the same number on every process
        warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
        trainer.fit(module, **fit_options)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # the run is over (and the processes exit promptly)
    path = out_dir / MODEL_NAME
    if trainer.is_global_zero and not path.exists():
        raise TurnpointError("training finished without a model (0 epochs?)", path=out_dir)
    return path
