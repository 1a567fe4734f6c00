"""Recording conditions of simulated conversations: rooms, microphones and lines, background noise.

Each simulated speaker gets a :class:`Channel` (gain, spectral tilt, room impulse response,
optionally a telephone band); the conversation gets a background bed (coloured noise, mains hum,
a music-like bed). Every draw comes from the caller's random generator, so a seed fixes the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import soxr
from scipy import signal

from turnpoint.core.signal import SAMPLE_RATE

SR = SAMPLE_RATE


class ChannelSettings(Protocol):
    """The ranges the channel draws use (:class:`turnpoint.changes.simulate.SimulationConfig` has them)."""

    eq_p: float
    speaker_gain_db: float
    band_cap_p: float
    band_cap_hz: tuple[float, float]
    reverb_p: float
    reverb_rt60_s: tuple[float, float]
    reverb_drr_db: tuple[float, float]


def coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    white = rng.standard_normal(n)
    if colour == "white":
        x = white
    else:
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1.0 / SR)
        f[0] = f[1]
        spec /= f ** (0.5 if colour == "pink" else 1.0)
        x = np.fft.irfft(spec, n)
        # brown noise: keep a little energy above ~100 Hz audible, remove DC drift
        b, a = signal.butter(1, 20.0 / (SR / 2), "highpass")
        x = signal.lfilter(b, a, x)
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def mains_hum(rng: np.random.Generator, n: int) -> np.ndarray:
    f0 = rng.choice([50.0, 60.0])
    t = np.arange(n) / SR
    x = np.zeros(n)
    for k in range(1, 6):
        x += rng.uniform(0.1, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def music_bed(rng: np.random.Generator, n: int) -> np.ndarray:
    """Soft tonal background: random notes (2-3 partials) with smooth envelopes, chords overlap."""
    x = np.zeros(n)
    t_note = rng.uniform(0.25, 1.0)
    pos = 0
    note_len = int(t_note * SR)
    while pos < n:
        length = min(int(note_len * rng.uniform(1.0, 3.0)), n - pos)
        if length <= 0:
            break
        t = np.arange(length) / SR
        f = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        env = np.sin(np.pi * np.arange(length) / length) ** 2
        tone = sum(
            (0.6**k) * np.sin(2 * np.pi * f * (k + 1) * t + rng.uniform(0, 6.3)) for k in range(3)
        )
        x[pos : pos + length] += env * tone
        pos += int(note_len * rng.uniform(0.4, 1.0))
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def telephone_band(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Band-limit to ~300-3400 Hz: resample through 8 kHz and high-pass."""
    y = soxr.resample(x, SR, 8000, quality="HQ")
    y = soxr.resample(y, 8000, SR, quality="HQ")[: len(x)]
    if len(y) < len(x):
        y = np.pad(y, (0, len(x) - len(y)))
    lo = rng.uniform(250.0, 350.0)
    sos = signal.butter(2, lo / (SR / 2), "highpass", output="sos")
    y = signal.sosfilt(sos, y)
    hi = rng.uniform(3300.0, 3700.0)
    sos = signal.butter(4, min(hi, 3900.0) / (SR / 2), "lowpass", output="sos")
    return signal.sosfilt(sos, y).astype(np.float32)


@dataclass
class Channel:
    """Per-speaker colouring: room, gain, gentle first-order EQ, optional telephone band."""

    gain_db: float
    eq: tuple | None = None  # ("tilt", fc, low_gain, high_gain) or ("lowpass", fc)
    telephone: bool = False
    band_cap_hz: float | None = None  # steep low-pass: wideband voices get random bandwidths
    room: np.ndarray | None = None  # impulse response (direct path first); the tail is cut at the clip's end

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.room is not None:
            x = signal.fftconvolve(x, self.room)[: len(x)]
        if self.eq is not None:
            if self.eq[0] == "tilt":
                _, fc, g_lo, g_hi = self.eq
                b, a = signal.butter(1, fc / (SR / 2), "lowpass")
                lo = signal.lfilter(b, a, x)
                x = g_lo * lo + g_hi * (x - lo)
            else:
                b, a = signal.butter(1, self.eq[1] / (SR / 2), "lowpass")
                x = signal.lfilter(b, a, x)
        if self.band_cap_hz is not None:
            sos = signal.butter(6, self.band_cap_hz / (SR / 2), "lowpass", output="sos")
            x = signal.sosfilt(sos, x)
        if self.telephone:
            x = telephone_band(x, rng)
        return np.asarray(x, dtype=np.float32)


