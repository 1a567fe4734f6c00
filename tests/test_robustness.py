"""Generated bad-input suite: every reader x every kind of bad input ends in the intended one-line error.

Each case is made here in tmp_path. Bad input must raise :class:`TurnpointError` whose message is one
line starting with the file's path (and ``path:line:`` for line-based text); hard-but-valid input
(silent, very short, 8-192 kHz, 1-8 channels, clipped, DC offset, CRLF, overlapping turns) must be
processed normally. The CLI must turn the same errors into ``turnpoint: error: ...`` lines, exit 1 and
print no traceback; a batch with several bad files reports every one and still writes the good ones.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save

from turnpoint.changes.annotations import Turn, read_lab, read_list, read_rttm, read_uem
from turnpoint.changes.protocols import load_protocol
from turnpoint.core.audio import load_audio
from turnpoint.cli.main import main
from turnpoint.changes.detect import detect_changes
from turnpoint.core.errors import TurnpointError
from turnpoint.events.annotations import read_durations, read_events
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.modelfile import load_model, read_header, save_model
from turnpoint.core.header_schema import validate_model_header
from turnpoint.core.task import Specifications
from turnpoint.changes.tuning import read_tuned




@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("robust_model")
    return save_model(root / "model.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())


@pytest.fixture(scope="module")
def loaded(model_path: Path):
    return load_model(model_path)


def expect_error(call: Callable[[], object], path: Path, *, line: int | None = None, match: str | None = None) -> TurnpointError:
    """``call()`` raises a one-line TurnpointError that names ``path`` (and ``line``)."""
    with pytest.raises(TurnpointError) as caught:
        call()
    error = caught.value
    message = str(error)
    assert "\n" not in message, message
    assert error.path == str(path), message
    if line is not None:
        assert message.startswith(f"{path}:{line}: "), message
    else:  # a line-based reader may add the line
        assert message.startswith(f"{path}: ") or (error.line is not None and message.startswith(f"{path}:{error.line}: ")), message
    if line is not None:
        assert error.line == line
    if match is not None:
        assert match in message, message
    return error


# ================================================================ text readers x generic bad inputs

#: name -> (reader, suffix, one valid data line, what an empty file reads as)
TEXT_READERS: dict[str, tuple[Callable, str, str, object]] = {
    "rttm": (read_rttm, ".rttm", "SPEAKER f 1 0.50 1.25 <NA> <NA> A <NA> <NA>", {}),
    "uem": (read_uem, ".uem", "f 1 0.00 10.00", {}),
    "lab": (read_lab, ".lab", "0.00 1.25 speech", []),
    "list": (read_list, ".lst", "some/file.wav", []),
    "events": (read_events, ".tsv", "a.wav\t0.5\t1.0\tbell", {}),
    "durations": (read_durations, ".tsv", "a.wav\t10.0", {}),
}
LINE_READERS = ("rttm", "uem", "lab", "list")  # turnpoint.changes.annotations: every error names its line


@pytest.mark.parametrize("name", TEXT_READERS)
def test_text_reader_missing_file(tmp_path: Path, name: str) -> None:
    reader, suffix, _, _ = TEXT_READERS[name]
    path = tmp_path / f"missing{suffix}"
    expect_error(lambda: reader(path), path, match="no such file")


@pytest.mark.parametrize("name", TEXT_READERS)
def test_text_reader_directory(tmp_path: Path, name: str) -> None:
    reader, suffix, _, _ = TEXT_READERS[name]
    path = tmp_path / f"folder{suffix}"
    path.mkdir()
    expect_error(lambda: reader(path), path, match="directory")


@pytest.mark.parametrize("name", TEXT_READERS)
@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"], ids=["0-bytes", "blank-lines", "bom-only"])
def test_text_reader_empty_file_is_an_empty_result(tmp_path: Path, name: str, content: bytes) -> None:
    reader, suffix, _, empty = TEXT_READERS[name]
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(content)
    assert reader(path) == empty


@pytest.mark.parametrize(
    "name",
    [*LINE_READERS, "events", "durations"],
)
def test_text_reader_non_utf8_names_the_line(tmp_path: Path, name: str) -> None:
    reader, suffix, valid, _ = TEXT_READERS[name]
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes(valid.encode() + b"\n" + valid.replace("A", "\xc9").replace("a.wav", "\xe9.wav").encode("latin-1") + b"\xff\n")
    expect_error(lambda: reader(path), path, line=2)


@pytest.mark.parametrize("name", TEXT_READERS)
def test_text_reader_binary_garbage(tmp_path: Path, name: str) -> None:
    reader, suffix, _, _ = TEXT_READERS[name]
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(np.random.default_rng(1).bytes(2000) + b"\xff\xfe")
    expect_error(lambda: reader(path), path)


@pytest.mark.parametrize("name", TEXT_READERS)
def test_text_reader_crlf_equals_lf(tmp_path: Path, name: str) -> None:
    reader, suffix, valid, _ = TEXT_READERS[name]
    lf, crlf = tmp_path / f"lf{suffix}", tmp_path / f"crlf{suffix}"
    lf.write_bytes(f"{valid}\n{valid}\n".encode())
    crlf.write_bytes(f"{valid}\r\n{valid}\r\n".encode())
    result = reader(crlf)
    assert result == reader(lf)
    assert result  # the valid lines were read, not skipped


@pytest.mark.parametrize("name", ["rttm", "uem", "lab"])
def test_text_reader_truncated_mid_line_names_the_last_line(tmp_path: Path, name: str) -> None:
    reader, suffix, valid, _ = TEXT_READERS[name]
    path = tmp_path / f"cut{suffix}"
    path.write_text(f"{valid}\n{valid}\n{valid[: len(valid) // 3]}")
    expect_error(lambda: reader(path), path, line=3)


# ================================================================ numbers: negative, unparsable, absurd

RTTM = "SPEAKER f 1 {start} {duration} <NA> <NA> A <NA> <NA>\n"
UEM = "f 1 {start} {end}\n"
LAB = "{start} {end} speech\n"
EVENTS = "filename\tonset\toffset\tevent_label\na.wav\t{start}\t{end}\tbell\n"

BAD_NUMBERS = [
    # (template, fields, line of the error, words the message must hold)
    (RTTM, {"start": "1.0", "duration": "-2"}, 1, "negative"),
    (RTTM, {"start": "-0.5", "duration": "2"}, 1, "negative"),
    (RTTM, {"start": "oops", "duration": "2"}, 1, "not a number"),
    (RTTM, {"start": "1,5", "duration": "2"}, 1, "not a number"),
    (RTTM, {"start": "0x10", "duration": "2"}, 1, "not a number"),
    (RTTM, {"start": "nan", "duration": "2"}, 1, "finite"),
    (RTTM, {"start": "1", "duration": "inf"}, 1, "finite"),
    (RTTM, {"start": "1", "duration": "1e999"}, 1, "finite"),
    (RTTM, {"start": "1e308", "duration": "1e308"}, 1, "finite"),  # each finite, their sum is not
    (UEM, {"start": "5", "end": "1"}, 1, "before"),
    (UEM, {"start": "-1", "end": "1"}, 1, "negative"),
    (UEM, {"start": "0", "end": "1e400"}, 1, "finite"),
    (UEM, {"start": "0", "end": "ten"}, 1, "not a number"),
    (LAB, {"start": "2", "end": "1"}, 1, "before"),
    (LAB, {"start": "NaN", "end": "1"}, 1, "finite"),
    (LAB, {"start": "0", "end": "-Infinity"}, 1, "finite"),
    (EVENTS, {"start": "2", "end": "1"}, 2, "after"),
    (EVENTS, {"start": "-1", "end": "1"}, 2, ">= 0"),
    (EVENTS, {"start": "0", "end": "1e999"}, 2, "finite"),
    (EVENTS, {"start": "nan", "end": "1"}, 2, "finite"),
    (EVENTS, {"start": "x", "end": "1"}, 2, "not a number"),
]
READER_OF = {RTTM: (read_rttm, ".rttm"), UEM: (read_uem, ".uem"), LAB: (read_lab, ".lab"), EVENTS: (read_events, ".tsv")}


@pytest.mark.parametrize("template,fields,line,words", BAD_NUMBERS)
def test_bad_numbers_name_file_and_line(tmp_path: Path, template: str, fields: dict, line: int, words: str) -> None:
    reader, suffix = READER_OF[template]
    path = tmp_path / f"numbers{suffix}"
    path.write_text(template.format(**fields))
    expect_error(lambda: reader(path), path, line=line, match=words)


def test_bad_number_on_a_later_line_is_reported_there(tmp_path: Path) -> None:
    path = tmp_path / "long.rttm"
    good = [RTTM.format(start=f"{i}.0", duration="0.5") for i in range(40)]
    good[27] = RTTM.format(start="27.0", duration="-0.5")
    path.write_text("".join(good))
    expect_error(lambda: read_rttm(path), path, line=28, match="negative")


def test_huge_but_finite_numbers_are_read_as_written(tmp_path: Path) -> None:
    rttm = tmp_path / "big.rttm"
    rttm.write_text(RTTM.format(start="99999999999", duration="0.5") + RTTM.format(start="0", duration="1e300"))
    assert read_rttm(rttm) == {"f": [Turn(0.0, 1e300, "A"), Turn(99999999999.0, 99999999999.5, "A")]}
    uem = tmp_path / "big.uem"
    uem.write_text(UEM.format(start="0", end="1e308"))
    assert read_uem(uem) == {"f": [(0.0, 1e308)]}


def test_overlapping_rttm_segments_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "overlap.rttm"
    path.write_text(
        RTTM.format(start="0", duration="5").replace(" A ", " B ")
        + RTTM.format(start="1", duration="2")
        + RTTM.format(start="1", duration="2")  # exact duplicate
        + RTTM.format(start="2.5", duration="4")
    )
    assert read_rttm(path)["f"] == [Turn(0.0, 5.0, "B"), Turn(1.0, 3.0, "A"), Turn(1.0, 3.0, "A"), Turn(2.5, 6.5, "A")]


# ================================================================ configs: database.yml and tuned JSON


def test_yaml_code_tag_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    yml = tmp_path / "database.yml"
    yml.write_text(f"Protocols: !!python/object/apply:os.system ['touch {marker}']\n")
    expect_error(lambda: load_protocol(yml, "A.B.C", "train"), yml, line=1, match="invalid YAML")
    assert not marker.exists()


@pytest.mark.parametrize(
    "text,words",
    [
        (b"Protocols: [1, 2]\n", "Protocols"),
        (b"- a\n- b\n", "mapping"),
        (b"Protocols:\n  A:\n    B:\n      C:\n        train:\n          uri: 5\n", "must be a path"),
        (b"Protocols:\n  A:\n    B:\n      C:\n        train: {}\n", "no 'uri'"),
        (b"Protocols:\n  A: {B: {C: {train: {uri: x.lst}}}}\n  bad: [unclosed\n", "invalid YAML"),
        (b"Protocols:\n  A:\n    B:\n      C:\n        scope: [1]\n        train:\n          uri: x.lst\n", "scope"),
        (b"Protocols: \xff\n", "UTF-8"),
    ],
)
def test_bad_database_yml(tmp_path: Path, text: bytes, words: str) -> None:
    yml = tmp_path / "database.yml"
    yml.write_bytes(text)
    error = expect_error(lambda: load_protocol(yml, "A.B.C", "train"), yml)
    assert words in str(error)


@pytest.mark.parametrize(
    "text,words",
    [
        ("", "not a tuned-setting"),
        ("[1]", "needs"),
        ('{"system": "bic", "alpha": NaN, "min_duration": 1}', "finite"),
        ('{"system": "bic", "alpha": 1e999, "min_duration": 1}', "finite"),
        ('{"system": "bic", "alpha": "0.5", "min_duration": 1}', "finite"),
        ('{"system": "bic", "alpha": 1, "min_duration": "soon"}', "min_duration"),
        ('{"system": "bic", "alpha": 1, "min_duration": 0}', "min_duration"),
    ],
)
def test_bad_tuned_settings(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "tuned.json"
    path.write_text(text)
    expect_error(lambda: read_tuned(path), path, match=words)


# ================================================================ audio: bad files


def _wav(path: Path, data: np.ndarray, rate: int = 16000, **options) -> Path:
    sf.write(path, data, rate, **options)
    return path


def _bad_audio(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the error must hold); every one a different way to be broken."""
    rng = np.random.default_rng(0)
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(32000) / 16000)).astype(np.float32)
    good = _wav(folder / "reference_only.wav", tone).read_bytes()
    (folder / "reference_only.wav").unlink()
    cases: dict[str, tuple[Path, str]] = {}

    def put(name: str, data: bytes, words: str) -> None:
        path = folder / name
        path.write_bytes(data)
        cases[name] = (path, words)

    put("empty.wav", b"", "0 bytes")
    put("header_only.wav", good[:44], "no audio samples")
    put("truncated_header.wav", good[:20], "cannot decode")
    put("garbage.wav", rng.bytes(4000), "cannot decode")
    put("garbage.flac", b"fLaC" + rng.bytes(4000), "cannot decode")
    put("garbage.mp3", b"ID3" + bytes(50) + rng.bytes(1000), "cannot decode")
    put("garbage.mp4", b"\x00\x00\x00\x18ftypmp42" + rng.bytes(3000), "")
    put("text.wav", b"this is not audio\n" * 50, "cannot decode")
    put("text.ogg", b"OggS" + b"not really" * 20, "")
    zero = folder / "zero_frames.wav"
    sf.write(zero, np.zeros((0, 1), dtype=np.float32), 16000)
    cases["zero_frames.wav"] = (zero, "no audio samples")
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf), ("neg_inf.wav", -np.inf)):
        data = tone.copy()
        data[20000] = value
        cases[name] = (_wav(folder / name, data, subtype="FLOAT"), "NaN or infinite")
    cases["absurd.wav"] = (_wav(folder / "absurd.wav", tone * 1e30, subtype="FLOAT"), "far outside")
    return cases


