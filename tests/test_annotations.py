"""Tests for turnpoint.changes.annotations, mostly on real annotation files from public repositories.

The fixtures live in ``<repo>/../shared/formats`` (see its README.md for the quirks each file has).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from turnpoint.changes.annotations import (
    Turn,
    change_points,
    read_lab,
    read_list,
    read_rttm,
    read_uem,
    write_rttm,
    write_uem,
)
from turnpoint.changes.protocols import ProtocolFile, load_protocol
from turnpoint.core.errors import TurnpointError

FORMATS = Path(__file__).resolve().parents[1].parent / "shared" / "formats"
SOURCES = ("voxconverse", "ami-diarization-setup", "dscore", "pyannote-audio", "pyannote-database")


def _collect(*patterns: str) -> list[Path]:
    if not FORMATS.is_dir():
        return []
    found: set[Path] = set()
    for source in SOURCES:
        for pattern in patterns:
            found.update(p for p in (FORMATS / source).rglob(pattern) if p.is_file())
    return sorted(found)


def _lists() -> list[Path]:
    return sorted(set(_collect("*.lst")) | {p for p in _collect("*.txt") if p.parent.name == "lists"})


RTTMS = _collect("*.rttm")
UEMS = _collect("*.uem")
LABS = _collect("*.lab")
LISTS = _lists()


def _id(path: Path) -> str:
    return str(path.relative_to(FORMATS))


@pytest.fixture(scope="module")
def formats() -> Path:
    if not FORMATS.is_dir():
        pytest.skip(f"real annotation fixtures not found at {FORMATS}")
    return FORMATS


def _raw_lines(path: Path) -> list[str]:
    """Non-blank lines, decoded independently of the code under test."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _raw_speaker_fields(path: Path) -> list[list[str]]:
    return [line.split() for line in _raw_lines(path) if line.split()[0] == "SPEAKER"]


def _as_tuples(turns: list[Turn]) -> list[tuple[float, float, str]]:
    return [(t.start, t.end, t.speaker) for t in turns]


def _approx_tuples(items: list[tuple[float, float, str]]) -> list[tuple]:
    return [(pytest.approx(a), pytest.approx(b), c) for a, b, c in items]


def _regions_close(a: list[tuple[float, float]], b: list[tuple[float, float]], tol: float) -> bool:
    return len(a) == len(b) and all(abs(x0 - y0) <= tol and abs(x1 - y1) <= tol for (x0, x1), (y0, y1) in zip(a, b))


# --------------------------------------------------------------------------------------------------
# every real file reads


def test_fixture_inventory(formats: Path) -> None:
    # guards against a glob silently matching nothing
    assert len(RTTMS) == (12 + 13) + (18 + 2 + 4 + 2) + 2 + (3 + 1) + 1 == 58
    assert len(UEMS) == 18 + 2 + 2 + 3 + 1 == 26
    assert len(LABS) == 8
    assert len(LISTS) == 6 + 3 + 1 == 10


@pytest.mark.parametrize("path", RTTMS, ids=_id)
def test_every_rttm_reads_with_exact_turn_count(formats: Path, path: Path) -> None:
    raw = _raw_speaker_fields(path)
    turns = read_rttm(path)
    assert sum(len(t) for t in turns.values()) == len(raw)
    assert set(turns) == {fields[1] for fields in raw}
    # same multiset of (uri, start, end, speaker) as an independent parse
    expected = sorted((f[1], float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in raw)
    got = sorted((uri, t.start, t.end, t.speaker) for uri, ts in turns.items() for t in ts)
    for (eu, es, ee, esp), (gu, gs, ge, gsp) in zip(expected, got):
        assert (eu, esp) == (gu, gsp)
        assert gs == pytest.approx(es, abs=1e-9) and ge == pytest.approx(ee, abs=1e-9)
    for uri_turns in turns.values():
        assert uri_turns == sorted(uri_turns, key=lambda t: (t.start, t.end, t.speaker))
        assert all(isinstance(t.start, float) and t.end >= t.start >= 0 for t in uri_turns)


@pytest.mark.parametrize("path", UEMS, ids=_id)
def test_every_uem_reads(formats: Path, path: Path) -> None:
    raw = [line.split() for line in _raw_lines(path) if not line.startswith(";")]
    regions = read_uem(path)
    assert set(regions) == {f[0] for f in raw}
    for uri, spans in regions.items():
        assert spans == sorted(spans)
        assert all(a <= b for a, b in spans)
        assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))  # merged
        # no raw region in these fixtures overlaps another, so nothing is merged away
        assert len(spans) == sum(1 for f in raw if f[0] == uri)
        assert sum(b - a for a, b in spans) == pytest.approx(
            sum(float(f[3]) - float(f[2]) for f in raw if f[0] == uri)
        )


@pytest.mark.parametrize("path", LABS, ids=_id)
def test_every_lab_reads(formats: Path, path: Path) -> None:
    raw = [line.split() for line in _raw_lines(path)]
    segments = read_lab(path)
    assert len(segments) == len(raw) > 0
    assert {label for _, _, label in segments} == {"speech"}
    assert segments == sorted((float(f[0]), float(f[1]), f[2]) for f in raw)


