"""Batch runs on a Dask cluster (``pip install 'turnpoint[cluster]'``): one Dask task per file.

Dask does the scheduling, the load balancing and the fault tolerance (a task whose worker dies is
re-run elsewhere; ``retries`` re-runs failed tasks). A task runs a task's job function
``run_one(path, job, loaded)`` (as :func:`turnpoint.core.batch.run_batch` does); each worker
process loads the model once, with ``load(model, device=device)``. Outputs are written the way the
job function writes them (atomically), so a re-run that skips complete files resumes an interrupted
archive run. A task's cluster entry point wraps :func:`run_dask_batch`.

On a real cluster, start ``dask scheduler`` on one machine and ``dask worker tcp://head:8786
--nthreads 1`` on each (one thread per worker process: the models are small, processes scale), with
turnpoint installed and the inputs and output folder on a shared file system.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from turnpoint.core.batch import BatchReport, FileResult
from turnpoint.core.errors import TurnpointError

logger = logging.getLogger(__name__)
_models: dict[tuple[Callable[..., Any], str | None, str], Any] = {}

__all__ = ["run_dask_batch"]


def _worker_model(load: Callable[..., Any], model: str | None, device: str) -> Any:
    key = (load, model, device)
    if key not in _models:  # once per worker process
        _models[key] = load(model, device=device)
    return _models[key]


def _task(path: str, run_one: Callable[[Path, Any, Any], FileResult], job: Any, load: Callable[..., Any], model: str | None,
          device: str) -> FileResult | str:
    try:
        return run_one(Path(path), job, _worker_model(load, model, device))
    except TurnpointError as error:
        return str(error)


def run_dask_batch(
    paths: Sequence[Path],
    todo: Sequence[Path],
    report: BatchReport,
    *,
    run_one: Callable[[Path, Any, Any], FileResult],
    job: Any,
    load: Callable[..., Any],
    model: str | None,
    device: str = "cpu",
    scheduler: str | None = None,
    workers: int = 2,
    retries: int = 2,
    desc: str = "detect",
    show_progress: bool = True,
) -> BatchReport:
    """Run ``run_one`` for the files of ``todo`` into ``report`` as Dask tasks; results keep the order of ``paths``.

    ``run_one`` and ``load`` must be module-level functions (they pickle); ``model`` names the model
    for the workers (a path they can read). ``scheduler``: address of a running scheduler; None
    starts a local cluster of ``workers`` single-threaded worker processes for the duration of the
    call. A file's :class:`TurnpointError`, or a task that failed even after its ``retries``, is a
    failure of that file only.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    if not todo:
        return report
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(scheduler if scheduler is not None else cluster)
    try:
        futures = client.map(_task, [str(p) for p in todo], run_one=run_one, job=job, load=load, model=model, device=device, retries=retries,
                             pure=False)
        owner = {future.key: str(path) for future, path in zip(futures, todo)}
        bar = tqdm(total=len(futures), desc=desc, unit="file", disable=not show_progress, dynamic_ncols=True)
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as error:  # noqa: BLE001 - a task that failed even after its retries
                outcome = f"{owner[future.key]}: {type(error).__name__}: {error}"
            if isinstance(outcome, str):
                report.failures.append((owner[future.key], outcome))
            else:
                report.results.append(outcome)
            bar.update()
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    order = {str(p): i for i, p in enumerate(paths)}
    report.results.sort(key=lambda r: order.get(r.path, 0))
    return report
