"""Run the CLI on the bundled examples and record, or compare, the SHA-256 of every output file.

A behaviour-preserving change (a restructure, a rename) must leave these bytes unchanged. Record
on the old code, compare on the new, on the same machine (floating point can differ between
machines, so the digests are not committed):

    python scripts/check_outputs.py record before.json
    # ... change the code ...
    python scripts/check_outputs.py compare before.json     # exit 1 and a list where bytes differ

or record on an older commit without installing it (``git worktree add ../old <commit>``):

    python scripts/check_outputs.py record before.json --checkout ../old

The runs: ``turnpoint detect`` on both bundled examples with each bundled speaker-change model
(default, hybrid, paper) and every output format, plot and report; ``turnpoint events`` on the
events example with both bundled event models, TSV, Audacity labels, scores and plot.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
EXAMPLES = Path("src") / "turnpoint" / "examples"  # in the checkout whose CLI runs
DETECT_FORMATS = "rttm,json,csv,textgrid,audacity,vtt,srt,eaf"


def _turnpoint(checkout: Path | None) -> tuple[list[str], dict[str, str] | None]:
    """The command that runs the CLI, and its environment.

    Without ``checkout``, the console script of the interpreter running this file (the checkout's
    .venv). With it, that checkout's own entry point (from its pyproject.toml) imported from its
    ``src`` by this interpreter, so that an older commit can be recorded without installing it.
    """
    if checkout is not None:
        project = tomllib.loads((checkout / "pyproject.toml").read_text())
        module, function = project["project"]["scripts"]["turnpoint"].split(":")
        code = (f"import sys; sys.argv[0] = 'turnpoint'; from {module} import {function}; "
                f"sys.exit({function}())")
        environment = dict(os.environ, PYTHONPATH=str((checkout / "src").resolve()))
        return [sys.executable, "-c", code, "--quiet"], environment
    script = Path(sys.executable).with_name("turnpoint")
    if not script.exists():
        sys.exit(f"check_outputs: no turnpoint console script beside {sys.executable}")
    return [str(script), "--quiet"], None


def runs(examples: Path) -> dict[str, list[str]]:
    """Each run's name and its CLI arguments (the output folder is appended)."""
    table: dict[str, list[str]] = {}
    for model in ("default", "hybrid", "paper"):
        for example in ("two_speakers.flac", "events_example.flac"):
            name = f"detect-{model}-{Path(example).stem}"
            table[name] = ["detect", str(examples / example), "--model", model, "--format",
                           DETECT_FORMATS, "--scores", "--plot", "--report", "--out"]
    for model in ("default", "gmm"):
        table[f"events-{model}"] = ["events", str(examples / "events_example.flac"), "--model", model,
                                    "--format", "tsv,audacity", "--scores", "--out"]
    return table


def _stable(content: bytes, root: str, checkout: Path) -> bytes:
    """The bytes with what legitimately differs between two runs blanked: the temporary output
    folder (the HTML report links its audio by path), the checkout the CLI ran from (JSON names
    the bundled model's path), the audio the report embeds (an Ogg stream carries a random serial
    number) and ELAN's creation date and relative media path."""
    content = content.replace(root.encode(), b"<OUT>")
    content = content.replace(str(checkout).encode(), b"<CHECKOUT>")
    content = re.sub(rb'data:audio/[^"]*', b"data:audio/", content)
    content = re.sub(rb'RELATIVE_MEDIA_URL="[^"]*"', b'RELATIVE_MEDIA_URL=""', content)  # ELAN's path from the output folder
    return re.sub(rb'DATE="[^"]*"', b'DATE=""', content)


def digests(checkout: Path | None = None) -> dict[str, str]:
    """Run every example and return ``{run/file: sha256}`` of what it wrote."""
    command, environment = _turnpoint(checkout)
    checkout = (checkout or CHECKOUT).resolve()
    found: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="turnpoint-outputs-") as root:
        for name, arguments in runs(checkout / EXAMPLES).items():
            out = Path(root) / name
            subprocess.run(command + arguments + [str(out)], check=True, env=environment)
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    key = f"{name}/{path.relative_to(out).as_posix()}"
                    stable = _stable(path.read_bytes(), root, checkout)
                    found[key] = hashlib.sha256(stable).hexdigest()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["record", "compare"])
    parser.add_argument("digest_file", type=Path)
    parser.add_argument("--checkout", type=Path, default=None,
                        help="run the CLI of this checkout's src/ instead of the installed one")
    args = parser.parse_args()
    now = digests(args.checkout)
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