BAD_AUDIO = [
    "empty.wav", "header_only.wav", "truncated_header.wav", "garbage.wav", "garbage.flac", "garbage.mp3", "garbage.mp4",
    "text.wav", "text.ogg", "zero_frames.wav", "nan.wav", "inf.wav", "neg_inf.wav", "absurd.wav",
]


@pytest.mark.parametrize("name", BAD_AUDIO)
def test_bad_audio_is_one_clear_error(tmp_path: Path, name: str, loaded) -> None:
    path, words = _bad_audio(tmp_path)[name]
    expect_error(lambda: load_audio(path), path, match=words)
    expect_error(lambda: detect_changes(path, model=loaded), path, match=words)


def test_missing_audio(tmp_path: Path, loaded) -> None:
    path = tmp_path / "nowhere" / "missing.wav"
    expect_error(lambda: detect_changes(path, model=loaded), path, match="no such file")


# ================================================================ audio: hard but valid


def _check_detection(path: Path, loaded, *, duration: float) -> None:
    result = detect_changes(path, model=loaded)
    assert result.duration == pytest.approx(duration, abs=2e-3)
    assert len(result.scores.values) >= 1
    assert np.all(np.isfinite(result.scores.values))
    assert np.all((result.scores.values >= 0) & (result.scores.values <= 1))
    assert all(0 < c < result.duration for c in result.changes)
    assert result.segments[0][0] == 0.0 and result.segments[-1][1] == pytest.approx(result.duration)


