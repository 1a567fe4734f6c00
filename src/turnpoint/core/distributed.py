"""Training on several devices or nodes with Lightning's DDP (``pip install 'turnpoint[distributed]'``).

The same recipe as :func:`turnpoint.changes.training.train` (3.2 s chunks drawn from the annotated
regions, masked BCE, Adam, gradient clipping, best epoch by validation boundary F1, the same
safetensors model file), run by a Lightning ``Trainer(strategy="ddp")``. Lightning starts the
processes, places them on the devices, keeps the weights in sync, checkpoints every epoch
(``last.ckpt``, resumed through ``fit(ckpt_path=...)``) and, on SLURM, requeues pre-empted jobs.

How the work is split, with W processes in all (``devices * num_nodes``):

* Each epoch's chunks are drawn exactly as by the single-process trainer, from the seed and the
  epoch number, on every process; a ``DistributedSampler`` without shuffling gives process r the
  chunks r, r + W, r + 2W, ... (Lightning's automatic sampler is turned off because it always
  shuffles training data). The chunk count is rounded up to a multiple of W, so the shares are
  disjoint and cover the epoch.
* ``batch_size`` stays the global batch: each process takes ``ceil(batch_size / W)`` chunks a step.
  The loss of a step is normalised by the annotated frames of the whole global batch (one
  all-reduce of two numbers), so the averaged DDP gradient is the gradient of the single-process
  loss: with ``batch_size`` and the chunk count multiples of W, a DDP run takes the same steps as
  :func:`~turnpoint.changes.training.train`, up to floating-point summation order.
* Validation files are shared out among the processes (file i to process i mod W); their boundary
  counts and losses are summed across processes, so every process chooses the same best epoch and
  alpha; process 0 writes ``model.safetensors`` and ``history.jsonl``.

The run folder must be on a file system all nodes share (process 0 writes the checkpoint, every
process reads it on resume). Every process computes the features of all files (chunks can come
from any file).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from turnpoint.core.errors import TurnpointError
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.training import (
    CHECKPOINT_NAME,
    MODEL_NAME,
    AnnotatedFile,
    PreparedFile,
    TrainingConfig,
    ValidationCounts,
    append_history,
    choose_alpha,
    chunk_loss,
    chunks_in_epoch,
    cut_chunks,
    epoch_record,
    epoch_rng,
    make_loss,
    prepare_files,
    sample_chunk_positions,
    save_best_model,
    set_input_standardisation,
    split_sources,
    training_specifications,
    training_summary,
    validation_counts,
)

try:
    import lightning.pytorch as pl
except ImportError:  # the optional extra is not installed: train_distributed says so
    pl = None

logger = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.ckpt"
HISTORY_NAME = "history.jsonl"
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


class ChunkDataset(Dataset):
    """One epoch's chunks, cut on demand; item i is ``(i, features, labels, mask)`` of chunk i."""

    def __init__(self, files: Sequence[PreparedFile], positions: np.ndarray, *, frames: int):
        self.files = files
        self.positions = positions
        self.frames = frames

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int):
        x, y, m = cut_chunks(self.files, self.positions[index : index + 1], frames=self.frames)
        return index, x[0], y[0], m[0]


_Base = pl.LightningModule if pl is not None else torch.nn.Module