def _random_tilt(rng: np.random.Generator) -> tuple:
    fc = float(np.exp(rng.uniform(np.log(300.0), np.log(3000.0))))
    return ("tilt", fc, 10 ** (rng.uniform(-6, 6) / 20), 10 ** (rng.uniform(-6, 6) / 20))


def random_room(rng: np.random.Generator, *, rt60_s: tuple[float, float] = (0.2, 0.8), drr_db: tuple[float, float] = (0.0, 12.0)) -> np.ndarray:
    """A synthetic room impulse response: a unit direct path, then exponentially decaying noise.

    The decay reaches -60 dB after the drawn RT60; the tail's energy sits ``drr`` dB below the
    direct path's (the direct-to-reverberant ratio).

    Examples
    --------
    >>> h = random_room(np.random.default_rng(0), rt60_s=(0.5, 0.5), drr_db=(6.0, 6.0))
    >>> float(h[0]), len(h), round(float(10 * np.log10(1.0 / np.sum(h[1:] ** 2))), 1)
    (1.0, 8000, 6.0)
    """
    rt60 = float(rng.uniform(*rt60_s))
    drr = float(rng.uniform(*drr_db))
    t = np.arange(1, int(rt60 * SR)) / SR
    tail = rng.standard_normal(len(t)) * np.exp(-6.908 * t / rt60)  # ln(1000): -60 dB at rt60
    tail *= np.sqrt(10 ** (-drr / 10) / np.sum(tail**2))
    return np.concatenate([[1.0], tail]).astype(np.float32)


def random_channel(
    rng: np.random.Generator, cfg: ChannelSettings, bandlimit: bool, wideband: bool
) -> Channel:
    eq = None
    if rng.random() < cfg.eq_p:
        if rng.random() < 0.7:
            eq = _random_tilt(rng)
        else:
            eq = ("lowpass", float(rng.uniform(3500.0, 7500.0)))
    channel = Channel(
        gain_db=float(rng.uniform(-cfg.speaker_gain_db, cfg.speaker_gain_db)),
        eq=eq,
        telephone=bandlimit,
        band_cap_hz=(
            float(rng.uniform(*cfg.band_cap_hz))
            if wideband and not bandlimit and rng.random() < cfg.band_cap_p
            else None
        ),
    )
    # drawn only when enabled, so that configurations without rooms reproduce older data exactly
    if cfg.reverb_p > 0 and rng.random() < cfg.reverb_p:
        channel.room = random_room(rng, rt60_s=cfg.reverb_rt60_s, drr_db=cfg.reverb_drr_db)
    return channel


def varied_channel(rng: np.random.Generator, cfg: ChannelSettings, base: Channel) -> Channel:
    """The same speaker through another microphone / room: new EQ, gain within ±4 dB, maybe a new room.

    Bandwidth stays (a telephone speaker stays on the telephone), so the variation is channel
    colour only — the kind of within-speaker change a detector must not call a speaker change.
    """
    room = base.room
    if cfg.reverb_p > 0 and rng.random() < 0.5:
        room = random_room(rng, rt60_s=cfg.reverb_rt60_s, drr_db=cfg.reverb_drr_db)
    return Channel(gain_db=base.gain_db + float(rng.uniform(-4.0, 4.0)), eq=_random_tilt(rng), telephone=base.telephone,
                    band_cap_hz=base.band_cap_hz, room=room)
