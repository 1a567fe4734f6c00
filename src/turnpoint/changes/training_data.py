"""Training data for the speaker change detector: annotated files, their frame labels and random chunks.

An :class:`AnnotatedFile` is audio with its reference turns and annotated regions, from a folder
or list file with RTTM (and UEM) files (:func:`collect_files`) or a pyannote.database protocol
(:func:`collect_protocol`). :func:`prepare_file` computes its features and frame labels (frames
within ``collar`` seconds of a speaker change are positive, frames outside the annotated regions
are masked), and the trainer draws random chunks of them (:func:`sample_chunks`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turnpoint.changes.annotations import Turn, change_points, read_rttm, read_uem
from turnpoint.changes.change_definition import speaker_changes
from turnpoint.core.audio import annotated_audio, iter_audio
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import FeatureStream
from turnpoint.core.task import Specifications

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotatedFile:
    """One training file: audio path, reference turns and annotated regions (seconds)."""

    uri: str
    audio: Path
    turns: tuple[Turn, ...]
    annotated: tuple[tuple[float, float], ...] | None = None


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
    audio_paths, annotation_dirs = annotated_audio(source)

    turns: dict[str, list[Turn]] = {}
    regions: dict[str, list[tuple[float, float]]] = {}
    rttm_files = [f for d in annotation_dirs for f in _annotation_files(Path(rttm) if rttm else None, ".rttm", d)]
    uem_files = [f for d in annotation_dirs for f in _annotation_files(Path(uem) if uem else None, ".uem", d)]
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



def training_sources(
    train: str | Path | None,
    validation: str | Path | None = None,
    *,
    rttm: str | Path | None = None,
    uem: str | Path | None = None,
    database: str | Path | None = None,
    protocol: str | None = None,
) -> tuple[str | Path | list[AnnotatedFile], str | Path | list[AnnotatedFile] | None]:
    """The training and validation sources ``turnpoint train`` was given, as the trainer takes them.

    A pyannote.database ``protocol`` (with its ``database`` YAML) gives its train and development
    subsets; RTTM/UEM files given apart from the audio are read here (:func:`collect_files`);
    otherwise the folders or list files are passed on as they are (the trainer finds each audio
    file's RTTM beside it).

    Examples
    --------
    >>> training_sources("corpus/train", "corpus/dev")
    ('corpus/train', 'corpus/dev')
    >>> training_sources(None)
    Traceback (most recent call last):
    ...
    turnpoint.core.errors.TurnpointError: give a training folder or list file, or --protocol DATABASE_YML PROTOCOL
    """
    if protocol is not None:
        return collect_protocol(database, protocol, "train"), collect_protocol(database, protocol, "development")
    if not train:
        raise TurnpointError("give a training folder or list file, or --protocol DATABASE_YML PROTOCOL")
    if rttm or uem:
        return collect_files(train, rttm=rttm, uem=uem), collect_files(validation, rttm=rttm, uem=uem) if validation else None
    return train, validation


__all__ = [
    "AnnotatedFile", "PreparedFile", "collect_files", "collect_protocol", "cut_chunks", "frame_labels", "prepare_file",
    "sample_chunk_positions", "sample_chunks", "split_sources", "training_sources",
]
