"""A two-worker local Dask cluster over a folder writes the same outputs as one process."""

from pathlib import Path

import pytest
import soundfile as sf

import turnpoint
from turnpoint.changes.batch import detect_files

pytest.importorskip("distributed")
from turnpoint.changes.dask_batch import detect_files_dask  # noqa: E402

EXAMPLE = Path(turnpoint.__file__).parent / "examples" / "two_speakers.flac"


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_two_worker_dask_cluster_equals_single_process(tmp_path):
    folder = tmp_path / "archive"
    folder.mkdir()
    example, rate = sf.read(EXAMPLE, dtype="float32")
    for index, start in enumerate((0.0, 2.5, 9.0, 17.0)):
        sf.write(folder / f"show{index}.wav", example[int(start * rate) :], rate, subtype="FLOAT")
    (folder / "broken.wav").write_bytes(b"not audio at all")

    single = detect_files([folder], out_dir=tmp_path / "single", formats=("rttm", "json", "csv"), show_progress=False)
    dask = detect_files_dask([folder], out_dir=tmp_path / "dask", workers=2, formats=("rttm", "json", "csv"), show_progress=False)

    assert [r.changes for r in dask.results] == [r.changes for r in single.results]
    assert any(r.changes for r in dask.results)
    assert [p for p, _ in dask.failures] == [p for p, _ in single.failures] == [str(folder / "broken.wav")]
    assert _contents(tmp_path / "dask") == _contents(tmp_path / "single")

    again = detect_files_dask([folder], out_dir=tmp_path / "dask", workers=2, formats=("rttm", "json", "csv"), show_progress=False)
    assert len(again.skipped) == 4 and not again.done  # resumable: complete outputs are skipped
    assert len(again.failures) == 1

    from turnpoint.cli.main import main

    assert main(["-q", "detect", str(folder), "--dask", "--jobs", "2", "--format", "rttm,json,csv", "--out", str(tmp_path / "cli")]) == 1  # the broken file
    assert _contents(tmp_path / "cli") == _contents(tmp_path / "single")
    assert main(["-q", "detect", str(folder), "--dask", "--plot", "--out", str(tmp_path / "x")]) == 1
