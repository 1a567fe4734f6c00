#!/usr/bin/env python
"""Make the bundled example ``src/turnpoint/examples/two_speakers.{flac,rttm}``.

A ~45 s exchange between two REAL recorded voices that no training split contains: the
asterisk English prompts (Allison Smith, US English, female) and the asterisk Italian prompts
of Carlo Flora (Italian, male). Of the real voices available they are among the easiest to tell
apart by cepstral means (leave-one-out nearest-centroid accuracy 0.86 on per-clip 13-dim cepstral
means; Allison vs Armelle only 0.66), though their median F0 is close (~205 vs ~189 Hz). Turns alternate (10 of them), each made of 1-3
utterances of one speaker separated by natural pauses (0.15-0.7 s, the same distribution as
the gaps between turns), with a light shared pink-noise background under the whole file.
Saved as 8 kHz mono FLAC (both sources are 8 kHz telephone recordings) plus its exact RTTM
(uri ``two_speakers``, one line per turn).

The clips come from the voice pool of ``prepare_voices.py`` (already trimmed, 16 kHz).

    python recipes/make_example.py --voices "$TURNPOINT_DATA/voices"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

ROOT = Path(__file__).resolve().parents[1]
SR = 16000
OUT_SR = 8000
SPEAKERS = {"allison": "real_en-us-allison", "carlo": "real_it-carlo"}


def median_f0(x: np.ndarray, sr: int = SR) -> float:
    """Median pitch (Hz) of voiced 40 ms frames, by normalised autocorrelation (60-400 Hz)."""
    n, hop = int(0.04 * sr), int(0.01 * sr)
    lo, hi = int(sr / 400), int(sr / 60)
    f0s = []
    e_max = np.max(np.convolve(x**2, np.ones(n) / n, mode="valid")) if len(x) > n else 0
    for i in range(0, len(x) - n - hi, hop):
        fr = x[i : i + n + hi]
        if np.mean(fr[:n] ** 2) < 0.05 * e_max:
            continue
        a = fr[:n] - fr[:n].mean()
        best, lag = 0.0, 0
        for k in range(lo, hi):
            b = fr[k : k + n] - fr[k : k + n].mean()
            c = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
            if c > best:
                best, lag = c, k
        if best > 0.7:
            f0s.append(sr / lag)
    return float(np.median(f0s)) if f0s else 0.0


def fade(x: np.ndarray, n: int) -> np.ndarray:
    x = x.copy()
    n = min(n, len(x) // 2)
    w = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    x[:n] *= w
    x[-n:] *= w[::-1]
    return x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voices", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "src/turnpoint/examples")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--turns", type=int, default=10)
    ap.add_argument("--duration", type=float, default=45.0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    clips: dict[str, list[np.ndarray]] = {}
    for name, spk in SPEAKERS.items():
        files = sorted((args.voices / spk).glob("*.wav"))
        xs = []
        for f in files:
            x, sr = sf.read(str(f), dtype="float32")
            assert sr == SR
            if 0.8 <= len(x) / SR <= 3.0:
                xs.append(x)
        rng.shuffle(xs)
        clips[name] = xs
        f0 = np.median([median_f0(x) for x in xs[:12]])
        print(f"{name}: {len(xs)} usable clips, median F0 {f0:.0f} Hz")

    # plan: alternate, 1-3 clips per turn, stop near the target duration
    per_turn = args.duration / args.turns - 0.45  # speech per turn, leaving room for gaps
    names = list(SPEAKERS)
    order = [names[i % 2] for i in range(args.turns)]
    pieces: list[tuple[float, np.ndarray]] = []
    turns: list[tuple[float, float, str]] = []
    t = 0.6
    used = {n: 0 for n in names}
    for i, spk in enumerate(order):
        if i > 0:
            t += float(rng.uniform(0.15, 0.7))
        start = t
        k = int(rng.choice([1, 2, 3], p=[0.2, 0.5, 0.3]))
        for j in range(k):
            if j > 0:
                if t - start + len(clips[spk][used[spk]]) / SR > per_turn + 0.5:
                    break
                t += float(rng.uniform(0.15, 0.7))
            x = clips[spk][used[spk]]
            used[spk] += 1
            x = x / (np.sqrt(np.mean(x**2)) + 1e-9) * 10 ** ((-24 + rng.uniform(-2, 2)) / 20)
            s0 = int(round(t * SR))
            pieces.append((s0, fade(x, int(0.015 * SR))))
            t = (s0 + len(x)) / SR
        turns.append((start, t, spk))
    total = t + 0.6
    n = int(np.ceil(total * SR))
    y = np.zeros(n, dtype=np.float64)
    for s0, x in pieces:
        y[s0 : s0 + len(x)] += x
    # light shared background: pink noise, 30 dB below the speech level
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    pink = np.fft.irfft(spec / np.sqrt(f), n)
    pink = pink / pink.std() * 10 ** ((-24 - 30) / 20)
    y = y + pink
    y = soxr.resample(y.astype(np.float32), SR, OUT_SR, quality="HQ")
    y = signal.sosfilt(signal.butter(2, 80 / (OUT_SR / 2), "highpass", output="sos"), y)
    y = (y / np.max(np.abs(y)) * 0.7).astype(np.float32)

    args.out.mkdir(parents=True, exist_ok=True)
    flac = args.out / "two_speakers.flac"
    sf.write(str(flac), y, OUT_SR, format="FLAC", subtype="PCM_16")
    rttm = args.out / "two_speakers.rttm"
    rttm.write_text(
        "".join(
            f"SPEAKER two_speakers 1 {a:.3f} {b - a:.3f} <NA> <NA> {s} <NA> <NA>\n" for a, b, s in turns
        )
    )
    print(f"{flac}: {len(y) / OUT_SR:.1f} s, {flac.stat().st_size / 1024:.0f} KiB, {len(turns)} turns")
    print(rttm.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
