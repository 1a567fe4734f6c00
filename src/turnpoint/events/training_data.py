"""Training data for sound events: annotated audio files, their frame targets and random chunks.

A data set is a folder of audio with its DCASE TSV (or any layout :func:`read_events` reads) in
the same folder, or given with ``annotations=``. Frame ``i`` (centred at ``i · frame_step``) is a
target for class ``c`` when it lies inside an event of class ``c`` (multi-label; same-class
overlaps are simply the union).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from turnpoint.core.errors import TurnpointError
from turnpoint.core.task import FeatureConfig
from turnpoint.events.annotations import Event, audio_key, check_events_within, read_events
from turnpoint.events.features import file_features

logger = logging.getLogger(__name__)


ANNOTATION_SUFFIXES = (".tsv", ".csv", ".ann", ".txt")


@dataclass(frozen=True)
class EventFile:
    """One annotated audio file."""

    key: str
    audio: Path
    events: tuple[Event, ...]


def collect_event_files(source: str | Path, *, annotations: str | Path | None = None, labels: Sequence[str] | None = None) -> list[EventFile]:
    """Audio files of a folder (or a list file) with their events.

    Annotations come from ``annotations`` (a file or folder) or else from every ``.tsv``/``.csv``
    /``.ann``/``.txt`` file beside the audio that holds timed events; events are matched to audio
    by :func:`audio_key`. Audio without any annotation row is skipped with a warning; an event
    past the end of its audio is an error naming the file and line.

    Examples
    --------
    >>> collect_event_files("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: /nonexistent: no such file or folder
    """
    from turnpoint.core.audio import annotated_audio, audio_info

    audio, folders = annotated_audio(source)
    if annotations is not None:
        annotations = Path(annotations)
        if not annotations.exists():
            raise TurnpointError("no such file", path=annotations)
        candidates = sorted(annotations.iterdir()) if annotations.is_dir() else [annotations]
    else:
        candidates = [p for folder in folders for p in sorted(folder.iterdir()) if p.suffix.lower() in ANNOTATION_SUFFIXES]
    table: dict[str, list[Event]] = {}
    for path in candidates:
        if path.suffix.lower() not in ANNOTATION_SUFFIXES or path.name.startswith("durations"):
            continue
        try:
            found = read_events(path, labels=labels)
        except TurnpointError as error:
            if "clip-level" in str(error) or "file list" in str(error):
                continue
            raise
        for key, items in found.items():
            table.setdefault(key, []).extend(items)
    files = []
    for path in audio:
        key = audio_key(path.name)
        if key not in table:
            logger.warning("%s: no annotation rows for %r; skipped", path, key)
            continue
        duration = audio_info(path).duration
        if duration is not None:
            check_events_within({key: table[key]}, {key: duration})
        files.append(EventFile(key, path, tuple(sorted(table[key], key=lambda e: (e.onset, e.offset, e.label)))))
    if not files:
        raise TurnpointError("no audio file has event annotations (annotation file names must match the audio names)", path=source)
    return files


def frame_targets(events: Sequence[Event], *, classes: Sequence[str], n_frames: int, frame_step: float) -> np.ndarray:
    """Multi-hot (frames, classes) targets: 1 where a frame centre lies in an event of that class.

    Examples
    --------
    >>> frame_targets([Event(0.1, 0.3, "b")], classes=["a", "b"], n_frames=6, frame_step=0.1)[:, 1].tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    """
    targets = np.zeros((n_frames, len(classes)), dtype=np.float32)
    index = {label: i for i, label in enumerate(classes)}
    times = np.arange(n_frames) * frame_step
    for event in events:
        if event.label in index:
            first = np.searchsorted(times, event.onset - 1e-9)
            last = np.searchsorted(times, event.offset - 1e-9)
            targets[first:last, index[event.label]] = 1.0
    return targets


@dataclass
class PreparedEventFile:
    key: str
    features: np.ndarray
    targets: np.ndarray
    events: list[Event]
    duration: float


def prepare_event_files(items: Sequence[EventFile], classes: Sequence[str], config: FeatureConfig, show_progress: bool, desc: str) -> list[PreparedEventFile]:
    out = []
    for item in tqdm(items, desc=desc, disable=not show_progress, leave=False):
        features, duration = file_features(item.audio, config=config)
        targets = frame_targets(item.events, classes=classes, n_frames=len(features), frame_step=config.frame_step)
        out.append(PreparedEventFile(item.key, features, targets, list(item.events), duration))
    return out


def sample_event_chunks(files: Sequence[PreparedEventFile], *, count: int, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(f.features) for f in files], dtype=np.float64)
    x = np.zeros((count, frames, files[0].features.shape[1]), dtype=np.float32)
    y = np.zeros((count, frames, files[0].targets.shape[1]), dtype=np.float32)
    for row, index in enumerate(rng.choice(len(files), size=count, p=lengths / lengths.sum())):
        item = files[index]
        start = int(rng.integers(0, max(1, len(item.features) - frames + 1)))
        n = min(frames, len(item.features) - start)
        x[row, :n] = item.features[start : start + n]
        y[row, :n] = item.targets[start : start + n]
    return x, y


def split_validation(
    train_items: Sequence[EventFile],
    validation_source: str | Path | Sequence[EventFile] | None,
    *,
    labels: Sequence[str] | None = None,
    seed: int = 0,
) -> tuple[list[EventFile], list[EventFile]]:
    """Training and validation files: the validation set given, or 10 % of the training files held out (seeded).

    Examples
    --------
    >>> items = [EventFile(str(i), Path(f"{i}.wav"), ()) for i in range(20)]
    >>> train, validation = split_validation(items, None, seed=0)
    >>> len(train), len(validation), set(train).isdisjoint(validation)
    (18, 2, True)
    """
    train_items = list(train_items)
    if validation_source is not None:
        validation = list(validation_source) if isinstance(validation_source, (list, tuple)) else collect_event_files(validation_source, labels=labels)
        return train_items, validation
    if len(train_items) < 2:
        raise TurnpointError("need at least two annotated files to hold one out for validation (or pass a validation set)")
    order = np.random.default_rng(seed).permutation(len(train_items))
    n_val = max(1, len(train_items) // 10)
    return [train_items[i] for i in sorted(order[n_val:])], [train_items[i] for i in sorted(order[:n_val])]


__all__ = ["EventFile", "PreparedEventFile", "collect_event_files", "frame_targets", "prepare_event_files", "sample_event_chunks", "split_validation"]
