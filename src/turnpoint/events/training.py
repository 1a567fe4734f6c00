"""Training the sound event detector on audio + event annotations.

A data set is a folder of audio with its DCASE TSV (or any layout :func:`read_events` reads) in
the same folder, or given with ``annotations=``. Frame ``i`` (centred at ``i · frame_step``) is a
target for class ``c`` when it lies inside an event of class ``c`` (multi-label; same-class
overlaps are simply the union). Random ``frames``-long chunks are drawn each epoch (seeded from
(seed, epoch), so a resumed run continues exactly), the loss is binary cross-entropy, the
optimiser Adam. After every epoch the validation files are scored with sliding windows and the
best epoch is kept by segment-based F1 (1 s) at threshold 0.5; at the end the decoding settings
(hysteresis thresholds, minimum duration, gap filling) are tuned per class on validation and
stored in the model file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from turnpoint.core.errors import TurnpointError
from turnpoint.events.augment import check_filter_augment, check_mixup, filter_augment, mixup
from turnpoint.events.decode import decode_scores, tune_decoding
from turnpoint.events.features import event_feature_config, event_specifications
from turnpoint.events.gmm import GMMEventDetector
from turnpoint.events.inference import score_event_features
from turnpoint.events.metrics import event_based, segment_based
from turnpoint.events.model import MAX_MEMBERS, EventNetwork, SoundEventConfig, SoundEventDetector, SoundEventEnsemble
from turnpoint.events.modelfile import load_event_model, save_event_model
from turnpoint.events.training_data import (
    EventFile, PreparedEventFile, collect_event_files, prepare_event_files, sample_event_chunks, split_validation,
)
from turnpoint.core.task import Specifications
from turnpoint.core.training import MODEL_NAME, LoopSettings, TrainingTask, Validation, check_run_folder, fit, resolve_device, set_input_standardisation

logger = logging.getLogger(__name__)

__all__ = ["MODEL_NAME", "EventTrainingConfig", "SoundEventTask", "ensemble_event_models", "train_events", "tune_event_model"]


@dataclass(frozen=True)
class EventTrainingConfig:
    """Everything that defines an event training run (saved in checkpoints and model files)."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3
    frames: int = 100
    chunks_per_epoch: int | None = None  # default: two chunks per window of annotated audio
    seed: int = 0
    bidirectional: bool = False
    grad_clip: float = 1.0
    pos_weight: str = "none"  # "sqrt": positive frames of class c weighted sqrt(negatives / positives), 1 to 10
    conv_kernel: int = 16  # the frame convolution's width over input A's 64 coefficients (seed design: 16; 64 = one position, no max-pooling)
    conv_regions: int = 1  # its max over positions taken in this many frequency regions (seed design: 1, all positions)
    features: str = "mfcc"  # input A: "mfcc" (the seed design), "logmel" (64 log-mel bands), "logmel128" (128, 64 ms window) or "pcen"
    # None: a constant learning rate; E: constant to epoch E, then a half cosine down to near 0 at the last epoch
    lr_decay_start: int | None = None
    # FilterAugment on each training chunk: a random smooth filter with gains in [-D, +D] dB (0: none)
    filter_augment: float = 0.0
    # mixup: this share of the training chunks mixed with another chunk, targets joined (0: none; log-mel features only)
    mixup: float = 0.0

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based); a function of the epoch alone, so a resumed run follows it too.

        Examples
        --------
        >>> config = EventTrainingConfig(epochs=4, learning_rate=1.0, lr_decay_start=2)
        >>> [round(config.learning_rate_at(e), 3) for e in (1, 2, 3, 4)]
        [1.0, 1.0, 0.75, 0.25]
        """
        if self.lr_decay_start is None or epoch <= self.lr_decay_start:
            return self.learning_rate
        span = self.epochs - self.lr_decay_start + 1
        return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (epoch - self.lr_decay_start) / span))


def _pos_weight(positives: np.ndarray, mode: str, device: str) -> torch.Tensor | None:
    """Per-class weight of positive frames in the loss: None, or sqrt(negatives / positives) in [1, 10].

    Examples
    --------
    >>> [round(w, 2) for w in _pos_weight(np.array([0.5, 0.01, 0.0]), "sqrt", "cpu").tolist()]
    [1.0, 9.95, 10.0]
    """
    if mode == "none":
        return None
    if mode != "sqrt":
        raise TurnpointError(f"pos_weight must be 'none' or 'sqrt', not {mode!r}")
    p = np.clip(np.asarray(positives, dtype=np.float64), 1e-6, 1.0)
    return torch.tensor(np.clip(np.sqrt((1 - p) / p), 1.0, 10.0), dtype=torch.float32, device=device)


def _evaluate(model: EventNetwork, files: Sequence[PreparedEventFile], specifications: Specifications) -> tuple[dict[str, np.ndarray], float, float]:
    classes = specifications.classes
    scores = {f.key: score_event_features(f.features, model=model, specifications=specifications) for f in files}
    reference = {f.key: f.events for f in files}
    step = specifications.features.frame_step
    estimated = {f.key: decode_scores(scores[f.key], frame_step=step, classes=classes, duration=f.duration) for f in files}
    durations = {f.key: f.duration for f in files}
    segment = segment_based(reference, estimated, classes=classes, durations=durations)
    event = event_based(reference, estimated, classes=classes)
    return scores, segment.f1, event.f1


class SoundEventTask(TrainingTask):
    """The sound event detector's hooks for :func:`turnpoint.core.training.fit`.

    Parameters
    ----------
    config : the run's hyper-parameters
    architecture : the network's shape
    specifications : features and chunk length of the task
    prepared, prepared_val : training and validation files (:func:`prepare_event_files`)
    device : what the model files record as the training device
    name : the model files' name
    """

    best_score_key = "best_score"
    score_name = "val_segment_f1"

    def __init__(
        self,
        *,
        config: EventTrainingConfig,
        architecture: SoundEventConfig,
        specifications: Specifications,
        prepared: Sequence[PreparedEventFile],
        prepared_val: Sequence[PreparedEventFile],
        device: str,
        name: str,
    ):
        self.config = config
        self.architecture = architecture
        self.specifications = specifications
        self.prepared = prepared
        self.prepared_val = prepared_val
        self.name = name
        self.logger = logger
        self.settings = LoopSettings.from_config(config)
        total_frames = sum(len(p.features) for p in prepared)
        self.chunks_per_epoch = config.chunks_per_epoch or max(config.batch_size, 2 * total_frames // config.frames)
        positives = np.concatenate([p.targets for p in prepared]).mean(axis=0)
        self.summary = {
            "train_files": len(prepared),
            "validation_files": len(prepared_val),
            "train_hours": round(sum(p.duration for p in prepared) / 3600, 3),
            "validation_hours": round(sum(p.duration for p in prepared_val) / 3600, 3),
            "positive_frame_fraction": {c: round(float(v), 4) for c, v in zip(specifications.classes, positives)},
            "config": asdict(config),
            "device": str(device),
        }
        self.criterion = torch.nn.BCEWithLogitsLoss(pos_weight=_pos_weight(positives, config.pos_weight, "cpu"))

    def build_model(self) -> SoundEventDetector:
        model = SoundEventDetector(self.architecture)
        set_input_standardisation(model, np.concatenate([p.features for p in self.prepared]))
        return model

    def initial_state(self) -> dict:
        return {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "config": asdict(self.config), "classes": list(self.specifications.classes)}

    def check_resumed(self, state: dict, *, path: Path | None) -> None:
        classes = list(self.specifications.classes)
        if state.get("classes") != classes:
            raise TurnpointError(f"checkpoint classes {state.get('classes')} differ from {classes}", path=path)
        logger.info("resumed from epoch %d (best %.3f at epoch %d)", state["epoch"], state["best_score"], state["best_epoch"])

    def chunks(self, *, epoch: int, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Features and targets of ``count`` random chunks, augmented as the configuration says."""
        config, feature_config = self.config, self.specifications.features
        x, y = sample_event_chunks(self.prepared, count=count, frames=config.frames, rng=rng)
        if config.mixup:
            x, y = mixup(x, y, config=feature_config, probability=config.mixup, rng=rng)
        if config.filter_augment:
            x = filter_augment(x, config=feature_config, db_range=config.filter_augment, rng=rng)
        return x, y

    def loss(self, model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        features, targets = batch  # (batch, frame, 129), (batch, frame, classes)
        return self.criterion(model(features), targets)

    def validate(self, model: torch.nn.Module) -> Validation:
        """Segment-based F1 (the score) and event-based F1 (the details) at the default decoding."""
        _, segment_f1, event_f1 = _evaluate(model, self.prepared_val, self.specifications)
        return Validation(score=segment_f1, record={"val_segment_f1": round(segment_f1, 4), "val_event_f1": round(event_f1, 4)}, details=event_f1)

    def learning_rate_at(self, epoch: int) -> float:
        return self.config.learning_rate_at(epoch)

    def epoch_notes(self, epoch: int) -> dict:
        return {"learning_rate": round(self.config.learning_rate_at(epoch), 8)} if self.config.lr_decay_start is not None else {}

    def epoch_message(self, *, record: dict, train_loss: float, validation: Validation) -> str:
        return f"epoch {record['epoch']}: loss {record['train_loss']:.4f}, val segment F1 {validation.score:.3f}, event F1 {validation.details:.3f}"

    def save_model(self, model: torch.nn.Module, *, path: Path, record: dict, validation: Validation) -> None:
        save_event_model(path, model=model, specifications=self.specifications, training=dict(self.summary, epoch=record["epoch"], validation=record),
                         name=self.name)


def train_events(
    train_source: str | Path | Sequence[EventFile],
    *,
    out_dir: str | Path,
    validation_source: str | Path | Sequence[EventFile] | None = None,
    classes: Sequence[str] | None = None,
    config: EventTrainingConfig | None = None,
    resume: bool = False,
    device: str = "auto",
    show_progress: bool = True,
    name: str = "",
) -> Path:
    """Train a sound event detector; write ``out_dir/model.safetensors`` and a resumable checkpoint.

    Parameters
    ----------
    train_source : folder of audio + annotations, a list file, or :class:`EventFile` items
    out_dir : run folder (``model.safetensors``, ``checkpoint.safetensors``, ``history.jsonl``)
    validation_source : same kinds; None holds out 10 % of the training files
    classes : class names (default: every label of the training annotations, sorted)
    config : hyper-parameters (:class:`EventTrainingConfig`)
    resume : continue from ``out_dir/checkpoint.safetensors``
    device : "cpu", "cuda" or "auto"

    Returns
    -------
    Path of the best model file (decoding settings tuned per class on validation).

    Examples
    --------
    >>> # train_events("data/events/train", validation_source="data/events/validation", out_dir="runs/ev")
    """
    config = config or EventTrainingConfig()
    if config.lr_decay_start is not None and not 0 <= config.lr_decay_start < config.epochs:
        raise TurnpointError(f"the learning rate decay must start before the last epoch ({config.epochs}), at 0 or later, not {config.lr_decay_start}")
    try:
        feature_config = event_feature_config(config.features)
        check_filter_augment(config.filter_augment, config=feature_config)
        check_mixup(config.mixup, config=feature_config)
    except ValueError as error:
        raise TurnpointError(str(error)) from None
    out_dir = Path(out_dir)
    check_run_folder(out_dir, resume=resume)
    device = resolve_device(device)
    train_items = list(train_source) if isinstance(train_source, (list, tuple)) else collect_event_files(train_source, labels=classes)
    train_items, validation_items = split_validation(train_items, validation_source, labels=classes, seed=config.seed)
    classes = tuple(classes) if classes else tuple(sorted({e.label for f in train_items for e in f.events}))
    if not classes:
        raise TurnpointError("the training annotations hold no events")
    unknown = sorted({e.label for f in validation_items for e in f.events} - set(classes))
    if unknown:
        logger.warning("validation labels not in the training classes are ignored: %s", ", ".join(unknown))
    specifications = event_specifications(classes=classes, frames=config.frames, features=feature_config)
    architecture = SoundEventConfig(n_mfcc=feature_config.n_mfcc, classes=classes, frames=config.frames, bidirectional=config.bidirectional,
                                    conv_kernel=config.conv_kernel, conv_regions=config.conv_regions)
    if not 1 <= architecture.conv_kernel <= architecture.n_mfcc:
        raise TurnpointError(f"conv_kernel must be 1 to {architecture.n_mfcc}, not {architecture.conv_kernel}")
    if not 1 <= architecture.conv_regions <= architecture.conv_positions:
        raise TurnpointError(f"conv_regions must be 1 to {architecture.conv_positions} (the convolution's positions), "
                             f"not {architecture.conv_regions}")
    prepared = prepare_event_files(train_items, classes, feature_config, show_progress, "features (train)")
    prepared_val = prepare_event_files(validation_items, classes, feature_config, show_progress, "features (validation)")
    task = SoundEventTask(config=config, architecture=architecture, specifications=specifications, prepared=prepared, prepared_val=prepared_val,
                          device=device, name=name or out_dir.name)
    model_path = fit(task, out_dir=out_dir, resume=resume, device=device, show_progress=show_progress)
    return tune_event_model(model_path, prepared_val)


def tune_event_model(
    model_path: str | Path,
    validation: str | Path | Sequence[EventFile] | Sequence[PreparedEventFile],
    *,
    out_path: str | Path | None = None,
    show_progress: bool = False,
    classes: Sequence[str] | None = None,
) -> Path:
    """Tune the decoding settings of each class on validation data; rewrite the model file.

    Parameters
    ----------
    model_path : event model file
    validation : folder of audio + annotations, a list file, or EventFile items
    out_path : where to write the tuned model (default: over ``model_path``, atomically)
    classes : re-tune only these classes; the others keep the model's settings (default: all)

    Examples
    --------
    >>> # tune_event_model("runs/ev/model.safetensors", "data/validation")
    """
    best = load_event_model(model_path)
    specifications = best.specifications
    chosen = tuple(classes) if classes else best.classes
    unknown = sorted(set(chosen) - set(best.classes))
    if unknown:
        raise TurnpointError(f"unknown class {', '.join(unknown)} (the model's: {', '.join(best.classes)})", path=model_path)
    all_classes = best.classes
    if isinstance(validation, (list, tuple)) and validation and isinstance(validation[0], PreparedEventFile):
        prepared_val = list(validation)
    else:
        items = list(validation) if isinstance(validation, (list, tuple)) else collect_event_files(validation)
        prepared_val = prepare_event_files(items, all_classes, specifications.features, show_progress, "features (validation)")
    scores, _, _ = _evaluate(best.model, prepared_val, specifications)
    reference = {p.key: p.events for p in prepared_val}
    durations = {p.key: p.duration for p in prepared_val}
    step = specifications.features.frame_step
    columns = [all_classes.index(label) for label in chosen]
    decode = dict(best.decode)  # tune_decoding tunes each class on its own column, so a subset tunes alone
    decode.update(tune_decoding({k: v[:, columns] for k, v in scores.items()}, reference, frame_step=step, classes=chosen, durations=durations))
    estimated = {k: decode_scores(scores[k], frame_step=step, classes=all_classes, params=decode, duration=durations[k]) for k in scores}
    tuned = {"event_f1": round(event_based(reference, estimated, classes=all_classes).f1, 4),
             "segment_f1": round(segment_based(reference, estimated, classes=all_classes, durations=durations).f1, 4)}
    logger.info("tuned decoding on validation: event F1 %.3f, segment F1 %.3f", tuned["event_f1"], tuned["segment_f1"])
    target = Path(out_path) if out_path is not None else Path(model_path)
    save_event_model(target, model=best.model, specifications=specifications, decode=decode,
                     training=dict(best.training, validation_tuned=tuned), name=best.name)
    return target


def ensemble_event_models(
    model_paths: Sequence[str | Path],
    validation: str | Path | Sequence[EventFile],
    *,
    out_path: str | Path,
    show_progress: bool = False,
    name: str = "",
) -> Path:
    """Join event models of one architecture into an ensemble (mean of their scores), tuned on validation.

    Members' weights are copied as they are; an ensemble given as input contributes its members.
    The per-class decoding is tuned afresh on ``validation`` for the averaged scores
    (:func:`tune_event_model`), since averaging changes the score distribution.

    Parameters
    ----------
    model_paths : two or more event model files (runs with other seeds of one recipe)
    validation : folder of audio + annotations, a list file, or EventFile items
    out_path : the ensemble's model file (must not be one of the inputs)

    Examples
    --------
    >>> # ensemble_event_models(["runs/s0/model.safetensors", "runs/s1/model.safetensors"], "data/validation",
    >>> #                       out_path="ensemble.safetensors")
    """
    out_path = Path(out_path)
    if len(model_paths) < 2:
        raise TurnpointError("an ensemble needs at least two model files")
    loaded = [load_event_model(path) for path in model_paths]
    for item in loaded:
        if out_path.exists() and out_path.resolve() == Path(item.path).resolve():
            raise TurnpointError("the ensemble would overwrite one of its members; choose another output", path=out_path)
    for item in loaded:
        if isinstance(item.model, GMMEventDetector):
            raise TurnpointError("an ensemble joins CNN-LSTM networks; this is a GMM baseline", path=item.path)
    first = loaded[0]
    member_config = replace(first.model.config, members=1)
    networks: list[SoundEventDetector] = []
    sources = []
    for item in loaded:
        differing = [f.name for f in fields(member_config) if f.name != "members" and getattr(item.model.config, f.name) != getattr(member_config, f.name)]
        if differing:
            raise TurnpointError(f"architecture differs from {Path(first.path).name}'s in {', '.join(differing)}", path=item.path)
        if item.specifications != first.specifications:
            raise TurnpointError(f"features or window differ from {Path(first.path).name}'s", path=item.path)
        networks.extend(item.model.members if isinstance(item.model, SoundEventEnsemble) else [item.model])
        sources.append({"name": item.name, "file": Path(item.path).name, "training": item.training})
    if len(networks) > MAX_MEMBERS:
        raise TurnpointError(f"{len(networks)} networks: an ensemble holds at most {MAX_MEMBERS}")
    ensemble = SoundEventEnsemble(replace(member_config, members=len(networks)))
    for target, source in zip(ensemble.members, networks):
        target.load_state_dict(source.state_dict())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_event_model(out_path, model=ensemble, specifications=first.specifications,
                     training={"ensemble_of": sources}, name=name or out_path.stem)
    return tune_event_model(out_path, validation, show_progress=show_progress)
