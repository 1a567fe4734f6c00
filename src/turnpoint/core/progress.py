"""Progress by audio time: stages report seconds of audio done, the batch driver shows them.

One bar per file, counting seconds of audio; a file's stages (decoding and scoring, re-scoring,
…) each run the bar from 0 to the file's duration under their own label. Library calls stay silent:
nothing is shown unless a driver opened a bar (``turnpoint detect`` does, unless ``--quiet``).

For a stage (any code doing per-file work)::

    from turnpoint.core import progress

    with progress.stage("scoring", total=duration):  # total: seconds of audio, None if unknown
        for block in blocks:
            ...
            progress.advance(len(block) / sample_rate)  # any thread; a no-op when nothing is shown

For a driver::

    with progress.file_bar("meeting.wav"):  # a tqdm bar on stderr while the block runs
        detect_changes("meeting.wav")

:func:`file_bar` with ``sink=`` sends the bar's updates elsewhere instead: batch workers in other
processes pass a :class:`QueueSink`, and the parent draws their bars with :class:`BarBoard`.
Updates are rate-limited (:data:`MIN_INTERVAL`), so reporting every block costs nothing measurable.

Examples
--------
>>> events = []
>>> with file_bar("a.wav", sink=lambda *message: events.append(message)):
...     with stage("scoring", total=2.0):
...         advance(1.5)
...         advance(0.5)
>>> events[0], events[1], events[-1]
(('file', 'a.wav'), ('stage', 'scoring', 2.0), ('close',))
>>> advance(1.0)  # no bar open: nothing happens
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

#: Seconds between two forwarded updates of one bar (the last one of a stage is always sent).
MIN_INTERVAL = 0.2
#: The bar's look: ``name scoring:  40%|####      | 720/1800 s of audio [00:09<00:13]``.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]"
UNKNOWN_FORMAT = "{desc}: {n:.0f} s of audio [{elapsed}]"

Sink = Callable[..., None]  # sink(kind, *values): ("file", name), ("stage", label, total), ("advance", s), ("close",)

_lock = threading.Lock()
_sink: Sink | None = None
_pending = 0.0  # seconds reported but not yet forwarded
_last_sent = 0.0


def active() -> bool:
    """Whether a bar is open in this process (stages may skip work done only for the display).

    Examples
    --------
    >>> active()
    False
    """
    return _sink is not None


def advance(seconds: float) -> None:
    """Report ``seconds`` more audio done by the current stage; a no-op when no bar is open."""
    global _pending, _last_sent
    sink = _sink
    if sink is None or seconds <= 0:
        return
    with _lock:
        _pending += float(seconds)
        now = time.monotonic()
        if now - _last_sent < MIN_INTERVAL:
            return
        value, _pending, _last_sent = _pending, 0.0, now
    sink("advance", value)


def _flush() -> None:
    global _pending
    sink = _sink
    with _lock:
        value, _pending = _pending, 0.0
    if sink is not None and value > 0:
        sink("advance", value)


@contextlib.contextmanager
def stage(label: str, *, total: float | None = None) -> Iterator[None]:
    """Run the block as one stage of the current file: the bar restarts at 0 with ``label``.

    ``total`` is the audio seconds the stage will report (a file's duration), None if unknown.
    """
    _flush()
    sink = _sink
    if sink is not None:
        sink("stage", label, None if total is None else float(total))
    try:
        yield
    finally:
        _flush()


@contextlib.contextmanager
def file_bar(name: str, *, enabled: bool = True, sink: Sink | None = None, position: int = 0) -> Iterator[None]:
    """Show one file's progress while the block runs: a tqdm bar (``position``: its line) or ``sink``.

    Bars do not nest: inside an open bar, another ``file_bar`` is a no-op.
    """
    global _sink, _pending
    if not enabled or _sink is not None:
        yield
        return
    target = sink if sink is not None else TqdmSink(position=position)
    with _lock:
        _sink, _pending = target, 0.0
    target("file", name)
    try:
        yield
    finally:
        _flush()
        with _lock:
            _sink = None
        target("close")


class TqdmSink:
    """Draws the updates of one file at a time as a tqdm bar on stderr (``leave=False``)."""

    def __init__(self, *, position: int = 0):
        self.position = position
        self.name = ""
        self.bar: Any = None

    def __call__(self, kind: str, *values: Any) -> None:
        if kind == "file":
            self.name = str(values[0])
        elif kind == "stage":
            self._close()
            from tqdm.auto import tqdm

            label, total = values
            self.bar = tqdm(
                total=total, desc=f"{self.name} {label}", unit="s", position=self.position, leave=False, dynamic_ncols=True,
                bar_format=BAR_FORMAT if total else UNKNOWN_FORMAT, file=sys.stderr, mininterval=MIN_INTERVAL,
            )
        elif kind == "advance" and self.bar is not None:
            if self.bar.total:  # a decoded file a little longer than its header says stays at 100 %
                values = (min(values[0], max(0.0, self.bar.total - self.bar.n)),)
            self.bar.update(values[0])
            if self.bar.total and self.bar.n >= self.bar.total:
                self.bar.refresh()  # the finished state is drawn once, however soon it came
        elif kind == "close":
            self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class QueueSink:
    """Sends a worker process's updates to the parent: ``queue.put((slot, kind, *values))``."""

    def __init__(self, queue: Any, slot: int):
        self.queue, self.slot = queue, slot

    def __call__(self, kind: str, *values: Any) -> None:
        try:
            self.queue.put((self.slot, kind, *values))
        except (OSError, ValueError):  # the parent is gone or closed the queue: the work goes on
            pass


class BarBoard:
    """The parent's view of its workers: draws ``(slot, kind, *values)`` messages from a queue as
    one :class:`TqdmSink` per slot (any hashable: a worker's pid), from a background thread; the
    slots get the lines from ``first_position`` on, in the order they first report."""

    def __init__(self, queue: Any, *, first_position: int = 1):
        self.queue = queue
        self.first_position = first_position
        self.sinks: dict[int, TqdmSink] = {}
        self.thread = threading.Thread(target=self._run, name="turnpoint-progress", daemon=True)

    def __enter__(self) -> BarBoard:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.queue.put(None)
        self.thread.join(timeout=5)
        for sink in self.sinks.values():
            sink("close")

    def _run(self) -> None:
        while True:
            try:
                message = self.queue.get()
            except (EOFError, OSError, ValueError):
                return
            if message is None:
                return
            slot, kind, *values = message
            if slot not in self.sinks:
                self.sinks[slot] = TqdmSink(position=self.first_position + len(self.sinks))
            self.sinks[slot](kind, *values)


__all__ = ["BAR_FORMAT", "BarBoard", "MIN_INTERVAL", "QueueSink", "TqdmSink", "active", "advance", "file_bar", "stage"]
