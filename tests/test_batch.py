"""Batch detection: skip what is done, resume after a kill, same outputs with several processes."""

import os
import signal
from dataclasses import dataclass
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from synth import make_conversation
from turnpoint.changes.batch import _Job, detect_files
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.modelfile import save_model
from turnpoint.core.task import Specifications


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    torch.manual_seed(0)
    model = save_model(root / "m.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())
    audio = root / "audio"
    audio.mkdir()
    for seed in range(5):
        make_conversation(audio / f"f{seed}.wav", seed=seed, duration=12.0 + 4 * seed, rttm=False)
    return root, model, audio


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_rerun_skips_complete_files_and_redoes_incomplete_ones(setup, tmp_path):
    _, model, audio = setup
    first = detect_files([audio], out_dir=tmp_path, model=model, show_progress=False)
    assert len(first.done) == 5 and not first.failures
    (tmp_path / "f2.json").unlink()
    second = detect_files([audio], out_dir=tmp_path, model=model, show_progress=False)
    assert [r.uri for r in second.done] == ["f2"]
    assert len(second.skipped) == 4
    third = detect_files([audio], out_dir=tmp_path, model=model, overwrite=True, show_progress=False)
    assert len(third.done) == 5


def test_two_processes_give_the_same_outputs(setup, tmp_path):
    _, model, audio = setup
    detect_files([audio], out_dir=tmp_path / "one", model=model, show_progress=False, formats=["rttm", "csv", "json"])
    report = detect_files([audio], out_dir=tmp_path / "two", model=model, jobs=2, show_progress=False, formats=["rttm", "csv", "json"])
    assert [r.uri for r in report.done] == [f"f{i}" for i in range(5)]
    assert _snapshot(tmp_path / "one") == _snapshot(tmp_path / "two")


def test_killed_run_resumes_to_the_same_outputs(setup, tmp_path):
    _, model, audio = setup
    detect_files([audio], out_dir=tmp_path / "clean", model=model, show_progress=False)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "turnpoint.cli.main", "-q", "detect", str(audio), "--model", str(model), "--out", str(out)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any(out.glob("*.json"))):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(out.glob("*.json")))
    assert done_before < 5, "the run finished before it could be killed"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert _snapshot(out) == _snapshot(tmp_path / "clean")  # no partial output, no temp file left


def test_same_name_in_two_folders_is_a_clear_failure(setup, tmp_path):
    _, model, audio = setup
    other = tmp_path / "other"
    other.mkdir()
    (other / "f0.wav").write_bytes((audio / "f0.wav").read_bytes())
    report = detect_files([audio / "f0.wav", other / "f0.wav"], out_dir=tmp_path / "out", model=model, show_progress=False)
    assert len(report.done) == 1
    assert "collide" in report.failures[0][1]


# ---------------------------------------------------------------- processes: this one and its workers


def _run_one_after_a_worker(path, job, loaded):
    """``_run_one``, except that this (the test's) process waits for a worker to have done a file
    first, so that a worker surely takes part however slowly it starts; workers note their thread
    budget beside the outputs."""
    import multiprocessing as mp

    from turnpoint.changes.batch import _run_one
    from turnpoint.core.windows import cpu_budget

    marker = Path(job.out_dir) / ".worker-done"
    if mp.parent_process() is None:
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return _run_one(path, job, loaded)
    result = _run_one(path, job, loaded)
    marker.write_text(f"{cpu_budget()} {torch.get_num_threads()}")
    return result


def _run_one_dying_on_f3(path, job, loaded):
    """``_run_one``, except that a worker given f3 dies; this process waits for that first (when
    ``job.wait_for_worker``)."""
    import multiprocessing as mp

    from turnpoint.changes.batch import _run_one

    marker = Path(job.out_dir) / ".worker-took-f3"
    if mp.parent_process() is not None and path.stem == "f3":
        marker.touch()
        os._exit(3)  # a worker killed mid-file (out of memory, a crash in a native library)
    if mp.parent_process() is None and job.wait_for_worker:
        deadline = time.monotonic() + 600
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return _run_one(path, job, loaded)