@pytest.mark.parametrize("path", LISTS, ids=_id)
def test_every_list_reads(formats: Path, path: Path) -> None:
    items = read_list(path)
    assert items == [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert items and all(item and item == item.strip() for item in items)


# --------------------------------------------------------------------------------------------------
# quirks of specific real files


def test_voxconverse_dev_unsorted_becomes_sorted(formats: Path) -> None:
    path = formats / "voxconverse/dev/afjiv.rttm"
    raw_starts = [float(f[3]) for f in _raw_speaker_fields(path)]
    assert raw_starts != sorted(raw_starts)  # the quirk is really there
    assert _raw_speaker_fields(path)[0][7] == "spk00" and raw_starts[0] == 41.12
    turns = read_rttm(path)["afjiv"]
    assert [t.start for t in turns] == sorted(raw_starts)
    assert turns[0].start == min(raw_starts) < 41.12 and turns[0].speaker != "spk00"


@pytest.mark.parametrize(
    ("rel", "uri", "start", "duration"),
    [
        ("voxconverse/dev/sikkm.rttm", "sikkm", 0.12, 62.72),
        ("voxconverse/dev/vysqj.rttm", "vysqj", 0.24, 84.52),
        ("voxconverse/test/jxydp.rttm", "jxydp", 0.02, 86.0),
    ],
)
def test_voxconverse_single_segment(formats: Path, rel: str, uri: str, start: float, duration: float) -> None:
    turns = read_rttm(formats / rel)
    assert list(turns) == [uri]
    (turn,) = turns[uri]
    assert turn.speaker == "spk00"
    assert turn.start == pytest.approx(start) and turn.end == pytest.approx(start + duration)
    assert change_points(turns[uri]) == [pytest.approx(start), pytest.approx(start + duration)]


def test_voxconverse_precision_differs_between_splits(formats: Path) -> None:
    dev = read_rttm(formats / "voxconverse/dev/abjxc.rttm")["abjxc"]
    test = read_rttm(formats / "voxconverse/test/aepyx.rttm")["aepyx"]
    assert (dev[0].start, dev[0].end) == (pytest.approx(0.4), pytest.approx(7.04))
    assert (test[0].start, test[0].end) == (pytest.approx(2.5), pytest.approx(6.16))


def test_voxconverse_same_speaker_overlap_is_kept(formats: Path) -> None:
    turns = read_rttm(formats / "voxconverse/test/optsn.rttm")["optsn"]
    spk01 = [t for t in turns if t.speaker == "spk01" and 845 < t.start < 847]
    assert _as_tuples(spk01) == _approx_tuples([(845.61, 846.21, "spk01"), (846.2, 847.19, "spk01")])
    assert spk01[1].start < spk01[0].end  # overlap by 10 ms
    # for change detection the two are one turn of spk01
    assert change_points(spk01) == [pytest.approx(845.61), pytest.approx(847.19)]


def test_voxconverse_largest_file(formats: Path) -> None:
    turns = read_rttm(formats / "voxconverse/test/diysk.rttm")["diysk"]
    assert len(turns) == len(_raw_speaker_fields(formats / "voxconverse/test/diysk.rttm")) > 300
    points = change_points(turns)
    assert points == sorted(points)
    assert all(b - a > 1e-6 for a, b in zip(points, points[1:]))


def test_ami_integer_durations(formats: Path) -> None:
    turns = read_rttm(formats / "ami-diarization-setup/word_and_vocalsounds/rttms/dev/ES2011a.rttm")["ES2011a"]
    assert Turn(start=166.81, end=169.81, speaker="FEE043") in turns
    assert Turn(start=387.856, end=389.856, speaker="FEE041") in turns
    only_words = read_rttm(formats / "ami-diarization-setup/only_words/rttms/dev/ES2011a.rttm")["ES2011a"]
    assert Turn(start=166.81, end=169.81, speaker="FEE043") in only_words
    assert only_words[0] == Turn(start=34.27, end=44.39, speaker="FEE041")


def test_ami_uem_and_lab(formats: Path) -> None:
    assert read_uem(formats / "ami-diarization-setup/uems/dev/ES2011a.uem") == {"ES2011a": [(0.0, 1113.845375)]}
    lab = read_lab(formats / "ami-diarization-setup/only_words/labs/dev/ES2011a.lab")
    assert lab[0] == (34.27, 44.39, "speech")


def test_ami_lists(formats: Path) -> None:
    dev = read_list(formats / "ami-diarization-setup/lists/dev.meetings.txt")
    assert len(dev) == 18 and dev[0] == "IS1008a" and dev[-1] == "IB4011" and "ES2011a" in dev
    assert "FEE041" in read_list(formats / "ami-diarization-setup/lists/dev.speakers.txt")


def test_dscore_multi_region_uem_with_comment_and_no_final_newline(formats: Path) -> None:
    path = formats / "dscore/scorelib/tests/test_load.uem"
    assert not path.read_bytes().endswith(b"\n") and b"; A comment." in path.read_bytes()
    assert read_uem(path) == {"FILE1": [(0.0, 15.0), (25.0, 30.4)], "FILE2": [(4.5, 13.24)]}
    assert read_uem(formats / "dscore/scorelib/tests/test_write.uem") == {
        "FILE1": [(0.0, 10.6)],
        "FILE2": [(4.5, 13.24)],
    }


def test_dscore_cross_speaker_overlap(formats: Path) -> None:
    turns = read_rttm(formats / "dscore/scorelib/tests/ref.rttm")["FILE1"]
    assert _as_tuples(turns[:3]) == _approx_tuples(
        [(0.0, 0.558, "speaker1"), (0.678, 2.211, "speaker2"), (1.1, 4.328, "speaker1")]
    )
    assert change_points(turns[:3]) == pytest.approx([0.0, 0.558, 0.678, 1.1, 2.211, 4.328])


def test_pyannote_audio_na_channel_uem(formats: Path) -> None:
    regions = read_uem(formats / "pyannote-audio/tests/data/debug.train.uem")
    assert regions == {f"trn{i:02d}": [(0.0, 30.0)] for i in range(10)}


def test_pyannote_audio_multi_uri_rttm_and_non_ascii_speaker(formats: Path) -> None:
    turns = read_rttm(formats / "pyannote-audio/tests/data/debug.train.rttm")
    assert sorted(turns) == [f"trn{i:02d}" for i in range(10)]
    assert turns["trn00"][0] == Turn(start=3.168, end=3.968, speaker="MÉO069")
    assert "MÉO069" in {t.speaker for t in turns["trn00"]}


def test_pyannote_audio_list_rttm_mismatch_is_returned_as_is(formats: Path) -> None:
    uris = read_list(formats / "pyannote-audio/tests/data/debug.train.lst")
    assert uris[0] == "trñ00"  # NFC n-tilde, not normalised or "fixed"
    assert uris[1:] == [f"trn{i:02d}" for i in range(1, 10)]
    turns = read_rttm(formats / "pyannote-audio/tests/data/debug.train.rttm")
    assert "trñ00" not in turns and "trn00" in turns


def test_pyannote_audio_sample_overlap(formats: Path) -> None:
    turns = read_rttm(formats / "pyannote-audio/src/pyannote/audio/sample/sample.rttm")["sample"]
    outer = next(t for t in turns if t.speaker == "speaker90" and t.start == pytest.approx(18.05))
    inner = next(t for t in turns if t.speaker == "speaker91" and t.start == pytest.approx(18.15))
    assert outer.start < inner.start and inner.end < outer.end


def test_pyannote_database_files(formats: Path) -> None:
    data = formats / "pyannote-database/tests/data"
    assert read_list(data / "lists/train.lst") == ["filename1", "filename2"]  # no final newline
    assert read_rttm(data / "rttms/train.rttm") == {
        "filename1": [Turn(start=0.2, end=0.9, speaker="speaker_A")],
        "filename2": [Turn(start=0.2, end=1.1, speaker="speaker_B")],
    }
    assert read_uem(data / "uems/train.uem") == {"filename1": [(0.0, 2.0)], "filename2": [(0.0, 2.0)]}


# --------------------------------------------------------------------------------------------------
# cross-check against pyannote.database (test-only dependency)


@pytest.mark.parametrize(
    "rel",
    [
        "voxconverse/dev/afjiv.rttm",
        "voxconverse/test/optsn.rttm",
        "ami-diarization-setup/word_and_vocalsounds/rttms/dev/ES2011a.rttm",
        "pyannote-audio/tests/data/debug.train.rttm",
        "dscore/scorelib/tests/ref.rttm",
    ],
)
def test_rttm_matches_pyannote_database(formats: Path, rel: str) -> None:
    util = pytest.importorskip("pyannote.database.util")
    try:
        theirs = util.load_rttm(str(formats / rel))
    except ImportError as exc:  # pandas missing
        pytest.skip(str(exc))
    ours = read_rttm(formats / rel)
    assert set(ours) == set(theirs)
    for uri, annotation in theirs.items():
        expected = sorted((s.start, s.end, label) for s, _, label in annotation.itertracks(yield_label=True))
        got = [(t.start, t.end, t.speaker) for t in ours[uri]]
        assert len(got) == len(expected)
        for (gs, ge, gl), (es, ee, el) in zip(got, sorted(expected)):
            assert gl == el and gs == pytest.approx(es, abs=1e-6) and ge == pytest.approx(ee, abs=1e-6)


@pytest.mark.parametrize(
    "rel",
    # not dscore's test_load.uem: pyannote.database's load_uem cannot parse its "; A comment." line
    ["dscore/scorelib/tests/test_write.uem", "pyannote-audio/tests/data/debug.test.uem",
     "ami-diarization-setup/uems/dev/IB4001.uem"],
)
def test_uem_matches_pyannote_database(formats: Path, rel: str) -> None:
    util = pytest.importorskip("pyannote.database.util")
    try:
        theirs = util.load_uem(str(formats / rel))
    except ImportError as exc:
        pytest.skip(str(exc))
    ours = read_uem(formats / rel)
    assert set(ours) == set(theirs)
    for uri, timeline in theirs.items():
        expected = [(s.start, s.end) for s in timeline.support()]
        assert _regions_close(ours[uri], expected, 1e-9)


# --------------------------------------------------------------------------------------------------
# load_protocol


def test_load_protocol_ami_development(formats: Path) -> None:
    yml = formats / "ami-diarization-setup/pyannote/database.yml"
    assert not yml.read_bytes().endswith(b"\n")  # quirk: no final newline
    files = load_protocol(yml, "AMI.SpeakerDiarization.only_words", "development")
    uris = read_list(formats / "ami-diarization-setup/lists/dev.meetings.txt")
    assert [f.uri for f in files] == uris and len(files) == 18
    for f in files:
        assert isinstance(f, ProtocolFile)
        assert f.scope == "file"
        assert f.audio == yml.parent / "amicorpus" / f.uri / "audio" / f"{f.uri}.Mix-Headset.wav"
        rttm = formats / f"ami-diarization-setup/only_words/rttms/dev/{f.uri}.rttm"
        assert f.turns == read_rttm(rttm)[f.uri]
        assert len(f.turns) == len(_raw_speaker_fields(rttm)) > 0
        assert f.annotated is not None and len(f.annotated) == 1
        start, end = f.annotated[0]
        assert start == 0.0 and end > f.turns[-1].start


def test_load_protocol_ami_word_and_vocalsounds_missing_rttm(formats: Path) -> None:
    yml = formats / "ami-diarization-setup/pyannote/database.yml"
    # only 4 of the 18 development RTTMs were copied: the first missing one (in list order) is named
    with pytest.raises(TurnpointError) as info:
        load_protocol(yml, "AMI.SpeakerDiarization.word_and_vocalsounds", "development")
    message = str(info.value)
    assert "word_and_vocalsounds/rttms/dev/IS1008b.rttm: no such file" in message
    assert "'IS1008b'" in message and str(yml) in message
    with pytest.raises(TurnpointError, match=r"IS1009b\.rttm"):
        load_protocol(yml, "AMI.SpeakerDiarization.only_words", "test")


def test_load_protocol_ami_audio_first_existing_template(formats: Path, tmp_path: Path) -> None:
    text = (formats / "ami-diarization-setup/pyannote/database.yml").read_text(encoding="utf-8")
    base = formats / "ami-diarization-setup"
    text = text.replace("AMI: amicorpus/{uri}/audio/{uri}.Mix-Headset.wav",
                        "AMI:\n    - nowhere/{uri}.wav\n    - audio/{uri}.flac")
    text = text.replace("../", f"{base}/")
    yml = tmp_path / "database.yml"
    yml.write_text(text, encoding="utf-8")
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "IB4001.flac").write_bytes(b"")
    files = {f.uri: f for f in load_protocol(yml, "AMI.SpeakerDiarization.only_words", "development")}
    assert files["IB4001"].audio == tmp_path / "audio" / "IB4001.flac"
    assert files["ES2011a"].audio == tmp_path / "nowhere" / "ES2011a.wav"  # none exists: first template


