"""Event mixtures with exact references: short sounds placed over speech, music or noise.

A mixture is ``duration`` seconds of background — speech (utterances with pauses), music, pink
noise, or speech over music — with 0 to ``max_events`` sound events placed at random times.
Events of different classes may overlap (polyphony). Each event clip is trimmed to its audible
part first (frames within 50 dB of the clip's peak), so the reference onset/offset are exactly
where the sound is; it is then speed-perturbed (±8 %, which also shifts its pitch), given a short
fade and scaled to an event-to-background ratio drawn from ``ebr_db``. Everything is reproducible
from the seed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from turnpoint.events.annotations import Event, write_events
from turnpoint.fileio import atomic_open

logger = logging.getLogger(__name__)

SR = 16000

__all__ = ["MixtureConfig", "simulate_mixture", "simulate_mixtures", "trim_silence"]


@dataclass(frozen=True)
class MixtureConfig:
    """Random distributions of the mixture simulator (uniform ranges unless stated)."""

    duration: float = 10.0
    max_events: int = 4
    p_no_event: float = 0.08
    ebr_db: tuple[float, float] = (-6.0, 12.0)  # event-to-background RMS ratio
    background_dbfs: tuple[float, float] = (-35.0, -20.0)
    speed: tuple[float, float] = (0.92, 1.08)
    background_p: tuple[float, float, float, float] = (0.35, 0.3, 0.15, 0.2)  # speech, music, noise, speech+music
    max_event_duration: float = 4.0


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def trim_silence(x: np.ndarray, *, threshold_db: float = -50.0, frame: int = 160) -> np.ndarray:
    """Cut leading and trailing 10 ms frames more than ``threshold_db`` below the loudest frame.

    Examples
    --------
    >>> x = np.r_[np.zeros(1600), np.ones(800), np.zeros(1600)].astype(np.float32)
    >>> len(trim_silence(x))
    800
    """
    n = len(x) // frame
    if n == 0:
        return x
    energy = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(energy / energy.max()) > threshold_db)
    return x[loud[0] * frame : (loud[-1] + 1) * frame]


def _fade(x: np.ndarray, samples: int) -> np.ndarray:
    samples = min(samples, len(x) // 2)
    if samples > 0:
        ramp = np.linspace(0.0, 1.0, samples, dtype=np.float32)
        x = x.copy()
        x[:samples] *= ramp
        x[-samples:] *= ramp[::-1]
    return x


def _pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    return np.fft.irfft(spectrum / np.sqrt(freqs), n).astype(np.float32)


def _speech(n: int, utterances: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    position = int(rng.uniform(0, 1.0) * SR)
    while position < n and utterances:
        clip = utterances[rng.integers(len(utterances))]
        clip = _fade(clip * (10 ** (rng.uniform(-4, 4) / 20) / max(_rms(clip), 1e-4)), 160)
        end = min(n, position + len(clip))
        out[position:end] += clip[: end - position]
        position = end + int(rng.uniform(0.1, 1.2) * SR)
    return out


def _excerpt(track: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(track) <= n:
        return np.resize(track, n).astype(np.float32)
    start = rng.integers(len(track) - n)
    return track[start : start + n].astype(np.float32)


def simulate_mixture(
    *,
    sounds: Mapping[str, Sequence[np.ndarray]],
    speech: Sequence[np.ndarray],
    music: Sequence[np.ndarray],
    rng: np.random.Generator,
    config: MixtureConfig = MixtureConfig(),
) -> tuple[np.ndarray, list[Event]]:
    """One mixture (16 kHz mono float32) and its reference events, sorted by onset.

    Parameters
    ----------
    sounds : class label -> event clips (16 kHz mono)
    speech : utterances for speech backgrounds
    music : long music tracks for music backgrounds
    rng : random generator (the only source of randomness)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> beep = np.sin(np.arange(4000) / 5).astype(np.float32)
    >>> audio, events = simulate_mixture(sounds={"beep": [beep]}, speech=[], music=[], rng=rng, config=MixtureConfig(duration=3.0, p_no_event=0.0, background_p=(0, 0, 1, 0)))
    >>> len(audio), all(e.label == "beep" and 0 <= e.onset < e.offset <= 3.0 for e in events)
    (48000, True)
    """
    n = int(round(config.duration * SR))
    p = np.asarray(config.background_p, dtype=np.float64)
    if not speech:
        p[[0, 3]] = 0
    if not music:
        p[[1, 3]] = 0
    if p.sum() == 0:
        p = np.array([0, 0, 1.0, 0])
    kind = rng.choice(4, p=p / p.sum())
    if kind == 0:
        background = _speech(n, speech, rng)
    elif kind == 1:
        background = _excerpt(music[rng.integers(len(music))], n, rng)
    elif kind == 2:
        background = _pink_noise(n, rng)
    else:
        voice = _speech(n, speech, rng)
        tune = _excerpt(music[rng.integers(len(music))], n, rng)
        background = voice + tune * (_rms(voice) * 10 ** (rng.uniform(-15, -3) / 20) / max(_rms(tune), 1e-6))
    level = 10 ** (rng.uniform(*config.background_dbfs) / 20)
    background = background * (level / max(_rms(background), 1e-6))
    floor = _pink_noise(n, rng)
    background += floor * (level * 10 ** (-30 / 20) / max(_rms(floor), 1e-6))  # never digital silence
    mixture = background.astype(np.float32)
    events: list[Event] = []
    labels = sorted(sounds)
    count = 0 if rng.random() < config.p_no_event else int(rng.integers(1, config.max_events + 1))
    for _ in range(count):
        label = labels[rng.integers(len(labels))]
        pool = sounds[label]
        clip = pool[rng.integers(len(pool))]
        speed = rng.uniform(*config.speed)
        clip = soxr.resample(clip, SR, SR / speed).astype(np.float32)
        if len(clip) > config.max_event_duration * SR:
            length = int(rng.uniform(1.0, config.max_event_duration) * SR)
            start = rng.integers(len(clip) - length)
            clip = clip[start : start + length]
        clip = trim_silence(_fade(clip, 80))
        if len(clip) < 160 or len(clip) >= n:
            continue
        ebr = rng.uniform(*config.ebr_db)
        clip = clip * (level * 10 ** (ebr / 20) / max(_rms(clip), 1e-6))
        start = int(rng.integers(0, n - len(clip)))
        mixture[start : start + len(clip)] += clip
        events.append(Event(round(start / SR, 4), round((start + len(clip)) / SR, 4), label))
    peak = float(np.abs(mixture).max())
    if peak > 0.99:
        mixture *= 0.99 / peak
    return mixture, sorted(events, key=lambda e: (e.onset, e.offset, e.label))


def simulate_mixtures(
    out_dir: str | Path,
    *,
    count: int,
    sounds: Mapping[str, Sequence[np.ndarray]],
    speech: Sequence[np.ndarray],
    music: Sequence[np.ndarray],
    seed: int = 0,
    prefix: str = "mix",
    config: MixtureConfig = MixtureConfig(),
) -> Path:
    """Write ``count`` mixtures as ``out_dir/<prefix>_NNNN.wav`` + ``events.tsv`` + ``durations.tsv``.

    Returns the path of ``events.tsv`` (DCASE TSV; mixtures without events get an empty row).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    reference: dict[str, list[Event]] = {}
    durations: dict[str, float] = {}
    for index in range(count):
        key = f"{prefix}_{index:04d}"
        audio, events = simulate_mixture(sounds=sounds, speech=speech, music=music, rng=rng, config=config)
        with atomic_open(out_dir / f"{key}.wav", mode="wb") as handle:
            sf.write(handle, audio, SR, format="WAV", subtype="PCM_16")
        reference[key] = events
        durations[key] = len(audio) / SR
    write_events(out_dir / "events.tsv", reference)
    with atomic_open(out_dir / "durations.tsv") as handle:
        handle.write("filename\tduration\n")
        for key, value in durations.items():
            handle.write(f"{key}.wav\t{value:.3f}\n")
    logger.info("%d mixtures, %d events -> %s", count, sum(map(len, reference.values())), out_dir)
    return out_dir / "events.tsv"
