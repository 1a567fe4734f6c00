"""A self-contained HTML report of one detection: zoomable timeline, speaker turns, click to play.

The page needs no network and no plug-in: its script, style and data are inline, and the audio is
embedded as a compact Ogg Vorbis data URI (16 kHz mono) for files up to ``embed_seconds`` (30 min
by default, about 4.5 MB of audio); a longer file is linked by its path relative to the report, so
moving the two together keeps playback working.

What the page shows, top to bottom: the waveform envelope (when the audio is readable), the change
score with its threshold and the detected changes, a row of detected turns coloured by speaker label
(or alternating segments when the detector does not label), a row of reference turns (when given),
a time axis, an overview of the whole file with the visible window, the colour legend, and the
list of turns and changes. Click the timeline to play from that point; wheel or +/- to zoom, drag,
shift-wheel or the arrow keys to pan, 0 to see the whole file, space to play or pause.

This module gathers what the page shows (:func:`report_data`, the audio's envelope and encoding)
and writes it (:func:`write_report`); the page itself is :mod:`turnpoint.changes.report_page`.
The page exposes ``window.turnpointReport`` (``timeAt(x)``, ``xAt(t)``, ``view()``, ``setView(a, b)``,
``zoom(factor, t)``, ``seek(t)``, ``lastSeek``) so that a browser test can check what it does.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np

from turnpoint.changes.annotations import Turn
from turnpoint.changes.detection import Detection
from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_text
from turnpoint.changes.plots import DETECTED_COLOURS, REFERENCE_COLOURS, decision_threshold, detected_turns, speaker_colours
from turnpoint.changes.report_page import render_page

logger = logging.getLogger(__name__)

#: Audio up to this long (seconds) is embedded in the page; longer audio is linked.
EMBED_SECONDS = 1800.0
#: Sample rate of the embedded audio and of the waveform envelope's input.
EMBED_SAMPLE_RATE = 16000
#: Seconds per point of the waveform envelope.
ENVELOPE_STEP = 0.01
# Vorbis "compression level" 0.8: about 20 kb/s for 16 kHz speech, plenty to recognise a voice
_VORBIS_COMPRESSION = 0.8


def _bytes_b64(values: np.ndarray) -> str:
    """A [0, 1] curve as base64 uint8: a quarter of the size of JSON numbers, and fine for drawing."""
    return base64.b64encode(np.round(np.clip(np.nan_to_num(values), 0.0, 1.0) * 255).astype(np.uint8).tobytes()).decode("ascii")


def _read_audio(path: Path, *, embed: bool) -> tuple[np.ndarray, bytes | None]:
    """The peak envelope (per :data:`ENVELOPE_STEP`, normalised to the file's peak) and, when
    ``embed``, the audio as Ogg Vorbis bytes; streamed block by block, so long files stay in memory
    as an envelope only."""
    import soundfile as sf

    from turnpoint.core.audio import iter_audio

    hop = int(round(ENVELOPE_STEP * EMBED_SAMPLE_RATE))
    peaks: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.float32)
    buffer = io.BytesIO() if embed else None
    encoder = sf.SoundFile(buffer, "w", EMBED_SAMPLE_RATE, 1, format="OGG", subtype="VORBIS",
                           compression_level=_VORBIS_COMPRESSION) if embed else None
    try:
        for block in iter_audio(path, sample_rate=EMBED_SAMPLE_RATE):
            if encoder is not None:
                # one second per write: libvorbis allocates a write's whole length on the stack
                for start in range(0, len(block), EMBED_SAMPLE_RATE):
                    encoder.write(block[start:start + EMBED_SAMPLE_RATE])
            samples = np.concatenate([carry, block])
            whole = len(samples) // hop * hop
            if whole:
                peaks.append(np.abs(samples[:whole]).reshape(-1, hop).max(axis=1))
            carry = samples[whole:]
        if len(carry):
            peaks.append(np.abs(carry).max(keepdims=True))
    finally:
        if encoder is not None:
            encoder.close()
    envelope = np.concatenate(peaks) if peaks else np.zeros(0, dtype=np.float32)
    top = float(envelope.max()) if len(envelope) else 0.0
    return (envelope / top if top > 0 else envelope), (buffer.getvalue() if buffer is not None else None)


def _audio_link(audio: Path, report: Path) -> str:
    """URL of ``audio`` relative to the report's folder (an absolute file URL where there is none)."""
    try:
        relative = os.path.relpath(audio.resolve(), report.resolve().parent)
    except ValueError:  # another drive: no relative path exists
        return audio.resolve().as_uri()
    return quote(Path(relative).as_posix())


def report_data(detection: Detection, *, reference: Sequence[Turn] | None = None) -> dict:
    """What the page draws, as JSON-ready data (without the audio).

    Examples
    --------
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection("a", "", Scores(np.full(300, 0.2, np.float32), 0.01, 3.0), np.array([1.0]),
    ...               [(0.0, 1.0), (1.0, 3.0)], settings={"alpha": 0.5, "alpha_scale": "absolute"},
    ...               labels=["SPEAKER_00", "SPEAKER_01"])
    >>> data = report_data(d)
    >>> data["changes"], data["segments"][1], data["colours"]["detected"]
    ([1.0], [1.0, 3.0, 'SPEAKER_01'], {'SPEAKER_00': '#1b9e77', 'SPEAKER_01': '#d95f02'})
    """
    threshold, threshold_label = decision_threshold(detection)
    labels = detection.labels if detection.labels is not None else [None] * len(detection.segments)
    data = {
        "uri": detection.uri,
        "duration": round(float(detection.duration), 3),
        "frame_step": float(detection.scores.frame_step),
        "scores": _bytes_b64(np.asarray(detection.scores.values, dtype=np.float32)),
        "threshold": round(float(threshold), 5),
        "threshold_label": threshold_label,
        "score_label": "change score" if detection.candidates is None else "BiLSTM score",
        "changes": [round(float(t), 3) for t in detection.changes],
        "dropped": [round(float(t), 3) for t in (detection.dropped if detection.dropped is not None else [])],
        "candidates": [] if detection.candidates is None else
        [[round(float(t), 3), round(float(s), 4)] for t, s in zip(detection.candidates, detection.candidate_scores)],
        "labelled": detection.labels is not None,
        "segments": [[round(float(s), 3), round(float(e), 3), label] for (s, e), label in zip(detection.segments, labels)],
        "reference": None if reference is None else [[round(t.start, 3), round(t.end, 3), t.speaker] for t in reference],
        "colours": {
            "detected": speaker_colours([t.speaker for t in detected_turns(detection)], DETECTED_COLOURS),
            "reference": speaker_colours([t.speaker for t in reference or []], REFERENCE_COLOURS),
        },
        "model": detection.model.get("name") or detection.model.get("architecture") or "",
        "envelope": None,
        "audio": None,
    }
    return data


def write_report(detection: Detection, path: str | Path, *, reference: Sequence[Turn] | None = None,
                 audio: str | Path | bool | None = None, embed_seconds: float = EMBED_SECONDS) -> Path:
    """Write one self-contained HTML page showing ``detection`` (see :mod:`turnpoint.changes.report`).

    Parameters
    ----------
    detection : result of :func:`turnpoint.detect_changes`
    path : the ``.html`` file to write (atomically)
    reference : the file's reference turns, drawn as their own row
    audio : the audio to play and draw the waveform of; default (``None``) the detection's own file
        when it still exists; ``False`` for none
    embed_seconds : audio up to this long is embedded in the page, longer audio is linked

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> from turnpoint.core.windows import Scores
    >>> d = Detection("a", "", Scores(np.zeros(300, np.float32), 0.01, 3.0), np.array([1.0]), [(0.0, 1.0), (1.0, 3.0)],
    ...               settings={"alpha": 0.5, "alpha_scale": "absolute"})
    >>> page = write_report(d, os.path.join(tempfile.mkdtemp(), "a.html"))
    >>> "<script src" in page.read_text(), "turnpointReport" in page.read_text()
    (False, True)
    """
    path = Path(path)
    data = report_data(detection, reference=reference)
    source: Path | None = None
    if audio is None:
        source = Path(detection.path) if detection.path and Path(detection.path).is_file() else None
    elif audio is not False:
        source = Path(audio)
        if not source.is_file():
            raise TurnpointError("no such audio file for the report", path=source)
    if source is not None:
        if source.resolve() == path.resolve():
            raise TurnpointError("refusing to overwrite the audio with the report; choose another path", path=path)
        embed = detection.duration <= embed_seconds
        envelope, encoded = _read_audio(source, embed=embed)
        data["envelope"] = {"step": ENVELOPE_STEP, "values": _bytes_b64(envelope)}
        if encoded is not None:
            data["audio"] = {"src": "data:audio/ogg;base64," + base64.b64encode(encoded).decode("ascii"), "embedded": True,
                             "name": source.name}
        else:
            logger.info("%s: %.0f s of audio is too long to embed in the report; it links to the file instead", source, detection.duration)
            data["audio"] = {"src": _audio_link(source, path), "embedded": False, "name": source.name}
    atomic_write_text(path, render_page(f"{detection.uri} · turnpoint report", data))
    return path
