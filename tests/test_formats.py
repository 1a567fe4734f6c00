"""Every format of turnpoint.changes.formats, written from a real detection and read back by the field's own library."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import html
import importlib.resources as resources
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synth import make_conversation
from turnpoint.changes.annotations import read_rttm
from turnpoint.changes.detect import detect_changes
from turnpoint.changes.detection import Detection, segments_as_turns
from turnpoint.core.errors import TurnpointError
from turnpoint.core.textfiles import read_audacity_labels
from turnpoint.events.annotations import write_event_labels
from turnpoint.changes.formats import (
    write_audacity,
    write_eaf,
    write_srt,
    write_textgrid,
    write_vtt,
)
from turnpoint.changes.outputs import OUTPUT_FORMATS, output_paths, write_outputs

# Speakers whose names a byte-oriented or ASCII-only writer would break (accents, a quote, markup
# characters, a space); the second segment and the last-but-one are non-speech.
ANA, ZOE, BJORN = 'Ana "la" García', "Zoë <Ünal> & co", "Bjørn"


@pytest.fixture(scope="module")
def audio(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("formats") / "talké.wav"
    make_conversation(path, seed=7, duration=10.0, rttm=False)  # three turns
    return path


@pytest.fixture(scope="module")
def detected(audio) -> Detection:
    """What the change detector finds in the file: segments without speaker labels."""
    result = detect_changes(audio, model="hybrid")
    assert len(result.segments) >= 2 and result.labels is None
    return result


@pytest.fixture(scope="module")
def labelled(detected) -> Detection:
    """The real detection with speaker-labelled segments, non-speech and times off the ms grid."""
    duration = detected.duration
    bounds = [0.0, 0.3127, 1.71349, 2.5, 3.0004, 4.44444, 5.1, 8.2718, duration]
    labels = [None, ANA, None, ZOE, ANA, BJORN, ZOE, None]
    assert bounds[-2] < duration
    return dataclasses.replace(detected, changes=np.array(bounds[1:-1]), segments=list(zip(bounds[:-1], bounds[1:])), labels=labels)


def speech(detection: Detection) -> list[tuple[float, float, str]]:
    return [(t.start, t.end, t.speaker) for t in segments_as_turns(detection)]


def non_speech(detection: Detection) -> list[tuple[float, float]]:
    return [segment for segment, label in zip(detection.segments, detection.labels) if label is None]


def test_segments_as_turns_uses_labels_and_drops_non_speech(labelled, detected):
    assert speech(labelled) == [(s, e, label) for (s, e), label in zip(labelled.segments, labelled.labels) if label is not None]
    assert [label for *_, label in speech(labelled)] == [ANA, ZOE, ANA, BJORN, ZOE]
    assert speech(detected) == [(s, e, f"seg{i:04d}") for i, (s, e) in enumerate(detected.segments)]
    with pytest.raises(ValueError, match="labels must be aligned"):
        segments_as_turns(dataclasses.replace(labelled, labels=labelled.labels[:-1]))


def test_rttm_writes_speaker_labels_and_no_non_speech(labelled, tmp_path):
    named = dataclasses.replace(labelled, labels=[None if x is None else x.split()[0] for x in labelled.labels])  # RTTM labels have no spaces
    paths = write_outputs(named, out_dir=tmp_path, formats=["rttm"])
    turns = read_rttm(paths["rttm"])[named.uri]
    assert [(t.start, t.end, t.speaker) for t in turns] == [(round(s, 3), round(e, 3), x) for s, e, x in speech(named)]
    assert {t.speaker for t in turns} == {"Ana", "Zoë", "Bjørn"}


def test_textgrid_tier_per_speaker_read_by_praatio(labelled, tmp_path):
    from praatio import textgrid

    path = write_textgrid(labelled, tmp_path / "talk.TextGrid")
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert list(grid.tierNames) == [ANA, ZOE, BJORN]  # in order of first appearance
    assert grid.minTimestamp == 0 and grid.maxTimestamp == pytest.approx(labelled.duration, abs=1e-6)
    for name in grid.tierNames:
        expected = [(s, e, x) for s, e, x in speech(labelled) if x == name]
        got = [(entry.start, entry.end, entry.label) for entry in grid.getTier(name).entries]
        assert [x for *_, x in got] == [x for *_, x in expected]
        np.testing.assert_allclose([t for s, e, _ in got for t in (s, e)], [t for s, e, _ in expected for t in (s, e)], atol=1e-6)
    # with the empty intervals: each tier covers the file, and non-speech is empty in every tier
    full = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
    for name in full.tierNames:
        entries = full.getTier(name).entries
        assert entries[0].start == 0 and entries[-1].end == pytest.approx(labelled.duration, abs=1e-6)
        assert all(a.end == b.start for a, b in zip(entries, entries[1:]))
        for start, end in non_speech(labelled):
            inside = [entry.label for entry in entries if entry.start < (start + end) / 2 < entry.end]
            assert inside == [""]


# Praat's own reading of a TextGrid: one "tier<TAB>start<TAB>end<TAB>label" line per interval
PRAAT_DUMP = """form Dump
  sentence file x
