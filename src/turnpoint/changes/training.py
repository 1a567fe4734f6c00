"""Training the speaker change detector on annotated audio (audio + RTTM, optional UEM).

Random 3.2 s chunks are drawn from the annotated regions; frames within ``collar`` seconds of a
speech-turn boundary are positive, frames outside the annotated regions are ignored in the loss.
Each epoch is seeded from (seed, epoch), so a run resumed from its checkpoint continues exactly
as if it had never stopped. The best epoch is chosen on a validation set by speaker-change F1 at
±0.5 s over a sweep of the peak threshold, and that threshold becomes the model's default.
That score is ``turnpoint evaluate``'s: changes of the active speaker set, a change across a
pause being the pause (:func:`turnpoint.changes.change_definition.speaker_changes`), nothing merged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from turnpoint.changes.metrics import BoundaryScore, boundary_score
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.modelfile import Defaults, save_model as save_model_file
from turnpoint.changes.peaks import find_peaks
from turnpoint.changes.scoring import score_features
from turnpoint.changes.training_data import AnnotatedFile, PreparedFile, prepare_file, sample_chunks, split_sources
from turnpoint.core.errors import TurnpointError
from turnpoint.core.task import FeatureConfig, Specifications
from turnpoint.core.training import DistributedTrainingTask, LoopSettings, Validation, check_run_folder, fit, resolve_device
from turnpoint.core.training import set_input_standardisation as standardise_inputs

logger = logging.getLogger(__name__)

ALPHA_GRID = tuple(np.round(np.arange(0.02, 0.99, 0.02), 2))


@dataclass(frozen=True)
class TrainingConfig:
    """Everything that defines a training run (saved in checkpoints and model files)."""

    epochs: int = 50
    batch_size: int = 128
    learning_rate: float = 1e-3
    collar: float = 0.05
    pos_weight: float = 1.0
    chunks_per_epoch: int | None = None  # default: one chunk per 0.8 s of annotated audio
    seed: int = 0
    min_duration: float = 1.0
    tolerance: float = 0.5
    grad_clip: float = 1.0
    frame_step: float = 0.016
    window_duration: float = 0.032


# ---------------------------------------------------------------------------------------------
# data


def chunks_in_epoch(files: Sequence[PreparedFile], *, config: TrainingConfig, specifications: Specifications) -> int:
    """``config.chunks_per_epoch``, or one chunk per sliding step (0.8 s) of annotated audio."""
    annotated = sum(p.annotated_duration for p in files)
    return config.chunks_per_epoch or max(config.batch_size, int(annotated / specifications.step_duration))


def training_specifications(config: TrainingConfig) -> Specifications:
    """Task specifications (features, 3.2 s chunks) that a training run with ``config`` uses."""
    return Specifications(features=FeatureConfig(window_duration=config.window_duration, step_duration=config.frame_step))


def prepare_files(
    train_items: Sequence[AnnotatedFile],
    validation_items: Sequence[AnnotatedFile],
    *,
    specifications: Specifications,
    config: TrainingConfig,
    show_progress: bool = True,
) -> tuple[list[PreparedFile], list[PreparedFile]]:
    """Features and targets of the training files (those with annotated frames) and validation files."""
    progress = dict(disable=not show_progress, dynamic_ncols=True, leave=False)
    prepared = [prepare_file(f, specifications=specifications, collar=config.collar) for f in tqdm(train_items, desc="features (train)", **progress)]
    prepared_val = [prepare_file(f, specifications=specifications, collar=config.collar) for f in tqdm(validation_items, desc="features (validation)", **progress)]
    prepared = [p for p in prepared if p.mask.sum() > 0]
    if not prepared:
        raise TurnpointError("no annotated frames in the training files")
    return prepared, prepared_val


def set_input_standardisation(model: SpeakerChangeDetector, files: Sequence[PreparedFile]) -> None:
    """Set the model's fixed input mean and scale from the annotated frames of ``files``."""
    standardise_inputs(model, np.concatenate([p.features[p.mask > 0] for p in files]))


