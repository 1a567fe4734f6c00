"""Speaker change detection over many files: each file's outputs written, failures collected.

The job functions here (:func:`_run_one`, :func:`_run_baseline_one`) run one file; the core batch
runner (:func:`turnpoint.core.batch.run_batch`) hands them out, in this process or in workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from turnpoint.changes.baselines import detect_with_baseline
from turnpoint.changes.detect import detect_changes
from turnpoint.changes.outputs import DEFAULT_FORMATS, OUTPUT_FORMATS, output_paths, write_outputs
from turnpoint.changes.rescoring import RescoringSettings, resolve_rescoring
from turnpoint.core.batch import BatchReport, FileResult, expand_inputs, plan_batch, resolve_jobs, run_batch, timed_load
from turnpoint.core.errors import TurnpointError
from turnpoint.changes.modelfile import LoadedModel, load_model

logger = logging.getLogger(__name__)

__all__ = ["ChangeResult", "detect_baseline_files", "detect_files"]


@dataclass
class ChangeResult(FileResult):
    """One file of a speaker change batch, with its change times (s)."""

    changes: list[float] = field(default_factory=list)


def _reference_for(reference: str | Path | None, uri: str) -> Path | None:
    if reference is None:
        return None
    reference = Path(reference)
    return reference / f"{uri}.rttm" if reference.is_dir() else reference


@dataclass(frozen=True)
class _Job:
    out_dir: str
    alpha: float | None
    min_duration: float | None
    alpha_scale: str | None
    formats: tuple[str, ...]
    scores: bool
    plot: bool
    reference: str | None
    batch_size: int
    protected: tuple[str, ...]
    rescoring: RescoringSettings | bool | None = None
    rescore_threshold: float | None = None
    clustering: bool | None = None
    report: bool = False
    speakers: bool | None = None
    speaker_threshold: float | None = None


def _run_one(path: Path, job: _Job, loaded: LoadedModel) -> ChangeResult:
    detection = detect_changes(
        path, model=loaded, alpha=job.alpha, min_duration=job.min_duration, alpha_scale=job.alpha_scale,
        batch_size=job.batch_size, rescoring=job.rescoring, rescore_threshold=job.rescore_threshold, clustering=job.clustering,
        speakers=job.speakers, speaker_threshold=job.speaker_threshold,
    )
    written = write_outputs(
        detection,
        out_dir=job.out_dir,
        formats=job.formats,
        scores=job.scores,
        plot=job.plot,
        report=job.report,
        reference=_reference_for(job.reference, detection.uri),
        protected=job.protected,
    )
    return ChangeResult(
        str(path), detection.uri, detection.duration, written, warnings=list(getattr(detection.scores, "warnings", [])),
        changes=[float(c) for c in detection.changes],
    )


def detect_files(
    audio: Sequence[str | Path],
    *,
    out_dir: str | Path,
    model: str | Path | None = None,
    alpha: float | None = None,
    min_duration: float | None = None,
    alpha_scale: str | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    scores: bool = False,
    plot: bool = False,
    html_report: bool = False,
    reference: str | Path | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    jobs: int | str = 1,
    overwrite: bool = False,
    rescoring: RescoringSettings | bool | None = None,
    rescore_threshold: float | None = None,
    clustering: bool | None = None,
    speakers: bool | None = None,
    speaker_threshold: float | None = None,
    encoder: str | None = None,
    show_progress: bool = True,
) -> BatchReport:
    """Detect changes in many files and write their outputs; a bad file never stops the batch.

    Files whose outputs all exist already are skipped (outputs are written atomically, so an
    existing file is a complete one): an interrupted run resumes where it stopped. ``jobs``: processes
    working on files, this one included, or ``"auto"`` (what ``turnpoint detect`` does by default:
    more processes only for a batch long enough to repay their start-up; see
    :func:`turnpoint.core.batch.run_batch`). ``plot`` adds each file's ``<uri>.png``, ``html_report``
    its ``<uri>.html`` page (see :func:`turnpoint.changes.outputs.write_outputs`). ``encoder``
    ("ge2e" / "compact") picks the bundled model built for that speaker encoder, or checks that
    ``model`` runs it (:func:`turnpoint.changes.modelfile.load_model`).

    Examples
    --------
    >>> import tempfile
    >>> report = detect_files(["missing.wav"], out_dir=tempfile.mkdtemp(), show_progress=False)
    >>> report.failures[0][1]
    'missing.wav: no such file'
    """
    jobs = resolve_jobs(jobs)
    loaded = timed_load(partial(load_model, encoder=encoder), model, device=device)
    if (rescore_threshold is not None or clustering) and resolve_rescoring(loaded.defaults.rescoring, rescoring) is None:
        raise TurnpointError("a re-scoring threshold or clustering needs re-scoring: this model ships none (use --rescore)")
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    paths = expand_inputs(audio)
    report, todo, protected = plan_batch(
        paths, outputs=lambda path: output_paths(path.stem, out_dir=out_dir, formats=formats, scores=scores, plot=plot, report=html_report),
        overwrite=overwrite, result=ChangeResult,
    )
    job = _Job(
        str(out_dir), alpha, min_duration, alpha_scale, tuple(formats), scores, plot,
        None if reference is None else str(reference), batch_size, tuple(map(str, protected)), rescoring,
        rescore_threshold, clustering, report=html_report, speakers=speakers, speaker_threshold=speaker_threshold,
    )
    if report.skipped:
        logger.info("%d files already have all their outputs; skipped (use --overwrite to redo them)", len(report.skipped))
    return run_batch(
        paths, todo, report, run_one=_run_one, job=job, loaded=loaded, load=load_model, model=loaded.path, device=device, jobs=jobs,
        desc="detect", show_progress=show_progress,
    )


@dataclass(frozen=True)
class _BaselineJob:
    out_dir: str
    system: str
    alpha: float
    min_duration: float
    formats: tuple[str, ...]


def _run_baseline_one(path: Path, job: _BaselineJob, loaded: None) -> ChangeResult:
    detection = detect_with_baseline(path, system=job.system, alpha=job.alpha, min_duration=job.min_duration)
    # the input and its own annotations only: a baseline run rewrites every file's outputs
    written = write_outputs(detection, out_dir=job.out_dir, formats=job.formats, protected=[path, path.with_suffix(".rttm"), path.with_suffix(".uem")])
    return ChangeResult(str(path), detection.uri, detection.duration, written, changes=[float(c) for c in detection.changes])


def detect_baseline_files(
    audio: Sequence[str | Path],
    *,
    out_dir: str | Path,
    system: str,
    alpha: float,
    min_duration: float,
    formats: Sequence[str] = DEFAULT_FORMATS,
    jobs: int | str = 1,
    show_progress: bool = False,
) -> BatchReport:
    """Detect changes in many files with a classical baseline (:mod:`turnpoint.changes.baselines`) and write their outputs.

    Every file is redone (no skipping); a bad file is a failure of that file only.

    Examples
    --------
    >>> import tempfile
    >>> report = detect_baseline_files(["missing.wav"], out_dir=tempfile.mkdtemp(), system="bic", alpha=1.0, min_duration=1.0)
    >>> report.failures[0][1]
    'missing.wav: no such file'
    """
    paths = expand_inputs(audio)
    job = _BaselineJob(str(out_dir), system, float(alpha), float(min_duration), tuple(formats))
    return run_batch(paths, paths, BatchReport(), run_one=_run_baseline_one, job=job, loaded=None, jobs=jobs, desc="baseline",
                     show_progress=show_progress)
