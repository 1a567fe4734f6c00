"""Training the speaker change detector on several devices or nodes (``pip install 'turnpoint[distributed]'``).

The recipe of :func:`turnpoint.changes.training.train` (the same :class:`~turnpoint.changes.training.SpeakerChangeTask`)
run by :func:`turnpoint.core.distributed.fit_distributed`, Lightning's DDP: the loss of a step is
normalised by the annotated frames of the whole global batch, and validation files are shared out
among the processes (file i to process i mod W), their boundary counts and losses summed, so that
every process chooses the same best epoch and alpha. Every process computes the features of all
files (chunks can come from any file).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from turnpoint.changes.model import SpeakerChangeConfig
from turnpoint.changes.training import TrainingConfig, speaker_change_task
from turnpoint.changes.training_data import AnnotatedFile
from turnpoint.core.distributed import fit_distributed, is_global_zero, lightning_strategy, require_lightning, resume_checkpoint
from turnpoint.core.errors import TurnpointError

__all__ = ["is_global_zero", "require_lightning", "train_distributed"]


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
    >>> # turnpoint.changes.distributed.train_distributed("corpus/", out_dir="runs/ddp", devices=4, accelerator="gpu")
    """
    require_lightning()
    config = config or TrainingConfig()
    out_dir = Path(out_dir)
    if devices < 1 or num_nodes < 1:
        raise TurnpointError(f"devices and num_nodes must be positive (got {devices} and {num_nodes})")
    ckpt_path = resume_checkpoint(out_dir, resume=resume)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    lightning = {"strategy": lightning_strategy(strategy, devices=devices, num_nodes=num_nodes), "accelerator": accelerator,
                 "devices": devices, "num_nodes": num_nodes}
    task = speaker_change_task(
        train_source, validation_source, validation_fraction=validation_fraction, config=config,
        architecture=architecture or SpeakerChangeConfig(), device=accelerator, name=name or out_dir.name, show_progress=show_progress,
        summary_extras={"lightning": lightning},
    )
    return fit_distributed(task, out_dir=out_dir, ckpt_path=ckpt_path, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                           strategy=strategy, show_progress=show_progress)