def _speechy(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 3 * t) > 0) + 0.01 * rng.normal(size=len(t))
    return np.stack([mono * (1 + 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 96000, 192000])
def test_sample_rates_8k_to_192k(tmp_path: Path, loaded, rate: int) -> None:
    path = _wav(tmp_path / f"r{rate}.wav", _speechy(4.0, rate), rate)
    _check_detection(path, loaded, duration=4.0)


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8])
def test_one_to_eight_channels(tmp_path: Path, loaded, channels: int) -> None:
    path = _wav(tmp_path / f"c{channels}.flac", _speechy(4.0, 16000, channels), 16000)
    _check_detection(path, loaded, duration=4.0)


@pytest.mark.parametrize(
    "name,make",
    [
        ("silent.wav", lambda: np.zeros(16000 * 5, dtype=np.float32)),
        ("shorter_than_a_window.wav", lambda: _speechy(1.0, 16000)[:, 0]),
        ("one_sample.wav", lambda: np.array([0.25], dtype=np.float32)),
        ("clipped.wav", lambda: np.clip(_speechy(5.0, 16000)[:, 0] * 50, -1, 1)),
        ("dc_offset.wav", lambda: _speechy(5.0, 16000)[:, 0] * 0.2 + 0.7),
        ("constant_full_scale.wav", lambda: np.ones(16000 * 3, dtype=np.float32) * 0.999),
        ("int16_scale_float.wav", lambda: _speechy(3.0, 16000)[:, 0] * 32767),
    ],
)
def test_hard_but_valid_audio(tmp_path: Path, loaded, name: str, make) -> None:
    data = make()
    subtype = "FLOAT" if "float" in name else None
    path = _wav(tmp_path / name, data, 16000, subtype=subtype)
    _check_detection(path, loaded, duration=len(data) / 16000)


