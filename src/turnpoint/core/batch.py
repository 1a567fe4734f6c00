"""Batch runs over many files for any task: a job function per file, processes, failures collected.

A task hands :func:`run_batch` a *job function* ``run_one(path, job, loaded) -> FileResult`` (a
module-level function, so that it pickles), the picklable ``job`` settings it reads, and the model
(``loaded``, and ``load`` for worker processes to load their own). :func:`plan_batch` first finds
which files still need work. Every task's batch (speaker changes, sound events, the baselines)
runs through it; the processes it runs in are :mod:`turnpoint.core.batch_processes`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_IMPORTS_STARTED = time.perf_counter()

from tqdm.auto import tqdm  # noqa: E402 - after the clock: the imports' time estimates a worker's start-up

from turnpoint.core.audio import audio_files  # noqa: E402
from turnpoint.core.batch_processes import run_here, run_parallel, worker_environment  # noqa: E402
from turnpoint.core.batch_results import BatchReport, FileResult  # noqa: E402 - and what the tasks' batches import from here
from turnpoint.core.errors import TurnpointError  # noqa: E402
from turnpoint.core.windows import available_cpus  # noqa: E402

# What a fresh worker process pays before its first file: importing torch, scipy and the rest
# (measured here, as this module is imported) plus loading the model (measured by timed_load).
_IMPORT_SECONDS = time.perf_counter() - _IMPORTS_STARTED
_load_seconds = 1.0

logger = logging.getLogger(__name__)
LIST_EXTENSIONS = (".txt", ".lst", ".list")
#: ``jobs="auto"``: start with this process alone, add workers once the batch has run longer than a worker's start-up.
AUTO = "auto"


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


def worker_startup_seconds() -> float:
    """Estimated seconds a new worker process needs before it can work: this process's measured
    import time plus its last model load (at least 1 s).

    Examples
    --------
    >>> worker_startup_seconds() >= 1.0
    True
    """
    return max(1.0, _IMPORT_SECONDS + _load_seconds)


def timed_load(load: Callable[..., Any], model: str | Path | None, *, device: str) -> Any:
    """``load(model, device=device)``, its time kept for :func:`worker_startup_seconds`.

    Examples
    --------
    >>> timed_load(lambda model, device: (model, device), "m", device="cpu")
    ('m', 'cpu')
    """
    global _load_seconds
    loading = time.perf_counter()
    loaded = load(model, device=device)
    _load_seconds = time.perf_counter() - loading
    return loaded


def resolve_jobs(jobs: int | str) -> int | str:
    """``jobs`` checked: a positive number of processes, or ``"auto"``.

    Examples
    --------
    >>> resolve_jobs("2"), resolve_jobs("auto")
    (2, 'auto')
    """
    if isinstance(jobs, str) and jobs.strip().lower() == AUTO:
        return AUTO
    try:
        number = int(jobs)
    except (TypeError, ValueError):
        raise TurnpointError(f"jobs must be a positive number or auto, not {jobs!r}") from None
    if number < 1:
        raise TurnpointError("jobs must be at least 1")
    return number


def plan_batch(
    paths: Sequence[Path],
    *,
    outputs: Callable[[Path], dict[str, Path]],
    overwrite: bool,
    key: Callable[[Path], str] = _stem,
    annotations: Sequence[str] = (".rttm", ".uem"),
    result: type[FileResult] = FileResult,
) -> tuple[BatchReport, list[Path], list[Path]]:
    """Which files still need work: a report holding the skipped and colliding ones, the files to
    process, and the input paths that must never be overwritten.

    ``outputs(path)`` names the files one input writes, ``key(path)`` the name they share.
    Files whose outputs all exist are skipped (outputs are written atomically, so an existing file
    is a complete one); temp files of a killed earlier run are removed; two inputs with the same
    key would write the same outputs, so the second is a failure. The inputs, and the files with
    the same stem and an ``annotations`` suffix beside them (a user's reference ``x.rttm`` next to
    ``x.wav``), are protected. Skipped files are reported as ``result`` (the task's :class:`FileResult`).

    Examples
    --------
    >>> report, todo, protected = plan_batch([Path("a.wav")], outputs=lambda path: {"json": Path(f"{path.stem}.json")}, overwrite=False)
    >>> todo, [str(p) for p in protected]
    ([PosixPath('a.wav')], ['a.wav', 'a.rttm', 'a.uem'])
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
            report.results.append(result(str(path), uri, outputs=expected, skipped=True))
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
    jobs: int | str,
    desc: str,
    show_progress: bool,
    load: Callable[..., Any] | None = None,
    model: str | Path | None = None,
    device: str = "cpu",
    startup_s: float | None = None,
) -> BatchReport:
    """Run ``run_one(path, job, model)`` for the files of ``todo`` into ``report``, in this process
    with ``loaded`` and, for ``jobs`` other than 1, in spawned worker processes that each load
    ``load(model, device=device)`` once (None: a job without a model; ``run_one`` and ``load`` must
    be module-level functions, so that they pickle). A file's :class:`TurnpointError` is a failure
    of that file only; results keep the order of ``paths``.

    ``jobs`` counts this process too, which works on files while the workers start:

    * ``N``: N - 1 workers start at once;
    * ``"auto"``: no worker until the batch has run longer than a worker's start-up
      (``startup_s``, default :func:`worker_startup_seconds`), then one per core the machine left
      idle meanwhile (:func:`~turnpoint.core.batch_processes.idle_cores`; checked again every
      ``startup_s`` while none is), up to one per other available core. A batch shorter than a start-up (a few short files) is never
      slowed by one, a long batch on a quiet machine gets every core, and a machine busy with other
      work is not handed processes that would only compete for its cores.

    Files are handed out largest first and only to a worker that has loaded its model. With P
    processes, each keeps to cores // P threads (its own pools, torch's and BLAS's), so that they
    do not fight over cores. With ``show_progress``, a batch bar and one audio-time bar per
    working process (:mod:`turnpoint.core.progress`) are drawn on stderr.

    Examples
    --------
    >>> def count(path, job, loaded):
    ...     return FileResult(str(path), path.stem, duration=float(len(path.stem)))
    >>> paths = [Path("a.wav"), Path("bb.wav")]
    >>> report = run_batch(paths, paths, BatchReport(), run_one=count, job=None, loaded=None, jobs=1, desc="count", show_progress=False)
    >>> [r.duration for r in report.results]
    [1.0, 2.0]
    """
    jobs = resolve_jobs(jobs)
    limit = min(available_cpus() if jobs == AUTO else jobs, len(todo))
    bar = tqdm(total=len(todo), desc=desc, unit="file", disable=not show_progress or len(todo) < 2, dynamic_ncols=True)
    position = 0 if bar.disable else 1
    try:
        if limit <= 1:
            for path in todo:
                outcome = run_here(run_one, path, job, loaded, show_progress, position)
                if isinstance(outcome, str):
                    report.failures.append((str(path), outcome))
                else:
                    report.results.append(outcome)
                bar.update()
        else:
            with worker_environment(max(1, available_cpus() // limit)):
                run_parallel(
                    todo, report, run_one=run_one, job=job, loaded=loaded, load=load, model=model, device=device, workers=limit - 1,
                    auto=jobs == AUTO, startup_s=worker_startup_seconds() if startup_s is None else startup_s, bar=bar,
                    show_progress=show_progress, position=position,
                )
            order: dict[str, int] = {}
            for index, path in enumerate(paths):
                order.setdefault(str(path), index)
            report.results.sort(key=lambda r: order.get(r.path, 0))
            report.failures.sort(key=lambda failure: order.get(failure[0], 0))
    finally:
        bar.close()
    return report


__all__ = [
    "AUTO", "BatchReport", "FileResult", "expand_inputs", "plan_batch", "resolve_jobs", "run_batch", "timed_load", "worker_startup_seconds",
]
