"""Line-based text files: the one reader behind every annotation format, list files, Audacity labels.

Every reader of RTTM, UEM, LAB, list files, DCASE TSV and Audacity label tracks goes through
:func:`read_text_lines`, so a missing file, a folder, a byte-order mark, CRLF line ends or bad
UTF-8 give the same one-line error (``path:line: ...``) whatever the format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_text

#: Lines starting with one of these are comments in RTTM, UEM, LAB and list files.
COMMENT_MARKS = ";#"


def read_text_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 text file, as written (a leading byte-order mark dropped).

    Lines split on ``\\n``, ``\\r`` and ``\\r\\n`` only (not the Unicode line separators that
    ``str.splitlines`` also honours, which can sit inside a label).

    Raises
    ------
    TurnpointError
        Missing file, a folder, unreadable, or not UTF-8 (``path:line: ...`` with the byte and column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_bytes("\\ufeffone\\r\\n\\r\\ntwo\\u2028".encode("utf-8"))
    >>> read_text_lines(p)
    ['one', '', 'two\\u2028']
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TurnpointError("no such file", path=path) from None
    except IsADirectoryError:
        raise TurnpointError("is a directory, expected a file", path=path) from None
    except PermissionError:
        raise TurnpointError("permission denied", path=path) from None
    except OSError as exc:
        raise TurnpointError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1]
            raise TurnpointError(
                f"not valid UTF-8 (byte 0x{bad.hex()} at column {exc.start + 1}); re-save the file as UTF-8",
                path=path,
                line=number,
            ) from None
    return lines


def content_lines(path: str | Path) -> list[tuple[int, str]]:
    """``(line_number, stripped_text)`` of each line that is neither blank nor a comment (``;``/``#``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.uem"
    >>> _ = p.write_text(";; a comment\\n\\n  ES2011a 1 0.0 10.0  \\n")
    >>> content_lines(p)
    [(3, 'ES2011a 1 0.0 10.0')]
    """
    numbered = ((number, line.strip()) for number, line in enumerate(read_text_lines(path), start=1))
    return [(number, text) for number, text in numbered if text and text[0] not in COMMENT_MARKS]


def read_list(path: str | Path) -> list[str]:
    """Read a list file (URIs, speakers, audio paths...): one item per line, surrounding whitespace removed.

    Blank lines and comment lines (``;`` / ``#``) are skipped, CRLF line ends and a missing final newline
    are fine. Items are returned exactly as written (no Unicode normalisation), in file order.

    Parameters
    ----------
    path : str or Path
        List file.

    Returns
    -------
    list of str

    Raises
    ------
    TurnpointError
        Missing file or bad UTF-8.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.lst"
    >>> _ = p.write_bytes(b"ES2011a\\r\\n\\r\\nIB4001")
    >>> read_list(p)
    ['ES2011a', 'IB4001']
    """
    return [text for _, text in content_lines(path)]


def read_audacity_labels(path: str | Path) -> list[tuple[float, float, str]]:
    """Read an Audacity label track: ``(start, end, label)`` per label, in file order.

    Point labels (one time) have ``start == end``; the frequency lines Audacity writes after a
    spectral label (``\\<TAB>low<TAB>high``) are skipped.

    Raises
    ------
    TurnpointError
        Missing file, bad UTF-8, or a line that is not ``start<TAB>end[<TAB>label]`` (``path:line: ...``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_text("1.5\\t2.25\\tZoë\\n\\\\\\t100\\t2000\\n3\\t3\\n", encoding="utf-8")
    >>> read_audacity_labels(p)
    [(1.5, 2.25, 'Zoë'), (3.0, 3.0, '')]
    """
    path = Path(path)
    labels = []
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip() or line.startswith("\\"):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise TurnpointError("expected start<TAB>end<TAB>label", path=path, line=number)
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise TurnpointError(f"times must be numbers, got {fields[0]!r} and {fields[1]!r}", path=path, line=number) from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise TurnpointError(f"bad label times {fields[0]} to {fields[1]}", path=path, line=number)
        labels.append((start, end, "\t".join(fields[2:])))
    return labels


def check_label(label: str, *, path: Path, what: str = "label") -> None:
    """Refuse a label that a line-based format could not read back (empty, or with a tab or line break)."""
    if not label or any(ch in label for ch in "\t\r\n"):
        raise TurnpointError(f"{what} {label!r} is empty or holds a tab or line break; it could not be read back", path=path)


def write_audacity_labels(path: str | Path, rows: Iterable[tuple[float, float, str]], *, what: str = "label") -> Path:
    """Write an Audacity label track: ``start<TAB>end<TAB>label`` a line, seconds to the microsecond, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_audacity_labels(pathlib.Path(tempfile.mkdtemp()) / "a.txt", [(0.5, 1.25, "bell")])
    >>> p.read_text()
    '0.500000\\t1.250000\\tbell\\n'
    """
    path = Path(path)
    lines = []
    for start, end, label in rows:
        check_label(label, path=path, what=what)
        lines.append(f"{start:.6f}\t{end:.6f}\t{label}\n")
    atomic_write_text(path, "".join(lines))
    return path