class SpeakerChangeModule(_Base):
    """The detector, its loss and its validation as a ``LightningModule`` (see the module docs)."""

    def __init__(
        self,
        *,
        architecture: SpeakerChangeConfig,
        config: TrainingConfig,
        prepared: Sequence[PreparedFile],
        prepared_val: Sequence[PreparedFile],
        summary: dict,
        out_dir: Path,
        name: str,
    ):
        super().__init__()
        self.config = config
        self.specifications = training_specifications(config)
        self.prepared = prepared
        self.prepared_val = prepared_val
        self.data_summary = summary
        self.out_dir = Path(out_dir)
        self.run_name = name
        torch.manual_seed(config.seed)  # the same initial weights as the single-process trainer
        self.model = SpeakerChangeDetector(architecture)
        set_input_standardisation(self.model, prepared)
        self.loss_fn = make_loss(config, "cpu")  # pos_weight is a buffer: it follows the module's device
        self.chunks_per_epoch = chunks_in_epoch(prepared, config=config, specifications=self.specifications)
        self.run_state = {"epoch": 0, "best_f1": -1.0, "best_epoch": 0, "best_alpha": 0.5, "config": asdict(config)}
        self._loss_sum: torch.Tensor | None = None
        self._started = 0.0

    # -- data ---------------------------------------------------------------------------------

    @property
    def world_size(self) -> int:
        return self.trainer.world_size

    def epoch_chunks(self) -> int:
        """Chunks in one epoch over all processes: a multiple of the process count."""
        world = self.world_size
        return math.ceil(self.chunks_per_epoch / world) * world

    def train_dataloader(self) -> DataLoader:
        epoch = self.current_epoch + 1  # reloaded every epoch (reload_dataloaders_every_n_epochs=1)
        frames = self.specifications.frames_per_chunk
        positions = sample_chunk_positions(self.prepared, count=self.epoch_chunks(), frames=frames, rng=epoch_rng(self.config, epoch))
        dataset = ChunkDataset(self.prepared, positions, frames=frames)
        world = self.world_size
        # Lightning's automatic sampler (use_distributed_sampler) always shuffles training data; the
        # chunks are random already, and taking them in order makes global step k use chunks
        # [k * batch_size, (k + 1) * batch_size), as the single-process trainer does.
        sampler = DistributedSampler(dataset, num_replicas=world, rank=self.global_rank, shuffle=False) if world > 1 else None
        return DataLoader(dataset, batch_size=math.ceil(self.config.batch_size / world), sampler=sampler, shuffle=False, num_workers=0)

    # -- training -----------------------------------------------------------------------------

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)

    def on_train_start(self) -> None:
        if self.trainer.is_global_zero:  # after a crash between history and checkpoint: drop what the resume redoes
            _trim_history(self.out_dir / HISTORY_NAME, self.run_state["epoch"])

    def on_train_epoch_start(self) -> None:
        torch.manual_seed(self.config.seed * 100003 + self.current_epoch + 1)
        self._loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self._started = time.time()

    def training_step(self, batch, batch_index):
        _, x, y, m = batch
        # annotated frames and chunks of the whole global batch (all processes)
        totals = self.trainer.strategy.reduce(torch.stack([m.sum(), torch.tensor(float(len(x)), device=m.device)]), reduce_op="sum")
        world = self.world_size
        loss = chunk_loss(self.model, self.loss_fn, x, y, m, normaliser=totals[0]) * world  # DDP averages gradients over W
        self._loss_sum += loss.detach().double() / world * totals[1]
        self.log("loss", loss.detach(), prog_bar=True, logger=False)  # this process's estimate of the global batch loss
        return loss

    def on_train_epoch_end(self) -> None:
        epoch = self.current_epoch + 1
        strategy = self.trainer.strategy
        train_loss = float(strategy.reduce(self._loss_sum.clone(), reduce_op="sum")) / self.epoch_chunks()
        rank, world = self.global_rank, self.world_size
        counts = validation_counts(
            self.model, self.prepared_val[rank::world], specifications=self.specifications, min_duration=self.config.min_duration,
            tolerance=self.config.tolerance, pos_weight=self.config.pos_weight,
        )
        self.model.train()
        summed = strategy.reduce(torch.from_numpy(counts.to_array()).to(self.device), reduce_op="sum")
        result = choose_alpha(ValidationCounts.from_array(summed.cpu().numpy()))
        improved = result.f1 > self.run_state["best_f1"]
        record = epoch_record(epoch, train_loss=train_loss, result=result, seconds=time.time() - self._started)
        if improved:
            self.run_state.update(best_f1=result.f1, best_epoch=epoch, best_alpha=result.alpha)
        self.run_state["epoch"] = epoch
        if self.trainer.is_global_zero:
            if improved:
                save_best_model(
                    self.out_dir / MODEL_NAME, model=self.model, specifications=self.specifications, config=self.config,
                    result=result, summary=self.data_summary, record=record, name=self.run_name,
                )
            append_history(self.out_dir / HISTORY_NAME, record)
            logger.info(
                "epoch %d: train loss %.4f, val loss %.4f, val F1 %.3f (alpha %.2f)%s",
                epoch, train_loss, result.loss, result.f1, result.alpha, " *" if improved else "",
            )
        self.log("val_f1", result.f1, prog_bar=True, logger=False)

    # -- checkpoints (Lightning's own; the run state rides along as JSON) -----------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["turnpoint"] = json.dumps(self.run_state)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "turnpoint" not in checkpoint:
            raise TurnpointError("not a turnpoint Lightning checkpoint (no run state in it)")
        self.run_state = json.loads(checkpoint["turnpoint"])
        previous = {k: v for k, v in self.run_state.get("config", {}).items() if k != "epochs"}
        current = {k: v for k, v in json.loads(json.dumps(asdict(self.config))).items() if k != "epochs"}
        if previous != current:
            logger.warning("resuming with settings that differ from the checkpoint's: %s", self.run_state.get("config"))
        logger.info("resumed from epoch %d (best F1 %.3f at epoch %d)", self.run_state["epoch"], self.run_state["best_f1"], self.run_state["best_epoch"])