def test_silent_audio_has_no_changes(tmp_path: Path, loaded) -> None:
    path = _wav(tmp_path / "silent.wav", np.zeros(16000 * 6, dtype=np.float32))
    result = detect_changes(path, model=loaded)
    assert np.ptp(result.scores.values) < 1e-6  # the same frame everywhere: one flat score
    assert len(result.changes) == 0


@pytest.mark.parametrize("suffix", [".mp3", ".flac", ".ogg", ".bin", ""])
def test_wrong_extension_on_valid_audio_is_read_by_content(tmp_path: Path, suffix: str) -> None:
    data = _speechy(2.0, 16000)[:, 0]
    original = _wav(tmp_path / "real.wav", data)
    renamed = tmp_path / f"renamed{suffix}"
    renamed.write_bytes(original.read_bytes())
    np.testing.assert_array_equal(load_audio(renamed), load_audio(original))


# ================================================================ model files: tampered headers


def _tampered(folder: Path, change: Callable[[dict], None], name: str = "tampered.safetensors") -> Path:
    network = SpeakerChangeDetector(SpeakerChangeConfig())
    good = save_model(folder / "good.safetensors", model=network, specifications=Specifications())
    config = read_header(good)
    change(config)
    path = folder / name
    path.write_bytes(save({k: v.contiguous() for k, v in network.state_dict().items()}, metadata={"turnpoint": json.dumps(config)}))
    return path


