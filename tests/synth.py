"""Synthetic two-or-more-speaker conversations made by the tests (no shipped audio needed).

Each "speaker" is a harmonic source with its own pitch and spectral tilt, chopped into syllables
with pauses; turns alternate between speakers, so the reference turns are known exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
VOICES = ((110.0, 0.9), (210.0, 0.55), (160.0, 0.75), (260.0, 0.4))


def _syllables(duration: float, f0: float, decay: float, rng: np.random.Generator) -> np.ndarray:
    n = int(duration * RATE)
    t = np.arange(n) / RATE
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 5) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    voice = sum((decay**k) * np.sin(k * phase) for k in range(1, 16))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None) ** 0.5
    return (voice * envelope * 0.1).astype(np.float32)


def make_conversation(
    path: Path, *, seed: int, duration: float = 20.0, n_speakers: int = 2, rttm: bool = True
) -> list[tuple[float, float, str]]:
    """Write ``path`` (wav) and, if asked, ``path.with_suffix('.rttm')``; return the turns."""
    rng = np.random.default_rng(seed)
    audio = [np.zeros(int(0.3 * RATE), dtype=np.float32)]
    position = 0.3
    turns = []
    speaker = 0
    while position < duration - 1.5:
        length = float(rng.uniform(1.5, 4.0))
        f0, decay = VOICES[speaker]
        audio.append(_syllables(length, f0, decay, rng))
        turns.append((position, position + length, f"spk{speaker}"))
        gap = float(rng.uniform(0.1, 0.4))
        audio.append(np.zeros(int(gap * RATE), dtype=np.float32))
        position += length + gap
        speaker = (speaker + 1 + int(rng.integers(n_speakers - 1))) % n_speakers
    signal = np.concatenate(audio)
    signal += rng.normal(scale=0.002, size=len(signal)).astype(np.float32)
    sf.write(path, signal, RATE)
    if rttm:
        uri = path.stem
        lines = [f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n" for s, e, spk in turns]
        path.with_suffix(".rttm").write_text("".join(lines))
    return turns


def example_copies(path: Path, names: list[str], samples: np.ndarray, rate: int, *, uem: bool = True) -> Path:
    """A folder of copies of ``samples`` (the bundled example or a cut of it) with the example's RTTM (+ UEM)."""
    import turnpoint

    path.mkdir(parents=True)
    reference = Path(turnpoint.example_path()).with_suffix(".rttm").read_text()
    for name in names:
        sf.write(path / f"{name}.wav", samples, rate)
        (path / f"{name}.rttm").write_text(reference.replace("two_speakers", name))
        if uem:
            (path / f"{name}.uem").write_text(f"{name} 1 0.000 {len(samples) / rate:.3f}\n")
    return path