def training_summary(prepared: Sequence[PreparedFile], prepared_val: Sequence[PreparedFile], *, config: TrainingConfig, device: str) -> dict:
    """The data summary a model file carries under ``training``."""
    annotated = sum(p.annotated_duration for p in prepared)
    positives = sum(float(p.labels[p.mask > 0].sum()) for p in prepared)
    total = sum(float(p.mask.sum()) for p in prepared)
    return {
        "train_files": len(prepared),
        "validation_files": len(prepared_val),
        "train_hours": round(annotated / 3600, 3),
        "validation_hours": round(sum(p.annotated_duration for p in prepared_val) / 3600, 3),
        "positive_frame_fraction": round(positives / max(total, 1.0), 5),
        "config": asdict(config),
        "device": str(device),
    }


# ---------------------------------------------------------------------------------------------
# validation


@dataclass
class ValidationResult:
    f1: float
    alpha: float
    precision: float
    recall: float
    loss: float
    curve: dict = field(default_factory=dict)


@dataclass
class ValidationCounts:
    """Boundary counts per alpha and the summed loss over some validation files; counts of
    disjoint sets of files add up (``to_array`` / ``from_array`` carry them between processes)."""

    totals: dict
    loss_sum: float = 0.0
    weight_sum: float = 0.0

    def to_array(self) -> np.ndarray:
        counts = [[s.hits, s.n_reference, s.n_hypothesis] for s in (self.totals[a] for a in ALPHA_GRID)]
        return np.concatenate([np.asarray(counts, dtype=np.float64).ravel(), [self.loss_sum, self.weight_sum]])

    @classmethod
    def from_array(cls, values: np.ndarray) -> ValidationCounts:
        values = np.asarray(values, dtype=np.float64)
        counts = np.rint(values[:-2]).astype(np.int64).reshape(len(ALPHA_GRID), 3)
        totals = {alpha: BoundaryScore(*(int(v) for v in row)) for alpha, row in zip(ALPHA_GRID, counts)}
        return cls(totals, float(values[-2]), float(values[-1]))


def validation_counts(
    model: SpeakerChangeDetector,
    files: Sequence[PreparedFile],
    *,
    specifications: Specifications,
    min_duration: float,
    tolerance: float,
    pos_weight: float = 1.0,
) -> ValidationCounts:
    """Score whole validation files; boundary counts for every alpha of the sweep, and the loss."""
    model.eval()
    step = specifications.features.frame_step
    totals = {alpha: BoundaryScore(0, 0, 0) for alpha in ALPHA_GRID}
    loss_sum = weight_sum = 0.0
    for item in files:
        scores = score_features(item.features, model=model, specifications=specifications)
        inside = item.mask > 0
        clipped = np.clip(scores[inside].astype(np.float64), 1e-7, 1 - 1e-7)
        labels = item.labels[inside]
        loss_sum += float(-(pos_weight * labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)).sum())
        weight_sum += float(inside.sum())
        masked = np.where(inside, scores, 0.0)
        reference = item.speaker_changes if item.speaker_changes is not None else item.changes
        for alpha in ALPHA_GRID:
            peaks = find_peaks(masked, frame_step=step, alpha=alpha, min_duration=min_duration)
            totals[alpha] = totals[alpha] + boundary_score(reference, peaks * step, tolerance=tolerance)
    return ValidationCounts(totals, loss_sum, weight_sum)


def choose_alpha(counts: ValidationCounts) -> ValidationResult:
    """The alpha of best boundary F1 (ties: the one nearest 0.5), with its scores and the F1 curve."""
    totals, loss_sum, weight_sum = counts.totals, counts.loss_sum, counts.weight_sum
    best_alpha = max(ALPHA_GRID, key=lambda a: (totals[a].f1, -abs(a - 0.5)))
    best = totals[best_alpha]
    return ValidationResult(
        f1=best.f1,
        alpha=float(best_alpha),
        precision=best.precision,
        recall=best.recall,
        loss=loss_sum / max(weight_sum, 1.0),
        curve={f"{a:.2f}": round(totals[a].f1, 4) for a in ALPHA_GRID},
    )


def validate(
    model: SpeakerChangeDetector,
    files: Sequence[PreparedFile],
    *,
    specifications: Specifications,
    min_duration: float,
    tolerance: float,
    pos_weight: float = 1.0,
) -> ValidationResult:
    """Score whole validation files; sweep alpha; return the best boundary F1 and its alpha."""
    return choose_alpha(
        validation_counts(model, files, specifications=specifications, min_duration=min_duration, tolerance=tolerance, pos_weight=pos_weight)
    )