def test_load_protocol_pyannote_audio_debug(formats: Path) -> None:
    yml = formats / "pyannote-audio/tests/data/database.yml"
    with pytest.warns(UserWarning, match="trñ00"):
        train = load_protocol(yml, "Debug.SpeakerDiarization.Debug", "train")
    assert [f.uri for f in train] == ["trñ00"] + [f"trn{i:02d}" for i in range(1, 10)]
    # the list names trñ00 but the RTTM/UEM say trn00: tolerated as annotated-but-empty, with a warning
    assert train[0].turns == [] and train[0].annotated == []
    assert train[0].audio == yml.parent / "trñ00.wav"
    rttm = read_rttm(yml.parent / "debug.train.rttm")
    for f in train[1:]:
        assert f.turns == rttm[f.uri] and f.annotated == [(0.0, 30.0)]
    assert {f.scope for f in train} == {"database"}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        development = load_protocol(yml, "Debug.SpeakerDiarization.Debug", "development")
        test = load_protocol(yml, "Debug.SpeakerDiarization.Debug", "test")
    assert [f.uri for f in development] == ["dev00", "dev01"]
    assert [f.uri for f in test] == ["tst00", "tst01"]
    for subset, files in (("development", development), ("test", test)):
        rttm = read_rttm(yml.parent / f"debug.{subset}.rttm")
        for f in files:
            assert f.turns == rttm[f.uri] and len(f.turns) > 0
            assert f.annotated == [(0.0, 30.0)]
            assert f.audio == yml.parent / f"{f.uri}.wav"


