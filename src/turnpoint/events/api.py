"""Detect sound events in files, write TSV + PNG, and evaluate against references."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from turnpoint.errors import TurnpointError
from turnpoint.events.annotations import Event, audio_key, check_events_within, read_durations, read_events, write_events
from turnpoint.events.decode import DecodeParams, decode_scores
from turnpoint.events.inference import score_event_file
from turnpoint.events.metrics import event_based, psds, segment_based
from turnpoint.events.modelfile import LoadedEventModel, load_event_model
from turnpoint.fileio import atomic_open

logger = logging.getLogger(__name__)

__all__ = ["EventDetection", "detect_events", "evaluate_events", "plot_events", "write_event_outputs"]


@dataclass
class EventDetection:
    """Per-class scores and decoded events of one file."""

    key: str
    path: str
    scores: np.ndarray  # (frames, classes)
    frame_step: float
    duration: float
    classes: tuple[str, ...]
    events: list[Event] = field(default_factory=list)

    @property
    def times(self) -> np.ndarray:
        return np.arange(len(self.scores)) * self.frame_step


def _loaded(model: str | Path | LoadedEventModel | None, device: str) -> LoadedEventModel:
    return model if isinstance(model, LoadedEventModel) else load_event_model(model, device=device)


def detect_events(
    path: str | Path,
    *,
    model: str | Path | LoadedEventModel | None = None,
    params: DecodeParams | Mapping[str, DecodeParams] | None = None,
    device: str = "cpu",
) -> EventDetection:
    """Score a file with sliding windows and decode it into events.

    Parameters
    ----------
    path : audio or video file
    model : model file, bundled name, or a loaded model (default: the bundled events model)
    params : decoding settings (default: the model's per-class settings tuned on validation)

    Examples
    --------
    >>> from importlib import resources
    >>> example = resources.files("turnpoint") / "examples" / "events_example.flac"
    >>> detection = detect_events(str(example))
    >>> detection.scores.shape[1] == len(detection.classes)
    True
    """
    loaded = _loaded(model, device)
    scores = score_event_file(path, model=loaded.model, specifications=loaded.specifications)  # streamed: memory bounded
    settings = params if params is not None else loaded.decode
    events = decode_scores(scores.values, frame_step=scores.frame_step, classes=loaded.classes, params=settings, duration=scores.duration)
    return EventDetection(audio_key(Path(path).name), str(path), scores.values, scores.frame_step, scores.duration, loaded.classes, events)


def plot_events(detection: EventDetection, out_path: str | Path, *, reference: Sequence[Event] | None = None,
                params: Mapping[str, DecodeParams] | None = None) -> Path:
    """PNG: one row per class with its score curve, onset threshold, detected events and references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(detection.classes)
    fig, axes = plt.subplots(k, 1, figsize=(12, 1.3 * k + 0.8), sharex=True, squeeze=False)
    times = detection.times
    for row, label in enumerate(detection.classes):
        ax = axes[row, 0]
        ax.plot(times, detection.scores[:, row], lw=0.9, color="tab:blue")
        if params and label in params:
            ax.axhline(params[label].onset, color="tab:gray", lw=0.6, ls="--")
        for e in detection.events:
            if e.label == label:
                ax.axvspan(e.onset, e.offset, ymin=0.5, ymax=1.0, color="tab:orange", alpha=0.4)
        for e in reference or []:
            if e.label == label:
                ax.axvspan(e.onset, e.offset, ymin=0.0, ymax=0.5, color="tab:green", alpha=0.3)
        ax.set_ylim(0, 1)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("time (s)  —  orange: detected, green: reference, dashed: onset threshold")
    axes[0, 0].set_title(detection.key)
    axes[-1, 0].set_xlim(0, max(detection.duration, 1e-3))
    fig.tight_layout()
    out_path = Path(out_path)
    with atomic_open(out_path, mode="wb") as handle:
        fig.savefig(handle, format="png", dpi=90)
    plt.close(fig)
    return out_path


def write_event_outputs(detection: EventDetection, out_dir: str | Path, *, plot: bool = True,
                        reference: Sequence[Event] | None = None, params: Mapping[str, DecodeParams] | None = None) -> list[Path]:
    """Write ``<key>.tsv`` (DCASE TSV) and, with ``plot``, ``<key>.png``; never overwrite the input."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{detection.key}.tsv"] + ([out_dir / f"{detection.key}.png"] if plot else [])
    source = Path(detection.path).resolve()
    if any(p.resolve() == source for p in paths):
        raise TurnpointError("output would overwrite the input file; choose another --out", path=detection.path)
    write_events(paths[0], {detection.key: detection.events}, suffix=Path(detection.path).suffix or ".wav")
    if plot:
        plot_events(detection, paths[1], reference=reference, params=params)
    return paths


def evaluate_events(
    audio: Sequence[str | Path],
    reference_path: str | Path,
    *,
    model: str | Path | LoadedEventModel | None = None,
    durations_path: str | Path | None = None,
    device: str = "cpu",
    with_psds: bool = True,
) -> dict:
    """Detect events in ``audio`` and score them against a reference annotation file.

    Returns event-based (collar 0.2 s, offset 50 %) and segment-based (1 s) F1 / error rate,
    and PSDS scenarios 1 and 2 when sed_scores_eval is installed.
    """
    reference_all = read_events(reference_path)
    loaded = _loaded(model, device)
    detections = []
    for path in audio:
        key = audio_key(Path(path).name)
        if key not in reference_all:
            logger.warning("%s: not in the reference %s; skipped", path, reference_path)
            continue
        detections.append(detect_events(path, model=loaded))
    if not detections:
        raise TurnpointError("none of the audio files appears in the reference", path=reference_path)
    durations = {d.key: d.duration for d in detections}
    if durations_path is not None:
        durations.update({k: v for k, v in read_durations(durations_path).items() if k in durations})
    reference = {d.key: [e for e in reference_all[d.key] if e.label in loaded.classes] for d in detections}
    check_events_within(reference, durations)
    ignored = sorted({e.label for d in detections for e in reference_all[d.key]} - set(loaded.classes))
    if ignored:
        logger.warning("reference labels the model does not know are ignored: %s", ", ".join(ignored))
    estimated = {d.key: d.events for d in detections}
    classes = list(loaded.classes)
    event = event_based(reference, estimated, classes=classes)
    segment = segment_based(reference, estimated, classes=classes, durations=durations)
    result = {"files": len(detections), "hours": round(sum(durations.values()) / 3600, 4), "classes": classes,
              "event_based": event.to_dict(), "segment_based": segment.to_dict()}
    if with_psds:
        try:
            scores = {d.key: d.scores for d in detections}
            step = loaded.specifications.features.frame_step
            result["psds1"] = round(psds(scores, reference, frame_step=step, classes=classes, durations=durations, scenario=1), 4)
            result["psds2"] = round(psds(scores, reference, frame_step=step, classes=classes, durations=durations, scenario=2), 4)
        except TurnpointError as error:
            logger.warning("%s", error)
    return result
