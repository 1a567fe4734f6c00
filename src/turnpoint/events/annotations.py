"""Sound event annotations: DCASE TSV, TUT ``.ann``, sed_eval lists, DESED_task outputs.

Every layout found in the real files of ``../shared/formats`` (DESED, DESED_task, sed_eval,
TUT 2017) is read by one function, :func:`read_events`:

* With a header (DCASE): columns are found by name, in any order, extra columns ignored
  (``filename onset offset event_label``; DESED_task predictions ``event_label onset offset
  filename index``; pandas CSV ``,event_label,onset,offset,filename`` with an unnamed index
  column; TUT ``path scene_label event_start_time event_end_time event_label``).
* Without a header: 3 columns (``onset offset label``; TUT ``.ann``, sed_eval lists), 4 columns
  (``file onset offset label``), 5 columns (``file scene onset offset label``), or a row with only
  a file name (that file is annotated and has no events).
* DESED rows with empty fields (``clip.wav⇥⇥⇥``) mean "annotated, no events"; 0-byte files mean
  no events at all; CRLF, missing final newline, space-padded numbers, float artefacts
  (``10.200000000000001``), labels with spaces and commas (``Air horn, truck horn``).
* Same-class overlapping events are kept as they are.

Bad input raises :class:`~turnpoint.core.errors.TurnpointError` naming the file and line: an onset
after its offset, a negative or non-numeric time, a label outside ``labels``; and
:func:`check_events_within` names the line of an event that runs past the end of its audio.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_open
from turnpoint.core.textfiles import read_text_lines, write_audacity_labels

logger = logging.getLogger(__name__)

__all__ = [
    "Event",
    "audio_key",
    "check_events_within",
    "read_durations",
    "read_events",
    "read_file_pairs",
    "read_weak_labels",
    "write_event_labels",
    "write_event_scores",
    "write_events",
]

from turnpoint.core.audio import AUDIO_EXTENSIONS as AUDIO_SUFFIXES

_FILENAME = ("filename", "file", "audio_filename", "path", "filepath", "audio_file", "file_name")
_ONSET = ("onset", "event_onset", "event_start_time", "start", "start_time")
_OFFSET = ("offset", "event_offset", "event_end_time", "end", "end_time", "stop")
_LABEL = ("event_label", "label", "event", "class", "event_class")
_WEAK = ("event_labels", "labels", "tags")


@dataclass(frozen=True)
class Event:
    """One sound event (seconds). ``source`` and ``line`` say where it was read (for messages).

    Examples
    --------
    >>> Event(1.0, 2.5, "bell").duration
    1.5
    """

    onset: float
    offset: float
    label: str
    source: str = field(default="", compare=False, repr=False)
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def duration(self) -> float:
        return self.offset - self.onset

    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source and self.line else self.source


def audio_key(name: str) -> str:
    """The key that links annotations to audio: base name without an audio extension.

    Only audio extensions are removed, since DCASE names hold dots (``Y00_350.000_360.000.wav``).

    Examples
    --------
    >>> audio_key("audio/street/b099.wav"), audio_key("Yab_30.000_40.000"), audio_key("x.FLAC")
    ('b099', 'Yab_30.000_40.000', 'x')
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    lower = base.lower()
    for suffix in AUDIO_SUFFIXES:
        if lower.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _number(text: str, *, what: str, path: Path, line: int) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise TurnpointError(f"{what} {text.strip()!r} is not a number", path=path, line=line) from None
    if not math.isfinite(value) or value < 0:
        raise TurnpointError(f"{what} {text.strip()!r} must be a finite number >= 0", path=path, line=line)
    return value


def _is_number(text: str) -> bool:
    try:
        float(text.strip())
    except ValueError:
        return False
    return True