def _set(keys: str, value) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        *parents, last = keys.split(".")
        target = config
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _drop(keys: str) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        *parents, last = keys.split(".")
        target = config
        for key in parents:
            target = target[key]
        del target[last]

    return change


TAMPERED = {
    "lstm_hidden_is_a_string": (_set("architecture.lstm_hidden", "32,20"), "architecture.lstm_hidden: must be an array"),
    "absurd_lstm_size": (_set("architecture.lstm_hidden", [10**9, 20]), "architecture.lstm_hidden[0]"),
    "too_many_layers": (_set("architecture.mlp_hidden", [10] * 1000), "architecture.mlp_hidden"),
    "bool_as_int": (_set("architecture.input_dim", True), "architecture.input_dim: must be an integer"),
    "float_size": (_set("architecture.input_dim", 35.5), "architecture.input_dim: must be an integer"),
    "extra_architecture_key": (_set("architecture.dropout", 0.5), "architecture.dropout: unknown key"),
    "extra_top_key": (_set("payload", "__import__('os').system('id')"), "payload: unknown key"),
    "missing_specifications_key": (_drop("specifications.chunk_duration"), "missing key 'chunk_duration'"),
    "missing_defaults_key": (_drop("defaults.alpha"), "missing key 'alpha'"),
    "nan_alpha": (_set("defaults.alpha", float("nan")), "defaults.alpha: must be a finite number"),
    "alpha_scale_unknown": (_set("defaults.alpha_scale", "log"), "defaults.alpha_scale"),
    "negative_min_duration": (_set("defaults.min_duration", -1.0), "defaults.min_duration"),
    "sample_rate_absurd": (_set("specifications.features.sample_rate", 99999999999), "sample_rate"),
    "sample_rate_zero": (_set("specifications.features.sample_rate", 0), "sample_rate"),
    "frame_step_tiny": (_set("specifications.features.step_duration", 1e-12), "step_duration"),
    "chunk_absurd": (_set("specifications.chunk_duration", 1e308), "chunk_duration"),
    "fmax_above_nyquist": (_set("specifications.features.fmax", 12000.0), "Nyquist"),
    "step_above_chunk": (_set("specifications.step_duration", 4.0), "windows must overlap"),  # else frames get no score (NaN)
    "no_classes": (_set("specifications.classes", []), "classes"),
    "training_not_an_object": (_set("training", [1, 2]), "training: must be an object"),
    "name_not_a_string": (_set("name", 5), "name: must be a string"),
    "task_unknown": (_set("task", "rm -rf"), "task"),
}


