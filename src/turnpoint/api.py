"""Batch entry points behind the CLI: many files in, outputs written, failures collected."""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from turnpoint.audio import audio_files
from turnpoint.detect import detect_changes
from turnpoint.errors import TurnpointError
from turnpoint.modelfile import LoadedModel, load_model
from turnpoint.outputs import OUTPUT_FORMATS, output_paths, write_outputs
from turnpoint.rescoring import RescoringSettings, resolve_rescoring

logger = logging.getLogger(__name__)
LIST_EXTENSIONS = (".txt", ".lst", ".list")


@dataclass
class FileResult:
    """One file of a batch: where its outputs are and what was found (scores stay on disk)."""

    path: str
    uri: str
    duration: float | None = None
    changes: list[float] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)
    events: list = field(default_factory=list)  # sound events (turnpoint.events.Event) of an events batch
    skipped: bool = False  # outputs were already complete


@dataclass
class BatchReport:
    """What a batch run did: files processed or skipped, and (path, message) of every failure."""

    results: list[FileResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def done(self) -> list[FileResult]:
        return [r for r in self.results if not r.skipped]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if r.skipped]


def _stem(path: Path) -> str:
    return path.stem


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
        if path.is_dir() or (path.suffix.lower() in LIST_EXTENSIONS and path.is_file()):
            found = audio_files(path)
            if not found:
                logger.warning("%s: no audio files here", path)
            paths.extend(found)
        else:
            paths.append(path)
    return paths


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


def _run_one(path: Path, job: _Job, loaded: LoadedModel) -> FileResult:
    detection = detect_changes(
        path, model=loaded, alpha=job.alpha, min_duration=job.min_duration, alpha_scale=job.alpha_scale,
        batch_size=job.batch_size, rescoring=job.rescoring, rescore_threshold=job.rescore_threshold, clustering=job.clustering,
    )
    written = write_outputs(
        detection,
        out_dir=job.out_dir,
        formats=job.formats,
        scores=job.scores,
        plot=job.plot,
        reference=_reference_for(job.reference, detection.uri),
        protected=job.protected,
    )
    return FileResult(str(path), detection.uri, detection.duration, [float(c) for c in detection.changes], written)


_worker_model: Any = None  # the model a batch worker process loaded once (see run_batch)


def _init_worker(load: Callable[..., Any], model: str | None, device: str) -> None:
    global _worker_model
    _worker_model = load(model, device=device)


def _work(run_one: Callable[[Path, Any, Any], FileResult], path: Path, job: Any) -> FileResult | str:
    try:
        return run_one(path, job, _worker_model)
    except TurnpointError as error:
        return str(error)


def plan_batch(
    paths: Sequence[Path],
    *,
    outputs: Callable[[Path], dict[str, Path]],
    overwrite: bool,
    key: Callable[[Path], str] = _stem,
    annotations: Sequence[str] = (".rttm", ".uem"),
) -> tuple[BatchReport, list[Path], list[Path]]:
    """Which files still need work: a report holding the skipped and colliding ones, the files to
    process, and the input paths that must never be overwritten.

    ``outputs(path)`` names the files one input writes, ``key(path)`` the name they share.
    Files whose outputs all exist are skipped (outputs are written atomically, so an existing file
    is a complete one); temp files of a killed earlier run are removed; two inputs with the same
    key would write the same outputs, so the second is a failure. The inputs, and the files with
    the same stem and an ``annotations`` suffix beside them (a user's reference ``x.rttm`` next to
    ``x.wav``), are protected.
    """
    protected = [*paths, *(path.with_suffix(suffix) for path in paths for suffix in annotations)]
    guarded = {p.resolve() for p in protected}
    report = BatchReport()
    todo: list[Path] = []
    owners: dict[str, Path] = {}
    for path in paths:
        uri = key(path)
        if uri in owners:
            report.failures.append((str(path), f"{path}: same name as {owners[uri]}; their outputs would collide (run them into different --out folders)"))
            continue
        owners[uri] = path
        expected = outputs(path)
        complete = all(p.exists() and p.resolve() not in guarded for p in expected.values())
        if not overwrite and path.exists() and complete:
            report.results.append(FileResult(str(path), uri, outputs=expected, skipped=True))
        else:
            todo.append(path)
            for output in expected.values():  # temp files of a killed earlier run
                for stale in output.parent.glob(f".{output.name}.*.tmp"):
                    stale.unlink(missing_ok=True)
    return report, todo, protected


