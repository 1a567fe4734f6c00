"""No path of the machine that built the repository, and no internal history, in anything it ships.

Scans every file git would commit (tracked, plus untracked files that are not ignored) and the JSON
headers of the safetensors model files. The machine's paths are found from where this checkout
lies, not from a list: its own folder, the folder above it, and the build machine's work folder.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HISTORY = re.compile(r"\b(?:sessions?|issues?)\s+#?\d+|\bseed[ _-]?00\d\b", re.IGNORECASE)


def _files() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the files to ship are not known")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sorted({REPO / name.decode() for name in listed if name} - {Path(__file__).resolve()})


def _machine_paths() -> list[str]:
    """The checkout's folder and its parent, as absolute paths with a trailing slash, plus the work folder."""
    found = {"/" + "work" + "/"}  # written in two parts so that this file does not match itself
    for folder in (REPO, REPO.parent):
        if len(folder.parts) > 1:  # never "/" itself
            found.add(folder.as_posix().rstrip("/") + "/")
    return sorted(found, key=len, reverse=True)


def _safetensors_header(path: Path) -> str:
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return json.dumps(header.get("__metadata__", {}), ensure_ascii=False)


def _texts():
    """(file, list of lines) for every text file and every model header (decoded from its JSON)."""
    for path in _files():
        if not path.is_file():  # deleted in the working tree, not yet in the index
            continue
        if path.suffix == ".safetensors":
            metadata = json.loads(_safetensors_header(path))
            text = "\n".join(f"{key}: {value}" for key, value in metadata.items())
            yield path, text.replace("\\n", "\n").splitlines()
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (audio, images)
        yield path, data.decode("utf-8", errors="replace").splitlines()


def _report(hits: list[str]) -> str:
    return f"{len(hits)} occurrence(s):\n" + "\n".join(hits[:200])


def test_no_machine_path_in_any_shipped_file_or_model_header():
    needles = _machine_paths()
    hits = []
    for path, lines in _texts():
        for number, line in enumerate(lines, start=1):
            for needle in needles:
                if needle in line:
                    hits.append(f"{path.relative_to(REPO)}:{number}: {needle}: {line.strip()[:120]}")
                    break
    assert not hits, _report(hits)


def test_the_model_headers_are_scanned():
    # the scan above must see inside the model files, not skip them as binary
    headers = [path for path, _ in _texts() if path.suffix == ".safetensors"]
    assert {p.name for p in headers} >= {"default.safetensors", "paper.safetensors", "events_default.safetensors",
                                          "events_gmm.safetensors", "ge2e.safetensors"}
    assert all(any('"format"' in line for line in lines) for path, lines in _texts() if path.suffix == ".safetensors")


def test_no_internal_history_wording_in_any_shipped_file_or_model_header():
    # "session 10", "issue 7", "seed 004": the history of how the project was built, not for its readers
    hits = [f"{path.relative_to(REPO)}:{number}: {match.group(0)!r}: {line.strip()[:120]}"
            for path, lines in _texts() for number, line in enumerate(lines, start=1) for match in HISTORY.finditer(line)]
    assert not hits, _report(hits)


def test_the_scanners_find_what_they_look_for(tmp_path):
    # the patterns themselves: a path under the checkout's parent and history wording are caught
    sample = f"data in {REPO.parent.as_posix()}/data/voices (chosen in session 12, see issue #7; seed 004's network)"
    assert any(needle in sample for needle in _machine_paths())
    assert [m.group(0).lower() for m in HISTORY.finditer(sample)] == ["session 12", "issue #7", "seed 004"]
    assert not HISTORY.search("the license was issued; seeds 0, 1 and 2; a session of training")