@pytest.mark.parametrize("kind", TAMPERED)
def test_tampered_header_is_refused_with_the_field(tmp_path: Path, kind: str) -> None:
    change, words = TAMPERED[kind]
    path = _tampered(tmp_path, change)
    expect_error(lambda: load_model(path), path, match=words)


def test_schema_accepts_every_header_turnpoint_writes(tmp_path: Path) -> None:
    from turnpoint.events.features import event_specifications
    from turnpoint.events.model import SoundEventConfig, SoundEventDetector, SoundEventEnsemble
    from turnpoint.events.modelfile import TASK, save_event_model

    speaker = save_model(tmp_path / "s.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig(lstm_hidden=(8,), mlp_hidden=())),
                         specifications=Specifications(), training={"curve": [[0.1, 0.5]], "nested": {"a": None}})
    validate_model_header(read_header(speaker), speaker)
    events = save_event_model(tmp_path / "e.safetensors", model=SoundEventDetector(SoundEventConfig(classes=("a", "b"))),
                              specifications=event_specifications(classes=("a", "b")))
    validate_model_header(read_header(events, task=TASK), events)
    regions = save_event_model(tmp_path / "r.safetensors", model=SoundEventDetector(SoundEventConfig(classes=("a",), conv_regions=4)),
                               specifications=event_specifications(classes=("a",)))
    header = read_header(regions, task=TASK)
    validate_model_header(header, regions)
    header["architecture"]["conv_regions"] = 50  # kernel 16 over 64 bands has 49 positions
    with pytest.raises(TurnpointError, match="architecture.conv_regions"):
        validate_model_header(header, regions)
    ensemble = save_event_model(tmp_path / "n.safetensors", model=SoundEventEnsemble(SoundEventConfig(classes=("a",), members=2)),
                                specifications=event_specifications(classes=("a",)))
    header = read_header(ensemble, task=TASK)
    validate_model_header(header, ensemble)
    assert header["architecture"]["members"] == 2
    header["architecture"]["members"] = 17
    with pytest.raises(TurnpointError, match="architecture.members"):
        validate_model_header(header, ensemble)


def test_validator_rejects_deep_nesting_and_non_objects() -> None:
    with pytest.raises(TurnpointError, match="nested more than"):
        nested: list = [1]
        for _ in range(40):
            nested = [nested]
        validate_model_header({"training": {"x": nested}}, "m")
    with pytest.raises(TurnpointError, match="must be a JSON object"):
        validate_model_header([1, 2], "m")


def _raw_safetensors(path: Path, header: dict | str) -> Path:
    text = header if isinstance(header, str) else json.dumps(header)
    data = text.encode()
    path.write_bytes(struct.pack("<Q", len(data)) + data)
    return path


