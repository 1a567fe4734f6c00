"""Event mixtures with exact references: short sounds placed over speech, music or noise.

A mixture is ``duration`` seconds of background — speech (utterances with pauses), music, pink
noise, or speech over music — with 0 to ``max_events`` sound events placed at random times.
Events of different classes may overlap (polyphony). Each event clip is trimmed to its audible
part first (frames within 50 dB of the clip's peak), so the reference onset/offset are exactly
where the sound is (``label_threshold_db`` narrows the reference to the frames within that many
dB of the peak, the audio unchanged); it is then speed-perturbed (±8 %, which also shifts its
pitch), given a short fade and scaled to an event-to-background ratio drawn from ``ebr_db``.
Everything is reproducible from the seed.
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
from turnpoint.core.fileio import atomic_open
from turnpoint.core.signal import SAMPLE_RATE, fade, rms

logger = logging.getLogger(__name__)

SR = SAMPLE_RATE

__all__ = ["MixtureConfig", "simulate_mixture", "simulate_mixtures", "synthetic_beep", "synthetic_beeps", "synthetic_chime", "synthetic_chimes", "synthetic_low_tone", "synthetic_low_tones", "trim_silence"]


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
    class_weights: tuple[tuple[str, float], ...] = ()  # (label, weight) pairs; unlisted labels weigh 1; () = uniform
    # the reference spans the clip's 10 ms frames within this many dB of its loudest; the audio keeps all above -50 dB
    label_threshold_db: float = -50.0

    def __post_init__(self) -> None:
        if not self.label_threshold_db < 0:
            raise ValueError(f"label_threshold_db must be below 0 dB (re the clip's loudest frame), not {self.label_threshold_db}")


def trim_silence(x: np.ndarray, *, threshold_db: float = -50.0, frame: int = 160) -> np.ndarray:
    """Cut leading and trailing 10 ms frames more than ``threshold_db`` below the loudest frame.

    Examples
    --------
    >>> x = np.r_[np.zeros(1600), np.ones(800), np.zeros(1600)].astype(np.float32)
    >>> len(trim_silence(x))
    800
    """
    first, last = _loud_span(x, threshold_db=threshold_db, frame=frame)
    return x[first:last]


def _loud_span(x: np.ndarray, *, threshold_db: float, frame: int = 160) -> tuple[int, int]:
    """Sample span [first, last) of the ``frame``-sample frames within ``threshold_db`` of the loudest one."""
    n = len(x) // frame
    if n == 0:
        return 0, len(x)
    energy = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(energy / energy.max()) > threshold_db)
    return int(loud[0]) * frame, (int(loud[-1]) + 1) * frame


def _pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    return np.fft.irfft(spectrum / np.sqrt(freqs), n).astype(np.float32)


def _speech(n: int, utterances: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    position = int(rng.uniform(0, 1.0) * SR)
    while position < n and utterances:
        clip = utterances[rng.integers(len(utterances))]
        clip = fade(clip * (10 ** (rng.uniform(-4, 4) / 20) / max(rms(clip), 1e-4)), 160, 160, shape="linear")
        end = min(n, position + len(clip))
        out[position:end] += clip[: end - position]
        position = end + int(rng.uniform(0.1, 1.2) * SR)
    return out


def _excerpt(track: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(track) <= n:
        return np.resize(track, n).astype(np.float32)
    start = rng.integers(len(track) - n)
    return track[start : start + n].astype(np.float32)


def _tone(freqs: np.ndarray, harmonics: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A tone following the instantaneous frequency ``freqs`` (Hz, one per sample); partial ``k`` has
    amplitude ``harmonics[k - 1]`` and is left out where it would pass 7.8 kHz (band-limited)."""
    phase = 2 * np.pi * np.cumsum(freqs) / SR + rng.uniform(0, 2 * np.pi)
    out = np.zeros(len(freqs), dtype=np.float64)
    for k, amplitude in enumerate(harmonics, start=1):
        if amplitude != 0:
            out += amplitude * (k * freqs < 7800) * np.sin(k * phase)
    return out


