"""The ``turnpoint`` command: detect outputs, batch failures, inputs, bad models, train errors.

Runs ``turnpoint.cli.main.main`` in-process (plus one real console-script subprocess) with a
randomly initialised model saved in tmp_path and synthetic conversations from ``synth``.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from synth import make_conversation

import turnpoint
from turnpoint import SpeakerChangeConfig, SpeakerChangeDetector, Specifications
from turnpoint.changes.annotations import read_rttm
from turnpoint.cli.main import main




@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    turnpoint.save_model(root / "model.safetensors", model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())
    make_conversation(root / "meeting.one.wav", seed=1, duration=8.0, rttm=False)
    return root


@pytest.fixture
def model(shared: Path) -> str:
    return str(shared / "model.safetensors")


@pytest.fixture
def wav(shared: Path, tmp_path: Path) -> Path:
    path = tmp_path / "meeting.one.wav"
    shutil.copy(shared / "meeting.one.wav", path)
    return path


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("turnpoint: error:")]


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err


# ---------------------------------------------------------------- summary


def test_summary_prints_parameter_counts(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run(capsys, "summary")
    assert code == 0
    for number in ("33,485", "33,069", "108,941"):
        assert number in out


def test_summary_of_a_model_file(capsys: pytest.CaptureFixture, model: str) -> None:
    code, out, _ = run(capsys, "summary", "--model", model)
    assert code == 0
    assert model in out and "33,485" in out


# ---------------------------------------------------------------- detect outputs


def test_detect_writes_all_outputs(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "-q", "detect", str(wav), "--model", model, "--out", str(out_dir), "--plot", "--scores")
    assert code == 0, err
    assert_no_traceback(err)
    stem = "meeting.one"
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{stem}.{ext}" for ext in ("rttm", "json", "csv", "png", "scores.csv")
    )

    data = json.loads((out_dir / f"{stem}.json").read_text())
    for key in ("changes", "segments", "frame_step", "settings", "model"):
        assert key in data
    assert data["uri"] == stem
    assert data["frame_step"] == pytest.approx(0.016)
    assert data["duration"] == pytest.approx(sf_duration(wav), abs=0.05)
    segments = data["segments"]
    assert segments[0]["start"] == 0.0
    assert segments[-1]["end"] == pytest.approx(data["duration"], abs=1e-3)
    for before, after in zip(segments, segments[1:]):
        assert before["end"] == after["start"]
    assert [s["start"] for s in segments[1:]] == data["changes"]
    assert data["model"]["path"] == model
    assert data["settings"] == {"alpha": 0.5, "min_duration": 1.0, "alpha_scale": "absolute"}

    turns = read_rttm(out_dir / f"{stem}.rttm")
    assert list(turns) == [stem]  # the RTTM file field is the audio's stem
    assert len(turns[stem]) == len(segments)
    assert turns[stem][0].start == 0.0
    assert turns[stem][-1].end == pytest.approx(data["duration"], abs=2e-3)
    for line in (out_dir / f"{stem}.rttm").read_text().splitlines():
        assert line.split()[1] == stem

    with open(out_dir / f"{stem}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(segments)
    assert {row["uri"] for row in rows} == {stem}
    assert float(rows[-1]["end"]) == pytest.approx(data["duration"], abs=1e-3)

    scores = (out_dir / f"{stem}.scores.csv").read_text().splitlines()
    assert scores[0] == "time,score"
    assert len(scores) - 1 == data["n_frames"]
    values = np.array([float(line.split(",")[1]) for line in scores[1:]])
    assert np.all((values >= 0) & (values <= 1))

    assert (out_dir / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def sf_duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def test_detect_only_rttm_and_settings_recorded(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "only_rttm"
    code, _, err = run(capsys, "-q", "detect", str(wav), "--model", model, "--out", str(out_dir), "--format", "rttm")
    assert code == 0, err
    assert [p.name for p in out_dir.iterdir()] == ["meeting.one.rttm"]

    out_dir = tmp_path / "settings"
    code, _, err = run(
        capsys, "-q", "detect", str(wav), "--model", model, "--out", str(out_dir), "--format", "json",
        "--alpha", "0.3", "--min-duration", "2.5", "--alpha-scale", "percentile",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads((out_dir / "meeting.one.json").read_text())
    assert data["settings"] == {"alpha": 0.3, "min_duration": 2.5, "alpha_scale": "percentile"}
    assert np.all(np.diff(data["changes"]) >= 2.5 - 1e-6)


def test_detect_prints_a_line_per_file(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    code, out, err = run(capsys, "detect", str(wav), "--model", model, "--out", str(tmp_path / "o"), "--format", "csv")
    assert code == 0
    assert out.splitlines()[0].startswith("meeting.one: ")
    assert "1 files done, 0 failed" in out


def test_unknown_format(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "detect", str(wav), "--model", model, "--out", str(tmp_path / "o"), "--format", "rttm,xml")
    assert code == 1
    assert "xml" in err
    assert_no_traceback(err)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "option, value",
    [("--batch-size", "0"), ("--alpha", "nan"), ("--min-duration", "inf"), ("--alpha-scale", "median")],
)
def test_invalid_option_values_are_usage_errors(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path, option: str, value: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["detect", str(wav), "--model", model, "--out", str(tmp_path / "o"), option, value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert option in err
    assert not (tmp_path / "o").exists()


def test_min_duration_zero(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "detect", str(wav), "--model", model, "--out", str(tmp_path / "o"), "--min-duration", "0")
    assert code == 1
    assert "min_duration" in err
    assert_no_traceback(err)


@pytest.mark.parametrize("device", ["banana", "cuda"])
def test_bad_device_is_one_line(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path, device: str) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code, _, err = run(capsys, "detect", str(wav), "--model", model, "--out", str(tmp_path / "o"), "--device", device)
    assert code == 1
    assert len(error_lines(err)) == 1 and device in err
    assert_no_traceback(err)


# ---------------------------------------------------------------- batches and inputs


def test_batch_with_failures(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.wav"
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + np.random.default_rng(0).bytes(300))
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "detect", str(missing), str(wav), str(corrupt), "--model", model, "--out", str(out_dir))
    assert code == 1
    assert_no_traceback(err)
    assert sorted(p.name for p in out_dir.iterdir()) == ["meeting.one.csv", "meeting.one.json", "meeting.one.rttm"]
    lines = error_lines(err)
    assert len(lines) == 2
    assert str(missing) in lines[0] and "no such file" in lines[0]
    assert str(corrupt) in lines[1]
    assert "1 files done, 2 failed" in out


def test_folder_and_list_inputs(capsys: pytest.CaptureFixture, model: str, shared: Path, tmp_path: Path) -> None:
    folder = tmp_path / "audio"
    folder.mkdir()
    shutil.copy(shared / "meeting.one.wav", folder / "a.wav")
    shutil.copy(shared / "meeting.one.wav", folder / "b.wav")
    (folder / "notes.txt").write_text("not audio\n")
    out_dir = tmp_path / "out_folder"
    code, out, err = run(capsys, "-q", "detect", str(folder), "--model", model, "--out", str(out_dir), "--format", "json")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.json", "b.json"]

    lists = tmp_path / "lists"
    lists.mkdir()
    shutil.copy(shared / "meeting.one.wav", lists / "c.wav")
    listing = lists / "files.txt"
    listing.write_text(f"# my files\nc.wav\n\n{folder / 'a.wav'}\n")  # relative to the list, and absolute
    out_dir = tmp_path / "out_list"
    code, out, err = run(capsys, "-q", "detect", str(listing), "--model", model, "--out", str(out_dir), "--format", "rttm")
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.rttm", "c.rttm"]
    assert list(read_rttm(out_dir / "c.rttm")) == ["c"]


def test_out_in_the_input_folder_never_overwrites_a_reference(capsys: pytest.CaptureFixture, model: str, shared: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(shared / "meeting.one.wav", folder / "x.wav")
    reference = folder / "x.rttm"
    reference.write_text("SPEAKER x 1 0.300 2.000 <NA> <NA> alice <NA> <NA>\nSPEAKER x 1 2.500 3.000 <NA> <NA> bob <NA> <NA>\n")
    before = reference.read_bytes()
    code, out, err = run(capsys, "-q", "detect", str(folder), "--model", model, "--out", str(folder), "--format", "rttm")
    assert code == 1
    assert_no_traceback(err)
    lines = error_lines(err)
    assert len(lines) == 1 and "overwrite" in lines[0] and "x.rttm" in lines[0]
    assert reference.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["x.rttm", "x.wav"]


def test_json_and_csv_beside_the_audio_are_allowed(capsys: pytest.CaptureFixture, model: str, tmp_path: Path) -> None:
    """Only the inputs and their RTTM/UEM annotations are protected; other outputs may sit beside the audio."""
    folder = tmp_path / "d"
    folder.mkdir()
    sibling_uem = folder / "x.uem"
    sibling_uem.write_text("x 1 0.000 5.000\n")
    make_conversation(folder / "x.wav", seed=3, duration=4.0, rttm=False)
    code, _, err = run(capsys, "-q", "detect", str(folder / "x.wav"), "--model", model, "--out", str(folder), "--format", "json,csv")
    assert code == 0, err
    assert sorted(p.name for p in folder.iterdir()) == ["x.csv", "x.json", "x.uem", "x.wav"]
    assert sibling_uem.read_text() == "x 1 0.000 5.000\n"


# ---------------------------------------------------------------- bad model files


def _metadata(path: str) -> dict[str, str]:
    with safe_open(path, "pt") as handle:
        return handle.metadata()


def _bad_models(model: str, folder: Path) -> dict[str, tuple[Path, str]]:
    shape = folder / "shape.safetensors"
    small = SpeakerChangeDetector(SpeakerChangeConfig(lstm_hidden=(16, 20)))
    save_file({k: v.contiguous() for k, v in small.state_dict().items()}, str(shape), metadata=_metadata(model))

    pickled = folder / "pickled.safetensors"
    torch.save({"state_dict": SpeakerChangeDetector(SpeakerChangeConfig()).state_dict()}, pickled)
    legacy = folder / "legacy.pt"
    torch.save({"a": torch.zeros(2)}, legacy, _use_new_zipfile_serialization=False)

    future = folder / "future.safetensors"
    config = json.loads(_metadata(model)["turnpoint"])
    config["format_version"] = 99
    network = SpeakerChangeDetector(SpeakerChangeConfig())
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(future), metadata={"turnpoint": json.dumps(config)})

    text = folder / "notes.safetensors"
    text.write_text("hello")
    return {
        "shape": (shape, "shape"),
        "pickle": (pickled, "pickle"),
        "legacy_pickle": (legacy, "pickle"),
        "version": (future, "version 99"),
        "missing": (folder / "nope.safetensors", "no such model file"),
        "text": (text, "safetensors"),
    }


@pytest.mark.parametrize("kind", ["shape", "pickle", "legacy_pickle", "version", "missing", "text"])
@pytest.mark.parametrize("command", ["detect", "summary"])
def test_bad_model_files(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path, kind: str, command: str) -> None:
    bad, expected = _bad_models(model, tmp_path)[kind]
    argv = ["detect", str(wav), "--out", str(tmp_path / "o")] if command == "detect" else ["summary"]
    code, out, err = run(capsys, *argv, "--model", str(bad))
    assert code == 1
    assert_no_traceback(err)
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"turnpoint: error: {bad}")
    assert expected in lines[0]
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- train errors


def test_train_malformed_rttm_names_file_and_line(capsys: pytest.CaptureFixture, shared: Path, tmp_path: Path) -> None:
    folder = tmp_path / "train"
    folder.mkdir()
    shutil.copy(shared / "meeting.one.wav", folder / "x.wav")
    rttm = folder / "x.rttm"
    rttm.write_text(
        "SPEAKER x 1 0.300 2.000 <NA> <NA> A <NA> <NA>\n"
        "SPEAKER x 1 2.400 2.000 <NA> <NA> B <NA> <NA>\n"
        "SPEAKER x 1 abc 2.000 <NA> <NA> A <NA> <NA>\n"
    )
    code, _, err = run(capsys, "-q", "train", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1", "--device", "cpu")
    assert code == 1
    assert_no_traceback(err)
    assert f"{rttm}:3:" in err
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_train_folder_without_audio(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "x.rttm").write_text("SPEAKER x 1 0.300 2.000 <NA> <NA> A <NA> <NA>\n")
    code, _, err = run(capsys, "-q", "train", str(folder), "--out", str(tmp_path / "run"), "--epochs", "1")
    assert code == 1
    assert_no_traceback(err)
    assert str(folder) in err and "no audio" in err


def test_train_missing_folder(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "-q", "train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert code == 1
    assert "no such file or folder" in err


@pytest.mark.parametrize(("options", "named"), [
    (["--bidirectional"], "--bidirectional is"),
    (["--features", "logmel", "--filter-augment", "6"], "--features, --filter-augment are"),
    (["--lr-decay-start", "0"], "--lr-decay-start is"),
    (["--mixup", "0.5"], "--mixup is"),
])
def test_event_training_options_are_refused_for_speaker_changes(capsys: pytest.CaptureFixture, tmp_path: Path, options: list[str], named: str) -> None:
    code, _, err = run(capsys, "-q", "train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), *options)
    assert code == 1
    assert_no_traceback(err)
    assert f"{named} for --task events" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2


# ---------------------------------------------------------------- the real console script


def test_console_script_subprocess(model: str, wav: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("turnpoint")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "turnpoint.cli.main"]
    missing = tmp_path / "missing.wav"
    out_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*command, "-q", "detect", str(wav), str(missing), "--model", model, "--out", str(out_dir), "--format", "rttm"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [f"turnpoint: error: {missing}: no such file"]
    assert (out_dir / "meeting.one.rttm").exists()

    ok = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("turnpoint ")


def test_python_m_turnpoint_exits_with_the_command_status(tmp_path: Path) -> None:
    """``python -m turnpoint`` is the console script: a failed file is exit status 1 there too."""
    missing = tmp_path / "missing.wav"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "turnpoint", "-q", "baseline", str(missing), "--system", "bic", "--alpha", "1", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) == [f"turnpoint: error: {missing}: no such file"]


def test_only_the_entry_points_import_the_top_level_cli() -> None:
    """The command modules share :mod:`turnpoint.cli.common`, never :mod:`turnpoint.cli.main` (no cycle)."""
    import ast

    cli = Path(turnpoint.__file__).parent / "cli"
    importers = []
    for path in sorted(cli.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                continue
            if "turnpoint.cli.main" in names:
                importers.append(path.name)
    assert importers == []


def test_detect_rescoring_flags(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    example = str(turnpoint.example_path())

    def changes(*options: str) -> tuple[list[float], dict]:
        out = tmp_path / "_".join(o.strip("-") for o in options) if options else tmp_path / "plain"
        assert main(["--quiet", "detect", example, "--out", str(out), "--format", "json", *options]) == 0
        data = json.loads((out / "two_speakers.json").read_text())
        return data["changes"], data["settings"]

    hybrid, settings = changes("--model", "hybrid")
    assert settings["rescoring"]["method"] == "ge2e"
    paper, paper_settings = changes("--model", "paper")
    assert "rescoring" not in paper_settings and changes("--model", "hybrid", "--no-rescore")[0] == paper
    assert hybrid != paper
    strict, strict_settings = changes("--model", "hybrid", "--rescore-threshold", "0.9")
    assert strict_settings["rescoring"]["threshold"] == 0.9 and len(strict) < len(hybrid)
    assert main(["detect", example, "--out", str(tmp_path / "x"), "--model", "paper", "--rescore-threshold", "0.3"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs re-scoring" in err[0]


# ---------------------------------------------------------------- global options, progress, messages


def test_quiet_before_or_after_the_subcommand(capsys: pytest.CaptureFixture, model: str, wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "loud"
    code, stdout, err = run(capsys, "detect", str(wav), "--model", model, "--out", f"{out}/")
    assert code == 0
    assert "meeting.one.wav scoring" in err and "s of audio" in err  # the file's bar, by audio time
    assert stdout.splitlines()[-1].startswith(f"outputs in {out}/ (1 files done")  # one slash, as given
    for argv in (["-q", "detect", str(wav)], ["detect", str(wav), "-q"], ["detect", "-q", str(wav)]):
        target = tmp_path / "_".join(argv).replace("/", "")[:40]
        code, stdout, err = run(capsys, *argv, "--model", model, "--out", str(target))
        assert code == 0 and (target / "meeting.one.json").exists()
        assert (stdout, err) == ("", ""), argv


def test_verbose_and_quiet_parse_in_either_place() -> None:
    from turnpoint.cli.main import build_parser

    parser = build_parser()
    for argv, quiet, verbose in (
        (["detect", "x.wav"], False, False),
        (["-v", "detect", "x.wav"], False, True),
        (["detect", "x.wav", "-v"], False, True),
        (["-q", "events", "x.wav"], True, False),
        (["events", "x.wav", "--quiet"], True, False),
        (["-v", "train", "data", "--out", "run", "-q"], True, True),
    ):
        args = parser.parse_args(argv)
        assert (args.quiet, args.verbose) == (quiet, verbose), argv


def test_jobs_option(capsys: pytest.CaptureFixture) -> None:
    from turnpoint.cli.main import build_parser

    parser = build_parser()
    assert parser.parse_args(["detect", "x.wav"]).jobs == "auto"
    assert parser.parse_args(["detect", "x.wav", "--jobs", "3"]).jobs == 3
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            parser.parse_args(["detect", "x.wav", "--jobs", bad])
        assert "positive integer or auto" in capsys.readouterr().err


def test_train_help_groups_the_event_options_and_shows_defaults(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    options = text.partition("\noptions:")[2]  # past the usage line, which names every option
    general, _, events = options.partition("sound events (--task events):")
    assert events, "no sound event group"
    for option in ("--classes", "--bidirectional", "--conv-kernel", "--features", "--mixup", "--architecture", "--gmm-context"):
        assert option in events and option not in general, option
    for option in ("--epochs", "--protocol", "--collar", "--rttm"):
        assert option in general and option not in events, option
    flat = " ".join(general.split())
    for default in ("(default: 50)", "(default: 128)", "(default: 0.001)", "(default: 0)"):
        assert default in flat, default


def test_truncated_mp3_is_a_warning_in_the_log_the_json_and_the_summary(model: str, tmp_path: Path) -> None:
    """A real console run: the warning names the file, in the same ``turnpoint:`` format as errors."""
    av = pytest.importorskip("av")
    seconds = 12.0
    make_conversation(tmp_path / "talk.wav", seed=3, duration=seconds, rttm=False)
    audio, rate = sf.read(tmp_path / "talk.wav", dtype="float32")
    full = tmp_path / "talk.mp3"
    with av.open(str(full), "w") as container:
        stream = container.add_stream("mp3", rate=rate)
        stream.layout = "mono"
        for start in range(0, len(audio), 1152):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, start : start + 1152], dtype=np.float32), format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    folder = tmp_path / "in"
    folder.mkdir()
    cut = folder / "talk.mp3"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "turnpoint.cli.main", "detect", str(cut), "--model", model, "--out", str(out_dir), "--format", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stderr.replace("\r", "\n").splitlines() if "turnpoint" in line and "scoring" not in line]
    warning = [line for line in ours if line.startswith(f"turnpoint: warning: {cut}: decoded ")]
    assert len(warning) == 1 and "truncated" in warning[0], result.stderr
    assert not [line for line in ours if line.startswith(("WARNING", "INFO"))]
    saved = json.loads((out_dir / "talk.json").read_text())
    assert len(saved["warnings"]) == 1 and warning[0].endswith(saved["warnings"][0])
    assert saved["duration"] < 0.6 * seconds
    assert "(1 files done, 1 with warnings, 0 failed)" in result.stdout

    again = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)  # outputs complete: skipped, said in our format
    assert again.returncode == 0
    assert "turnpoint: 1 files already have all their outputs" in again.stderr and "INFO" not in again.stderr


def test_version_and_parser_import_no_heavy_library() -> None:
    """``turnpoint --version`` and building the parser load no torch, scipy, matplotlib, onnxruntime or pyannote."""
    heavy = ("torch", "scipy", "matplotlib", "onnxruntime", "pyannote", "numpy")
    code = (
        "import sys\n"
        "from turnpoint.cli.main import build_parser, main\n"
        "build_parser()\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(name for name in {heavy!r} if name in sys.modules))\n"
        "import turnpoint\n"
        "print(turnpoint.TurnpointError.__name__, turnpoint.__version__)\n"  # the public API still resolves, on first use
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("turnpoint ") and lines[1] == "[]", result.stdout
    assert lines[2] == f"TurnpointError {turnpoint.__version__}"
    assert "detect_changes" in dir(turnpoint) and callable(turnpoint.detect_changes)