def _split(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [part.strip() for part in line.split(delimiter)]


def _find(header: list[str], names: Sequence[str]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _delimiter(lines: list[str]) -> str | None:
    sample = [line for line in lines[:50] if line.strip()]
    if any("\t" in line for line in sample):
        return "\t"
    if sample and "," in sample[0] and any(n in sample[0].lower() for n in ("onset", "filename", "event_label")):
        return ","
    return None


def read_events(
    path: str | Path,
    *,
    labels: Iterable[str] | None = None,
    default_key: str | None = None,
) -> dict[str, list[Event]]:
    """Read sound events from any of the layouts above.

    Parameters
    ----------
    path : annotation file (``.tsv``, ``.csv``, ``.txt``, ``.ann``)
    labels : the allowed labels; an event with another label is an error (naming file and line)
    default_key : key for layouts without a file column (3 columns); default: the file's stem

    Returns
    -------
    dict audio key (see :func:`audio_key`) -> events sorted by onset. Files that are annotated but
    hold no events map to an empty list.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ref.tsv"
    >>> _ = p.write_text("filename\\tonset\\toffset\\tevent_label\\na.wav\\t0.5\\t1.0\\tbell\\nb.wav\\t\\t\\t\\n")
    >>> read_events(p)
    {'a': [Event(onset=0.5, offset=1.0, label='bell')], 'b': []}
    """
    path = Path(path)
    lines = read_text_lines(path)
    allowed = None if labels is None else set(labels)
    result: dict[str, list[Event]] = {}
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return result
    delimiter = _delimiter(lines)
    header = _split(lines[first], delimiter)
    columns: tuple[int | None, int, int, int] | None = None
    body_start = first
    i_onset, i_offset = _find(header, _ONSET), _find(header, _OFFSET)
    if i_onset is not None and i_offset is not None:
        i_label = _find(header, _LABEL)
        if i_label is None:
            raise TurnpointError("header has onset/offset columns but no event_label column", path=path, line=first + 1)
        columns = (_find(header, _FILENAME), i_onset, i_offset, i_label)
        body_start = first + 1
    elif _find(header, _WEAK) is not None or (_find(header, _FILENAME) is not None and len(header) <= 2):
        raise TurnpointError(
            "holds clip-level (weak) labels or a file list, not timed events; use read_weak_labels / read_durations",
            path=path,
            line=first + 1,
        )
    default = default_key if default_key is not None else audio_key(path.stem)

    for index in range(body_start, len(lines)):
        raw = lines[index]
        if not raw.strip() or raw.lstrip().startswith(";"):
            continue
        number = index + 1
        fields = _split(raw, delimiter)
        if columns is not None:
            i_file, i_on, i_off, i_lab = columns
            width = max(c for c in columns if c is not None) + 1
            fields = fields + [""] * (width - len(fields))
            key = audio_key(fields[i_file]) if i_file is not None else default
            onset_text, offset_text, label = fields[i_on], fields[i_off], fields[i_lab]
            if i_file is not None and not key:
                raise TurnpointError("empty file name", path=path, line=number)
            if not onset_text and not offset_text and not label:
                result.setdefault(key, [])  # DESED: annotated clip without events
                continue
            if not onset_text or not offset_text or not label:
                raise TurnpointError("row needs onset, offset and event_label (or all three empty)", path=path, line=number)
        else:
            nonempty = [f for f in fields if f != ""] if delimiter is None else fields
            if len(nonempty) == 1 or (len(nonempty) > 1 and all(f == "" for f in nonempty[1:])):
                result.setdefault(audio_key(nonempty[0]), [])  # sed_eval: a file with no events
                continue
            if len(nonempty) == 3 and _is_number(nonempty[0]):
                key, (onset_text, offset_text, label) = default, nonempty
            elif len(nonempty) == 4:
                key, onset_text, offset_text, label = audio_key(nonempty[0]), *nonempty[1:]
            elif len(nonempty) == 5:
                key, onset_text, offset_text, label = audio_key(nonempty[0]), *nonempty[2:]
            elif delimiter is None and len(nonempty) > 3 and _is_number(nonempty[0]) and _is_number(nonempty[1]):
                key, onset_text, offset_text, label = default, nonempty[0], nonempty[1], " ".join(nonempty[2:])
            else:
                raise TurnpointError(
                    f"expected 'onset offset label', 'file onset offset label' or 'file scene onset offset label', got {len(nonempty)} fields",
                    path=path,
                    line=number,
                )
        onset = _number(onset_text, what="onset", path=path, line=number)
        offset = _number(offset_text, what="offset", path=path, line=number)
        if onset > offset:
            raise TurnpointError(f"onset {onset:g} is after offset {offset:g}", path=path, line=number)
        label = label.strip()
        if not label:
            raise TurnpointError("empty event label", path=path, line=number)
        if allowed is not None and label not in allowed:
            raise TurnpointError(f"unknown event label {label!r} (known: {', '.join(sorted(allowed))})", path=path, line=number)
        result.setdefault(key, []).append(Event(onset, offset, label, str(path), number))
    for key in result:
        result[key].sort(key=lambda e: (e.onset, e.offset, e.label))
    return result


def read_weak_labels(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Clip-level labels: ``filename⇥event_labels`` (comma-joined, DESED) or ``;``-joined tags (sed_eval).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "weak.tsv"
    >>> _ = p.write_text("filename\\tevent_labels\\nY1.wav\\tAlarm_bell_ringing,Speech\\n")
    >>> read_weak_labels(p)
    {'Y1': ('Alarm_bell_ringing', 'Speech')}
    """
    path = Path(path)
    out: dict[str, tuple[str, ...]] = {}
    lines = read_text_lines(path)
    for index, raw in enumerate(lines):
        fields = raw.split("\t")
        if not raw.strip() or (index == 0 and _find(fields, _FILENAME) is not None):
            continue
        if len(fields) < 2:
            raise TurnpointError("expected 'filename<TAB>labels'", path=path, line=index + 1)
        column = fields[2] if len(fields) >= 3 and ";" in fields[2] else fields[1]
        separator = ";" if ";" in column else ","
        out[audio_key(fields[0].strip())] = tuple(t.strip() for t in column.split(separator) if t.strip())
    return out


def read_durations(path: str | Path) -> dict[str, float]:
    """``filename⇥duration`` (DESED_task ``*_durations.tsv``, header optional) -> key -> seconds.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "d.tsv"
    >>> _ = p.write_text("filename\\tduration\\nY68_60.000_70.000.wav\\t10.0\\n")
    >>> read_durations(p)
    {'Y68_60.000_70.000': 10.0}
    """
    path = Path(path)
    out: dict[str, float] = {}
    for index, raw in enumerate(read_text_lines(path)):
        fields = [f.strip() for f in raw.split("\t")] if "\t" in raw else raw.split()
        if not raw.strip() or (index == 0 and fields[-1].lower() == "duration"):
            continue
        if len(fields) != 2:
            raise TurnpointError("expected 'filename<TAB>duration'", path=path, line=index + 1)
        out[audio_key(fields[0])] = _number(fields[1], what="duration", path=path, line=index + 1)
    return out


def read_file_pairs(path: str | Path) -> list[tuple[Path, Path]]:
    """sed_eval ``file_list.txt``: ``reference⇥estimated`` per line, relative to the list's folder."""
    path = Path(path)
    pairs = []
    for index, raw in enumerate(read_text_lines(path)):
        if not raw.strip():
            continue
        fields = [f.strip() for f in raw.split("\t")]
        if len(fields) != 2:
            raise TurnpointError("expected 'reference<TAB>estimated'", path=path, line=index + 1)
        pairs.append((path.parent / fields[0], path.parent / fields[1]))
    return pairs


def check_events_within(
    events: Mapping[str, Sequence[Event]], durations: Mapping[str, float], *, tolerance: float = 0.05
) -> None:
    """Raise, naming file and line, for an event past the end of its audio (``+tolerance`` s).

    Examples
    --------
    >>> check_events_within({"a": [Event(9.0, 10.5, "bell", "ref.tsv", 3)]}, {"a": 10.0})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: ref.tsv:3: event 'bell' ends at 10.5 s, past the end of a (10.000 s)
    """
    for key, items in events.items():
        if key not in durations:
            continue
        for event in items:
            if event.offset > durations[key] + tolerance:
                raise TurnpointError(
                    f"event {event.label!r} ends at {event.offset:g} s, past the end of {key} ({durations[key]:.3f} s)",
                    path=event.source or None,
                    line=event.line,
                )


def write_event_labels(path: str | Path, events: Sequence[Event]) -> Path:
    """Write sound events as an Audacity label track (``onset<TAB>offset<TAB>class``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from turnpoint.events.annotations import Event
    >>> p = write_event_labels(pathlib.Path(tempfile.mkdtemp()) / "street.labels.txt", [Event(0.5, 1.25, "Air horn, truck horn")])
    >>> p.read_text()
    '0.500000\\t1.250000\\tAir horn, truck horn\\n'
    """
    rows = ((e.onset, e.offset, e.label) for e in sorted(events, key=lambda e: (e.onset, e.offset, e.label)))
    return write_audacity_labels(path, rows, what="event label")


def write_events(path: str | Path, events: Mapping[str, Sequence[Event]], *, suffix: str = ".wav") -> Path:
    """Write a DCASE TSV (``filename onset offset event_label``, 3 decimals), atomically.

    Files without events get a row with empty fields (DESED's convention), so they stay annotated.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.tsv"
    >>> _ = write_events(p, {"a": [Event(0.5, 1.25, "bell")], "b": []})
    >>> p.read_text().splitlines()
    ['filename\\tonset\\toffset\\tevent_label', 'a.wav\\t0.500\\t1.250\\tbell', 'b.wav\\t\\t\\t']
    >>> read_events(p)["a"][0] == Event(0.5, 1.25, "bell")
    True
    """
    path = Path(path)
    with atomic_open(path) as handle:
        handle.write("filename\tonset\toffset\tevent_label\n")
        for key, items in events.items():
            if not items:
                handle.write(f"{key}{suffix}\t\t\t\n")
            for event in sorted(items, key=lambda e: (e.onset, e.offset, e.label)):
                handle.write(f"{key}{suffix}\t{event.onset:.3f}\t{event.offset:.3f}\t{event.label}\n")
    return path


def write_event_scores(path: str | Path, scores: np.ndarray, *, edges: Sequence[float], classes: Sequence[str]) -> Path:
    """Write per-frame class scores as sed_scores_eval's score table, atomically: a TSV with
    ``onset offset <class>...`` and one row per frame (``edges``: count + 1 boundaries).

    ``sed_scores_eval.base_modules.io.read_sed_scores(folder)`` reads a folder of them (one ``<audio id>.tsv``
    per file), so PSDS and other threshold-free metrics can be computed from them elsewhere.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.tsv"
    >>> _ = write_event_scores(p, np.array([[0.1, 0.9], [0.2, 0.8]]), edges=[0.0, 0.01, 0.03], classes=["bell", "dog"])
    >>> p.read_text().splitlines()
    ['onset\\toffset\\tbell\\tdog', '0.00000\\t0.01000\\t0.100000\\t0.900000', '0.01000\\t0.03000\\t0.200000\\t0.800000']
    """
    values = np.asarray(scores, dtype=np.float64).reshape(len(scores), -1)
    if len(edges) != len(values) + 1 or values.shape[1] != len(classes):
        raise ValueError(f"need {len(values) + 1} edges and {values.shape[1]} classes (got {len(edges)} and {len(classes)})")
    times = [f"{t:.5f}" for t in edges]
    with atomic_open(Path(path)) as handle:
        handle.write("\t".join(["onset", "offset", *classes]) + "\n")
        for row, frame in enumerate(values):
            handle.write(f"{times[row]}\t{times[row + 1]}\t" + "\t".join(f"{v:.6f}" for v in frame) + "\n")
    return Path(path)
