"""Batch detection over an archive on a Dask cluster (``pip install 'turnpoint[cluster]'``).

Every file is one Dask task; Dask does the scheduling, the load balancing and the fault
tolerance (a task whose worker dies is re-run elsewhere; ``retries`` re-runs failed tasks). Each
worker process loads the model once. Outputs are the same files, written the same way (atomically),
as ``turnpoint detect``: a re-run skips files whose outputs are complete, so an interrupted
archive run resumes where it stopped.

    python -m turnpoint.core.dask_batch archive/ --out results/ --workers 2            # local cluster
    python -m turnpoint.core.dask_batch archive/ --out results/ --scheduler tcp://head:8786

On a real cluster, start ``dask scheduler`` on one machine and ``dask worker tcp://head:8786
--nthreads 1`` on each (one thread per worker process: the model is small, processes scale), with
turnpoint installed and the archive and output folder on a shared file system.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from turnpoint.core.batch import BatchReport, FileResult, _Job, _run_one, expand_inputs, plan_batch
from turnpoint.core.errors import TurnpointError
from turnpoint.core.modelfile import LoadedModel, load_model
from turnpoint.changes.outputs import DEFAULT_FORMATS, OUTPUT_FORMATS, output_paths

logger = logging.getLogger(__name__)
_models: dict[tuple[str | None, str], LoadedModel] = {}


def _worker_model(model: str | None, device: str) -> LoadedModel:
    key = (model, device)
    if key not in _models:  # once per worker process
        _models[key] = load_model(model, device=device)
    return _models[key]


def _task(path: str, job: _Job, model: str | None, device: str) -> FileResult | str:
    try:
        return _run_one(Path(path), job, _worker_model(model, device))
    except TurnpointError as error:
        return str(error)


def detect_files_dask(
    audio: Sequence[str | Path],
    *,
    out_dir: str | Path,
    model: str | Path | None = None,
    scheduler: str | None = None,
    workers: int = 2,
    alpha: float | None = None,
    min_duration: float | None = None,
    alpha_scale: str | None = None,
    formats: Sequence[str] = DEFAULT_FORMATS,
    scores: bool = False,
    batch_size: int = 128,
    device: str = "cpu",
    overwrite: bool = False,
    retries: int = 2,
    show_progress: bool = True,
) -> BatchReport:
    """Like :func:`turnpoint.core.batch.detect_files`, with the files spread over a Dask cluster.

    ``scheduler``: address of a running scheduler; None starts a local cluster of ``workers``
    single-threaded worker processes for the duration of the call.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    load_model(model)  # a bad model file fails here, once, not in every task
    paths = expand_inputs(audio)
    report, todo, protected = plan_batch(
        paths, outputs=lambda path: output_paths(path.stem, out_dir=out_dir, formats=formats, scores=scores, plot=False), overwrite=overwrite
    )
    job = _Job(str(out_dir), alpha, min_duration, alpha_scale, tuple(formats), scores, False, None, batch_size, tuple(map(str, protected)))
    if not todo:
        return report

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(scheduler if scheduler is not None else cluster)
    model_arg = None if model is None else str(Path(model).resolve())
    try:
        futures = client.map(_task, [str(p) for p in todo], job=job, model=model_arg, device=device, retries=retries, pure=False)
        owner = {future.key: str(path) for future, path in zip(futures, todo)}
        bar = tqdm(total=len(futures), desc="detect", unit="file", disable=not show_progress, dynamic_ncols=True)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m turnpoint.core.dask_batch", description="turnpoint detect over a Dask cluster")
    parser.add_argument("audio", nargs="+", help="files, folders or .txt lists")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler (default: a local cluster)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--format", default=",".join(DEFAULT_FORMATS))
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    report = detect_files_dask(
        args.audio, out_dir=args.out, model=args.model, scheduler=args.scheduler, workers=args.workers,
        formats=tuple(args.format.split(",")), overwrite=args.overwrite,
    )
    for path, message in report.failures:
        print(f"turnpoint: error: {message}", file=sys.stderr)
    print(f"{len(report.done)} files done, {len(report.skipped)} skipped, {len(report.failures)} failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