def _trim_history(path: Path, epoch: int) -> None:
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.strip() and json.loads(line).get("epoch", 0) <= epoch]
    if len(kept) != len(lines):
        path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _resume_from(out_dir: Path, resume: bool) -> Path | None:
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


def train_distributed(
    train_source: str | Path | Sequence[AnnotatedFile],
    *,
    out_dir: str | Path,
    validation_source: str | Path | Sequence[AnnotatedFile] | None = None,
    validation_fraction: float = 0.1,
    config: TrainingConfig | None = None,
    architecture: SpeakerChangeConfig | None = None,
    resume: bool = False,
    accelerator: str = "auto",
    devices: int = 1,
    num_nodes: int = 1,
    strategy: str = "ddp",
    show_progress: bool = True,
    name: str = "",
    num_threads: int | None = None,
) -> Path:
    """Train a detector with Lightning on ``devices`` per node times ``num_nodes`` processes.

    Writes ``out_dir/model.safetensors`` (best epoch, the same file as :func:`turnpoint.changes.training.train`
    writes), ``out_dir/last.ckpt`` (Lightning's checkpoint, every epoch) and ``history.jsonl``.
    With one process in all, ``strategy`` becomes Lightning's single-device "auto".

    Parameters
    ----------
    train_source, validation_source, validation_fraction, config, architecture, name :
        as for :func:`turnpoint.changes.training.train`; ``config.batch_size`` is the global batch
    resume : continue from ``out_dir/last.ckpt`` (through ``Trainer.fit(ckpt_path=...)``)
    accelerator : "cpu", "gpu" or "auto" (Lightning's names)
    devices : processes per node (GPUs, or CPU processes)
    num_nodes : machines; each runs the same command (see docs/performance.md)
    strategy : Lightning strategy for several processes ("ddp"; "ddp_notebook" in notebooks)
    num_threads : torch intra-op threads per process

    Returns
    -------
    Path of the best model file (on every process).

    Examples
    --------
    >>> # turnpoint.core.distributed.train_distributed("corpus/", out_dir="runs/ddp", devices=4, accelerator="gpu")
    """
    require_lightning()
    from lightning.pytorch.callbacks import ModelCheckpoint

    config = config or TrainingConfig()
    architecture = architecture or SpeakerChangeConfig()
    out_dir = Path(out_dir)
    if devices < 1 or num_nodes < 1:
        raise TurnpointError(f"devices and num_nodes must be positive (got {devices} and {num_nodes})")
    ckpt_path = _resume_from(out_dir, resume)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    if not show_progress:
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)

    specifications = training_specifications(config)
    train_items, validation_items = split_sources(train_source, validation_source, validation_fraction=validation_fraction, seed=config.seed)
    prepared, prepared_val = prepare_files(train_items, validation_items, specifications=specifications, config=config, show_progress=show_progress)
    single = devices == 1 and num_nodes == 1
    summary = training_summary(prepared, prepared_val, config=config, device=accelerator)
    summary["lightning"] = {"strategy": "auto" if single else strategy, "accelerator": accelerator, "devices": devices, "num_nodes": num_nodes}
    module = SpeakerChangeModule(
        architecture=architecture, config=config, prepared=prepared, prepared_val=prepared_val, summary=summary, out_dir=out_dir,
        name=name or out_dir.name,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = ModelCheckpoint(dirpath=out_dir, save_last=True, save_top_k=0, enable_version_counter=False)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy="auto" if single else strategy,
        max_epochs=config.epochs,
        gradient_clip_val=config.grad_clip or None,
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
        warnings.filterwarnings("ignore", ".*sync_dist=True.*")  # val_f1 is the same number on every process
        warnings.filterwarnings("ignore", ".*Checkpoint directory .* exists and is not empty.*")
        trainer.fit(module, **fit_options)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()  # the run is over (and the processes exit promptly)
    path = out_dir / MODEL_NAME
    if trainer.is_global_zero and not path.exists():
        raise TurnpointError("training finished without a model (0 epochs?)", path=out_dir)
    return path


__all__ = ["ChunkDataset", "SpeakerChangeModule", "is_global_zero", "require_lightning", "train_distributed"]
