"""Progress by audio time: what the scoring stage reports, how a bar shows it, and silence without one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from turnpoint.core import progress
from turnpoint.changes.scoring import score_file
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.core.task import Specifications


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple] = []

    def __call__(self, *message: object) -> None:
        self.messages.append(message)

    def kinds(self) -> list[str]:
        return [message[0] for message in self.messages]

    def advanced(self) -> float:
        return sum(message[1] for message in self.messages if message[0] == "advance")


@pytest.fixture(scope="module")
def model() -> SpeakerChangeDetector:
    torch.manual_seed(0)
    return SpeakerChangeDetector(SpeakerChangeConfig()).eval()


def noise_file(path: Path, seconds: float, rate: int = 16000) -> Path:
    sf.write(path, np.random.default_rng(0).normal(scale=0.1, size=int(seconds * rate)).astype(np.float32), rate)
    return path


def test_scoring_reports_every_second_of_the_file(tmp_path: Path, model: SpeakerChangeDetector) -> None:
    path = noise_file(tmp_path / "a.wav", 7.5)
    recorder = Recorder()
    with progress.file_bar("a.wav", sink=recorder):
        scores = score_file(path, model=model, specifications=Specifications(), block_duration=2.0)
    assert recorder.messages[0] == ("file", "a.wav") and recorder.messages[-1] == ("close",)
    stages = [message for message in recorder.messages if message[0] == "stage"]
    assert stages == [("stage", "scoring", 7.5)]  # the total is the header's duration
    assert recorder.advanced() == pytest.approx(scores.duration) == pytest.approx(7.5)


def test_updates_are_rate_limited_but_none_is_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MIN_INTERVAL", 3600.0)
    recorder = Recorder()
    with progress.file_bar("b.wav", sink=recorder), progress.stage("scoring", total=100.0):
        for _ in range(100):
            progress.advance(1.0)
    assert recorder.kinds().count("advance") <= 2  # the first one, and the rest at the stage's end
    assert recorder.advanced() == pytest.approx(100.0)


def test_a_new_stage_restarts_the_count_and_bars_do_not_nest() -> None:
    outer, inner = Recorder(), Recorder()
    with progress.file_bar("c.wav", sink=outer):
        with progress.file_bar("ignored.wav", sink=inner):
            with progress.stage("scoring", total=4.0):
                progress.advance(4.0)
        with progress.stage("re-scoring", total=4.0):
            progress.advance(1.0)
    assert inner.messages == []
    assert [m for m in outer.messages if m[0] == "stage"] == [("stage", "scoring", 4.0), ("stage", "re-scoring", 4.0)]
    assert not progress.active()


def test_nothing_is_reported_without_a_bar(tmp_path: Path, model: SpeakerChangeDetector, capsys: pytest.CaptureFixture) -> None:
    score_file(noise_file(tmp_path / "d.wav", 3.0), model=model, specifications=Specifications())
    assert capsys.readouterr().err == ""


def test_the_tqdm_bar_counts_seconds_of_audio(capsys: pytest.CaptureFixture) -> None:
    with progress.file_bar("e.wav"), progress.stage("scoring", total=30.0):
        progress.advance(30.0)
    err = capsys.readouterr().err
    assert "e.wav scoring" in err and "30/30 s of audio" in err
