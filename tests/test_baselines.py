"""Baselines: vectorised window statistics equal the direct computation; each system finds a clear change."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from turnpoint.changes.baselines import SYSTEMS, _window_moments, detect_with_baseline, mfcc_static, score_audio
from turnpoint.cli.main import main
from turnpoint.core.errors import TurnpointError

RATE = 16000


def two_voices(seconds: float = 8.0, seed: int = 0) -> np.ndarray:
    """A low buzz then a bright buzz with different pitch: an unmistakable change at ``seconds``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    low = sum(0.9**k * np.sin(2 * np.pi * 110 * k * t) for k in range(1, 12)) * envelope
    high = sum(0.4**k * np.sin(2 * np.pi * 240 * k * t) for k in range(1, 12)) * envelope
    audio = np.concatenate([low, high]) * 0.05 + rng.normal(scale=0.003, size=2 * len(t))
    return audio.astype(np.float32)


def test_window_moments_match_direct_computation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3)) * [1.0, 2.0, 0.5] + 5.0
    w = 7
    full = _window_moments(x, w=w, full=True)
    diag = _window_moments(x, w=w, full=False)
    for t in (w, 20, 60 - w):
        left, right, both = x[t - w : t], x[t : t + w], x[t - w : t + w]
        np.testing.assert_allclose(full["mean_left"][t - w], left.mean(0), atol=1e-10)
        np.testing.assert_allclose(full["mean_right"][t - w], right.mean(0), atol=1e-10)
        np.testing.assert_allclose(full["cov_left"][t - w], np.cov(left.T, bias=True), atol=1e-10)
        np.testing.assert_allclose(full["cov_both"][t - w], np.cov(both.T, bias=True), atol=1e-10)
        np.testing.assert_allclose(diag["cov_right"][t - w], right.var(0), atol=1e-10)


def test_bic_value_by_hand():
    rng = np.random.default_rng(2)
    audio = rng.normal(scale=0.1, size=RATE * 6).astype(np.float32)
    scores = score_audio(audio, system="bic")
    x = mfcc_static(audio)
    w, t, d = 125, 180, x.shape[1]
    logdet = lambda a: np.linalg.slogdet(np.cov(a.T, bias=True) + 1e-6 * np.eye(d))[1]  # noqa: E731
    expected = w * logdet(x[t - w : t + w]) - w / 2 * logdet(x[t - w : t]) - w / 2 * logdet(x[t : t + w])
    expected -= 0.5 * (d + d * (d + 1) / 2) * math.log(2 * w)
    assert scores.values[t] == pytest.approx(expected, rel=1e-3, abs=1e-2)


@pytest.mark.parametrize("system", ["bic", "gaussian_divergence", "glr", "kernel_cpd", "ge2e"])
def test_each_system_finds_the_change(system: str):
    if SYSTEMS[system].needs:
        pytest.importorskip(SYSTEMS[system].needs)
    audio = two_voices()
    scores = score_audio(audio, system=system)
    assert scores.duration == pytest.approx(16.0)
    assert len(scores.values) == pytest.approx(16.0 / scores.frame_step, abs=2)
    assert np.isfinite(scores.values).all()
    peak = scores.times[int(np.argmax(scores.values))]
    assert abs(peak - 8.0) < 0.5, (system, peak)


def test_detect_with_baseline_and_errors(tmp_path: Path):
    audio = two_voices()
    scores = score_audio(audio, system="gaussian_divergence")
    detection = detect_with_baseline(audio, system="gaussian_divergence", alpha=0.5 * float(scores.values.max()), min_duration=2.0)
    assert len(detection.changes) == 1 and abs(detection.changes[0] - 8.0) < 0.5
    assert detection.segments[0][0] == 0.0 and detection.segments[-1][1] == pytest.approx(16.0)
    with pytest.raises(TurnpointError, match="unknown baseline 'nope'"):
        score_audio(audio, system="nope")
    with pytest.raises(TurnpointError, match="min_duration positive"):
        detect_with_baseline(audio, system="bic", alpha=1.0, min_duration=0.0)
    short = score_audio(np.zeros(RATE, dtype=np.float32), system="bic")  # shorter than two windows
    assert not short.values.any()


def test_cli_baseline(tmp_path: Path, capsys: pytest.CaptureFixture):
    sf.write(tmp_path / "talk.wav", two_voices(), RATE)
    settings = tmp_path / "glr.json"
    settings.write_text(json.dumps({"system": "glr", "alpha": 0.0, "min_duration": 2.0}))
    assert main(["-q", "baseline", str(tmp_path / "talk.wav"), "--settings", str(settings), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "talk.rttm").exists()
    code = main(["baseline", str(tmp_path / "talk.wav"), "--system", "glr"])
    err = capsys.readouterr().err
    assert code == 1 and "give --settings" in err and "Traceback" not in err
