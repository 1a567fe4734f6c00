"""Detections in the formats other tools read: Praat, Audacity, WebVTT, SRT, ELAN, pyannote, lhotse.

Every writer takes a :class:`turnpoint.changes.detect.Detection` and writes its speech turns, atomically
(:mod:`turnpoint.core.fileio`), as UTF-8. The turns are those of
:func:`turnpoint.changes.detection.segments_as_turns`: with speaker labels, each speech segment carries its
speaker and non-speech segments are left out (an empty interval in a TextGrid, nothing elsewhere);
without, every segment is unlabelled speech named ``seg0000``, ``seg0001``…

=============  ===================  ==========================================================
format         suffix               read by
=============  ===================  ==========================================================
``textgrid``   ``.TextGrid``        Praat (an interval tier per speaker, or one ``speakers`` tier)
``audacity``   ``.labels.txt``      Audacity (File > Import > Labels): ``start<TAB>end<TAB>label``
``vtt``        ``.vtt``             browsers, media players: a ``<v SPEAKER_00>`` voice per cue
``srt``        ``.srt``             media players, subtitle editors: ``SPEAKER_00:`` per cue
``eaf``        ``.eaf``             ELAN (a tier per speaker, times in milliseconds)
=============  ===================  ==========================================================

:meth:`~turnpoint.changes.detection.Detection.to_annotation` and ``to_lhotse`` give the turns as pyannote.core and lhotse objects.
Sound events go to Audacity labels with :func:`turnpoint.events.annotations.write_event_labels`.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from turnpoint.changes.detection import Detection
>>> from turnpoint.core.windows import Scores
>>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5, 3.0]),
...               segments=[(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)], labels=["SPEAKER_00", None, "Zoë"])
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> write_audacity(d, out / "talk.labels.txt").read_text(encoding="utf-8").splitlines()
['0.000000\\t1.500000\\tSPEAKER_00', '3.000000\\t4.000000\\tZoë']
"""

from __future__ import annotations

import datetime
import logging
import mimetypes
import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from turnpoint.changes.annotations import Turn
from turnpoint.changes.detection import segments_as_turns
from turnpoint.core.fileio import atomic_write_text
from turnpoint.core.textfiles import check_label, write_audacity_labels

if TYPE_CHECKING:  # pragma: no cover - typing only
    from turnpoint.changes.detection import Detection

logger = logging.getLogger(__name__)

__all__ = [
    "write_audacity",
    "write_eaf",
    "write_srt",
    "write_textgrid",
    "write_vtt",
]

#: Name of the one tier of a TextGrid / EAF whose segments have no speaker labels.
SINGLE_TIER = "speakers"


# --------------------------------------------------------------------------------------------------
# shared helpers


def _turns(detection: Detection) -> list[Turn]:
    return sorted(segments_as_turns(detection), key=lambda t: (t.start, t.end, t.speaker))


def _speakers(turns: Sequence[Turn]) -> list[str]:
    """Speakers in order of first appearance (the tier order a reader expects)."""
    return list(dict.fromkeys(turn.speaker for turn in turns))


def _end_time(detection: Detection, turns: Sequence[Turn]) -> float:
    ends = [end for _, end in detection.segments] + [turn.end for turn in turns]
    return max([float(detection.duration), *ends])


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000.0))


def _clock(seconds: float, *, separator: str) -> str:
    """``HH:MM:SS.mmm`` (VTT) or ``HH:MM:SS,mmm`` (SRT)."""
    total = _ms(seconds)
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(detection: Detection, path: Path) -> list[tuple[int, int, str]]:
    """Speech turns on the millisecond grid of subtitle formats (zero-length ones dropped)."""
    cues = []
    for turn in _turns(detection):
        check_label(turn.speaker, path=path, what="speaker label")
        start, end = _ms(turn.start), _ms(turn.end)
        if end > start:
            cues.append((start, end, turn.speaker))
    return cues


# --------------------------------------------------------------------------------------------------
# Praat TextGrid


def _praat_number(value: float) -> str:
    text = f"{round(value, 6) + 0.0:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _praat_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _interval_tier(name: str, turns: Sequence[Turn], *, end: float) -> list[str]:
    """An interval tier covering [0, end]: the turns' labels, the gaps between them empty."""
    intervals: list[tuple[float, float, str]] = []
    cursor = 0.0
    for turn in turns:
        start, stop = round(turn.start, 6), round(turn.end, 6)
        if stop <= start or stop <= cursor:
            continue  # Praat refuses zero-length intervals
        start = max(start, cursor)
        if start > cursor:
            intervals.append((cursor, start, ""))
        intervals.append((start, stop, turn.speaker))
        cursor = stop
    if end > cursor or not intervals:
        intervals.append((cursor, max(end, cursor), ""))
    lines = [
        '        class = "IntervalTier"',
        f"        name = {_praat_text(name)}",
        "        xmin = 0",
        f"        xmax = {_praat_number(end)}",
        f"        intervals: size = {len(intervals)}",
    ]
    for index, (start, stop, text) in enumerate(intervals, start=1):
        lines += [
            f"        intervals [{index}]:",
            f"            xmin = {_praat_number(start)}",
            f"            xmax = {_praat_number(stop)}",
            f"            text = {_praat_text(text)}",
        ]
    return lines


