"""Batch entry points behind the CLI: many files in, outputs written, failures collected."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from turnpoint.annotations import read_list
from turnpoint.detect import Detection, detect_changes
from turnpoint.errors import TurnpointError
from turnpoint.modelfile import load_model
from turnpoint.outputs import OUTPUT_FORMATS, write_outputs
from turnpoint.training import AUDIO_EXTENSIONS

logger = logging.getLogger(__name__)
LIST_EXTENSIONS = (".txt", ".lst", ".list")


@dataclass
class BatchReport:
    """What a batch run did: detections written, and (path, message) of every failure."""

    detections: list[Detection] = field(default_factory=list)
    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)


def expand_inputs(items: Sequence[str | Path]) -> list[Path]:
    """Files as given, audio files inside folders, and the paths listed in .txt/.lst files.

    Examples
    --------
    >>> expand_inputs(["a.wav"])
    [PosixPath('a.wav')]
    """
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                logger.warning("%s: no audio files in this folder", path)
            paths.extend(found)
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            paths.extend(p if p.is_absolute() else path.parent / p for p in map(Path, read_list(path)))
        else:
            paths.append(path)
    return paths


def _reference_for(reference: str | Path | None, uri: str) -> Path | None:
    if reference is None:
        return None
    reference = Path(reference)
    return reference / f"{uri}.rttm" if reference.is_dir() else reference


def detect_files(
    audio: Sequence[str | Path],
    *,
    out_dir: str | Path,
    model: str | Path | None = None,
    alpha: float | None = None,
    min_duration: float | None = None,
    alpha_scale: str | None = None,
    formats: Sequence[str] = OUTPUT_FORMATS,
    scores: bool = False,
    plot: bool = False,
    reference: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    show_progress: bool = True,
) -> BatchReport:
    """Detect changes in many files and write their outputs; a bad file never stops the batch.

    Examples
    --------
    >>> import tempfile
    >>> report = detect_files(["missing.wav"], out_dir=tempfile.mkdtemp(), show_progress=False)
    >>> report.failures[0][1]
    'missing.wav: no such file'
    """
    loaded = load_model(model, device=device)
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    paths = expand_inputs(audio)
    # Inputs and the annotations beside them (a user's reference x.rttm next to x.wav) are never overwritten.
    protected = [*paths, *(path.with_suffix(suffix) for path in paths for suffix in (".rttm", ".uem"))]
    report = BatchReport()
    bar = tqdm(paths, desc="detect", unit="file", disable=not show_progress or len(paths) < 2, dynamic_ncols=True)
    for path in bar:
        try:
            detection = detect_changes(
                path, model=loaded, alpha=alpha, min_duration=min_duration, alpha_scale=alpha_scale, batch_size=batch_size
            )
            written = write_outputs(
                detection,
                out_dir=out_dir,
                formats=formats,
                scores=scores,
                plot=plot,
                reference=_reference_for(reference, detection.uri),
                protected=protected,
            )
        except TurnpointError as error:
            report.failures.append((str(path), str(error)))
            logger.debug("failed: %s", error)
            continue
        report.detections.append(detection)
        report.outputs[str(path)] = written
    return report
