"""Detect sound events in files, write TSV + PNG, and evaluate against references."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from turnpoint.core.batch import BatchReport, FileResult, expand_inputs, plan_batch, run_batch
from turnpoint.core.audio import audio_files
from turnpoint.core.errors import TurnpointError
from turnpoint.events.annotations import Event, audio_key, check_events_within, read_durations, read_events, write_event_scores, write_events
from turnpoint.events.decode import DecodeParams, decode_scores
from turnpoint.events.inference import score_event_file
from turnpoint.events.metrics import event_based, frame_edges, psds, psds_of_tables, segment_based
from turnpoint.events.modelfile import LoadedEventModel, load_event_model
from turnpoint.core.fileio import atomic_open

logger = logging.getLogger(__name__)

__all__ = ["EventDetection", "EventResult", "decode_overrides", "detect_event_files", "detect_events", "evaluate_event_lists", "evaluate_event_scores",
           "evaluate_events", "plot_events", "write_event_outputs"]

#: Annotation files beside an input (``x.tsv`` next to ``x.wav``) that a batch never overwrites.
ANNOTATION_SUFFIXES = (".tsv", ".csv", ".ann", ".txt", ".rttm")


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


#: The events' formats: DCASE TSV (``<key>.tsv``) and Audacity labels (``<key>.labels.txt``).
EVENT_FORMATS = ("tsv", "audacity")


def event_output_paths(key: str, *, out_dir: str | Path, plot: bool, scores: bool = False,
                       formats: Sequence[str] = ("tsv",)) -> dict[str, Path]:
    """The files one input writes: per format ``<key>.tsv`` / ``<key>.labels.txt``, with ``plot``
    ``<key>.png``, with ``scores`` ``scores/<key>.tsv`` (sed_scores_eval's score table; the folder
    is what its ``read_sed_scores`` reads)."""
    unknown = sorted(set(formats) - set(EVENT_FORMATS))
    if unknown or not formats:
        raise TurnpointError(f"unknown event output format(s) {unknown}; choose from {list(EVENT_FORMATS)}")
    out_dir = Path(out_dir)
    paths = {fmt: out_dir / f"{key}{'.labels.txt' if fmt == 'audacity' else '.tsv'}" for fmt in formats}
    if plot:
        paths["png"] = out_dir / f"{key}.png"
    if scores:
        paths["scores"] = out_dir / "scores" / f"{key}.tsv"
    return paths


def write_event_outputs(detection: EventDetection, out_dir: str | Path, *, plot: bool = True, scores: bool = False,
                        reference: Sequence[Event] | None = None, params: Mapping[str, DecodeParams] | None = None,
                        protected: Sequence[str | Path] = (), formats: Sequence[str] = ("tsv",)) -> dict[str, Path]:
    """Write the outputs of :func:`event_output_paths` atomically: the events (DCASE TSV and/or
    Audacity labels, ``formats``), the plot and the score table; never overwrite the input or a
    ``protected`` file (a user's annotations)."""
    paths = event_output_paths(detection.key, out_dir=out_dir, plot=plot, scores=scores, formats=formats)
    guarded = {Path(p).resolve() for p in (detection.path, *protected)}
    clash = next((p for p in paths.values() if p.resolve() in guarded), None)
    if clash is not None:
        raise TurnpointError(f"the output {clash} would overwrite an input or its annotations; choose another --out", path=detection.path)
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    if "tsv" in paths:
        write_events(paths["tsv"], {detection.key: detection.events}, suffix=Path(detection.path).suffix or ".wav")
    if "audacity" in paths:
        from turnpoint.events.annotations import write_event_labels

        write_event_labels(paths["audacity"], detection.events)
    if plot:
        plot_events(detection, paths["png"], reference=reference, params=params)
    if scores:
        write_event_scores(paths["scores"], detection.scores, edges=frame_edges(len(detection.scores), detection.frame_step), classes=detection.classes)
    return paths


PerClass = float | Mapping[str, float] | None  # one value for every class, or some classes' values


def decode_overrides(
    decode: Mapping[str, DecodeParams],
    classes: Sequence[str],
    *,
    onset: PerClass = None,
    offset: PerClass = None,
    min_duration: PerClass = None,
    min_gap: PerClass = None,
) -> dict[str, DecodeParams]:
    """Per-class decoding settings with the given values in place of the model's.

    Each setting is one number for every class or a ``{class: value}`` mapping for some (the others
    keep the model's). For a class, ``onset`` alone sets both thresholds (no hysteresis);
    ``offset`` must not exceed that class's onset.

    Examples
    --------
    >>> tuned = {"bell": DecodeParams(onset=0.8, offset=0.4, min_gap=0.3), "horn": DecodeParams(onset=0.7, offset=0.7)}
    >>> decode_overrides(tuned, ["bell", "horn"], onset=0.6)["bell"]
    DecodeParams(onset=0.6, offset=0.6, min_duration=0.0, min_gap=0.3, start_ratio=1.0)
    >>> settings = decode_overrides(tuned, ["bell", "horn"], onset={"horn": 0.3})
    >>> settings["bell"] == tuned["bell"], settings["horn"].onset
    (True, 0.3)
    """
    for option, value in (("onset", onset), ("offset", offset), ("min_duration", min_duration), ("min_gap", min_gap)):
        unknown = sorted(set(value) - set(classes)) if isinstance(value, Mapping) else []
        if unknown:
            raise TurnpointError(f"{option}: unknown class {', '.join(map(repr, unknown))} (the model's: {', '.join(classes)})")

    def for_class(value: PerClass, label: str) -> float | None:
        return value.get(label) if isinstance(value, Mapping) else value

    settings = {}
    for label in classes:
        base = decode.get(label, DecodeParams())
        class_onset, class_offset = for_class(onset, label), for_class(offset, label)
        class_min_duration, class_min_gap = for_class(min_duration, label), for_class(min_gap, label)
        new_onset = base.onset if class_onset is None else class_onset
        if class_offset is not None and class_offset > new_onset:
            raise TurnpointError(f"offset threshold {class_offset} is above the onset threshold {new_onset} of {label!r}: hysteresis needs offset <= onset")
        new_offset = class_offset if class_offset is not None else (new_onset if class_onset is not None else base.offset)
        try:
            settings[label] = replace(base, onset=new_onset, offset=min(new_offset, new_onset),
                                      min_duration=base.min_duration if class_min_duration is None else class_min_duration,
                                      min_gap=base.min_gap if class_min_gap is None else class_min_gap)
        except ValueError as error:
            raise TurnpointError(str(error)) from None
    return settings


@dataclass
class EventResult(FileResult):
    """One file of a sound event batch, with the events written."""

    events: list[Event] = field(default_factory=list)


@functools.lru_cache(maxsize=2)
def _reference_events(path: str) -> dict[str, list[Event]]:
    """A batch's reference annotations: read once per process, not shipped with every file's job."""
    return read_events(path)


@dataclass(frozen=True)
class _EventJob:
    out_dir: str
    params: dict[str, DecodeParams]
    classes: tuple[str, ...]  # the classes whose events are written
    plot: bool
    scores: bool
    reference: str | None  # the reference file drawn on the plots, read once per process
    protected: tuple[str, ...]
    formats: tuple[str, ...] = ("tsv",)


def _detect_one(path: Path, job: _EventJob, loaded: LoadedEventModel) -> EventResult:
    detection = detect_events(path, model=loaded, params=job.params)
    detection.events = [e for e in detection.events if e.label in job.classes]
    reference = _reference_events(job.reference).get(detection.key) if job.reference and job.plot else None
    written = write_event_outputs(detection, job.out_dir, plot=job.plot, scores=job.scores, reference=reference,
                                  params=job.params, protected=job.protected, formats=job.formats)
    return EventResult(str(path), detection.key, detection.duration, outputs=written, events=detection.events)


def detect_event_files(
    audio: Sequence[str | Path],
    *,
    out_dir: str | Path,
    model: str | Path | None = None,
    onset: PerClass = None,
    offset: PerClass = None,
    min_duration: PerClass = None,
    min_gap: PerClass = None,
    classes: Sequence[str] | None = None,
    plot: bool = True,
    scores: bool = False,
    reference: str | Path | None = None,
    device: str = "cpu",
    jobs: int = 1,
    overwrite: bool = False,
    show_progress: bool = True,
    formats: Sequence[str] = ("tsv",),
) -> BatchReport:
    """Detect sound events in many files and write ``<key>.tsv`` (+ ``<key>.png``, + with ``scores``
    ``scores/<key>.tsv``, the per-frame class scores as sed_scores_eval reads them) for each; a bad
    file never stops the batch. ``formats`` chooses the events' files among :data:`EVENT_FORMATS`:
    ``tsv`` (DCASE, the default) and ``audacity`` (``<key>.labels.txt``, an Audacity label track).

    Files whose outputs all exist already are skipped (outputs are written atomically, so an
    existing file is a complete one): an interrupted run resumes where it stopped; ``overwrite``
    redoes them. ``jobs > 1`` spreads files over that many processes. Inputs and the annotation
    files beside them (``x.tsv``, ``x.csv``, ``x.ann``, ``x.txt``, ``x.rttm`` next to ``x.wav``)
    are never overwritten. ``onset`` / ``offset`` / ``min_duration`` / ``min_gap`` replace the
    model's per-class decoding settings, for every class or for the classes of a ``{class: value}``
    mapping (:func:`decode_overrides`). ``classes`` keeps only those classes' events in the TSV
    (the plot and score table still show every class's scores).

    Examples
    --------
    >>> import tempfile
    >>> report = detect_event_files(["missing.wav"], out_dir=tempfile.mkdtemp(), show_progress=False)
    >>> report.failures[0][1]
    'missing.wav: no such file'
    """
    if jobs < 1:
        raise TurnpointError("jobs must be at least 1")
    event_output_paths("check", out_dir=out_dir, plot=False, formats=formats)  # an unknown format fails before any work
    loaded = load_event_model(model, device=device)  # a bad model file fails here, once
    params = decode_overrides(loaded.decode, loaded.classes, onset=onset, offset=offset, min_duration=min_duration, min_gap=min_gap)
    unknown = sorted(set(classes or ()) - set(loaded.classes))
    if unknown:
        raise TurnpointError(f"unknown class {', '.join(map(repr, unknown))} (the model's: {', '.join(loaded.classes)})")
    if reference is not None:
        _reference_events(str(reference))  # a bad reference file fails here, once
    paths = expand_inputs(audio)
    if not paths:
        raise TurnpointError(f"no audio files in {' '.join(map(str, audio))}")
    report, todo, protected = plan_batch(
        paths, outputs=lambda path: event_output_paths(audio_key(path.name), out_dir=out_dir, plot=plot, scores=scores, formats=formats),
        overwrite=overwrite,
        key=lambda path: audio_key(path.name), annotations=ANNOTATION_SUFFIXES, result=EventResult,
    )
    if report.skipped:
        logger.info("%d files already have all their outputs; skipped (use --overwrite to redo them)", len(report.skipped))
    job = _EventJob(str(out_dir), params, tuple(classes or loaded.classes), plot, scores, None if reference is None else str(reference), tuple(map(str, protected)),
                    tuple(formats))
    return run_batch(
        paths, todo, report, run_one=_detect_one, job=job, loaded=loaded, load=load_event_model, model=model, device=device, jobs=jobs,
        desc="events", show_progress=show_progress,
    )


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


def evaluate_event_lists(reference_path: str | Path, detections_path: str | Path, *, ignore_missing: bool = False) -> dict:
    """Score detected events (an annotation file: DCASE TSV, CSV, TUT .ann) against a reference file.

    Event-based (collar 0.2 s, offset 50 %) and segment-based (1 s) F1 / error rate; no PSDS (it
    needs score curves: :func:`evaluate_event_scores`). Files on one side only are an error unless
    ``ignore_missing`` (then the reference's files without detections count as silent).
    """
    reference, estimated = read_events(reference_path), read_events(detections_path)
    missing = sorted(set(estimated) - set(reference))
    if missing and not ignore_missing:
        raise TurnpointError(f"{len(missing)} files are not in the reference (e.g. {missing[0]}); use --ignore-missing", path=detections_path)
    keys = [k for k in reference if k in estimated or not ignore_missing]
    reference = {k: reference[k] for k in keys}
    estimated = {k: estimated.get(k, []) for k in keys}
    return {"files": len(keys), "event_based": event_based(reference, estimated).to_dict(),
            "segment_based": segment_based(reference, estimated).to_dict(),
            "note": "detections given as events: PSDS needs score curves (pass audio or a folder of score tables)"}


def is_score_folder(path: str | Path) -> bool:
    """A folder of score tables (``turnpoint events --scores`` writes one): TSVs, no audio."""
    path = Path(path)
    return path.is_dir() and not audio_files(path) and any(path.glob("*.tsv"))


def evaluate_event_scores(reference_path: str | Path, scores_dir: str | Path, *, durations_path: str | Path | None = None,
                          ignore_missing: bool = False) -> dict:
    """PSDS (DCASE scenarios 1 and 2) of a folder of score tables against a reference file.

    ``scores_dir`` holds one sed_scores_eval score table per file (``<audio id>.tsv``: ``onset
    offset <class>...``), as ``turnpoint events --scores`` writes them, or any other system that
    writes that format. Durations come from ``durations_path`` or else each table's last offset.
    Reference files without a table are an error unless ``ignore_missing`` (then they are left out).
    """
    try:
        from sed_scores_eval.base_modules.io import read_sed_scores
    except ImportError:
        raise TurnpointError("PSDS needs sed_scores_eval: pip install 'turnpoint[events]'") from None
    reference = read_events(reference_path)
    tables = {}
    for path in sorted(Path(scores_dir).glob("*.tsv")):
        try:
            tables[path.stem] = read_sed_scores(str(path))
        except Exception as error:  # noqa: BLE001 - sed_scores_eval asserts or raises pandas errors on a bad table
            raise TurnpointError(f"not a score table (onset, offset, one column per class): {str(error).splitlines()[0] if str(error) else type(error).__name__}",
                                 path=path) from None
    unknown = sorted(set(tables) - set(reference))
    if unknown:
        raise TurnpointError(f"{len(unknown)} score tables are not in the reference (e.g. {unknown[0]})", path=scores_dir)
    without = sorted(set(reference) - set(tables))
    if without and not ignore_missing:
        raise TurnpointError(f"{len(without)} reference files have no score table (e.g. {without[0]}); use --ignore-missing", path=scores_dir)
    if not tables:
        raise TurnpointError("no score tables here", path=scores_dir)
    durations = {key: float(table["offset"].iloc[-1]) for key, table in tables.items()}
    if durations_path is not None:
        durations.update({k: v for k, v in read_durations(durations_path).items() if k in durations})
    truth = {key: reference[key] for key in tables}
    check_events_within(truth, durations)
    result = {"files": len(tables), "hours": round(sum(durations.values()) / 3600, 4),
              "note": "score tables: PSDS only (event- and segment-based F1 need decoded events)"}
    for scenario in (1, 2):
        result[f"psds{scenario}"] = round(psds_of_tables(tables, truth, durations=durations, scenario=scenario), 4)
    return result
