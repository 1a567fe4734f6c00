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

from turnpoint.changes.annotations import Turn, change_points, read_rttm, read_uem
from turnpoint.changes.change_definition import speaker_changes
from turnpoint.changes.metrics import BoundaryScore, boundary_score
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.modelfile import Defaults, save_model as save_model_file
from turnpoint.changes.peaks import find_peaks
from turnpoint.changes.scoring import score_features
from turnpoint.core.audio import audio_files, iter_audio
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import FeatureStream
from turnpoint.core.task import FeatureConfig, Specifications
from turnpoint.core.training import DistributedTrainingTask, LoopSettings, Validation, check_run_folder, fit, resolve_device
from turnpoint.core.training import set_input_standardisation as standardise_inputs

logger = logging.getLogger(__name__)

ALPHA_GRID = tuple(np.round(np.arange(0.02, 0.99, 0.02), 2))


@dataclass(frozen=True)
class AnnotatedFile:
    """One training file: audio path, reference turns and annotated regions (seconds)."""

    uri: str
    audio: Path
    turns: tuple[Turn, ...]
    annotated: tuple[tuple[float, float], ...] | None = None


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


def _annotation_files(path: Path | None, suffix: str, fallback_dir: Path | None) -> list[Path]:
    if path is not None:
        if path.is_dir():
            return sorted(path.glob(f"*{suffix}"))
        if not path.exists():
            raise TurnpointError("no such file", path=path)
        return [path]
    return sorted(fallback_dir.glob(f"*{suffix}")) if fallback_dir is not None else []


def collect_files(
    source: str | Path,
    *,
    rttm: str | Path | None = None,
    uem: str | Path | None = None,
) -> list[AnnotatedFile]:
    """Annotated files from a folder of audio + RTTM (+ UEM) or from a list file of audio paths.

    RTTM/UEM files are looked up in ``rttm``/``uem`` (a file or a folder) or else beside the audio;
    one RTTM may hold many files (matched by URI = audio file name without extension).

    Examples
    --------
    >>> collect_files("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: /nonexistent: no such file or folder
    """
    source = Path(source)
    audio_paths = audio_files(source)
    annotation_dirs = {source} if source.is_dir() else {p.parent for p in audio_paths}
    if not audio_paths:
        raise TurnpointError("no audio files found", path=source)

    turns: dict[str, list[Turn]] = {}
    regions: dict[str, list[tuple[float, float]]] = {}
    rttm_files = [f for d in sorted(annotation_dirs) for f in _annotation_files(Path(rttm) if rttm else None, ".rttm", d)]
    uem_files = [f for d in sorted(annotation_dirs) for f in _annotation_files(Path(uem) if uem else None, ".uem", d)]
    for path in dict.fromkeys(rttm_files):
        for uri, uri_turns in read_rttm(path).items():
            turns.setdefault(uri, []).extend(uri_turns)
    for path in dict.fromkeys(uem_files):
        for uri, uri_regions in read_uem(path).items():
            regions.setdefault(uri, []).extend(uri_regions)

    files = []
    for audio in audio_paths:
        uri = audio.stem
        if uri not in turns and uri not in regions:
            logger.warning("%s: no RTTM turns or UEM region for %r; skipped", audio, uri)
            continue
        region = tuple(sorted(regions[uri])) if uri in regions else None
        files.append(AnnotatedFile(uri, audio, tuple(sorted(turns.get(uri, []), key=lambda t: (t.start, t.end))), region))
    if not files:
        raise TurnpointError("no audio file has annotations (RTTM URIs must equal audio file names without extension)", path=source)
    return files


def collect_protocol(database_yml: str | Path, protocol: str, subset: str) -> list[AnnotatedFile]:
    """Annotated files of a pyannote.database protocol subset ("train", "development", "test").

    Examples
    --------
    >>> # collect_protocol("AMI-diarization-setup/pyannote/database.yml", "AMI.SpeakerDiarization.only_words", "train")
    """
    from turnpoint.changes.protocols import load_protocol

    files = []
    for item in load_protocol(database_yml, protocol, subset):
        if item.audio is None:
            raise TurnpointError(f"protocol {protocol} gives no audio path for {item.uri!r} (add it under Databases:)", path=database_yml)
        if item.turns is None:
            raise TurnpointError(f"protocol {protocol} subset {subset} has no annotation for {item.uri!r}", path=database_yml)
        annotated = tuple(item.annotated) if item.annotated else None
        files.append(AnnotatedFile(item.uri, Path(item.audio), tuple(item.turns), annotated))
    if not files:
        raise TurnpointError(f"protocol {protocol} subset {subset} has no files", path=database_yml)
    return files


@dataclass
class PreparedFile:
    """Features, frame labels and loss mask of one file, ready for chunking."""

    uri: str
    features: np.ndarray  # (frames, dim)
    labels: np.ndarray  # (frames,) float32 in {0, 1}
    mask: np.ndarray  # (frames,) float32 in {0, 1}
    changes: np.ndarray  # turn boundaries inside the annotated regions (the frame labels' centres)
    duration: float
    annotated_duration: float
    speaker_changes: np.ndarray | None = None  # (n, 2) reference change intervals validation scores against


def frame_labels(
    changes: Sequence[float], *, n_frames: int, frame_step: float, collar: float
) -> np.ndarray:
    """1 for frames whose centre lies within ``collar`` seconds of a change, else 0.

    Examples
    --------
    >>> frame_labels([0.1], n_frames=12, frame_step=0.02, collar=0.03).nonzero()[0].tolist()
    [4, 5, 6]
    """
    labels = np.zeros(n_frames, dtype=np.float32)
    times = np.arange(n_frames) * frame_step
    for change in changes:
        first = np.searchsorted(times, change - collar - 1e-9)
        last = np.searchsorted(times, change + collar + 1e-9, side="right")
        labels[first:last] = 1.0
    return labels