def test_load_protocol_matches_pyannote_database(formats: Path) -> None:
    registry = pytest.importorskip("pyannote.database").registry
    cases = [
        (formats / "pyannote-audio/tests/data/database.yml", "Debug.SpeakerDiarization.Debug", "development"),
        (formats / "pyannote-audio/tests/data/database.yml", "Debug.SpeakerDiarization.Debug", "test"),
        (formats / "ami-diarization-setup/pyannote/database.yml", "AMI.SpeakerDiarization.only_words", "development"),
    ]
    loaded: set[Path] = set()
    for yml, name, subset in cases:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if yml not in loaded:
                    registry.load_database(str(yml))
                    loaded.add(yml)
                theirs = list(getattr(registry.get_protocol(name), subset)())
        except Exception as exc:  # pragma: no cover - depends on the installed pyannote stack
            pytest.skip(f"pyannote.database cannot load {yml}: {exc}")
        ours = load_protocol(yml, name, subset)
        assert [f.uri for f in ours] == [f["uri"] for f in theirs]
        for mine, their in zip(ours, theirs):
            assert len(mine.turns) == len(list(their["annotation"].itertracks()))
            assert _regions_close(mine.annotated, [(s.start, s.end) for s in their["annotated"].support()], 1e-9)


def test_load_protocol_pyannote_database(formats: Path) -> None:
    yml = formats / "pyannote-database/tests/data/database.yml"
    files = load_protocol(yml, "MyDatabase.SpeakerDiarization.MySpeakerDiarization", "train")
    assert files == [
        ProtocolFile(uri="filename1", audio=None, turns=[Turn(start=0.2, end=0.9, speaker="speaker_A")],
                     annotated=[(0.0, 2.0)]),
        ProtocolFile(uri="filename2", audio=None, turns=[Turn(start=0.2, end=1.1, speaker="speaker_B")],
                     annotated=[(0.0, 2.0)]),
    ]
    # generic protocol (keys speaker/transcription/domain, no annotation): turns and regions unknown
    generic = load_protocol(yml, "MyDatabase.Protocol.MyProtocol", "train")
    assert [(f.uri, f.turns, f.annotated) for f in generic] == [("filename1", None, None), ("filename2", None, None)]
    verification = load_protocol(yml, "MyDatabase.SpeakerVerification.MySpeakerVerification", "train")
    assert verification == files
    collection = load_protocol(yml, "MyDatabase.Collection.MyCollection", "files")
    assert [f.uri for f in collection] == ["filename1", "filename2"]


