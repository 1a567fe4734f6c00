"""The processes a batch runs its files in: this one, and spawned workers that each load the model once.

:func:`turnpoint.core.batch.run_batch` runs a file here with :func:`run_here`, or spreads the files
over this process and worker processes with :func:`run_parallel`: workers start with their thread
counts set (:func:`worker_environment`), load their model, and are handed the next file, largest
first, as they finish; with ``jobs="auto"`` they start only once the batch has run longer than a
worker's start-up, one per core the machine left idle meanwhile (:func:`cpu_times`,
:func:`idle_cores`).
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
from pathlib import Path
from typing import Any

from turnpoint.core import progress
from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import available_cpus, set_cpu_budget

from turnpoint.core.batch_results import BatchReport, FileResult

logger = logging.getLogger(__name__)

__all__ = ["THREAD_VARIABLES", "cpu_times", "idle_cores", "run_here", "run_parallel", "worker_environment"]


_worker_model: Any = None  # the model a batch worker process loaded once (see run_parallel)
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
    limited by the environment it started with: :func:`worker_environment`)."""
    import torch

    set_cpu_budget(cores)
    torch.set_num_threads(cores)


#: Thread-count variables a worker process starts with (unless the user set them).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def worker_environment(cores: int):
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


def run_here(run_one: Callable[[Path, Any, Any], FileResult], path: Path, job: Any, loaded: Any, show: bool, position: int) -> FileResult | str:
    """``run_one(path, job, loaded)`` in this process, under a file bar (when ``show``) at ``position``;
    a :class:`TurnpointError` becomes its message, the failure of this file only."""
    try:
        with progress.file_bar(path.name, enabled=show, position=position):
            return run_one(path, job, loaded)
    except TurnpointError as error:
        return str(error)


def _size(path: Path) -> int:
    """Bytes of ``path`` (0 when it cannot be read): files are handed out largest first."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


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


def run_parallel(
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
        # kept until the workers are joined: a worker still starting unpickles these queues, and
        # once the parent drops them their semaphores are gone and its start-up fails loudly
        state["queues"] = (results, inboxes)
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
                record(path, run_here(run_one, path, job, loaded, show_progress, position))
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
        state.pop("queues", None)
        if "budget" in state:
            set_cpu_budget(state["budget"])