def prepare_file(item: AnnotatedFile, *, specifications: Specifications, collar: float) -> PreparedFile:
    """Compute features and targets for one annotated file."""
    config = specifications.features
    stream = FeatureStream(config)
    parts = []
    n_samples = 0
    for block in iter_audio(item.audio, sample_rate=config.sample_rate):
        n_samples += len(block)
        parts.append(stream.push(block))
    parts.append(stream.finish())
    features = np.concatenate(parts)
    duration = n_samples / config.sample_rate
    regions = list(item.annotated) if item.annotated is not None else [(0.0, duration)]
    times = np.arange(len(features)) * config.frame_step
    mask = np.zeros(len(features), dtype=np.float32)
    for start, end in regions:
        mask[(times >= start) & (times < end)] = 1.0
    edges = [edge for region in regions for edge in region]
    changes = [
        c
        for c in change_points(list(item.turns))
        if any(start < c < end for start, end in regions) and min(abs(c - e) for e in edges) > 1e-3
    ]
    labels = frame_labels(changes, n_frames=len(features), frame_step=config.frame_step, collar=collar)
    annotated = float(sum(min(end, duration) - max(start, 0.0) for start, end in regions if end > start))
    return PreparedFile(
        item.uri, features, labels, mask, np.asarray(changes), duration, max(annotated, 0.0), speaker_changes(list(item.turns), regions)
    )


def sample_chunk_positions(
    files: Sequence[PreparedFile], *, count: int, frames: int, rng: np.random.Generator
) -> np.ndarray:
    """(file index, first frame) of ``count`` random chunks, files drawn in proportion to annotated time.

    Examples
    --------
    >>> item = PreparedFile("a", np.zeros((500, 2), np.float32), np.zeros(500, np.float32), np.ones(500, np.float32), np.zeros(0), 8.0, 8.0)
    >>> sample_chunk_positions([item], count=3, frames=200, rng=np.random.default_rng(0)).shape
    (3, 2)
    """
    weights = np.array([f.annotated_duration for f in files], dtype=np.float64)
    weights = weights / weights.sum()
    positions = np.zeros((count, 2), dtype=np.int64)
    for row, index in enumerate(rng.choice(len(files), size=count, p=weights)):
        item = files[index]
        annotated_frames = np.flatnonzero(item.mask)
        centre = annotated_frames[rng.integers(len(annotated_frames))]
        start = int(np.clip(centre - rng.integers(frames), 0, max(0, len(item.features) - frames)))
        positions[row] = index, start
    return positions


def cut_chunks(
    files: Sequence[PreparedFile], positions: np.ndarray, *, frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and loss mask of the chunks at ``positions`` (zero-padded past a file's end)."""
    count = len(positions)
    dim = files[0].features.shape[1]
    x = np.zeros((count, frames, dim), dtype=np.float32)
    y = np.zeros((count, frames), dtype=np.float32)
    m = np.zeros((count, frames), dtype=np.float32)
    for row, (index, start) in enumerate(positions):
        item = files[index]
        length = min(frames, len(item.features) - start)
        x[row, :length] = item.features[start : start + length]
        y[row, :length] = item.labels[start : start + length]
        m[row, :length] = item.mask[start : start + length]
    return x, y, m


def sample_chunks(
    files: Sequence[PreparedFile], *, count: int, frames: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` random chunks of ``frames`` frames, files drawn in proportion to annotated time."""
    return cut_chunks(files, sample_chunk_positions(files, count=count, frames=frames, rng=rng), frames=frames)


def chunks_in_epoch(files: Sequence[PreparedFile], *, config: TrainingConfig, specifications: Specifications) -> int:
    """``config.chunks_per_epoch``, or one chunk per sliding step (0.8 s) of annotated audio."""
    annotated = sum(p.annotated_duration for p in files)
    return config.chunks_per_epoch or max(config.batch_size, int(annotated / specifications.step_duration))


def training_specifications(config: TrainingConfig) -> Specifications:
    """Task specifications (features, 3.2 s chunks) that a training run with ``config`` uses."""
    return Specifications(features=FeatureConfig(window_duration=config.window_duration, step_duration=config.frame_step))


def split_sources(
    train_source: str | Path | Sequence[AnnotatedFile],
    validation_source: str | Path | Sequence[AnnotatedFile] | None,
    *,
    validation_fraction: float,
    seed: int,
) -> tuple[list[AnnotatedFile], list[AnnotatedFile]]:
    """Training and validation files; without a validation source, a seeded share is held out."""

    def _items(source):
        return list(source) if isinstance(source, (list, tuple)) else collect_files(source)

    train_items = _items(train_source)
    if validation_source is None:
        if len(train_items) < 2:
            raise TurnpointError("need at least two annotated files to hold one out for validation (or pass a validation set)")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(train_items))
        n_val = max(1, int(round(validation_fraction * len(train_items))))
        validation_items = [train_items[i] for i in sorted(order[:n_val])]
        train_items = [train_items[i] for i in sorted(order[n_val:])]
    else:
        validation_items = _items(validation_source)
    return train_items, validation_items


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
    "AnnotatedFile", "SpeakerChangeTask", "TrainingConfig", "ValidationCounts", "choose_alpha", "collect_files", "collect_protocol", "cut_chunks",
    "frame_labels", "prepare_file", "prepare_files", "sample_chunk_positions", "sample_chunks", "speaker_change_task", "split_sources", "train",
    "validate", "validation_counts",
]