def run_batch(
    paths: Sequence[Path],
    todo: Sequence[Path],
    report: BatchReport,
    *,
    run_one: Callable[[Path, Any, Any], FileResult],
    job: Any,
    loaded: Any,
    load: Callable[..., Any],
    model: str | Path | None,
    device: str,
    jobs: int,
    desc: str,
    show_progress: bool,
) -> BatchReport:
    """Run ``run_one(path, job, model)`` for the files of ``todo`` into ``report``: here with ``loaded``,
    or over ``jobs`` spawned processes, each loading ``load(model, device=device)`` once (``run_one``
    and ``load`` must be module-level functions, so that they pickle). A file's
    :class:`TurnpointError` is a failure of that file only; results keep the order of ``paths``.
    """
    bar = tqdm(total=len(todo), desc=desc, unit="file", disable=not show_progress or len(todo) < 2, dynamic_ncols=True)
    if jobs == 1 or len(todo) < 2:
        for path in todo:
            try:
                report.results.append(run_one(path, job, loaded))
            except TurnpointError as error:
                report.failures.append((str(path), str(error)))
            bar.update()
    else:
        context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's thread pools
        initargs = (load, None if model is None else str(model), device)
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context, initializer=_init_worker, initargs=initargs) as pool:
            futures = {pool.submit(_work, run_one, path, job): path for path in todo}
            for future in as_completed(futures):
                outcome = future.result()
                if isinstance(outcome, str):
                    report.failures.append((str(futures[future]), outcome))
                else:
                    report.results.append(outcome)
                bar.update()
        order = {str(p): i for i, p in enumerate(paths)}
        report.results.sort(key=lambda r: order.get(r.path, 0))
    bar.close()
    return report


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
    jobs: int = 1,
    overwrite: bool = False,
    rescoring: RescoringSettings | bool | None = None,
    rescore_threshold: float | None = None,
    clustering: bool | None = None,
    show_progress: bool = True,
) -> BatchReport:
    """Detect changes in many files and write their outputs; a bad file never stops the batch.

    Files whose outputs all exist already are skipped (outputs are written atomically, so an
    existing file is a complete one): an interrupted run resumes where it stopped. ``jobs > 1``
    spreads files over that many processes.

    Examples
    --------
    >>> import tempfile
    >>> report = detect_files(["missing.wav"], out_dir=tempfile.mkdtemp(), show_progress=False)
    >>> report.failures[0][1]
    'missing.wav: no such file'
    """
    loaded = load_model(model, device=device)
    if (rescore_threshold is not None or clustering) and resolve_rescoring(loaded.defaults.rescoring, rescoring) is None:
        raise TurnpointError("a re-scoring threshold or clustering needs re-scoring: this model ships none (use --rescore)")
    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    if jobs < 1:
        raise TurnpointError("jobs must be at least 1")
    paths = expand_inputs(audio)
    report, todo, protected = plan_batch(
        paths, outputs=lambda path: output_paths(path.stem, out_dir=out_dir, formats=formats, scores=scores, plot=plot), overwrite=overwrite
    )
    job = _Job(
        str(out_dir), alpha, min_duration, alpha_scale, tuple(formats), scores, plot,
        None if reference is None else str(reference), batch_size, tuple(map(str, protected)), rescoring,
        rescore_threshold, clustering,
    )
    if report.skipped:
        logger.info("%d files already have all their outputs; skipped (use --overwrite to redo them)", len(report.skipped))
    return run_batch(
        paths, todo, report, run_one=_run_one, job=job, loaded=loaded, load=load_model, model=model, device=device, jobs=jobs,
        desc="detect", show_progress=show_progress,
    )
