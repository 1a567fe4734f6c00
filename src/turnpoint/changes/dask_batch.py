"""Speaker change detection over an archive on a Dask cluster (``pip install 'turnpoint[cluster]'``).

The files of :func:`turnpoint.changes.batch.detect_files`, spread over a cluster by
:func:`turnpoint.core.dask_batch.run_dask_batch`: the same outputs, written the same way, and a
re-run skips files whose outputs are complete.

    python -m turnpoint.changes.dask_batch archive/ --out results/ --workers 2            # local cluster
    python -m turnpoint.changes.dask_batch archive/ --out results/ --scheduler tcp://head:8786
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from turnpoint.changes.batch import ChangeResult, _Job, _run_one
from turnpoint.changes.outputs import DEFAULT_FORMATS, OUTPUT_FORMATS, output_paths
from turnpoint.core.batch import BatchReport, expand_inputs, plan_batch
from turnpoint.core.dask_batch import run_dask_batch
from turnpoint.core.errors import TurnpointError
from turnpoint.core.windows import available_cpus
from turnpoint.changes.modelfile import load_model

__all__ = ["detect_files_dask", "main"]


def detect_files_dask(
    audio: Sequence[str | Path],
    *,
    out_dir: str | Path,
    model: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | Literal["auto"] = 2,
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
    """Like :func:`turnpoint.changes.batch.detect_files`, with the files spread over a Dask cluster.

    ``scheduler``: address of a running scheduler; None starts a local cluster of ``workers``
    single-threaded worker processes for the duration of the call; ``"auto"``: one per core this
    process may run on (``turnpoint detect --dask --jobs auto``).
    """
    try:
        import dask.distributed  # noqa: F401 - without dask, fail before any work
    except ImportError:
        raise TurnpointError("Dask batches need dask: pip install 'turnpoint[cluster]'") from None

    if workers == "auto":
        workers = available_cpus()

    unknown = set(formats) - set(OUTPUT_FORMATS)
    if unknown:
        raise TurnpointError(f"unknown output format(s) {sorted(unknown)}; choose from {list(OUTPUT_FORMATS)}")
    load_model(model)  # a bad model file fails here, once, not in every task
    paths = expand_inputs(audio)
    report, todo, protected = plan_batch(
        paths, outputs=lambda path: output_paths(path.stem, out_dir=out_dir, formats=formats, scores=scores, plot=False), overwrite=overwrite,
        result=ChangeResult,
    )
    job = _Job(str(out_dir), alpha, min_duration, alpha_scale, tuple(formats), scores, False, None, batch_size, tuple(map(str, protected)))
    return run_dask_batch(
        paths, todo, report, run_one=_run_one, job=job, load=load_model, model=None if model is None else str(Path(model).resolve()),
        device=device, scheduler=scheduler, workers=workers, retries=retries, desc="detect", show_progress=show_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m turnpoint.changes.dask_batch", description="turnpoint detect over a Dask cluster")
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