def _harmonics(rng: np.random.Generator) -> np.ndarray:
    """Partial amplitudes of a sine, square, triangle or random harmonic tone (32 partials)."""
    k = np.arange(1, 33)
    wave = rng.choice(["sine", "square", "triangle", "harmonics"], p=[0.35, 0.2, 0.2, 0.25])
    if wave == "sine":
        return (k == 1).astype(np.float64)
    if wave == "square":
        return np.where(k % 2 == 1, 1.0 / k, 0.0)
    if wave == "triangle":
        return np.where(k % 2 == 1, (-1.0) ** ((k - 1) // 2) / k**2, 0.0)
    harmonics = rng.uniform(0, 1, size=len(k)) * np.exp(-k * rng.uniform(0.2, 1.5))
    harmonics[0] = 1.0
    return harmonics


def _peak(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return (peak * x / max(float(np.abs(x).max()), 1e-9)).astype(np.float32)


def synthetic_beep(rng: np.random.Generator) -> np.ndarray:
    """One random electronic beep (16 kHz mono float32, peak 0.5), 0.015 to 0.8 s long.

    Fundamental 250-4000 Hz (log-uniform); sine, square, triangle or random harmonics (band-limited
    below 7.8 kHz); 1, 2 or 3 pulses, each possibly a step up or down from the last (two-tone
    beeps); an optional chirp (up to an octave up or down). Three shapes: a flat tone with a short
    attack and release, a struck tone decaying exponentially (time constant 20-150 ms), and blips
    (15-50 ms pulses). Drawn only from ``rng``.

    Examples
    --------
    >>> beeps = [synthetic_beep(np.random.default_rng(i)) for i in range(50)]
    >>> all(0.015 <= len(b) / SR <= 0.8 and abs(float(np.abs(b).max()) - 0.5) < 1e-3 for b in beeps)
    True
    """
    f0 = float(np.exp(rng.uniform(np.log(250.0), np.log(4000.0))))
    harmonics = _harmonics(rng)
    shape = rng.choice(["flat", "decay", "blip"], p=[0.45, 0.3, 0.25])
    pulses = int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))
    gap = rng.uniform(0.03, 0.2)
    if shape == "blip":
        length = rng.uniform(0.015, 0.05)
    elif pulses == 1:
        length = rng.uniform(0.05, 0.7)
    else:
        length = min(rng.uniform(0.04, 0.25), (0.8 - gap * (pulses - 1)) / pulses)
    step = float(np.exp(rng.uniform(np.log(0.7), np.log(1.4)))) if pulses > 1 and rng.random() < 0.5 else 1.0
    chirp = float(2 ** rng.uniform(-1, 1)) if rng.random() < 0.25 else 1.0
    attack = min(rng.uniform(0.001, 0.015), length / 4)
    tau = rng.uniform(0.02, 0.15)
    parts = []
    for i in range(pulses):
        n = max(2, int(length * SR))
        t = np.arange(n) / SR
        freqs = min(f0 * step**i, 4000.0) * chirp ** (t / t[-1])
        envelope = np.minimum(1.0, t / attack)
        if shape == "decay":
            envelope *= np.exp(-t / tau)
        else:
            envelope *= np.clip((length - t) / min(rng.uniform(0.003, 0.03), length / 3), 0.0, 1.0)
        parts.append(_tone(freqs, harmonics, rng) * envelope)
        if i < pulses - 1:
            parts.append(np.zeros(int(gap * SR)))
    return _peak(np.concatenate(parts))


def synthetic_low_tone(rng: np.random.Generator) -> np.ndarray:
    """One low pure-tone beep (16 kHz mono float32, peak 0.5): a sine at 250-700 Hz (log-uniform).

    Half are struck (0.3-0.7 s, decaying with a time constant of 40-150 ms), half are held
    (0.1-0.5 s, 10 ms release); 3 ms attack. :func:`synthetic_beep` draws few of these (7 of
    the 80 procedural training beeps are sines below 700 Hz), yet they are the beeps a detector
    misreads over music (docs/events.md, "Masked or misread?"). Drawn only from ``rng``.

    Examples
    --------
    >>> tones = [synthetic_low_tone(np.random.default_rng(i)) for i in range(20)]
    >>> all(0.1 <= len(t) / SR <= 0.7 and abs(float(np.abs(t).max()) - 0.5) < 1e-3 for t in tones)
    True
    """
    frequency = float(np.exp(rng.uniform(np.log(250.0), np.log(700.0))))
    if rng.random() < 0.5:
        t = np.arange(int(rng.uniform(0.3, 0.7) * SR)) / SR
        envelope = np.exp(-t / rng.uniform(0.04, 0.15))
    else:
        length = rng.uniform(0.1, 0.5)
        t = np.arange(int(length * SR)) / SR
        envelope = np.clip((length - t) / 0.01, 0.0, 1.0)
    envelope *= np.minimum(1.0, t / 0.003)
    return _peak(np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi)) * envelope)


