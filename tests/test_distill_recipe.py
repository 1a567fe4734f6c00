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
