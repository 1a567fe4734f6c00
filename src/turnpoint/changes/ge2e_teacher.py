"""GE2E, the compact encoder's teacher: its embeddings of ~1 s windows at the compact encoder's times.

:func:`teacher_embeddings` gives the distillation targets (the bundled GE2E encoder of
:mod:`turnpoint.changes.speaker_encoder` on the window centred on each time, scaled to
:data:`TEACHER_LEVEL_DBFS`); :class:`Ge2eStream` gives the same embeddings over a stream of blocks,
which is :func:`turnpoint.changes.streaming_embeddings.embed_stream`'s ``encoder="ge2e"``.
"""

from __future__ import annotations

import math

import numpy as np

from turnpoint.changes.compact_encoder import SAMPLE_RATE, CompactEncoderConfig

__all__ = ["TEACHER_LEVEL_DBFS", "TEACHER_WINDOW", "Ge2eStream", "teacher_embeddings"]

TEACHER_WINDOW = 1.0  # s, the GE2E window the student imitates
TEACHER_LEVEL_DBFS = -30.0  # each teacher window is scaled to this RMS level (both ways)


def _window_bounds(times: np.ndarray, n_samples: int, window: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    half = window / 2
    starts = np.clip(np.round((times - half) * rate).astype(np.int64), 0, n_samples)
    stops = np.clip(np.round((times + half) * rate).astype(np.int64), 0, n_samples)
    return starts, stops


def _teacher_segments(samples: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> list[np.ndarray]:
    from turnpoint.changes.speaker_encoder import mel_frames, normalize_volume

    return [
        mel_frames(normalize_volume(samples[a:b], target_dbfs=TEACHER_LEVEL_DBFS, increase_only=False)) for a, b in zip(starts, stops)
    ]


def teacher_embeddings(
    samples: np.ndarray, times: np.ndarray, *, window: float = TEACHER_WINDOW, batch_size: int = 64, encoder=None
) -> np.ndarray:
    """GE2E embeddings of the ``window``-second windows centred on ``times`` (clipped to the signal).

    Each window is scaled to -30 dBFS (up or down; silence stays silent), turned into GE2E's mel
    frames on its own (as Resemblyzer embeds one utterance) and embedded by the bundled encoder,
    equal-length windows in batches.

    Parameters
    ----------
    samples : array (samples,)
        Mono 16 kHz audio.
    times : array (n,)
        Window centres in seconds.
    window : float
        Window length in seconds.
    batch_size : int
        Windows per GE2E forward pass.
    encoder : turnpoint.changes.speaker_encoder.SpeakerEncoder, optional
        The GE2E encoder; the bundled one by default.

    Returns
    -------
    array (n, 256), float32

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=32000).astype(np.float32) * 0.05
    >>> teacher_embeddings(x, np.array([0.5, 1.0, 1.5])).shape
    (3, 256)
    """
    from turnpoint.changes.speaker_encoder import embed_segments, load_speaker_encoder

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    starts, stops = _window_bounds(times, len(samples), window, SAMPLE_RATE)
    encoder = encoder if encoder is not None else load_speaker_encoder()
    if len(times) == 0:
        return np.zeros((0, encoder.config.embedding_size), dtype=np.float32)
    return embed_segments(_teacher_segments(samples, starts, stops), encoder=encoder, batch_size=batch_size)


class Ge2eStream:
    """GE2E embeddings (:func:`teacher_embeddings`) every ``hop`` seconds over a stream of blocks.

    Keeps only the last window's worth of samples.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=24000).astype(np.float32) * 0.05
    >>> stream = Ge2eStream(hop=0.5)
    >>> parts = [stream.push(x[:10000]), stream.push(x[10000:]), stream.finish()]
    >>> times = np.concatenate([p[0] for p in parts])
    >>> times.tolist()
    [0.0, 0.5, 1.0, 1.5]
    >>> bool(np.allclose(np.concatenate([p[1] for p in parts]), teacher_embeddings(x, times), atol=1e-5))
    True
    """

    def __init__(self, *, hop: float = CompactEncoderConfig().hop, window: float = TEACHER_WINDOW, batch_size: int = 64, encoder=None):
        from turnpoint.changes.speaker_encoder import load_speaker_encoder

        if hop <= 0 or window <= 0:
            raise ValueError("hop and window must be positive")
        self.hop, self.window, self.batch_size = hop, window, batch_size
        self.encoder = encoder if encoder is not None else load_speaker_encoder()
        self._samples = np.zeros(0, dtype=np.float32)
        self._start = 0  # sample index of self._samples[0]
        self._received = 0
        self._next = 0
        self._finished = False

    def _emit(self, last: int) -> tuple[np.ndarray, np.ndarray]:
        from turnpoint.changes.speaker_encoder import embed_segments

        if last < self._next:
            return np.zeros(0), np.zeros((0, self.encoder.config.embedding_size), dtype=np.float32)
        times = (np.arange(self._next, last + 1) * self.hop).round(9)
        starts, stops = _window_bounds(times, self._received, self.window, SAMPLE_RATE)
        segments = _teacher_segments(self._samples, starts - self._start, stops - self._start)
        out = embed_segments(segments, encoder=self.encoder, batch_size=self.batch_size)
        self._next = last + 1
        keep = _window_bounds(np.array([self._next * self.hop]), self._received, self.window, SAMPLE_RATE)[0][0]
        if keep > self._start:
            self._samples = self._samples[keep - self._start :]
            self._start = int(keep)
        return times, out

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add mono samples; return the (times, embeddings) whose windows are now complete."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._samples = np.concatenate([self._samples, samples])
        self._received += len(samples)
        complete = (self._received / SAMPLE_RATE - self.window / 2) / self.hop
        return self._emit(int(math.floor(complete + 1e-9)) if complete >= 0 else -1)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Embed the remaining windows, up to the last time not after the end."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        self._finished = True
        if self._received == 0:
            raise ValueError("no samples to embed")
        return self._emit(int(math.floor(self._received / SAMPLE_RATE / self.hop + 1e-9)))