def test_load_protocol_pyannote_database_meta_protocol(formats: Path) -> None:
    yml = formats / "pyannote-database/tests/data/database.yml"
    train = load_protocol(yml, "X.SpeakerDiarization.MyMetaProtocol", "train")
    assert [(f.uri, f.turns) for f in train] == [("filename1", None), ("filename2", None)]
    development = load_protocol(yml, "X.SpeakerDiarization.MyMetaProtocol", "development")
    single = load_protocol(yml, "MyDatabase.SpeakerDiarization.MySpeakerDiarization", "train")
    assert development == single + single  # two parts, concatenated in order, as pyannote.database does
    with pytest.raises(TurnpointError, match="has no 'test' subset; it has: train, development") as info:
        load_protocol(yml, "X.SpeakerDiarization.MyMetaProtocol", "test")
    assert str(yml) in str(info.value)


def test_load_protocol_unknown_protocol_or_subset(formats: Path) -> None:
    yml = formats / "ami-diarization-setup/pyannote/database.yml"
    with pytest.raises(TurnpointError) as info:
        load_protocol(yml, "AMI.SpeakerDiarization.everything", "development")
    message = str(info.value)
    assert message.startswith(f"{yml}: ")
    assert "AMI.SpeakerDiarization.only_words" in message and "AMI.SpeakerDiarization.word_and_vocalsounds" in message
    with pytest.raises(TurnpointError, match="it has: train, development, test"):
        load_protocol(yml, "AMI.SpeakerDiarization.only_words", "dev")
    with pytest.raises(TurnpointError, match="Database.Task.Protocol"):
        load_protocol(yml, "only_words", "development")
    with pytest.raises(TurnpointError, match="no such file"):
        load_protocol(yml.parent / "missing.yml", "AMI.SpeakerDiarization.only_words", "development")


def test_load_protocol_meta_protocol_errors(tmp_path: Path) -> None:
    yml = tmp_path / "database.yml"
    yml.write_text(
        "Protocols:\n"
        "  X:\n"
        "    SpeakerDiarization:\n"
        "      Loop:\n"
        "        train:\n"
        "          X.SpeakerDiarization.Loop: [train]\n"
        "      Dangling:\n"
        "        train:\n"
        "          Other.SpeakerDiarization.Elsewhere: [train]\n",
        encoding="utf-8",
    )
    with pytest.raises(TurnpointError, match="cycle"):
        load_protocol(yml, "X.SpeakerDiarization.Loop", "train")
    with pytest.raises(TurnpointError, match="'Other.SpeakerDiarization.Elsewhere' is not defined"):
        load_protocol(yml, "X.SpeakerDiarization.Dangling", "train")