def write_textgrid(detection: Detection, path: str | Path, *, tier_per_speaker: bool | None = None) -> Path:
    """Write a Praat TextGrid (long text format, UTF-8) of the detection's speech turns.

    Parameters
    ----------
    detection : result of :func:`turnpoint.detect_changes`
    path : output file (``<uri>.TextGrid`` by convention)
    tier_per_speaker : one interval tier per speaker (named by the speaker, the other speakers'
        turns and non-speech empty) or, when False, one ``speakers`` tier with every turn labelled
        and non-speech empty; None (default) takes a tier per speaker when the detection has
        speaker labels and one tier of ``seg0000``… segments when it has none

    Returns
    -------
    Path of the written file

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from turnpoint.changes.detection import Detection
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5, 3.0]),
    ...               segments=[(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)], labels=["A", None, "B"])
    >>> text = write_textgrid(d, pathlib.Path(tempfile.mkdtemp()) / "talk.TextGrid").read_text(encoding="utf-8")
    >>> text.count('class = "IntervalTier"'), 'name = "A"' in text, 'name = "B"' in text
    (2, True, True)
    """
    path = Path(path)
    turns = _turns(detection)
    for turn in turns:
        check_label(turn.speaker, path=path, what="speaker label")
    end = _end_time(detection, turns)
    if tier_per_speaker is None:
        tier_per_speaker = detection.labels is not None
    if tier_per_speaker and turns:
        tiers = [(speaker, [t for t in turns if t.speaker == speaker]) for speaker in _speakers(turns)]
    else:  # also a file without speech: one empty tier, which Praat opens (a TextGrid of no tiers is refused)
        tiers = [(SINGLE_TIER, turns)]
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0",
        f"xmax = {_praat_number(end)}",
        "tiers? <exists>",
        f"size = {len(tiers)}",
        "item []:",
    ]
    for index, (name, tier_turns) in enumerate(tiers, start=1):
        lines.append(f"    item [{index}]:")
        lines += _interval_tier(name, tier_turns, end=end)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# Audacity labels


def write_audacity(detection: Detection, path: str | Path) -> Path:
    """Write an Audacity label track (``start<TAB>end<TAB>label``, seconds, one speech turn a line).

    Audacity imports it with File > Import > Labels; non-speech is not written.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from turnpoint.changes.detection import Detection
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([2.5]),
    ...               segments=[(0.0, 2.5), (2.5, 4.0)])
    >>> write_audacity(d, pathlib.Path(tempfile.mkdtemp()) / "talk.labels.txt").read_text().splitlines()
    ['0.000000\\t2.500000\\tseg0000', '2.500000\\t4.000000\\tseg0001']
    """
    return write_audacity_labels(path, ((t.start, t.end, t.speaker) for t in _turns(detection)), what="speaker label")


# --------------------------------------------------------------------------------------------------
# WebVTT and SRT


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_vtt(detection: Detection, path: str | Path) -> Path:
    """Write WebVTT subtitles: one cue per speech turn, its speaker as a voice (``<v SPEAKER_00>``).

    The cue's text is the speaker's name, so a player shows who speaks; times are rounded to
    the millisecond and non-speech has no cue.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from turnpoint.changes.detection import Detection
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5]),
    ...               segments=[(0.0, 1.5), (1.5, 4.0)], labels=[None, "SPEAKER_00"])
    >>> print(write_vtt(d, pathlib.Path(tempfile.mkdtemp()) / "talk.vtt").read_text(), end="")
    WEBVTT
    <BLANKLINE>
    1
    00:00:01.500 --> 00:00:04.000
    <v SPEAKER_00>SPEAKER_00
    """
    path = Path(path)
    blocks = ["WEBVTT\n"]
    for index, (start, end, speaker) in enumerate(_cues(detection, path), start=1):
        name = _vtt_escape(speaker)
        blocks.append(f"{index}\n{_clock(start / 1000, separator='.')} --> {_clock(end / 1000, separator='.')}\n<v {name}>{name}\n")
    atomic_write_text(path, "\n".join(blocks))
    return path


