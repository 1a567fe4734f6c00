"""Run the CLI on the bundled examples and record, or compare, the SHA-256 of every output file.

A behaviour-preserving change (a restructure, a rename) must leave these bytes unchanged. Record
on the old code, compare on the new, on the same machine (floating point can differ between
machines, so the digests are not committed):

    python scripts/check_outputs.py record before.json
    # ... change the code ...
    python scripts/check_outputs.py compare before.json     # exit 1 and a list where bytes differ

The runs: ``turnpoint detect`` on both bundled examples with each bundled speaker-change model
(default, hybrid, paper) and every output format, plot and report; ``turnpoint events`` on the
events example with both bundled event models, TSV, Audacity labels, scores and plot.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "turnpoint" / "examples"
DETECT_FORMATS = "rttm,json,csv,textgrid,audacity,vtt,srt,eaf"


def _turnpoint() -> list[str]:
    """The console script of the interpreter running this file (the checkout's .venv)."""
    script = Path(sys.executable).with_name("turnpoint")
    if not script.exists():
        sys.exit(f"check_outputs: no turnpoint console script beside {sys.executable}")
    return [str(script), "--quiet"]


def runs() -> dict[str, list[str]]:
    """Each run's name and its CLI arguments (the output folder is appended)."""
    table: dict[str, list[str]] = {}
    for model in ("default", "hybrid", "paper"):
        for example in ("two_speakers.flac", "events_example.flac"):
            name = f"detect-{model}-{Path(example).stem}"
            table[name] = ["detect", str(EXAMPLES / example), "--model", model, "--format",
                           DETECT_FORMATS, "--scores", "--plot", "--report", "--out"]
    for model in ("default", "gmm"):
        table[f"events-{model}"] = ["events", str(EXAMPLES / "events_example.flac"), "--model", model,
                                    "--format", "tsv,audacity", "--scores", "--out"]
    return table


def _stable(content: bytes, root: str) -> bytes:
    """The bytes with what legitimately differs between two runs blanked: the temporary output
    folder (the HTML report links its audio by path), the audio the report embeds (an Ogg stream
    carries a random serial number) and ELAN's creation date."""
    content = content.replace(root.encode(), b"<OUT>")
    content = re.sub(rb'data:audio/[^"]*', b"data:audio/", content)
    return re.sub(rb'DATE="[^"]*"', b'DATE=""', content)


def digests() -> dict[str, str]:
    """Run every example and return ``{run/file: sha256}`` of what it wrote."""
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="turnpoint-outputs-") as root:
        for name, arguments in runs().items():
            out = Path(root) / name
            subprocess.run(_turnpoint() + arguments + [str(out)], check=True)
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    key = f"{name}/{path.relative_to(out).as_posix()}"
                    found[key] = hashlib.sha256(_stable(path.read_bytes(), root)).hexdigest()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["record", "compare"])
    parser.add_argument("digest_file", type=Path)
    args = parser.parse_args()
    now = digests()
    if args.mode == "record":
        args.digest_file.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(now)} output files in {args.digest_file}")
        return
    before = json.loads(args.digest_file.read_text())
    problems = [f"missing now: {key}" for key in sorted(set(before) - set(now))]
    problems += [f"new: {key}" for key in sorted(set(now) - set(before))]
    problems += [f"bytes differ: {key}" for key in sorted(set(now) & set(before))
                 if now[key] != before[key]]
    for line in problems:
        print(line)
    print(f"{len(now)} output files, {len(problems)} differences")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