def test_load_protocol_templates_and_scope(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.lst").write_text("a\r\nb\r\n", encoding="utf-8")
    (tmp_path / "rttm").mkdir()
    write_rttm(tmp_path / "rttm" / "train" / "a.rttm", {"a": [Turn(start=0.0, end=1.0, speaker="x")]})
    write_rttm(tmp_path / "rttm" / "train" / "b.rttm", {"b": [Turn(start=2.0, end=3.0, speaker="y")]})
    (tmp_path / "all.uem").write_text("a 1 0 5\nb NA 0 6\n", encoding="utf-8")
    yml = tmp_path / "conf" / "database.yml"
    yml.parent.mkdir()
    yml.write_text(
        "Databases:\n  Db:\n    - /nonexistent/{uri}.wav\n"
        "Protocols:\n  Db:\n    SpeakerDiarization:\n      P:\n        scope: global\n        train:\n"
        "          uri: ../lists/{subset}.lst\n"
        "          annotation: ../rttm/{subset}/{uri}.rttm\n"
        f"          annotated: {tmp_path / 'all.uem'}\n"
        "      Bad:\n        scope: everywhere\n        train:\n          uri: ../lists/train.lst\n"
        "      NoUri:\n        train:\n          annotation: ../rttm/train/{uri}.rttm\n",
        encoding="utf-8",
    )
    # {subset} is not expanded in the list path by pyannote either: only annotation paths are templates
    with pytest.raises(TurnpointError, match="no such file"):
        load_protocol(yml, "Db.SpeakerDiarization.P", "train")
    yml.write_text(yml.read_text(encoding="utf-8").replace("../lists/{subset}.lst", "../lists/train.lst"),
                   encoding="utf-8")
    files = load_protocol(yml, "Db.SpeakerDiarization.P", "train")
    assert [(f.uri, f.turns, f.annotated, f.scope, f.audio) for f in files] == [
        ("a", [Turn(start=0.0, end=1.0, speaker="x")], [(0.0, 5.0)], "global", Path("/nonexistent/a.wav")),
        ("b", [Turn(start=2.0, end=3.0, speaker="y")], [(0.0, 6.0)], "global", Path("/nonexistent/b.wav")),
    ]
    with pytest.raises(TurnpointError, match="scope must be one of file, database, global"):
        load_protocol(yml, "Db.SpeakerDiarization.Bad", "train")
    with pytest.raises(TurnpointError, match="no 'uri' entry"):
        load_protocol(yml, "Db.SpeakerDiarization.NoUri", "train")


def test_load_protocol_invalid_yaml(tmp_path: Path) -> None:
    yml = tmp_path / "database.yml"
    yml.write_text("Protocols:\n  A:\n    B: [unclosed\n", encoding="utf-8")
    with pytest.raises(TurnpointError) as info:
        load_protocol(yml, "A.B.C", "train")
    assert str(info.value).startswith(f"{yml}:") and "invalid YAML" in str(info.value)
    assert info.value.line is not None


# --------------------------------------------------------------------------------------------------
# bad input


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


GOOD = "SPEAKER f 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n"


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("SPEAKER f 1 0.5 1.0 <NA> <NA> A", "expected 10 fields"),
        ("SPEAKER f 1 abc 1.0 <NA> <NA> A <NA> <NA>", "start time is not a number: 'abc'"),
        ("SPEAKER f 1 0.5 1,5 <NA> <NA> A <NA> <NA>", "duration is not a number"),
        ("SPEAKER f 1 0.5 1_0 <NA> <NA> A <NA> <NA>", "duration is not a number"),
        ("SPEAKER f 1 0.5 -1.0 <NA> <NA> A <NA> <NA>", "duration must not be negative"),
        ("SPEAKER f 1 -0.5 1.0 <NA> <NA> A <NA> <NA>", "start time must not be negative"),
        ("SPEAKER f 1 nan 1.0 <NA> <NA> A <NA> <NA>", "finite"),
        ("SPEAKER f 1 0.5 inf <NA> <NA> A <NA> <NA>", "finite"),
        ("SPEAKER f 1 0.5 1e999 <NA> <NA> A <NA> <NA>", "finite"),
        ("SPEAKR f 1 0.5 1.0 <NA> <NA> A <NA> <NA>", "unknown RTTM record type 'SPEAKR'"),
    ],
)
def test_bad_rttm_line(tmp_path: Path, line: str, fragment: str) -> None:
    path = _write(tmp_path, "bad.rttm", f";; header\n{GOOD}{line}\n{GOOD}")
    with pytest.raises(TurnpointError) as info:
        read_rttm(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert fragment in str(info.value)
    assert info.value.line == 3 and info.value.path == str(path)


def test_non_utf8_reports_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "latin1.rttm", GOOD.encode() + "SPEAKER f 1 2 1 <NA> <NA> MÉO069 <NA> <NA>\n".encode("latin-1"))
    with pytest.raises(TurnpointError, match=r"latin1\.rttm:2: not valid UTF-8 \(byte 0xc9"):
        read_rttm(path)
    for reader in (read_uem, read_lab, read_list):
        with pytest.raises(TurnpointError, match=":1: not valid UTF-8"):
            reader(_write(tmp_path, "x.bin", b"caf\xe9 1 0 1\n"))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for reader in (read_rttm, read_uem, read_lab, read_list):
        with pytest.raises(TurnpointError) as info:
            reader(tmp_path / "nope.rttm")
        assert str(info.value) == f"{tmp_path / 'nope.rttm'}: no such file"
        with pytest.raises(TurnpointError, match="is a directory"):
            reader(tmp_path)