def test_metadata_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    path = _raw_safetensors(tmp_path / "m.safetensors", {"__metadata__": {"turnpoint": 5}})
    expect_error(lambda: load_model(path), path)


def test_deeply_nested_header_is_refused(tmp_path: Path) -> None:
    path = _raw_safetensors(tmp_path / "m.safetensors", "[" * 100_000 + "]" * 100_000)
    expect_error(lambda: load_model(path), path)


# ================================================================ CLI: exit code, one line, no traceback


def _cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("turnpoint: error:")]


def test_cli_folder_with_many_bad_files_reports_each_and_exits_1(capsys: pytest.CaptureFixture, tmp_path: Path, model_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    bad = {name: path for name, (path, _) in _bad_audio(folder).items()}
    for name in ("good_a.wav", "good_b.flac"):
        _wav(folder / name, _speechy(6.0, 16000)[:, 0])
    out = tmp_path / "out"
    code, stdout, err = _cli(capsys, "-q", "detect", str(folder), "--model", str(model_path), "--out", str(out), "--format", "rttm,json")
    assert code == 1
    assert "Traceback" not in err
    lines = _error_lines(err)
    assert len(lines) == len(bad) == len(err.strip().splitlines())
    for path in bad.values():
        assert sum(line.startswith(f"turnpoint: error: {path}: ") for line in lines) == 1, path
    assert sorted(p.name for p in out.iterdir()) == ["good_a.json", "good_a.rttm", "good_b.json", "good_b.rttm"]
    # a re-run redoes only what is missing: the good files are skipped, the bad ones fail again
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    code, stdout, err = _cli(capsys, "detect", str(folder), "--model", str(model_path), "--out", str(out), "--format", "rttm,json")
    assert code == 1 and "Traceback" not in err
    assert len(_error_lines(err)) == len(bad)
    assert "0 files done, 2 already done" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_cli_tampered_model_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = _tampered(tmp_path, _set("architecture.lstm_hidden", [10**9]))
    wav = _wav(tmp_path / "a.wav", _speechy(2.0, 16000)[:, 0])
    code, _, err = _cli(capsys, "detect", str(wav), "--model", str(path), "--out", str(tmp_path / "o"))
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [line for line in _error_lines(err)]
    assert _error_lines(err)[0].startswith(f"turnpoint: error: {path}: invalid model header: architecture.lstm_hidden[0]")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "rttm_text,line,words",
    [
        ("SPEAKER a 1 0.0 1.0 <NA> <NA> A <NA> <NA>\nSPEAKER a 1 1e308 1e308 <NA> <NA> B <NA> <NA>\n", 2, "finite"),
        ("SPEAKER a 1 0.0 -1.0 <NA> <NA> A <NA> <NA>\n", 1, "negative"),
        ("SPEAKER a 1 0.0\n", 1, "fields"),
    ],
)
def test_cli_evaluate_bad_reference(capsys: pytest.CaptureFixture, tmp_path: Path, rttm_text: str, line: int, words: str) -> None:
    reference = tmp_path / "ref.rttm"
    reference.write_text(rttm_text)
    hypothesis = tmp_path / "hyp.rttm"
    hypothesis.write_text("SPEAKER a 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    code, _, err = _cli(capsys, "evaluate", str(reference), str(hypothesis))
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"turnpoint: error: {reference}:{line}: ") and words in lines[0]


def test_cli_train_bad_uem_names_file_and_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    _wav(folder / "a.wav", _speechy(4.0, 16000)[:, 0])
    (folder / "a.rttm").write_text("SPEAKER a 1 0.0 2.0 <NA> <NA> A <NA> <NA>\nSPEAKER a 1 2.0 2.0 <NA> <NA> B <NA> <NA>\n")
    (folder / "a.uem").write_text("a 1 0.0 4.0\na 1 3.0 nan\n")
    code, _, err = _cli(capsys, "train", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1", "--device", "cpu")
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [f"turnpoint: error: {folder / 'a.uem'}:2: end time must be a finite number, got 'nan'"]
    assert not (tmp_path / "run" / "model.safetensors").exists()