def write_srt(detection: Detection, path: str | Path) -> Path:
    """Write SRT subtitles: one numbered cue per speech turn, text ``SPEAKER_00:`` (the speaker prefix
    a transcript can follow); times rounded to the millisecond, non-speech has no cue.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from turnpoint.changes.detection import Detection
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5]),
    ...               segments=[(0.0, 1.5), (1.5, 4.0)], labels=["SPEAKER_00", "SPEAKER_01"])
    >>> print(write_srt(d, pathlib.Path(tempfile.mkdtemp()) / "talk.srt").read_text(), end="")
    1
    00:00:00,000 --> 00:00:01,500
    SPEAKER_00:
    <BLANKLINE>
    2
    00:00:01,500 --> 00:00:04,000
    SPEAKER_01:
    """
    path = Path(path)
    blocks = [
        f"{index}\n{_clock(start / 1000, separator=',')} --> {_clock(end / 1000, separator=',')}\n{speaker}:\n"
        for index, (start, end, speaker) in enumerate(_cues(detection, path), start=1)
    ]
    atomic_write_text(path, "\n".join(blocks))
    return path


# --------------------------------------------------------------------------------------------------
# ELAN


def _mime_type(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".wav":
        return "audio/x-wav"  # what ELAN itself writes for WAV
    return mimetypes.guess_type(path)[0] or "unknown"


def write_eaf(detection: Detection, path: str | Path) -> Path:
    """Write an ELAN annotation document (``.eaf``, EAF 3.0): a tier per speaker, times in milliseconds.

    Without speaker labels, one ``speakers`` tier holds the ``seg0000``… segments. The audio file
    is linked as the media (an absolute file URL and a path relative to the ``.eaf``), so ELAN
    opens both together; non-speech is not annotated.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from turnpoint.changes.detection import Detection
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection(uri="talk", path="", scores=Scores(np.zeros(0), frame_step=0.01, duration=4.0), changes=np.array([1.5, 3.0]),
    ...               segments=[(0.0, 1.5), (1.5, 3.0), (3.0, 4.0)], labels=["A", None, "B"])
    >>> text = write_eaf(d, pathlib.Path(tempfile.mkdtemp()) / "talk.eaf").read_text(encoding="utf-8")
    >>> text.count("<TIER "), 'TIME_VALUE="3000"' in text
    (2, True)
    """
    path = Path(path)
    turns = _turns(detection)
    for turn in turns:
        check_label(turn.speaker, path=path, what="speaker label")
    date = datetime.datetime.now(datetime.timezone.utc).astimezone().replace(microsecond=0).isoformat()
    root = ET.Element("ANNOTATION_DOCUMENT", {
        "AUTHOR": "", "DATE": date, "FORMAT": "3.0", "VERSION": "3.0",
        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
        "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
    })
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    if detection.path:
        media = Path(detection.path).resolve()
        relative = os.path.relpath(media, path.resolve().parent)
        ET.SubElement(header, "MEDIA_DESCRIPTOR", {
            "MEDIA_URL": media.as_uri(), "MIME_TYPE": _mime_type(str(media)), "RELATIVE_MEDIA_URL": Path(relative).as_posix(),
        })
    annotated = [(turn, _ms(turn.start), _ms(turn.end)) for turn in turns]
    annotated = [(turn, start, end) for turn, start, end in annotated if end > start]
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(len(annotated))
    times = sorted({value for _, start, end in annotated for value in (start, end)})
    slot = {value: f"ts{index}" for index, value in enumerate(times, start=1)}
    order = ET.SubElement(root, "TIME_ORDER")
    for value in times:
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": slot[value], "TIME_VALUE": str(value)})
    tier_of = (lambda turn: turn.speaker) if detection.labels is not None else (lambda turn: SINGLE_TIER)
    tiers: dict[str, ET.Element] = {}
    for index, (turn, start, end) in enumerate(annotated, start=1):
        name = tier_of(turn)
        if name not in tiers:
            attributes = {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": name}
            if detection.labels is not None:
                attributes["PARTICIPANT"] = name
            tiers[name] = ET.SubElement(root, "TIER", attributes)
        alignable = ET.SubElement(ET.SubElement(tiers[name], "ANNOTATION"), "ALIGNABLE_ANNOTATION", {
            "ANNOTATION_ID": f"a{index}", "TIME_SLOT_REF1": slot[start], "TIME_SLOT_REF2": slot[end],
        })
        ET.SubElement(alignable, "ANNOTATION_VALUE").text = turn.speaker
    if not tiers:  # ELAN needs a tier to open the document
        ET.SubElement(root, "TIER", {"LINGUISTIC_TYPE_REF": "default-lt", "TIER_ID": SINGLE_TIER})
    ET.SubElement(root, "LINGUISTIC_TYPE", {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": "default-lt", "TIME_ALIGNABLE": "true"})
    ET.indent(root)
    atomic_write_text(path, '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# pyannote.core and lhotse
