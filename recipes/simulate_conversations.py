#!/usr/bin/env python
"""Simulate conversations (wav + rttm + uem) from a voice pool made by prepare_voices.py.

With ``--split-by-speaker``: speaker-disjoint ``OUT/train/`` and ``OUT/validation/`` (split by
person: perturbed copies and same-person voices stay together) and ``OUT/splits.json``.
Held-out persons (``--hold-out``, default: the asterisk Allison voice (English and Spanish
sets: one person) and Carlo (Italian), used by the
bundled example and for testing on unseen real voices) appear in no split.

``--style real`` draws turn taking from measured statistics (``turnpoint.changes.simulate``:
segments, pauses, overlaps and backchannels as in real meetings and broadcasts); ``--packages``
keeps the speakers whose Debian package (manifest column ``package``) or package family is listed,
so that a test set can be *source-disjoint* from training data; speakers whose folder mixes two
credited people (manifest column ``identity``) are never used. ``OUT/SOURCES.md`` lists the
packages, speakers and people of what was written.

Examples::

    python recipes/simulate_conversations.py --voices $TURNPOINT_DATA/voices --out $TURNPOINT_DATA/sim \\
        --hours 3 --val-hours 0.33 --seed 0 --split-by-speaker
    python recipes/simulate_conversations.py --voices $TURNPOINT_DATA/voices --out $TURNPOINT_DATA/sim_test \\
        --style real --conversations 30 --min-duration 60 --max-duration 120 --seed 7000 \\
        --packages hedgewars-data klettres-data festvox-italp16k festvox-itapc16k --hold-out
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from turnpoint.changes.simulate import SimulationConfig, simulate_conversations  # noqa: E402
from turnpoint.changes.voice_pool import load_voice_pool, split_speakers  # noqa: E402

DEFAULT_HOLD_OUT = ("allison", "real_it-carlo")


def n_for(hours: float, duration_s: tuple[float, float]) -> int:
    return max(1, int(round(hours * 3600 / (sum(duration_s) / 2))))


RESERVED = ("fillets-ng-data", "asterisk-core-sounds-ru", "transcriber")


def read_manifest(voices: Path) -> dict[str, dict[str, str]]:
    path = voices / "manifest.tsv"
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return {r["speaker"]: r for r in (dict(zip(header, line.split("\t"))) for line in lines[1:] if line.strip())}


def usable(row: dict[str, str]) -> bool:
    """False for folders that mix two credited people under one label."""
    return "two credited" not in row.get("identity", "")


def write_sources(out: Path, infos: list[dict], manifest: dict[str, dict[str, str]], command: str) -> None:
    used = sorted({s for info in infos for s in info["speakers"]})
    packages: dict[str, list[str]] = {}
    for spk in used:
        packages.setdefault(manifest.get(spk, {}).get("package", "unknown"), []).append(spk)
    hours = sum(i["duration_s"] for i in infos) / 3600
    lines = [f"# Sources of {out.name}", "", f"{len(infos)} conversations, {hours:.2f} h, {len(used)} speaker folders, "
             f"{len({manifest.get(s, {}).get('person', s) for s in used})} people.", "", f"Made by: `{command}`", "",
             "| package | family | speakers (folder = person) |", "|---|---|---|"]
    for pkg in sorted(packages):
        fam = manifest.get(packages[pkg][0], {}).get("family", "")
        who = ", ".join(f"{s} = {manifest.get(s, {}).get('person', s)}" for s in packages[pkg])
        lines.append(f"| {pkg} | {fam} | {who} |")
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


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
    ap.add_argument("--packages", nargs="*", default=None,
                    help="keep speakers of these Debian packages or package families (manifest columns package/family)")
    ap.add_argument("--exclude-packages", nargs="*", default=[], help="drop speakers of these packages or families")
    ap.add_argument("--style", choices=("legacy", "real"), default="legacy",
                    help="turn taking: legacy (the shipped models' data) or real (measured statistics)")
    ap.add_argument("--profiles", default="meeting=0.7,broadcast=0.3", help="style real: profile=weight,...")
    ap.add_argument("--conversations", type=int, default=None, help="number of conversations (instead of --hours)")
    args = ap.parse_args(argv)
    manifest = read_manifest(args.voices)
    if args.packages is not None or args.exclude_packages or args.style == "real":
        chosen = []
        names = args.speakers or sorted(p.name for p in args.voices.iterdir() if p.is_dir())
        for spk in names:
            row = manifest.get(spk, {})
            keys = {row.get("package", ""), row.get("family", "")}
            if args.packages is not None and not keys & set(args.packages):
                continue
            if keys & set(args.exclude_packages) or not usable(row):
                continue
            if any(row.get("package", "").startswith(r) for r in RESERVED):
                continue
            chosen.append(spk)
        args.speakers = chosen
    config = SimulationConfig()
    if args.style == "real":
        weights = tuple((k, float(v)) for k, v in (item.split("=") for item in args.profiles.split(",")))
        config = SimulationConfig(style="real", profile_p=weights)
    command = "python recipes/simulate_conversations.py " + " ".join(argv if argv is not None else sys.argv[1:])

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
                                           prefix=name, verbose=True, config=config)
            write_sources(args.out / name, infos, manifest, command)
            total = sum(i["duration_s"] for i in infos)
            print(f"{name}: {total / 3600:.2f} h in {time.time() - t0:.0f}s", flush=True)
        print(f"held out: {splits['held_out']}")
    else:
        held = set(args.hold_out)
        speakers = [s for s, v in pool.items() if v.person not in held and s not in held]
        n = args.conversations or n_for(args.hours, dur)
        infos = simulate_conversations(args.voices, args.out, speakers=speakers, n_conversations=n,
                                       duration_s=dur, seed=args.seed, prefix="sim", verbose=True, config=config)
        write_sources(args.out, infos, manifest, command)
        print(f"{sum(i['duration_s'] for i in infos) / 3600:.2f} h")
    print(f"total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
