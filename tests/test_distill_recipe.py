"""recipes/distill_encoder.py: which voices the student may be trained on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "recipes" / "distill_encoder.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("distill_encoder_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _voice(speaker, person, package):
    return {"speaker": speaker, "person": person, "package": package}


INVENTORY = [
    _voice("flite_awb", "flite_awb", "flite"),
    _voice("flite_awb_sp0.88", "flite_awb", "flite"),
    _voice("flite_rms", "flite_rms", "flite"),
    _voice("real_es-co", "real_es-co", "asterisk-prompt-es-co"),
    _voice("real_it", "real_it", "asterisk-core-sounds-it-wav"),
    _voice("real_it_menardi", "real_it", "asterisk-prompt-it-menardi-wav"),  # one person, two packages
    _voice("ktu_fr", "ktu_fr", "ktuberling-data"),
    _voice("ru_reserved", "ru_reserved", "asterisk-core-sounds-ru-wav"),
]


def test_selection_people_held_out_and_reserved_voices_are_never_trained_on(recipe):
    train, held = recipe._split_speakers(INVENTORY, {"ktuberling-data", "asterisk-prompt-it-menardi-wav"}, set(),
                                         exclude_people={"flite_awb", "real_es-co"})  # fmt: skip
    assert [s["speaker"] for s in train] == ["flite_rms"]
    assert sorted(s["speaker"] for s in held) == ["ktu_fr", "real_it_menardi"]


def test_without_exclusions_only_perturbed_copies_reserved_and_held_people_stay_out(recipe):
    train, _ = recipe._split_speakers(INVENTORY, {"ktuberling-data", "asterisk-prompt-it-menardi-wav"}, set())
    assert [s["speaker"] for s in train] == ["flite_awb", "flite_rms", "real_es-co"]
    train, _ = recipe._split_speakers(INVENTORY, {"ktuberling-data"}, {"flite"}, perturbed=True)
    assert [s["speaker"] for s in train] == ["real_es-co", "real_it", "real_it_menardi"]


def _vowel(f0: float, formants: tuple[float, ...], seconds: float = 1.0, rate: int = 16000):
    """A steady synthetic vowel: harmonics of ``f0`` shaped by resonances at ``formants``."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(t)
    for k in range(1, int(7000 / f0)):
        frequency = k * f0
        gain = sum(1.0 / (1.0 + ((frequency - f) / 90.0) ** 2) for f in formants)
        x += gain * np.sin(2 * np.pi * frequency * t)
    return (0.1 * x / np.max(np.abs(x))).astype(np.float32)


def _f0(x, rate: int = 16000) -> float:
    import numpy as np

    x = x[rate // 4 : -rate // 4] - np.mean(x)
    corr = np.correlate(x, x, "full")[len(x) - 1 :]
    low, high = rate // 400, rate // 60
    return rate / (low + int(np.argmax(corr[low:high])))


def _centroid(x, rate: int = 16000) -> float:
    import numpy as np

    spectrum = np.abs(np.fft.rfft(x[rate // 4 : -rate // 4])) ** 2
    freqs = np.fft.rfftfreq(len(x[rate // 4 : -rate // 4]), 1 / rate)
    return float(np.sum(freqs * spectrum) / np.sum(spectrum))


def test_vocoder_warp_moves_pitch_and_vocal_tract_length_independently(recipe):
    pytest.importorskip("pyworld")
    vowel = _vowel(120.0, (700.0, 1200.0, 2600.0))
    same = recipe._vocoder_warp(vowel, 1.0, 1.0)
    higher = recipe._vocoder_warp(vowel, 1.25, 1.0)
    longer_tract = recipe._vocoder_warp(vowel, 1.0, 0.88)  # formants down, pitch kept
    assert len(same) == len(higher) == len(vowel)
    assert _f0(same) == pytest.approx(120.0, rel=0.05)
    assert _f0(higher) == pytest.approx(150.0, rel=0.05)
    assert _f0(longer_tract) == pytest.approx(120.0, rel=0.05)
    assert _centroid(higher) == pytest.approx(_centroid(same), rel=0.1)
    assert _centroid(longer_tract) < 0.95 * _centroid(same)