def test_empty_and_comment_only_files(tmp_path: Path) -> None:
    assert read_rttm(_write(tmp_path, "e.rttm", "")) == {}
    assert read_uem(_write(tmp_path, "e.uem", "")) == {}
    assert read_lab(_write(tmp_path, "e.lab", "")) == []
    assert read_list(_write(tmp_path, "e.lst", "")) == []
    assert read_rttm(_write(tmp_path, "c.rttm", "; comment\n# another\n\n   \n")) == {}


def test_rttm_tolerates_real_world_variants(tmp_path: Path) -> None:
    text = (
        "\ufeffSPKR-INFO 00001 1 <NA> <NA> <NA> unknown 0 <NA> <NA>\n"
        "SPEAKER\t00001\t0\t3.5\t2\t<NA>\t<NA>\tMÉO069\t<NA>\t<NA>\r\n"
        "LEXEME 00001 1 3.5 0.2 hello lex 0 <NA>\n"
        "SPEAKER  00001 NA   1.25  0  <NA> <NA> 1 <NA> <NA>\n"
        "SPEAKER 00001 <NA> 0.5 1e0 <NA> <NA> h0 <NA>"  # 9 fields, no final newline
    )
    turns = read_rttm(_write(tmp_path, "v.rttm", text))
    assert turns == {
        "00001": [
            Turn(start=0.5, end=1.5, speaker="h0"),
            Turn(start=1.25, end=1.25, speaker="1"),  # zero duration kept
            Turn(start=3.5, end=5.5, speaker="MÉO069"),
        ]
    }


def test_bad_uem_and_lab(tmp_path: Path) -> None:
    cases = [
        (read_uem, "a 1 0 5\na 1 4 3\n", ":2: end time 3 is before start time 4"),
        (read_uem, "a 1 0\n", ":1: expected 4 fields"),
        (read_uem, "a 1 0 5 extra\n", ":1: expected 4 fields"),
        (read_uem, "a 1 x 5\n", ":1: start time is not a number"),
        (read_uem, "a 1 -1 5\n", ":1: start time must not be negative"),
        (read_uem, "; c\na 1 0 NaN\n", ":2: end time must be a finite number"),
        (read_lab, "1.0 2.0\n", ":1: expected 3 fields"),
        (read_lab, "2.0 1.0 speech\n", ":1: end time 1.0 is before start time 2.0"),
        (read_lab, "0 1 speech\n1 x speech\n", ":2: end time is not a number"),
    ]
    for reader, text, fragment in cases:
        path = _write(tmp_path, "bad.txt", text)
        with pytest.raises(TurnpointError) as info:
            reader(path)
        assert f"{path}{fragment}" in str(info.value), (text, str(info.value))


def test_uem_merges_and_lab_keeps_spaces(tmp_path: Path) -> None:
    uem = _write(tmp_path, "m.uem", "a NA 10 20\na 1 0 5\na 1 4 8\na 1 8 9\nb 1 0 1")
    assert read_uem(uem) == {"a": [(0.0, 9.0), (10.0, 20.0)], "b": [(0.0, 1.0)]}
    lab = _write(tmp_path, "l.lab", "1.5\t2.5\tpeople walking\r\n0 1 speech")
    assert read_lab(lab) == [(0.0, 1.0, "speech"), (1.5, 2.5, "people walking")]


def test_read_list_crlf_blank_lines_no_final_newline(tmp_path: Path) -> None:
    path = _write(tmp_path, "l.lst", b"  ES2011a \r\n\r\n00001\r\ntr\xc3\xb1 00")
    assert read_list(path) == ["ES2011a", "00001", "trñ 00"]


# --------------------------------------------------------------------------------------------------
# writers and round trips


