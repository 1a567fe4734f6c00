#!/usr/bin/env python
"""Simulate conversations (wav + rttm + uem) from a voice pool made by prepare_voices.py.

With ``--split-by-speaker``: speaker-disjoint ``OUT/train/`` and ``OUT/validation/`` (split by
person: perturbed copies and same-person voices stay together) and ``OUT/splits.json``.
Held-out persons (``--hold-out``, default: the asterisk Allison voice (English and Spanish
sets: one person) and Carlo (Italian), used by the
bundled example and for testing on unseen real voices) appear in no split.

Example::

    python scripts/simulate_conversations.py --voices /work/data/voices --out /work/data/sim \\
        --hours 3 --val-hours 0.33 --seed 0 --split-by-speaker
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from turnpoint.simulate import (  # noqa: E402
    load_voice_pool,
    simulate_conversations,
    split_speakers,
)

DEFAULT_HOLD_OUT = ("allison", "real_it-carlo")


def n_for(hours: float, duration_s: tuple[float, float]) -> int:
    return max(1, int(round(hours * 3600 / (sum(duration_s) / 2))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--hours", type=float, default=3.0, help="hours of (training) audio")
    ap.add_argument("--val-hours", type=float, default=None, help="validation hours (default hours/9)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-duration", type=float, default=60.0)
    ap.add_argument("--max-duration", type=float, default=180.0)
    ap.add_argument("--split-by-speaker", action="store_true")
    ap.add_argument("--validation-fraction", type=float, default=0.15)
    ap.add_argument("--hold-out", nargs="*", default=list(DEFAULT_HOLD_OUT),
                    help="persons (manifest 'person' column) kept out of every split")
    ap.add_argument("--speakers", nargs="*", default=None, help="restrict to these speaker ids")
    args = ap.parse_args(argv)

    t0 = time.time()
    dur = (args.min_duration, args.max_duration)
    pool = load_voice_pool(args.voices, args.speakers)
    if args.split_by_speaker:
        splits = split_speakers(pool, validation_fraction=args.validation_fraction,
                                held_out_persons=tuple(args.hold_out), seed=args.seed)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "splits.json").write_text(json.dumps(splits, indent=1) + "\n")
        val_hours = args.val_hours if args.val_hours is not None else args.hours / 9
        plan = [("train", args.hours, args.seed), ("validation", val_hours, args.seed + 1000)]
        for name, hours, seed in plan:
            n = n_for(hours, dur)
            print(f"{name}: {len(splits[name])} speakers, {n} conversations", flush=True)
            infos = simulate_conversations(args.voices, args.out / name, speakers=splits[name],
                                           n_conversations=n, duration_s=dur, seed=seed,
                                           prefix=name, verbose=True)
            total = sum(i["duration_s"] for i in infos)
            print(f"{name}: {total / 3600:.2f} h in {time.time() - t0:.0f}s", flush=True)
        print(f"held out: {splits['held_out']}")
    else:
        held = set(args.hold_out)
        speakers = [s for s, v in pool.items() if v.person not in held and s not in held]
        n = n_for(args.hours, dur)
        infos = simulate_conversations(args.voices, args.out, speakers=speakers, n_conversations=n,
                                       duration_s=dur, seed=args.seed, prefix="sim", verbose=True)
        print(f"{sum(i['duration_s'] for i in infos) / 3600:.2f} h")
    print(f"total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
