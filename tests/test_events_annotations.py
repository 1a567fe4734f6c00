"""Event annotations: every real layout in ../shared/formats, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from turnpoint.core.errors import TurnpointError
from turnpoint.events.annotations import Event, check_events_within, read_durations, read_events, read_file_pairs, read_weak_labels, write_events

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "formats"
needs_formats = pytest.mark.skipif(not FORMATS.exists(), reason="../shared/formats not present")


@needs_formats
def test_desed_validation_strong_labels_with_empty_clips():
    events = read_events(FORMATS / "desed/data/real/metadata/validation/validation.tsv")
    assert len(events) == 1168
    assert sum(map(len, events.values())) == 4239 - 15
    assert events["YU0Cg_t_3TdI_30.000_40.000"] == []  # "annotated, empty"
    assert events["Y00pbt6aJV8Y_350.000_360.000"][0] == Event(0.0, 9.971, "Vacuum_cleaner")
    assert "Y--CE2f-ttEQ_30.000_40.000" in events or any(k.startswith("Y--") for k in events)


@needs_formats
def test_desed_public_eval_and_headerless_post_processing():
    public = read_events(FORMATS / "desed/data/real/metadata/eval/public.tsv")
    assert any(k.endswith("_120_130") for k in public)
    seven = read_events(FORMATS / "desed/tests/material/post_processing/7.txt", default_key="clip")
    assert list(seven) == ["clip"] and len(seven["clip"]) == 6


@needs_formats
def test_desed_task_predictions_in_other_column_orders():
    tsv = read_events(FORMATS / "desed_task/PSDS_Eval/meta/metrics_test/student/predictions_operating_points/predictions_th_0.99.tsv")
    assert tsv["Y02sD1KJeoGA_50.000_60.000"][0] == Event(0.0, 8.832, "Frying")
    csv = read_events(FORMATS / "desed_task/PSDS_Eval/meta/metrics_test/student/predictions0.5.csv")
    assert any(e.label == "Vacuum_cleaner" and e.offset == 9.984 for items in csv.values() for e in items)
    durations = read_durations(FORMATS / "desed_task/PSDS_Eval/meta/validation_durations.tsv")
    assert durations["Y68PoupXLTzw_60.000_70.000"] == 10.0


@needs_formats
def test_desed_weak_labels_are_refused_as_events_and_read_as_tags():
    weak = FORMATS / "desed/data/real/metadata/train/weak.tsv"
    with pytest.raises(TurnpointError, match="weak"):
        read_events(weak)
    assert read_weak_labels(weak)["YKK227gPpRn4_30.000_40.000"] == ("Alarm_bell_ringing", "Speech")


@needs_formats
def test_sed_eval_lists_with_all_their_quirks():
    base = FORMATS / "sed_eval/tests/data/sound_event"
    assert read_events(base / "binary2.txt") == {}  # 0-byte file
    assert read_events(base / "binary1.txt") == {"binary1": [Event(1.2, 2.3, "event1")]}  # no final newline
    padded = read_events(base / "binary5_detected.txt")
    assert padded["mixture_devtest_babycry_000_b8da9d93e4223b58e7b2117a9b4ac436"] == [Event(0.1, 2.2, "babycry")]
    assert padded["mixture_devtest_babycry_001_1128b63726e9ed59ddc1bb944b3f22ce"] == []  # file-only row
    audioset = read_events(base / "audioset1.txt")
    assert any(e.label == "Air horn, truck horn" for items in audioset.values() for e in items)
    street = read_events(base / "street_fold1_reference.txt")  # 5 columns, scene column skipped
    assert street["b099"][:2] == [Event(0.186989, 2.558792, "car"), Event(2.421011, 4.536935, "car")]  # same-class overlap kept
    detected = read_events(base / "street_fold1_detected.txt")
    assert any(abs(e.onset - 10.2) < 1e-9 for e in detected["b099"])
    mini = read_events(base / "mini_reference.txt", default_key="m")["m"]
    assert mini == [Event(1.0, 3.0, "event1"), Event(1.5, 3.0, "event1")]
    assert [p[1].name for p in read_file_pairs(base / "file_list.txt")] == ["office_snr0_high_v2_detected.txt", "office_snr0_med_v2_detected.txt"]


@needs_formats
def test_tut_2017_ann_and_crlf_setup_list():
    root = FORMATS / "soundata-tut2017se/tests/resources/sound_datasets/tut2017se/TUT-sound-events-2017-development"
    ann = read_events(root / "non_verified/meta/street/a001.ann")
    assert list(ann) == ["a001"] and ann["a001"][0] == Event(1.589213, 2.38382, "people walking")
    with pytest.raises(TurnpointError, match=r"street_fold1_test.txt:1: "):
        read_events(root / "evaluation_setup/street_fold1_test.txt")


def _tsv(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "ref.tsv"
    path.write_text("filename\tonset\toffset\tevent_label\n" + body)
    return path


def test_onset_after_offset_names_file_and_line(tmp_path):
    path = _tsv(tmp_path, "a.wav\t1.0\t2.0\tbell\na.wav\t3.5\t3.0\tbell\n")
    with pytest.raises(TurnpointError) as error:
        read_events(path)
    assert str(error.value) == f"{path}:3: onset 3.5 is after offset 3"


def test_unknown_label_and_bad_numbers_name_file_and_line(tmp_path):
    path = _tsv(tmp_path, "a.wav\t1.0\t2.0\tbell\na.wav\t1.0\t2.0\tdog\n")
    with pytest.raises(TurnpointError, match=r"ref.tsv:3: unknown event label 'dog' \(known: bell\)"):
        read_events(path, labels=["bell"])
    with pytest.raises(TurnpointError, match=r"ref.tsv:2: onset 'x' is not a number"):
        read_events(_tsv(tmp_path, "a.wav\tx\t2.0\tbell\n"))
    with pytest.raises(TurnpointError, match=r"ref.tsv:2: row needs onset"):
        read_events(_tsv(tmp_path, "a.wav\t1.0\t\tbell\n"))
    with pytest.raises(TurnpointError, match=r"ref.tsv:2: offset '-1' must be"):
        read_events(_tsv(tmp_path, "a.wav\t0\t-1\tbell\n"))


def test_event_past_end_of_file_names_file_and_line(tmp_path):
    from turnpoint.events.training_data import collect_event_files

    sf.write(tmp_path / "a.wav", np.zeros(16000 * 3, dtype=np.float32), 16000)
    _tsv(tmp_path, "a.wav\t0.5\t1.0\tbell\na.wav\t2.5\t4.0\tbell\n")
    with pytest.raises(TurnpointError) as error:
        collect_event_files(tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'ref.tsv'}:3: event 'bell' ends at 4 s, past the end of a (3.000 s)")
    check_events_within({"a": [Event(0.0, 3.04, "bell")]}, {"a": 3.0})  # within tolerance


def test_cli_bad_reference_is_one_line_without_traceback(tmp_path, capsys):
    from turnpoint.cli.main import main

    sf.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    bad = _tsv(tmp_path, "a.wav\t0.9\t0.2\tbell\n")
    assert main(["evaluate", "--task", "events", str(bad), str(tmp_path / "a.wav")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"turnpoint: error: {bad}:2: onset 0.9 is after offset 0.2"


def test_write_read_round_trip_keeps_empty_files(tmp_path):
    events = {"x": [Event(0.25, 1.5, "Air horn, truck horn"), Event(1.0, 2.0, "bell")], "empty": []}
    path = write_events(tmp_path / "out.tsv", events)
    assert read_events(path) == events
    crlf = tmp_path / "crlf.tsv"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert read_events(crlf) == events
