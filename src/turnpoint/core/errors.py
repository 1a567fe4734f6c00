"""The one exception type users see: a clear, one-line message naming the file (and line)."""

from __future__ import annotations

from pathlib import Path


class TurnpointError(Exception):
    """An error caused by user input, printed by the CLI as one line without a traceback.

    Examples
    --------
    >>> str(TurnpointError("bad value", path="a.rttm", line=3))
    'a.rttm:3: bad value'
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
            where += ": "
        super().__init__(f"{where}{message}")