def test_write_rttm_format(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "out.rttm"
    write_rttm(path, {"b": [Turn(start=2.0, end=3.0, speaker="y"), Turn(start=0.1234, end=0.5, speaker="x")],
                      "a": [Turn(start=0.0, end=0.0, speaker="MÉO069")], "empty": []})
    assert path.read_text(encoding="utf-8") == (
        "SPEAKER b 1 0.123 0.377 <NA> <NA> x <NA> <NA>\n"
        "SPEAKER b 1 2.000 1.000 <NA> <NA> y <NA> <NA>\n"
        "SPEAKER a 1 0.000 0.000 <NA> <NA> MÉO069 <NA> <NA>\n"
    )
    assert [p.name for p in path.parent.iterdir()] == ["out.rttm"]  # no temp file left behind
    with pytest.raises(TurnpointError, match="speaker label must be a non-empty string without whitespace"):
        write_rttm(path, {"a": [Turn(start=0.0, end=1.0, speaker="two words")]})
    with pytest.raises(TurnpointError, match="URI"):
        write_rttm(path, {"": [Turn(start=0.0, end=1.0, speaker="x")]})
    assert "two words" not in path.read_text(encoding="utf-8")  # failed write left the old file


def test_write_uem_format(tmp_path: Path) -> None:
    path = tmp_path / "out.uem"
    write_uem(path, {"f": [(25, 30.4), (0, 15), (14, 16)], "g": []})
    assert path.read_text(encoding="utf-8") == "f 1 0.000 16.000\nf 1 25.000 30.400\n"
    with pytest.raises(TurnpointError, match="invalid region"):
        write_uem(path, {"f": [(3.0, 1.0)]})
    with pytest.raises(TurnpointError, match="invalid region"):
        write_uem(path, {"f": [(0.0, math.inf)]})


@pytest.mark.parametrize(
    "rel",
    [
        "voxconverse/dev/afjiv.rttm",
        "voxconverse/test/diysk.rttm",
        "voxconverse/test/optsn.rttm",
        "ami-diarization-setup/word_and_vocalsounds/rttms/dev/ES2011a.rttm",
        "pyannote-audio/tests/data/debug.train.rttm",
        "dscore/scorelib/tests/ref.rttm",
    ],
)
def test_rttm_round_trip_real_files(formats: Path, tmp_path: Path, rel: str) -> None:
    original = read_rttm(formats / rel)
    write_rttm(tmp_path / "copy.rttm", original)
    again = read_rttm(tmp_path / "copy.rttm")
    assert list(again) == list(original)
    for uri in original:
        assert len(again[uri]) == len(original[uri])
        for a, b in zip(original[uri], again[uri]):
            assert a.speaker == b.speaker
            assert abs(a.start - b.start) <= 1e-3 and abs(a.end - b.end) <= 1e-3


def test_uem_round_trip_real_files(formats: Path, tmp_path: Path) -> None:
    for rel in ("dscore/scorelib/tests/test_load.uem", "ami-diarization-setup/uems/dev/ES2011a.uem",
                "pyannote-audio/tests/data/debug.train.uem"):
        original = read_uem(formats / rel)
        write_uem(tmp_path / "copy.uem", original)
        again = read_uem(tmp_path / "copy.uem")
        assert list(again) == list(original)
        for uri in original:
            assert _regions_close(again[uri], original[uri], 1e-3)


def test_round_trip_awkward_values(tmp_path: Path) -> None:
    turns = {"00001": [Turn(start=0.0004, end=0.0009, speaker="0"), Turn(start=1 / 3, end=2 / 3, speaker="spk")]}
    write_rttm(tmp_path / "a.rttm", turns)
    again = read_rttm(tmp_path / "a.rttm")["00001"]
    for a, b in zip(turns["00001"], again):
        assert abs(a.start - b.start) <= 1e-3 and abs(a.end - b.end) <= 1e-3 and a.speaker == b.speaker


# --------------------------------------------------------------------------------------------------
# change points and Turn


def T(start: float, end: float, speaker: str) -> Turn:
    return Turn(start=start, end=end, speaker=speaker)


def test_change_points_merges_same_speaker_overlap() -> None:
    assert change_points([T(0, 2, "A"), T(1, 3, "A"), T(3, 5, "B")]) == [0.0, 3.0, 5.0]
    # one speaker turn inside another of the same speaker adds nothing
    assert change_points([T(0, 10, "A"), T(2, 3, "A")]) == [0.0, 10.0]


def test_change_points_gap_merge() -> None:
    turns = [T(0, 2, "A"), T(2.3, 4, "A"), T(4, 4.5, "A"), T(6, 7, "A")]
    assert change_points(turns) == [0.0, 2.0, 2.3, 4.5, 6.0, 7.0]  # touching turns merge even at gap 0
    assert change_points(turns, merge_gap=0.5) == [0.0, 4.5, 6.0, 7.0]
    assert change_points(turns, merge_gap=1.5) == [0.0, 7.0]
    # a different speaker in the gap does not stop the merge (merging is per speaker)
    assert change_points(turns[:2] + [T(2.1, 2.2, "B")], merge_gap=0.5) == [0.0, 2.1, 2.2, 4.0]


def test_change_points_sorted_and_deduplicated() -> None:
    turns = [T(5, 6, "C"), T(1.0000004, 2, "B"), T(0, 1, "A"), T(2, 5, "A")]
    assert change_points(turns) == [0.0, 1.0, 2.0, 5.0, 6.0]
    assert change_points([]) == []
    assert change_points([T(3, 3, "A")]) == [3.0]
    with pytest.raises(ValueError):
        change_points(turns, merge_gap=-1)


def test_turn_validation() -> None:
    with pytest.raises(ValueError):
        Turn(start=2.0, end=1.0, speaker="A")
    with pytest.raises(ValueError):
        Turn(start=math.nan, end=1.0, speaker="A")
    assert T(1, 3, "A").duration == 2
    with pytest.raises(AttributeError):
        T(1, 3, "A").start = 0  # type: ignore[misc]