endform
Read from file: file$
writeInfoLine: ""
tiers = Get number of tiers
for t to tiers
  name$ = Get tier name: t
  intervals = Get number of intervals: t
  for i to intervals
    start = Get start time of interval: t, i
    end = Get end time of interval: t, i
    label$ = Get label of interval: t, i
    appendInfoLine: name$, tab$, fixed$(start, 6), tab$, fixed$(end, 6), tab$, label$
  endfor
endfor
"""


@pytest.mark.skipif(shutil.which("praat") is None, reason="Praat itself is not installed (Debian: apt-get install praat)")
def test_textgrid_read_by_praat_itself(labelled, tmp_path):
    path = write_textgrid(labelled, tmp_path / "talk.TextGrid")
    script = tmp_path / "dump.praat"
    script.write_text(PRAAT_DUMP, encoding="utf-8")
    done = subprocess.run(["praat", "--run", str(script), str(path)], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines() if line]
    got = [(float(a), float(b), label) for tier, a, b, label in rows if label]
    assert {tier for tier, *_ in rows} == {ANA, ZOE, BJORN} and all(tier == label for tier, *_, label in rows if label)
    expected = sorted(speech(labelled), key=lambda turn: ([ANA, ZOE, BJORN].index(turn[2]), turn[0]))
    assert [x for *_, x in got] == [x for *_, x in expected]
    np.testing.assert_allclose([(a, b) for a, b, _ in got], [(a, b) for a, b, _ in expected], atol=1e-6)


def test_textgrid_single_tier_and_unlabelled(labelled, detected, tmp_path):
    from praatio import textgrid

    path = write_textgrid(labelled, tmp_path / "one.TextGrid", tier_per_speaker=False)
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
    assert list(grid.tierNames) == ["speakers"]
    entries = grid.getTier("speakers").entries
    assert [entry.label or None for entry in entries] == labelled.labels  # one interval per segment, non-speech empty
    np.testing.assert_allclose([entry.start for entry in entries], [s for s, _ in labelled.segments], atol=1e-6)

    path = write_textgrid(detected, tmp_path / "plain.TextGrid")
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert list(grid.tierNames) == ["speakers"]
    assert [(round(e.start, 6), round(e.end, 6), e.label) for e in grid.getTier("speakers").entries] == [
        (round(s, 6), round(e, 6), x) for s, e, x in speech(detected)
    ]


def test_audacity_labels_read_as_tab_separated_values(labelled, tmp_path):
    path = write_audacity(labelled, tmp_path / "talk.labels.txt")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert [len(row) for row in rows] == [3] * len(speech(labelled))
    got = [(float(s), float(e), x) for s, e, x in rows]
    assert [x for *_, x in got] == [x for *_, x in speech(labelled)]
    np.testing.assert_allclose([(s, e) for s, e, _ in got], [(s, e) for s, e, _ in speech(labelled)], atol=1e-6)
    assert read_audacity_labels(path) == got
    for start, end in non_speech(labelled):
        assert not any(s < (start + end) / 2 < e for s, e, _ in got)


def test_audacity_reader_reports_the_bad_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("0.5\t1.0\tA\n1.0\tlater\tB\n", encoding="utf-8")
    with pytest.raises(TurnpointError, match=r"bad.txt:2: times must be numbers"):
        read_audacity_labels(path)


def test_webvtt_read_by_webvtt_py(labelled, tmp_path):
    import webvtt

    path = write_vtt(labelled, tmp_path / "talk.vtt")
    captions = webvtt.read(str(path))
    expected = speech(labelled)
    # webvtt-py hands voice and text over with their character references (&lt;) as written; a
    # player decodes them (WebVTT cue text parsing), so they are decoded here as it would
    assert [html.unescape(c.voice) for c in captions] == [x for *_, x in expected]
    assert [html.unescape(c.text) for c in captions] == [x for *_, x in expected]
    assert "<Ünal>" not in path.read_text(encoding="utf-8")  # a raw "<" would open a tag

    def seconds(clock: str) -> float:
        hours, minutes, rest = clock.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(rest)

    assert [(seconds(c.start), seconds(c.end)) for c in captions] == [(round(s, 3), round(e, 3)) for s, e, _ in expected]


def test_srt_read_by_srt(labelled, tmp_path):
    import srt

    path = write_srt(labelled, tmp_path / "talk.srt")
    subtitles = list(srt.parse(path.read_text(encoding="utf-8")))
    expected = speech(labelled)
    assert [s.index for s in subtitles] == list(range(1, len(expected) + 1))
    assert [s.content for s in subtitles] == [f"{x}:" for *_, x in expected]
    ms = datetime.timedelta(milliseconds=1)
    assert [(s.start // ms, s.end // ms) for s in subtitles] == [(round(a * 1000), round(b * 1000)) for a, b, _ in expected]


def test_eaf_read_by_pympi(labelled, audio, tmp_path):
    from pympi import Elan

    path = write_eaf(labelled, tmp_path / "talk.eaf")
    eaf = Elan.Eaf(str(path))
    assert sorted(eaf.get_tier_names()) == sorted([ANA, ZOE, BJORN])
    for name in (ANA, ZOE, BJORN):
        got = sorted(eaf.get_annotation_data_for_tier(name))
        assert got == [(round(s * 1000), round(e * 1000), x) for s, e, x in speech(labelled) if x == name]
        assert eaf.tiers[name][2].get("PARTICIPANT") == name
    media = eaf.media_descriptors[0]
    assert media["MEDIA_URL"] == audio.resolve().as_uri() and media["MIME_TYPE"] == "audio/x-wav"
    assert (path.parent / media["RELATIVE_MEDIA_URL"]).resolve() == audio.resolve()


def test_eaf_without_labels_has_one_tier(detected, tmp_path):
    from pympi import Elan

    eaf = Elan.Eaf(str(write_eaf(detected, tmp_path / "plain.eaf")))
    assert list(eaf.get_tier_names()) == ["speakers"]
    assert sorted(eaf.get_annotation_data_for_tier("speakers")) == [(round(s * 1000), round(e * 1000), x) for s, e, x in speech(detected)]


def test_to_annotation_is_a_pyannote_annotation(labelled, detected):
    from pyannote.core import Annotation, Segment

    annotation = labelled.to_annotation()
    assert isinstance(annotation, Annotation) and annotation.uri == labelled.uri
    got = [(segment.start, segment.end, label) for segment, _, label in annotation.itertracks(yield_label=True)]
    assert got == speech(labelled)
    assert sorted(annotation.labels()) == sorted([ANA, ZOE, BJORN])
    for start, end in non_speech(labelled):
        assert not annotation.crop(Segment(start + 1e-3, end - 1e-3))
    assert detected.to_annotation().labels() == [x for *_, x in speech(detected)]


def test_to_lhotse_gives_supervision_segments(labelled):
    from lhotse import SupervisionSegment, SupervisionSet

    segments = labelled.to_lhotse()
    assert all(isinstance(s, SupervisionSegment) for s in segments)
    assert {s.recording_id for s in segments} == {labelled.uri}
    got = [(s.start, round(s.end, 6), s.speaker) for s in segments]
    assert got == [(s, round(e, 6), x) for s, e, x in speech(labelled)]
    supervisions = SupervisionSet.from_segments(segments)  # lhotse accepts them (unique ids)
    assert len(supervisions) == len(segments) and len({s.id for s in segments}) == len(segments)


def test_write_outputs_writes_every_new_format_with_its_suffix(labelled, tmp_path):
    new = ["textgrid", "audacity", "vtt", "srt", "eaf"]
    assert set(new) <= set(OUTPUT_FORMATS)
    paths = write_outputs(labelled, out_dir=tmp_path, formats=new)
    stem = labelled.uri
    assert {fmt: path.name for fmt, path in paths.items()} == {
        "textgrid": f"{stem}.TextGrid", "audacity": f"{stem}.labels.txt", "vtt": f"{stem}.vtt", "srt": f"{stem}.srt", "eaf": f"{stem}.eaf",
    }
    assert paths == output_paths(stem, out_dir=tmp_path, formats=new)
    assert all(path.stat().st_size > 0 for path in paths.values())
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left
    with pytest.raises(TurnpointError, match="unknown output format"):
        write_outputs(labelled, out_dir=tmp_path, formats=["praat"])


def test_a_file_without_speech_writes_no_speech(labelled, tmp_path):
    import srt
    import webvtt
    from praatio import textgrid
    from pympi import Elan

    silent = dataclasses.replace(labelled, labels=[None] * len(labelled.segments))
    grid = textgrid.openTextgrid(str(write_textgrid(silent, tmp_path / "x.TextGrid")), includeEmptyIntervals=True)
    assert [(e.start, e.label) for e in grid.getTier("speakers").entries] == [(0, "")]
    assert read_audacity_labels(write_audacity(silent, tmp_path / "x.labels.txt")) == []
    assert len(webvtt.read(str(write_vtt(silent, tmp_path / "x.vtt")))) == 0
    assert list(srt.parse(write_srt(silent, tmp_path / "x.srt").read_text(encoding="utf-8"))) == []
    eaf = Elan.Eaf(str(write_eaf(silent, tmp_path / "x.eaf")))
    assert [eaf.get_annotation_data_for_tier(tier) for tier in eaf.get_tier_names()] == [[]]
    assert len(silent.to_annotation()) == 0 and silent.to_lhotse() == []


def test_labels_that_cannot_be_read_back_are_refused(labelled, tmp_path):
    broken = dataclasses.replace(labelled, labels=[None if x is None else "A\tB" for x in labelled.labels])
    for writer, name in ((write_textgrid, "x.TextGrid"), (write_audacity, "x.labels.txt"), (write_vtt, "x.vtt"), (write_srt, "x.srt"), (write_eaf, "x.eaf")):
        with pytest.raises(TurnpointError, match=r"x\..*: speaker label .* tab or line break"):
            writer(broken, tmp_path / name)
        assert not (tmp_path / name).exists()


def test_cli_detect_writes_the_new_formats(audio, tmp_path):
    from praatio import textgrid

    from turnpoint.cli.main import main

    assert main(["--quiet", "detect", str(audio), "--model", "hybrid", "--out", str(tmp_path), "--format", "rttm,textgrid,srt"]) == 0
    turns = read_rttm(tmp_path / f"{audio.stem}.rttm")[audio.stem]
    grid = textgrid.openTextgrid(str(tmp_path / f"{audio.stem}.TextGrid"), includeEmptyIntervals=False)
    assert [e.label for e in grid.getTier("speakers").entries] == [t.speaker for t in turns]
    assert (tmp_path / f"{audio.stem}.srt").read_text(encoding="utf-8").count("-->") == len(turns)


# --------------------------------------------------------------------------------------------------
# sound events


def test_event_labels_read_back_by_turnpoint_and_csv(tmp_path):
    from turnpoint.events.annotations import Event, read_events

    events = [Event(2.25, 3.5, "Air horn, truck horn"), Event(0.125, 1.0, "sirène"), Event(0.5, 4.0, "speech")]
    path = write_event_labels(tmp_path / "street.labels.txt", events)
    with open(path, encoding="utf-8", newline="") as handle:
        rows = [(float(a), float(b), c) for a, b, c in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    ordered = sorted(events, key=lambda e: e.onset)
    assert rows == [(e.onset, e.offset, e.label) for e in ordered]
    assert read_events(path, default_key="street") == {"street": ordered}  # the DCASE reader takes it as onset, offset, label


def test_cli_events_writes_audacity_labels_equal_to_the_tsv(tmp_path):
    from turnpoint.cli.main import main
    from turnpoint.events.annotations import read_events

    example = str(resources.files("turnpoint") / "examples" / "events_example.flac")
    assert main(["--quiet", "events", example, "--out", str(tmp_path), "--no-plot", "--format", "tsv,audacity"]) == 0
    tsv = read_events(tmp_path / "events_example.tsv")["events_example"]
    labels = read_audacity_labels(tmp_path / "events_example.labels.txt")
    assert tsv, "the example has events"
    assert [x for *_, x in labels] == [e.label for e in sorted(tsv, key=lambda e: (e.onset, e.offset, e.label))]
    np.testing.assert_allclose([(s, e) for s, e, _ in labels], [(e.onset, e.offset) for e in sorted(tsv, key=lambda e: (e.onset, e.offset, e.label))], atol=1e-3)
    assert main(["--quiet", "events", example, "--out", str(tmp_path / "only"), "--no-plot", "--format", "audacity"]) == 0
    assert sorted(p.name for p in (tmp_path / "only").iterdir()) == ["events_example.labels.txt"]
    assert main(["events", example, "--out", str(tmp_path / "bad"), "--format", "praat"]) == 1
