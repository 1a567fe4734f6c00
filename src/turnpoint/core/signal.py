"""Signal helpers both simulators use: the sample rate, fades and levels.

Both tasks' simulators place recorded clips into longer recordings; the clips need the same
fades (no clicks at their edges) and the same measure of loudness.
"""

from __future__ import annotations

import numpy as np

#: Every waveform inside turnpoint is mono float32 at this rate (:mod:`turnpoint.core.audio` resamples to it).
SAMPLE_RATE = 16000


def fade(x: np.ndarray, fade_in: int, fade_out: int, *, shape: str = "cosine") -> np.ndarray:
    """A copy of ``x`` faded in over ``fade_in`` and out over ``fade_out`` samples (each at most half of it).

    ``shape`` is ``"cosine"`` (raised cosine, as speech clips are placed in conversations) or
    ``"linear"`` (the ramps of the sound event mixtures).

    Examples
    --------
    >>> fade(np.ones(8, dtype=np.float32), 2, 2, shape="linear").tolist()
    [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    >>> fade(np.ones(8, dtype=np.float32), 2, 2).round(2).tolist()
    [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    x = x.copy()
    fade_in = min(fade_in, len(x) // 2)
    fade_out = min(fade_out, len(x) // 2)
    if shape == "linear":
        if fade_in > 0:
            x[:fade_in] *= np.linspace(0.0, 1.0, fade_in, dtype=np.float32)
        if fade_out > 0:
            x[-fade_out:] *= np.linspace(0.0, 1.0, fade_out, dtype=np.float32)[::-1]
        return x
    if shape != "cosine":
        raise ValueError(f"fade shape must be 'cosine' or 'linear', not {shape!r}")
    if fade_in > 0:
        x[:fade_in] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(fade_in) / fade_in)).astype(np.float32)
    if fade_out > 0:
        x[-fade_out:] *= (0.5 + 0.5 * np.cos(np.pi * np.arange(1, fade_out + 1) / fade_out)).astype(np.float32)
    return x


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (in float64; 1e-6 for silence, so it can divide).

    Examples
    --------
    >>> round(rms(np.full(4, 0.5, dtype=np.float32)), 6)
    0.5
    """
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def active_rms(x: np.ndarray, *, frame: int = 160, floor_db: float = 30.0) -> float:
    """RMS over the frames within ``floor_db`` of the loudest: a clip's level, not diluted by its pauses.

    Examples
    --------
    >>> clip = np.r_[np.zeros(1600), np.full(1600, 0.5)].astype(np.float32)
    >>> round(active_rms(clip), 3), round(rms(clip), 3)
    (0.5, 0.354)
    """
    n = len(x) // frame
    if n == 0:
        return float(np.sqrt(np.mean(x**2)) + 1e-9)
    energy = np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)
    loud = energy >= energy.max() * 10 ** (-floor_db / 10)
    return float(np.sqrt(energy[loud].mean()) + 1e-9)