# ---------------------------------------------------------------------------------------------
# the task's hooks and the trainer


class SpeakerChangeTask(DistributedTrainingTask):
    """The speaker change detector's hooks for :func:`turnpoint.core.training.fit` (and its DDP twin).

    Parameters
    ----------
    config, architecture : the run's hyper-parameters and network shape
    prepared, prepared_val : training and validation files (:func:`prepare_files`)
    summary : the data summary model files carry under ``training`` (:func:`training_summary`)
    name : the model files' name
    """

    best_score_key = "best_f1"
    score_name = "val_f1"

    def __init__(
        self,
        *,
        config: TrainingConfig,
        architecture: SpeakerChangeConfig,
        prepared: Sequence[PreparedFile],
        prepared_val: Sequence[PreparedFile],
        summary: dict,
        name: str,
    ):
        self.config = config
        self.architecture = architecture
        self.specifications = training_specifications(config)
        self.prepared = prepared
        self.prepared_val = prepared_val
        self.summary = summary
        self.name = name
        self.logger = logger
        self.settings = LoopSettings.from_config(config)
        self.chunks_per_epoch = chunks_in_epoch(prepared, config=config, specifications=self.specifications)
        # per-frame binary cross-entropy on logits (weighted positives), masked and summed by loss_sum
        self.criterion = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(config.pos_weight))

    def build_model(self) -> SpeakerChangeDetector:
        model = SpeakerChangeDetector(self.architecture)
        set_input_standardisation(model, self.prepared)
        return model

    def initial_state(self) -> dict:
        return {"epoch": 0, "best_f1": -1.0, "best_epoch": 0, "best_alpha": 0.5, "config": asdict(self.config)}

    def check_resumed(self, state: dict, *, path: Path | None) -> None:
        previous = {k: v for k, v in state.get("config", {}).items() if k != "epochs"}
        current = {k: v for k, v in json.loads(json.dumps(asdict(self.config))).items() if k != "epochs"}
        if previous != current:
            logger.warning("resuming with settings that differ from the checkpoint's: %s", state.get("config"))
        logger.info("resumed from epoch %d (best F1 %.3f at epoch %d)", state["epoch"], state["best_f1"], state["best_epoch"])

    def chunks(self, *, epoch: int, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features, frame labels and loss mask of ``count`` random chunks."""
        return sample_chunks(self.prepared, count=count, frames=self.specifications.frames_per_chunk, rng=rng)

    def loss_sum(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The weighted cross-entropy summed over the batch's annotated frames."""
        features, labels, mask = batch
        logits = model(features)[..., 0]  # (batch, frame)
        return (self.criterion(logits, labels) * mask).sum()

    def loss_weight(self, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The batch's annotated frames."""
        return batch[2].sum()

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The masked loss of a batch: the mean over its annotated frames."""
        return self.loss_sum(model, batch) / self.loss_weight(batch).clamp_min(1.0)

    def validation_counts(self, model: torch.nn.Module, *, rank: int, world: int) -> np.ndarray:
        """Boundary counts and loss of validation files ``rank``, ``rank + world``, ... (:meth:`ValidationCounts.to_array`)."""
        config = self.config
        return validation_counts(
            model, self.prepared_val[rank::world], specifications=self.specifications, min_duration=config.min_duration,
            tolerance=config.tolerance, pos_weight=config.pos_weight,
        ).to_array()

    def validation_from_counts(self, counts: np.ndarray) -> Validation:
        result = choose_alpha(ValidationCounts.from_array(counts))
        record = {
            "val_loss": round(result.loss, 5),
            "val_f1": round(result.f1, 4),
            "val_precision": round(result.precision, 4),
            "val_recall": round(result.recall, 4),
            "val_alpha": result.alpha,
        }
        return Validation(score=result.f1, record=record, kept_if_best={"best_alpha": result.alpha}, details=result)

    def validate(self, model: torch.nn.Module) -> Validation:
        # the counts of all files as one process's share: the same numbers as the DDP trainer sums
        return self.validation_from_counts(self.validation_counts(model, rank=0, world=1))

    def epoch_message(self, *, record: dict, train_loss: float, validation: Validation) -> str:
        result = validation.details
        return f"epoch {record['epoch']}: train loss {train_loss:.4f}, val loss {result.loss:.4f}, val F1 {result.f1:.3f} (alpha {result.alpha:.2f})"

    def save_model(self, model: torch.nn.Module, *, path: Path, record: dict, validation: Validation) -> None:
        """Write the model file of a new best epoch (its alpha becomes the model's default)."""
        result = validation.details
        save_model_file(
            path,
            model=model,
            specifications=self.specifications,
            defaults=Defaults(alpha=result.alpha, min_duration=self.config.min_duration),
            training=dict(self.summary, epoch=record["epoch"], validation=record, validation_f1_by_alpha=result.curve),
            name=self.name,
        )


def speaker_change_task(
    train_source: str | Path | Sequence[AnnotatedFile],
    validation_source: str | Path | Sequence[AnnotatedFile] | None,
    *,
    validation_fraction: float,
    config: TrainingConfig,
    architecture: SpeakerChangeConfig,
    device: str,
    name: str,
    show_progress: bool,
    summary_extras: dict | None = None,
) -> SpeakerChangeTask:
    """Collect, split and prepare the data of a run; its task for the trainers.

    Parameters
    ----------
    train_source, validation_source, validation_fraction, config, architecture : as for :func:`train`
    device : what the model files record as the training device
    name : the model files' name
    show_progress : progress bars over the feature extraction
    summary_extras : more fields for the model files' ``training`` summary
    """
    specifications = training_specifications(config)
    train_items, validation_items = split_sources(train_source, validation_source, validation_fraction=validation_fraction, seed=config.seed)
    prepared, prepared_val = prepare_files(train_items, validation_items, specifications=specifications, config=config, show_progress=show_progress)
    summary = dict(training_summary(prepared, prepared_val, config=config, device=device), **(summary_extras or {}))
    return SpeakerChangeTask(config=config, architecture=architecture, prepared=prepared, prepared_val=prepared_val, summary=summary, name=name)


def train(
    train_source: str | Path | Sequence[AnnotatedFile],
    *,
    out_dir: str | Path,
    validation_source: str | Path | Sequence[AnnotatedFile] | None = None,
    validation_fraction: float = 0.1,
    config: TrainingConfig | None = None,
    architecture: SpeakerChangeConfig | None = None,
    resume: bool = False,
    device: str = "auto",
    show_progress: bool = True,
    name: str = "",
    num_threads: int | None = None,
) -> Path:
    """Train a detector; write ``out_dir/model.safetensors`` (best epoch) and a resumable checkpoint.

    Parameters
    ----------
    train_source : folder of audio + RTTM (+ UEM), a list file of audio paths, or AnnotatedFile items
    out_dir : run folder: ``checkpoint.safetensors``, ``model.safetensors``, ``history.jsonl``
    validation_source : same kinds as ``train_source``; if None, ``validation_fraction`` of the
        training files (at least one) is held out
    config : hyper-parameters (see :class:`TrainingConfig`)
    architecture : network shape; the paper's by default
    resume : continue from ``out_dir/checkpoint.safetensors``
    device : "cpu", "cuda", or "auto"
    num_threads : torch intra-op threads (None: torch's default); 1 is best on a busy machine

    Returns
    -------
    Path of the best model file.

    Examples
    --------
    >>> # turnpoint.train("my_corpus/", out_dir="runs/exp1", config=TrainingConfig(epochs=20))
    """
    config = config or TrainingConfig()
    out_dir = Path(out_dir)
    check_run_folder(out_dir, resume=resume)
    device = resolve_device(device)
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    task = speaker_change_task(
        train_source, validation_source, validation_fraction=validation_fraction, config=config,
        architecture=architecture or SpeakerChangeConfig(), device=device, name=name or out_dir.name, show_progress=show_progress,
    )
    return fit(task, out_dir=out_dir, resume=resume, device=device, show_progress=show_progress)


__all__ = [
    "SpeakerChangeTask", "TrainingConfig", "ValidationCounts", "choose_alpha", "prepare_files", "speaker_change_task", "train",
    "validate", "validation_counts",
]
