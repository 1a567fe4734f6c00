#!/usr/bin/env python
"""Paper-style comparison of the BiLSTM and the baselines on annotated files (markdown table).

For each system, in one run: score curves of every test file (the compute time gives the real-time
factor, audio decoding included), a sweep of alpha × min_duration, and from it

* coverage at a fixed purity and purity at a fixed coverage (best setting reaching the target,
  the paper's Fig. 4 read-out; on the test files themselves, as in the paper);
* boundary precision/recall/F1 at ±tolerance at the setting chosen on ``--dev`` by boundary F1
  (honest), the best F1 over the test sweep's thresholds at the min_duration chosen on ``--dev``
  ("threshold tuned on test"), and the best F1 over the whole test sweep, thresholds and
  min_durations (oracle, an upper bound).

Example::

    python recipes/compare_systems.py --test "$TURNPOINT_DATA/test_real" --dev "$TURNPOINT_DATA/sim/validation" \\
        --model src/turnpoint/models/default.safetensors --bridge 2.0 --out compare_out
"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
from pathlib import Path

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_text
from turnpoint.changes.training_data import collect_files
from turnpoint.changes.score_curves import score_files
from turnpoint.changes.sweep import MIN_DURATIONS, Sweep, coverage_at_purity, plot_curves, purity_at_coverage, select, sweep

logger = logging.getLogger("compare_systems")
DEFAULT_SYSTEMS = "bilstm,bic,gaussian_divergence,glr,kernel_cpd,ge2e"


def _pct(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", required=True, help="folder of audio + RTTM (+ UEM) to report on")
    parser.add_argument("--dev", default=None, help="folder to choose each system's setting on (default: --test, oracle)")
    parser.add_argument("--systems", default=DEFAULT_SYSTEMS)
    parser.add_argument("--model", default=None, help="BiLSTM model file (default: the bundled model)")
    parser.add_argument("--purity", type=float, default=0.9, help="target purity for 'coverage at purity'")
    parser.add_argument("--coverage", type=float, default=0.8, help="target coverage for 'purity at coverage'")
    parser.add_argument("--tolerance", type=float, default=0.5)
    parser.add_argument("--fill-gaps", type=float, default=0.5)
    parser.add_argument("--bridge", type=float, default=0.0, help="split silences shorter than this between neighbouring turns")
    parser.add_argument("--out", default="compare_out", help="folder for the table, curves and plot (score cache in out/cache)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = Path(args.out)
        test = collect_files(args.test)
        dev = collect_files(args.dev) if args.dev else None
        test_seconds = sum(_duration(item.audio) for item in test)
        rows = []
        sweeps = []
        for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
            scale = "absolute"
            if system == "bilstm":
                from turnpoint.changes.modelfile import load_model

                scale = load_model(args.model).defaults.alpha_scale
            common = dict(system=system, min_durations=MIN_DURATIONS, alpha_scale=scale, tolerance=args.tolerance, fill_gaps=args.fill_gaps, bridge=args.bridge)
            # no cache for the test files: their compute time is the speed we report
            scores, seconds = score_files(test, system=system, model=args.model, cache_dir=None)
            curve = sweep(test, scores, **common)
            sweeps.append(curve)
            atomic_write_text(out / f"{system}.test_curve.csv", curve.to_csv())
            if dev is not None:
                dev_scores, _ = score_files(dev, system=system, model=args.model, cache_dir=out / "cache")
                chosen = select(sweep(dev, dev_scores, **common), criterion="boundary_f1")
                at_dev = sweep(test, scores, **dict(common, min_durations=[chosen.min_duration]), alphas=[chosen.alpha]).points[0]
            else:
                at_dev = select(curve, criterion="boundary_f1")
            oracle = select(curve, criterion="boundary_f1")
            same_min_duration = [p for p in curve.points if p.min_duration == at_dev.min_duration]
            threshold_tuned = select(Sweep(system, same_min_duration), criterion="boundary_f1")
            rows.append(
                f"| {system} | {_pct(coverage_at_purity(curve.points, args.purity))} | {_pct(purity_at_coverage(curve.points, args.coverage))} "
                f"| {_pct(at_dev.precision)} | {_pct(at_dev.recall)} | {_pct(at_dev.f1)} | {_pct(threshold_tuned.f1)} | {_pct(oracle.f1)} "
                f"| {at_dev.alpha:.4g} / {at_dev.min_duration:g} | {seconds / test_seconds:.4f} |"
            )
            logger.info("%s done (%.1f s of compute for %.0f s of audio)", system, seconds, test_seconds)
        header = (
            f"| system | coverage at {100 * args.purity:.0f} % purity | purity at {100 * args.coverage:.0f} % coverage "
            f"| precision ±{args.tolerance:g} s | recall | boundary F1 | F1, threshold tuned on test | F1 (oracle) "
            "| alpha / min_duration | real-time factor |\n"
            "|---|---|---|---|---|---|---|---|---|---|"
        )
        command = "python recipes/compare_systems.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        table = (
            f"{header}\n" + "\n".join(rows) + "\n\n"
            f"{len(test)} test files ({test_seconds / 60:.1f} min); settings chosen on "
            f"{f'{len(dev)} dev files' if dev else 'the test files (oracle)'}; fill_gaps {args.fill_gaps} s, bridge {args.bridge} s; "
            f"real-time factor = compute seconds / audio seconds on this machine, one process.\n\n`{command}`\n"
        )
        atomic_write_text(out / "table.md", table)
        plot_curves(sweeps, out / "purity_coverage.png", title=f"{Path(args.test).name}: {len(test)} files")
        print(table)
    except TurnpointError as error:
        print(f"compare_systems: error: {error}", file=sys.stderr)
        return 1
    return 0


def _duration(path: Path) -> float:
    from turnpoint.core.audio import audio_info

    return audio_info(path).duration


if __name__ == "__main__":
    sys.exit(main())
