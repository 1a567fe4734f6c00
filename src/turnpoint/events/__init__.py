"""Sound event detection: a CNN-LSTM hybrid (the project's sound event seed document) on turnpoint's frame-labelling core.

Examples
--------
>>> from turnpoint.events import SoundEventConfig, SoundEventDetector
>>> SoundEventDetector(SoundEventConfig()).num_parameters()
39044
>>> # detection = turnpoint.events.detect_events("kitchen.wav"); detection.events
"""

from __future__ import annotations

import importlib

# imported on first use, so that building the command-line parser (which imports turnpoint.cli.events)
# loads no torch or scipy
_LAZY = {
    "Event": "turnpoint.events.annotations", "read_events": "turnpoint.events.annotations", "write_events": "turnpoint.events.annotations",
    "DecodeParams": "turnpoint.events.decode", "decode_scores": "turnpoint.events.decode",
    "SoundEventConfig": "turnpoint.events.model", "SoundEventDetector": "turnpoint.events.model", "TimeDistributed": "turnpoint.events.model",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'turnpoint.events' has no attribute {name!r}")

__all__ = [
    "DecodeParams",
    "Event",
    "SoundEventConfig",
    "SoundEventDetector",
    "TimeDistributed",
    "decode_scores",
    "detect_event_files",
    "detect_events",
    "evaluate_events",
    "read_events",
    "write_events",
]


def detect_events(*args, **kwargs):  # noqa: D103 - documented in turnpoint.events.detect
    from turnpoint.events.detect import detect_events as _detect

    return _detect(*args, **kwargs)


def detect_event_files(*args, **kwargs):  # noqa: D103 - documented in turnpoint.events.detect
    from turnpoint.events.detect import detect_event_files as _detect_files

    return _detect_files(*args, **kwargs)


def evaluate_events(*args, **kwargs):  # noqa: D103 - documented in turnpoint.events.detect
    from turnpoint.events.detect import evaluate_events as _evaluate

    return _evaluate(*args, **kwargs)


detect_events.__doc__ = "Detect sound events in a file; see :func:`turnpoint.events.detect.detect_events`."
detect_event_files.__doc__ = "Detect sound events in many files, writing TSV/PNG; see :func:`turnpoint.events.detect.detect_event_files`."
evaluate_events.__doc__ = "Detect and score against a reference; see :func:`turnpoint.events.detect.evaluate_events`."
