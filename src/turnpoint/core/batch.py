"""Batch runs over many files for any task: a job function per file, processes, failures collected.

A task hands :func:`run_batch` a *job function* ``run_one(path, job, loaded) -> FileResult`` (a
module-level function, so that it pickles), the picklable ``job`` settings it reads, and the model
(``loaded``, and ``load`` for worker processes to load their own). :func:`plan_batch` first finds
which files still need work. Every task's batch (speaker changes, sound events, the baselines)
runs through it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_IMPORTS_STARTED = time.perf_counter()

from tqdm.auto import tqdm  # noqa: E402 - after the clock: the imports' time estimates a worker's start-up

from turnpoint.core import progress  # noqa: E402
from turnpoint.core.audio import audio_files  # noqa: E402
from turnpoint.core.errors import TurnpointError  # noqa: E402
from turnpoint.core.windows import available_cpus, set_cpu_budget  # noqa: E402

# What a fresh worker process pays before its first file: importing torch, scipy and the rest
# (measured here, as this module is imported) plus loading the model (measured by timed_load).
_IMPORT_SECONDS = time.perf_counter() - _IMPORTS_STARTED
_load_seconds = 1.0

logger = logging.getLogger(__name__)
LIST_EXTENSIONS = (".txt", ".lst", ".list")
#: ``jobs="auto"``: start with this process alone, add workers once the batch has run longer than a worker's start-up.
AUTO = "auto"


@dataclass
class FileResult:
    """One file of a batch: where its outputs are (scores stay on disk); a task adds what it found."""

    path: str
    uri: str
    duration: float | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    skipped: bool = False  # outputs were already complete
    warnings: list[str] = field(default_factory=list)  # e.g. the file decoded shorter than its header says


@dataclass
class BatchReport:
    """What a batch run did: files processed or skipped, and (path, message) of every failure."""

    results: list[FileResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    processes: int = 1  # processes that worked on the files (this one and its workers)

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


_worker_model: Any = None  # the model a batch worker process loaded once (see run_batch)
_worker_progress: Any = None  # where a worker sends its file bars (None: quiet)


def _init_worker(
    load: Callable[..., Any] | None, model: str | None, device: str, cores: int, progress_queue: Any = None, logs: tuple[int, Any] | None = None
) -> None:
    global _worker_model, _worker_progress
    if logs is not None:  # the parent's level and line format, so a worker's warnings read like the parent's
        handler = logging.StreamHandler()
        if logs[1] is not None:
            handler.setFormatter(logs[1])
        logging.basicConfig(level=logs[0], handlers=[handler], force=True)
    _limit_threads(cores)
    _worker_model = None if load is None else load(model, device=device)
    _worker_progress = progress_queue


def _limit_threads(cores: int) -> None:
    """Keep this worker to ``cores`` cores: its own thread pools and torch's (OpenMP and BLAS were
    limited by the environment it started with: :func:`_worker_environment`)."""
    import torch

    set_cpu_budget(cores)
    torch.set_num_threads(cores)


#: Thread-count variables a worker process starts with (unless the user set them).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def _worker_environment(cores: int):
    """Worker processes inherit ``cores`` as OpenMP's and BLAS's thread count, read as their
    libraries load. Set before any worker starts, undone after the batch; this process's libraries
    are loaded already, so its own threads do not change. (A worker that called
    torch.set_num_threads(1) without it spent 5 times the CPU time in GE2E re-scoring: 15 to 19 s
    against 3 s for four 30 s files.)"""
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(cores)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _work(run_one: Callable[[Path, Any, Any], FileResult], path: Path, job: Any) -> FileResult | str:
    sink = None if _worker_progress is None else progress.QueueSink(_worker_progress, os.getpid())
    try:
        with progress.file_bar(Path(path).name, enabled=sink is not None, sink=sink):
            return run_one(path, job, _worker_model)
    except TurnpointError as error:
        return str(error)


def _log_setup() -> tuple[int, Any] | None:
    root = logging.getLogger()
    if not root.handlers:
        return None
    formatter = root.handlers[0].formatter
    try:
        import pickle

        pickle.dumps(formatter)
    except Exception:  # noqa: BLE001 - a formatter that does not pickle: the default format
        formatter = None
    return root.level, formatter


def cpu_times() -> tuple[float, float] | None:
    """(idle, total) CPU seconds of the whole machine since boot (Linux ``/proc/stat``), else None."""
    try:
        with open("/proc/stat") as handle:
            fields = [float(value) for value in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    return (fields[3] + (fields[4] if len(fields) > 4 else 0.0)) / tick, sum(fields[:8]) / tick


def idle_cores(before: tuple[float, float] | None, after: tuple[float, float] | None, *, cpus: int | None = None) -> float | None:
    """Cores a machine of ``cpus`` cores (default: this one's) left idle between two
    :func:`cpu_times` readings; None when unknown.

    Examples
    --------
    >>> idle_cores((100.0, 400.0), (103.0, 404.0), cpus=4)  # 3 of 4 CPU seconds idle
    3.0
    """
    if before is None or after is None or after[1] - before[1] <= 0:
        return None
    share = max(0.0, (after[0] - before[0]) / (after[1] - before[1]))
    return share * (cpus or os.cpu_count() or 1)


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


def _run_here(run_one: Callable[[Path, Any, Any], FileResult], path: Path, job: Any, loaded: Any, show: bool, position: int) -> FileResult | str:
    try:
        with progress.file_bar(path.name, enabled=show, position=position):
            return run_one(path, job, loaded)
    except TurnpointError as error:
        return str(error)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


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
      idle meanwhile (:func:`idle_cores`; checked again every ``startup_s`` while none is), up to
      one per other available core. A batch shorter than a start-up (a few short files) is never
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
                outcome = _run_here(run_one, path, job, loaded, show_progress, position)
                if isinstance(outcome, str):
                    report.failures.append((str(path), outcome))
                else:
                    report.results.append(outcome)
                bar.update()
        else:
            with _worker_environment(max(1, available_cpus() // limit)):
                _run_parallel(
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


def _worker_main(slot: int, inbox: Any, results: Any, initargs: tuple) -> None:
    """A batch worker process: load the model, say so, then run the files sent until told to stop."""
    try:
        _init_worker(*initargs)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises it
        results.put((slot, "error", None, f"{type(error).__name__}: {error}"))
        return
    results.put((slot, "ready", None, None))
    while True:
        item = inbox.get()
        if item is None:
            return
        run_one, path, job = item
        try:
            outcome = _work(run_one, path, job)
        except BaseException as error:  # noqa: BLE001 - a bug, not a bad file: the parent raises it
            import traceback

            results.put((slot, "error", str(path), "".join(traceback.format_exception(error)).strip()))
            return
        results.put((slot, "done", str(path), outcome))


def _run_parallel(
    todo: Sequence[Path], report: BatchReport, *, run_one: Callable[[Path, Any, Any], FileResult], job: Any, loaded: Any,
    load: Callable[..., Any] | None, model: str | Path | None, device: str, workers: int, auto: bool, startup_s: float, bar: Any,
    show_progress: bool, position: int,
) -> None:
    """This (main) thread works through ``todo`` largest first; a coordinator thread starts the
    worker processes (at once, or after ``startup_s`` when ``auto``) and hands each the next file
    once it is ready; workers still starting when the files run out are stopped."""
    pending = collections.deque(sorted(todo, key=_size, reverse=True))
    lock = threading.Lock()  # guards pending, report, bar
    stop = threading.Event()
    failed: list[BaseException] = []
    context = multiprocessing.get_context("spawn")  # no fork of a process holding torch's thread pools
    progress_queue = context.Queue() if show_progress else None
    processes: list[Any] = []
    state: dict[str, Any] = {}

    def record(path: Path | str, outcome: FileResult | str) -> None:
        with lock:
            if isinstance(outcome, str):
                report.failures.append((str(path), outcome))
            else:
                report.results.append(outcome)
            bar.update()

    def take() -> Path | None:
        with lock:
            return pending.popleft() if pending else None

    def start_workers(wanted: int) -> tuple[Any, list[Any]]:
        count = min(wanted, len(pending))
        cores = max(1, available_cpus() // (count + 1))
        state["budget"] = set_cpu_budget(cores)  # this process's next files too; the previous setting kept
        initargs = (load, None if model is None else str(model), device, cores, progress_queue, _log_setup())
        results = context.Queue()
        inboxes = [context.Queue() for _ in range(count)]
        for slot, inbox in enumerate(inboxes):
            process = context.Process(target=_worker_main, args=(slot, inbox, results, initargs), name=f"turnpoint-worker-{slot}", daemon=True)
            process.start()
            processes.append(process)
        report.processes = count + 1
        logger.debug("batch: %d worker processes started after %.1f s, %d cores each", count, time.perf_counter() - started, cores)
        return results, inboxes

    def coordinate() -> None:
        try:
            wanted = workers
            if auto:
                # ski rental: pay for workers only once the batch has cost as much as one start-up,
                # and only as many as there are idle cores to run them (measured over that time)
                window = (time.perf_counter(), cpu_times())
                wanted = 0
                while not wanted:
                    while not stop.wait(0.05) and pending and time.perf_counter() - window[0] < startup_s:
                        pass
                    if stop.is_set() or not pending:
                        return
                    now = (time.perf_counter(), cpu_times())
                    idle = idle_cores(window[1], now[1])
                    wanted = workers if idle is None else min(workers, int(idle + 0.5))
                    logger.debug("batch: %s idle cores after %.1f s: %d worker(s)", "unknown" if idle is None else f"{idle:.1f}", now[0] - started, wanted)
                    window = now
            if stop.is_set() or not pending:
                return
            results, inboxes = start_workers(wanted)
            busy: dict[int, str] = {}  # slot -> the file it works on
            starting = set(range(len(inboxes)))
            while not stop.is_set() and (busy or (starting and pending)):
                try:
                    slot, kind, path, outcome = results.get(timeout=0.25)
                except queue.Empty:
                    for slot, path in list(busy.items()):
                        if not processes[slot].is_alive():  # killed (out of memory?) or crashed
                            del busy[slot]
                            record(path, f"{path}: the worker process processing it died (exit code {processes[slot].exitcode})")
                    continue
                if kind == "error":
                    failed.append(RuntimeError(f"a batch worker failed{f' on {path}' if path else ''}: {outcome}"))
                    return
                if kind == "done":
                    del busy[slot]
                    record(path, outcome)
                starting.discard(slot)
                following = take()
                if following is None:
                    inboxes[slot].put(None)
                else:
                    busy[slot] = str(following)
                    inboxes[slot].put((run_one, following, job))
        except BaseException as error:  # noqa: BLE001 - raised again in the main thread
            failed.append(error)

    started = time.perf_counter()
    board = progress.BarBoard(progress_queue, first_position=position + 1) if progress_queue is not None else contextlib.nullcontext()
    coordinator = threading.Thread(target=coordinate, name="turnpoint-batch", daemon=True)
    try:
        with board:
            coordinator.start()
            while not failed:
                path = take()
                if path is None:
                    break
                record(path, _run_here(run_one, path, job, loaded, show_progress, position))
            coordinator.join()
        if failed:
            raise failed[0]
    finally:
        stop.set()
        coordinator.join(timeout=5)
        for process in processes:  # finished ones have exited; the rest are still starting, or interrupted
            process.join(timeout=0.5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        if "budget" in state:
            set_cpu_budget(state["budget"])