@dataclass(frozen=True)
class _TestJob(_Job):
    wait_for_worker: bool = False


def _batch(setup, out: Path, *, run_one, jobs, startup_s, show_progress=False, todo=None, wait_for_worker=False):
    from turnpoint.core.batch import BatchReport, run_batch
    from turnpoint.changes.modelfile import load_model

    _, model, audio = setup
    paths = sorted(audio.glob("*.wav"))
    job = _TestJob(str(out), None, None, None, ("rttm", "json"), False, False, None, 64, tuple(map(str, paths)), wait_for_worker=wait_for_worker)
    out.mkdir(parents=True, exist_ok=True)
    return run_batch(
        paths, paths if todo is None else todo, BatchReport(), run_one=run_one, job=job, loaded=load_model(model), load=load_model,
        model=str(model), device="cpu", jobs=jobs, desc="detect", show_progress=show_progress, startup_s=startup_s,
    )


def test_auto_adds_workers_with_a_share_of_the_cores_and_shows_their_bars(setup, tmp_path, capsys, monkeypatch):
    import turnpoint.core.batch_processes
    from turnpoint.core.windows import available_cpus

    monkeypatch.setattr(turnpoint.core.batch_processes, "idle_cores", lambda *args, **kwargs: 64.0)  # a quiet machine
    _, model, audio = setup
    detect_files([audio], out_dir=tmp_path / "serial", model=model, show_progress=False, formats=["rttm", "json"])
    report = _batch(setup, tmp_path / "auto", run_one=_run_one_after_a_worker, jobs="auto", startup_s=0.0, show_progress=True)
    err = capsys.readouterr().err
    processes = min(available_cpus(), 5)
    if processes < 2:
        pytest.skip("one core: auto never adds a worker")
    assert report.processes == processes and not report.failures
    assert [r.uri for r in report.results] == [f"f{i}" for i in range(5)]  # the input order, whoever did them
    budget, torch_threads = map(int, (tmp_path / "auto" / ".worker-done").read_text().split())
    assert budget == torch_threads == max(1, available_cpus() // processes)
    (tmp_path / "auto" / ".worker-done").unlink()
    assert _snapshot(tmp_path / "serial") == _snapshot(tmp_path / "auto")
    for i in range(5):  # every file's bar reached this process's stderr, a worker's through the queue
        assert f"f{i}.wav scoring" in err, err


def test_auto_keeps_a_short_batch_in_this_process(setup, tmp_path):
    report = _batch(setup, tmp_path / "out", run_one=_run_one_dying_on_f3, jobs="auto", startup_s=3600.0)
    assert report.processes == 1 and len(report.results) == 5 and not report.failures  # no worker: nobody died


def test_auto_starts_no_worker_while_the_machine_has_no_idle_core(setup, tmp_path, monkeypatch):
    import turnpoint.core.batch_processes

    checks = []
    monkeypatch.setattr(turnpoint.core.batch_processes, "idle_cores", lambda *args, **kwargs: checks.append(1) or 0.2)
    report = _batch(setup, tmp_path / "out", run_one=_run_one_dying_on_f3, jobs="auto", startup_s=0.0)
    assert report.processes == 1 and len(report.results) == 5 and not report.failures
    assert checks  # it did look, (again and again) while files were left


def test_a_worker_that_dies_fails_its_file_only(setup, tmp_path):
    _, _, audio = setup
    # this process takes the largest file (f4) first and waits; the worker's first file is f3
    report = _batch(setup, tmp_path / "out", run_one=_run_one_dying_on_f3, jobs=2, startup_s=0.0, wait_for_worker=True)
    assert report.processes == 2
    assert [path for path, _ in report.failures] == [str(audio / "f3.wav")]
    assert "worker process" in report.failures[0][1] and "died (exit code 3)" in report.failures[0][1]
    assert [r.uri for r in report.results] == ["f0", "f1", "f2", "f4"]