def synthetic_low_tones(count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` :func:`synthetic_low_tone` clips, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [synthetic_low_tone(rng) for _ in range(count)]


def synthetic_chime(rng: np.random.Generator) -> np.ndarray:
    """One random chime (16 kHz mono float32, peak 0.5): 2 to 4 ringing notes, 0.7 to 2.6 s.

    Each note is a struck tone (harmonic, or bell-like inharmonic partials 1, 2.76, 5.4, 8.9) at
    150-3000 Hz that decays slowly (time constant 0.25-0.8 s); notes start 0.08-0.45 s apart and
    ring on together; a quarter of the chimes glide (up to an octave over the whole sound, like a
    log-in/log-out sound). A single short decaying tone is a beep (:func:`synthetic_beep`), so a
    chime always has several notes and rings longer. Drawn only from ``rng``.

    Examples
    --------
    >>> chimes = [synthetic_chime(np.random.default_rng(i)) for i in range(20)]
    >>> all(0.7 <= len(c) / SR <= 2.6 and abs(float(np.abs(c).max()) - 0.5) < 1e-3 for c in chimes)
    True
    """
    total = rng.uniform(0.7, 2.6)
    n = int(total * SR)
    t = np.arange(n) / SR
    notes = int(rng.choice([2, 3, 4], p=[0.4, 0.35, 0.25]))
    base = float(np.exp(rng.uniform(np.log(150.0), np.log(3000.0))))
    scale = np.array([1.0, 9 / 8, 5 / 4, 4 / 3, 3 / 2, 5 / 3, 15 / 8, 2.0])
    glide = float(2 ** rng.uniform(-1, 1)) if rng.random() < 0.25 else 1.0
    bell = rng.random() < 0.5
    if bell:
        ratios, amplitudes = np.array([1.0, 2.76, 5.4, 8.9]), np.array([1.0, 0.5, 0.25, 0.12])
    else:
        ratios, amplitudes = np.arange(1.0, 33.0), _harmonics(rng)
    out = np.zeros(n)
    onset = 0.0
    for _ in range(notes):
        if onset >= total - 0.25:
            break
        f = base * scale[rng.integers(len(scale))] * (2.0 if rng.random() < 0.2 else 1.0)
        freqs = np.minimum(f * glide ** (t / total), 4000.0)
        phase = 2 * np.pi * np.cumsum(freqs) / SR
        tau = rng.uniform(0.25, 0.8)
        local = np.clip(t - onset, 0.0, None)
        envelope = (t >= onset) * np.minimum(1.0, local / 0.004) * np.exp(-local / tau)
        note = sum(a * (r * freqs < 7800) * np.sin(r * phase + rng.uniform(0, 2 * np.pi)) for r, a in zip(ratios, amplitudes) if a != 0)
        out += envelope * note
        onset += rng.uniform(0.08, 0.45)
    out *= np.clip((total - t) / 0.05, 0.0, 1.0)
    return _peak(out)


def synthetic_beeps(count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` :func:`synthetic_beep` clips, reproducible from ``seed``.

    Examples
    --------
    >>> a, b = synthetic_beeps(3, seed=1), synthetic_beeps(3, seed=1)
    >>> len(a), all(np.array_equal(x, y) for x, y in zip(a, b))
    (3, True)
    """
    rng = np.random.default_rng(seed)
    return [synthetic_beep(rng) for _ in range(count)]


def synthetic_chimes(count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` :func:`synthetic_chime` clips, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [synthetic_chime(rng) for _ in range(count)]


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
        background = voice + tune * (rms(voice) * 10 ** (rng.uniform(-15, -3) / 20) / max(rms(tune), 1e-6))
    level = 10 ** (rng.uniform(*config.background_dbfs) / 20)
    background = background * (level / max(rms(background), 1e-6))
    floor = _pink_noise(n, rng)
    background += floor * (level * 10 ** (-30 / 20) / max(rms(floor), 1e-6))  # never digital silence
    mixture = background.astype(np.float32)
    events: list[Event] = []
    labels = sorted(sounds)
    count = 0 if rng.random() < config.p_no_event else int(rng.integers(1, config.max_events + 1))
    for _ in range(count):
        if config.class_weights:
            weights = dict(config.class_weights)
            p_label = np.array([weights.get(lab, 1.0) for lab in labels], dtype=np.float64)
            label = labels[rng.choice(len(labels), p=p_label / p_label.sum())]
        else:
            label = labels[rng.integers(len(labels))]
        pool = sounds[label]
        clip = pool[rng.integers(len(pool))]
        speed = rng.uniform(*config.speed)
        clip = soxr.resample(clip, SR, SR / speed).astype(np.float32)
        if len(clip) > config.max_event_duration * SR:
            length = int(rng.uniform(1.0, config.max_event_duration) * SR)
            start = rng.integers(len(clip) - length)
            clip = clip[start : start + length]
        clip = trim_silence(fade(clip, 80, 80, shape="linear"))
        if len(clip) < 160 or len(clip) >= n:
            continue
        ebr = rng.uniform(*config.ebr_db)
        clip = clip * (level * 10 ** (ebr / 20) / max(rms(clip), 1e-6))
        start = int(rng.integers(0, n - len(clip)))
        mixture[start : start + len(clip)] += clip
        first, last = _loud_span(clip, threshold_db=config.label_threshold_db)
        events.append(Event(round((start + first) / SR, 4), round((start + last) / SR, 4), label))
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
