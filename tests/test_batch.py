"""Batch detection: skip what is done, resume after a kill, same outputs with several processes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from synth import make_conversation
from turnpoint.api import detect_files
from turnpoint.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.modelfile import save_model
from turnpoint.specs import Specifications


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
    command = [sys.executable, "-m", "turnpoint.cli", "-q", "detect", str(audio), "--model", str(model), "--out", str(out)]
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
