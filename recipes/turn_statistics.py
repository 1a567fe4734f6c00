#!/usr/bin/env python
"""Measure turn-taking statistics of real conversations, for the simulator's ``style="real"``.

Reads RTTM references, groups them into profiles and writes
``src/turnpoint/data/turn_statistics.json`` (or ``--out``): per profile, the distributions of
segment and turn durations, pauses inside a turn and between speakers, floor-transfer offsets
(negative = overlapping take-over), overlap stretches, backchannels (segments strictly inside
another speaker's segment) and intervals between changes of the active speaker set, plus rates
(see :func:`turnpoint.changes.turn_taking.turn_statistics`). With ``--simulated DIR`` it measures simulated
references the same way and prints them next to the real ones.

Default sources, under ``--shared`` (the folder holding ``real-dev/`` and ``formats/``):

* ``real-dev``: ``real-dev/ami-excerpts/*.rttm`` (ten 30 s AMI-style meeting excerpts);
* ``ami``: ``formats/ami-diarization-setup/only_words/rttms/{dev,test}/*.rttm`` (whole AMI meetings;
  the ``word_and_vocalsounds`` references repeat four of the same meetings and are not used);
* ``voxconverse``: ``formats/voxconverse/{dev,test}/*.rttm`` (broadcast debates and news).

Profiles written: ``meeting`` (real-dev + ami) and ``broadcast`` (voxconverse), each also per
source. pyannote.audio's ``dev*``/``tst*`` fixtures are never read.

Example::

    python recipes/turn_statistics.py --shared ../shared
    python recipes/turn_statistics.py --shared ../shared --simulated $TURNPOINT_DATA/sim_test --no-write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from turnpoint.changes.annotations import read_rttm  # noqa: E402
from turnpoint.core.fileio import atomic_write_text  # noqa: E402
from turnpoint.changes.turn_taking import turn_statistics  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "turnpoint" / "data" / "turn_statistics.json"
SOURCES = {
    "real-dev": ["real-dev/ami-excerpts/*.rttm"],
    "ami": ["formats/ami-diarization-setup/only_words/rttms/dev/*.rttm",
            "formats/ami-diarization-setup/only_words/rttms/test/*.rttm"],
    "voxconverse": ["formats/voxconverse/dev/*.rttm", "formats/voxconverse/test/*.rttm"],
}
PROFILES = {"meeting": ("real-dev", "ami"), "broadcast": ("voxconverse",)}
SHOWN = ("segment_s", "turn_s", "within_pause_s", "floor_transfer_s", "overlap_s", "backchannel_s", "change_interval_s")


def read_folder(patterns: list[str], root: Path) -> dict:
    files = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            if path.name.startswith(("dev", "tst")) and "pyannote" in str(path):
                continue  # reserved fixtures
            for uri, turns in read_rttm(path).items():
                files[f"{path.parent.name}/{uri}"] = turns
    return files


def summary_line(name: str, stats: dict) -> str:
    def q(key: str) -> str:
        d = stats[key]
        return "-" if not d.get("n") else "/".join(f"{d['quantiles'][k]:.2f}" for k in ("0.25", "0.50", "0.75"))
    return (f"{name:<22} files {stats['files']:>3}  speech {stats['speech_min']:7.1f} min  "
            + "  ".join(f"{k} {q(k)}" for k in SHOWN)
            + f"  overlap {stats['overlap_rate']:.3f}  overlapped transfers {stats['overlap_transition_share']:.3f}"
            f"  backchannels/min {stats['backchannels_per_minute']:.2f}  segments<1s {stats['short_segment_share']:.3f}"
            f"  change intervals<1s {stats['short_change_interval_share']:.3f}  changes/min {stats['changes_per_minute']:.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, required=True, help="folder with real-dev/ and formats/")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--no-write", action="store_true", help="only print")
    ap.add_argument("--simulated", type=Path, nargs="*", default=[], help="folders of simulated RTTMs to compare")
    args = ap.parse_args(argv)

    per_source = {}
    for name, patterns in SOURCES.items():
        files = read_folder(patterns, args.shared)
        if not files:
            print(f"error: no RTTM for {name} under {args.shared}", file=sys.stderr)
            return 1
        per_source[name] = files
    result: dict = {
        "description": "Turn-taking statistics of real references (recipes/turn_statistics.py); "
                       "durations in seconds, quantile_function at quantiles 0.00, 0.01, ..., 1.00; "
                       "definitions: turnpoint.changes.turn_taking.conversation_events.",
        "sources": {name: sorted(SOURCES[name]) for name in SOURCES},
        "profiles": {},
        "by_source": {},
    }
    for name, files in per_source.items():
        stats = turn_statistics(files)
        print(summary_line(name, stats))
        # per source, the summary quantiles are enough (the simulator samples the profiles)
        result["by_source"][name] = {k: ({kk: vv for kk, vv in v.items() if kk != "quantile_function"} if isinstance(v, dict) else v)
                                     for k, v in stats.items()}
    for profile, names in PROFILES.items():
        files = {f"{n}:{k}": v for n in names for k, v in per_source[n].items()}
        result["profiles"][profile] = turn_statistics(files)
        print(summary_line(f"profile {profile}", result["profiles"][profile]))
    for folder in args.simulated:
        files = {}
        for path in sorted(folder.glob("*.rttm")):
            files.update(read_rttm(path))
        if files:
            print(summary_line(f"simulated {folder.name}", turn_statistics(files)))
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
