"""Read and write the annotation formats users bring: RTTM, UEM, LAB and list files.

pyannote ``database.yml`` protocols are read by :mod:`turnpoint.changes.protocols`.

Every reader reports a problem in the input as a :class:`~turnpoint.core.errors.TurnpointError` whose message
starts with ``path:line:`` (1-based line), so a user can jump straight to the offending line.

Conventions shared by all readers:

* the file is decoded as UTF-8, line by line (a bad byte is reported with its line number);
  a leading byte-order mark is ignored; LF, CRLF and CR line ends are accepted;
* blank lines and comment lines (first non-blank character ``;`` or ``#``) are skipped;
* fields are separated by any run of whitespace;
* times are seconds, must be finite and non-negative; an empty file gives an empty result.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_rttm(d / "ref.rttm", {"meeting": [Turn(start=0.5, end=2.0, speaker="A")]})
>>> read_rttm(d / "ref.rttm")
{'meeting': [Turn(start=0.5, end=2.0, speaker='A')]}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_open
from turnpoint.core.textfiles import content_lines, read_list

__all__ = [
    "Turn",
    "read_rttm",
    "write_rttm",
    "read_uem",
    "write_uem",
    "read_lab",
    "read_list",
    "change_points",
]

#: Tolerance (seconds) under which two boundaries are the same, and gaps count as touching.
_EPS = 1e-6

#: RTTM record types defined by NIST (RT-03..RT-09) other than ``SPEAKER``: skipped silently.
_OTHER_RTTM_TYPES = frozenset(
    {
        "SEGMENT",
        "NOSCORE",
        "NO_RT_METADATA",
        "LEXEME",
        "NON-LEX",
        "NON-SPEECH",
        "FILLER",
        "IP",
        "EDIT",
        "SU",
        "CB",
        "A/P",
        "SPKR-INFO",
    }
)

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})


# --------------------------------------------------------------------------------------------------
# data types


@dataclass(frozen=True)
class Turn:
    """One speech turn: ``speaker`` talks from ``start`` to ``end`` (seconds).

    Raises ``ValueError`` when a time is not finite or ``end < start`` (zero-length turns are allowed).

    Examples
    --------
    >>> t = Turn(start=1.0, end=2.5, speaker="spk00")
    >>> t.end - t.start
    1.5
    """

    start: float
    end: float
    speaker: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError(f"turn times must be finite, got start={self.start!r} end={self.end!r}")
        if self.end < self.start:
            raise ValueError(f"turn ends before it starts: start={self.start!r} end={self.end!r}")

    @property
    def duration(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start


# --------------------------------------------------------------------------------------------------
# low-level line reading and field parsing


def _parse_time(token: str, *, what: str, path: Path, line: int) -> float:
    """Parse a time in seconds: a plain decimal number, finite and non-negative."""
    if token.lower() in _NOT_FINITE:
        raise TurnpointError(f"{what} must be a finite number, got {token!r}", path=path, line=line)
    if not _NUMBER.fullmatch(token):
        raise TurnpointError(f"{what} is not a number: {token!r}", path=path, line=line)
    value = float(token)
    if not math.isfinite(value):  # e.g. 1e999
        raise TurnpointError(f"{what} must be a finite number, got {token!r}", path=path, line=line)
    if value < 0:
        raise TurnpointError(f"{what} must not be negative, got {token!r}", path=path, line=line)
    return value + 0.0  # turn -0.0 into 0.0


def _merge_regions(regions: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sort regions and merge those that overlap or touch."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(regions):
        if merged and start <= merged[-1][1] + _EPS:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _fmt(value: float) -> str:
    """Format seconds with 3 decimals, never as ``-0.000``."""
    text = f"{round(value, 3) + 0.0:.3f}"
    return "0.000" if text == "-0.000" else text


def _check_token(value: str, *, what: str, path: Path) -> None:
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        raise TurnpointError(f"{what} must be a non-empty string without whitespace, got {value!r}", path=path)


# --------------------------------------------------------------------------------------------------
# RTTM


def read_rttm(path: str | Path) -> dict[str, list[Turn]]:
    """Read the ``SPEAKER`` records of an RTTM file.

    Each ``SPEAKER`` line has 10 fields (9 are accepted, the last one being optional in old files)::

        SPEAKER <uri> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>

    The channel (``1``, ``0``, ``NA``, ``<NA>``...) and the ``<NA>`` fields are ignored. Other NIST record
    types (``SPKR-INFO``, ``LEXEME``, ``SEGMENT``...) are skipped; an unknown type is an error.

    Parameters
    ----------
    path : str or Path
        RTTM file; it may hold several URIs, in any order.

    Returns
    -------
    dict of str to list of Turn
        ``uri -> turns``, URIs in order of first appearance, turns sorted by ``(start, end, speaker)``.
        Same-speaker overlaps and zero-length turns are kept as written.

    Raises
    ------
    TurnpointError
        Missing file, bad UTF-8, wrong field count, bad / negative / non-finite time (``path:line: ...``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.rttm"
    >>> _ = p.write_text("SPEAKER 00001 0 3.5 2 <NA> <NA> MÉO069 <NA> <NA>\\n", encoding="utf-8")
    >>> read_rttm(p)
    {'00001': [Turn(start=3.5, end=5.5, speaker='MÉO069')]}
    """
    path = Path(path)
    turns: dict[str, list[Turn]] = {}
    for number, text in content_lines(path):
        fields = text.split()
        kind = fields[0]
        if kind != "SPEAKER":
            if kind.upper() in _OTHER_RTTM_TYPES:
                continue
            raise TurnpointError(
                f"unknown RTTM record type {kind!r} (expected SPEAKER, or another NIST type such as SPKR-INFO)",
                path=path,
                line=number,
            )
        if len(fields) not in (9, 10):
            raise TurnpointError(
                f"expected 10 fields 'SPEAKER uri channel start duration <NA> <NA> speaker <NA> <NA>', "
                f"got {len(fields)}",
                path=path,
                line=number,
            )
        uri, start_s, dur_s, speaker = fields[1], fields[3], fields[4], fields[7]
        start = _parse_time(start_s, what="start time", path=path, line=number)
        duration = _parse_time(dur_s, what="duration", path=path, line=number)
        # rounding to 1e-9 s hides float noise (34.29 + 0.48 = 34.769999999999996) without losing precision
        end = round(start + duration, 9)
        if not math.isfinite(end):  # e.g. start 1e308 + duration 1e308
            raise TurnpointError(f"start time {start_s} + duration {dur_s} is not a finite number", path=path, line=number)
        turns.setdefault(uri, []).append(Turn(start=start, end=end, speaker=speaker))
    for uri_turns in turns.values():
        uri_turns.sort(key=lambda t: (t.start, t.end, t.speaker))
    return turns


def write_rttm(path: str | Path, turns_by_uri: Mapping[str, Sequence[Turn]]) -> None:
    """Write turns as an RTTM file, atomically.

    One line per turn, 3 decimals, turns sorted within each URI, URIs in mapping order::

        SPEAKER <uri> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>

    A URI with no turns writes nothing (RTTM cannot say "annotated, empty": use a UEM for that).

    Parameters
    ----------
    path : str or Path
        Output file (its directory is created if needed).
    turns_by_uri : Mapping of str to sequence of Turn
        Turns per URI.

    Raises
    ------
    TurnpointError
        A URI or speaker label is empty or contains whitespace (it could not be read back).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.rttm"
    >>> write_rttm(p, {"f1": [Turn(start=0.25, end=1.0, speaker="A")]})
    >>> p.read_text()
    'SPEAKER f1 1 0.250 0.750 <NA> <NA> A <NA> <NA>\\n'
    """
    path = Path(path)
    lines: list[str] = []
    for uri, turns in turns_by_uri.items():
        _check_token(uri, what="URI", path=path)
        for turn in sorted(turns, key=lambda t: (t.start, t.end, t.speaker)):
            _check_token(turn.speaker, what="speaker label", path=path)
            start = round(turn.start, 3)
            duration = max(round(turn.end, 3) - start, 0.0)
            lines.append(f"SPEAKER {uri} 1 {_fmt(start)} {_fmt(duration)} <NA> <NA> {turn.speaker} <NA> <NA>\n")
    with atomic_open(path, mode="w") as handle:
        handle.writelines(lines)


# --------------------------------------------------------------------------------------------------
# UEM


def read_uem(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Read a UEM file (un-partitioned evaluation map): the regions of each file that are annotated.

    Each line is ``<uri> <channel> <start> <end>`` (channel ``1``, ``NA``... is ignored).

    Parameters
    ----------
    path : str or Path
        UEM file; it may hold several URIs and several regions per URI.

    Returns
    -------
    dict of str to list of (float, float)
        ``uri -> regions``, sorted, with overlapping or touching regions merged.

    Raises
    ------
    TurnpointError
        Missing file, bad UTF-8, wrong field count, bad / negative / non-finite time, ``end < start``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.uem"
    >>> _ = p.write_text("F 1 25 30.4\\n; comment\\nF 1 0 15\\nF NA 10 20")
    >>> read_uem(p)
    {'F': [(0.0, 20.0), (25.0, 30.4)]}
    """
    path = Path(path)
    regions: dict[str, list[tuple[float, float]]] = {}
    for number, text in content_lines(path):
        fields = text.split()
        if len(fields) != 4:
            raise TurnpointError(
                f"expected 4 fields 'uri channel start end', got {len(fields)}", path=path, line=number
            )
        uri = fields[0]
        start = _parse_time(fields[2], what="start time", path=path, line=number)
        end = _parse_time(fields[3], what="end time", path=path, line=number)
        if end < start:
            raise TurnpointError(f"end time {fields[3]} is before start time {fields[2]}", path=path, line=number)
        regions.setdefault(uri, []).append((start, end))
    return {uri: _merge_regions(r) for uri, r in regions.items()}


def write_uem(path: str | Path, regions_by_uri: Mapping[str, Sequence[tuple[float, float]]]) -> None:
    """Write annotated regions as a UEM file, atomically: ``<uri> 1 <start> <end>``, 3 decimals.

    Regions are sorted and merged before writing.

    Parameters
    ----------
    path : str or Path
        Output file (its directory is created if needed).
    regions_by_uri : Mapping of str to sequence of (start, end)
        Regions per URI.

    Raises
    ------
    TurnpointError
        Bad URI, or a region with a non-finite or negative time, or ``end < start``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.uem"
    >>> write_uem(p, {"f1": [(0, 15), (25, 30.4)]})
    >>> p.read_text()
    'f1 1 0.000 15.000\\nf1 1 25.000 30.400\\n'
    """
    path = Path(path)
    lines: list[str] = []
    for uri, regions in regions_by_uri.items():
        _check_token(uri, what="URI", path=path)
        checked: list[tuple[float, float]] = []
        for start, end in regions:
            start, end = float(start), float(end)
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
                raise TurnpointError(f"invalid region ({start}, {end}) for URI {uri!r}", path=path)
            checked.append((start, end))
        for start, end in _merge_regions(checked):
            lines.append(f"{uri} 1 {_fmt(start)} {_fmt(end)}\n")
    with atomic_open(path, mode="w") as handle:
        handle.writelines(lines)


# --------------------------------------------------------------------------------------------------
# LAB and list files


def read_lab(path: str | Path) -> list[tuple[float, float, str]]:
    """Read a LAB file: one ``<start> <end> <label>`` segment per line (seconds).

    The label is the rest of the line, so it may contain spaces.

    Parameters
    ----------
    path : str or Path
        LAB file.

    Returns
    -------
    list of (float, float, str)
        Segments sorted by ``(start, end, label)``.

    Raises
    ------
    TurnpointError
        Missing file, bad UTF-8, fewer than 3 fields, bad / negative / non-finite time, ``end < start``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.lab"
    >>> _ = p.write_text("34.27 44.39 speech\\n")
    >>> read_lab(p)
    [(34.27, 44.39, 'speech')]
    """
    path = Path(path)
    segments: list[tuple[float, float, str]] = []
    for number, text in content_lines(path):
        fields = text.split(maxsplit=2)
        if len(fields) != 3:
            raise TurnpointError(f"expected 3 fields 'start end label', got {len(fields)}", path=path, line=number)
        start = _parse_time(fields[0], what="start time", path=path, line=number)
        end = _parse_time(fields[1], what="end time", path=path, line=number)
        if end < start:
            raise TurnpointError(f"end time {fields[1]} is before start time {fields[0]}", path=path, line=number)
        segments.append((start, end, fields[2].strip()))
    segments.sort()
    return segments


# --------------------------------------------------------------------------------------------------
# change points


def change_points(turns: Sequence[Turn], *, merge_gap: float = 0.0) -> list[float]:
    """Speaker change points: the boundaries of speech turns.

    Each speaker's turns are first merged when they overlap or are separated by at most ``merge_gap``
    seconds (so a pause inside one speaker's speech is not a change); then every start and end of every
    merged turn is a boundary. Boundaries closer than 1 microsecond are reported once.

    Parameters
    ----------
    turns : sequence of Turn
        Turns of one file, in any order.
    merge_gap : float, optional
        Largest silence (seconds) between two turns of the same speaker that is bridged. Default 0.

    Returns
    -------
    list of float
        Sorted boundaries (seconds).

    Examples
    --------
    >>> change_points([Turn(start=0.0, end=2.0, speaker="A"), Turn(start=2.5, end=4.0, speaker="A"),
    ...                Turn(start=3.0, end=6.0, speaker="B")], merge_gap=0.5)
    [0.0, 3.0, 4.0, 6.0]
    """
    if not math.isfinite(merge_gap) or merge_gap < 0:
        raise ValueError(f"merge_gap must be a finite non-negative number, got {merge_gap!r}")
    by_speaker: dict[str, list[tuple[float, float]]] = {}
    for turn in turns:
        by_speaker.setdefault(turn.speaker, []).append((turn.start, turn.end))
    points: list[float] = []
    for spans in by_speaker.values():
        spans.sort()
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start - cur_end <= merge_gap + _EPS:
                cur_end = max(cur_end, end)
            else:
                points.extend((cur_start, cur_end))
                cur_start, cur_end = start, end
        points.extend((cur_start, cur_end))
    points.sort()
    unique: list[float] = []
    for point in points:
        if not unique or point - unique[-1] > _EPS:
            unique.append(point)
    return unique
