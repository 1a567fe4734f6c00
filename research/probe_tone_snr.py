"""Is a missed low tone masked, or misread? Beep detection of pure tones against their in-band SNR.

Each decaying sine (0.5 s, time constant 87 ms, like dialog-warning) is placed in ``--mixtures``
mixtures per background kind (the test voices and test music of ``make_event_data.py``); the same
mixture is rebuilt from the same seed with a silent clip, which gives the background alone (rescaled where the
mixture was scaled down against clipping), so the tone's in-band SNR (tone vs background energy within ±40 Hz of its pitch, over the event's first
0.25 s, 64 ms STFT) is exact. Printed: per pitch and background, the share of events whose beep
score passes 0.5, by SNR range. A tone 20 dB above everything else in its band is not masked::

    python research/probe_tone_snr.py --raw R --voices V --model default
"""

from __future__ import annotations

import argparse
import tempfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from probe_beeps import BACKGROUNDS, SR, test_backgrounds
from scipy.signal import stft

from turnpoint.core.errors import TurnpointError
from turnpoint.events.detect import detect_events
from turnpoint.events.modelfile import load_event_model
from turnpoint.events.simulate import MixtureConfig, simulate_mixture

SNR_RANGES = ((-np.inf, 10.0), (10.0, 20.0), (20.0, np.inf))


def band_energy(x: np.ndarray, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame times and energy within ±40 Hz of ``pitch`` (64 ms window, 10 ms step)."""
    freqs, times, spectrum = stft(x, SR, nperseg=1024, noverlap=1024 - 160)
    return times, (np.abs(spectrum[(freqs > pitch - 40) & (freqs < pitch + 40)]) ** 2).sum(axis=0)


def _gain(audio: np.ndarray, alone: np.ndarray, events: list, clip_length: int) -> float:
    """The background's gain in the mixture relative to ``alone`` (they differ where a loud mixture was scaled
    down to avoid clipping), by least squares over the samples no tone touches."""
    untouched = np.ones(len(audio), dtype=bool)
    for event in events:
        start = int(event.onset * SR)
        untouched[start : start + 2 * clip_length] = False  # the speed change may stretch the clip a little
    energy = float(alone[untouched] @ alone[untouched])
    return float(audio[untouched] @ alone[untouched]) / energy if energy > 0 else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default")
    parser.add_argument("--raw", type=Path, required=True, help="the unpacked Debian sound packages (as for recipes/make_event_data.py)")
    parser.add_argument("--voices", type=Path, required=True, help="the voice pool of recipes/prepare_voices.py")
    parser.add_argument("--mixtures", type=int, default=40, help="mixtures per pitch and background (default: %(default)s)")
    parser.add_argument("--pitches", default="500,1000", help="comma-separated tone frequencies in Hz (default: %(default)s)")
    args = parser.parse_args()
    speech, music = test_backgrounds(args.raw, args.voices)
    model = load_event_model(args.model)
    t = np.arange(SR // 2) / SR
    for pitch in map(float, args.pitches.split(",")):
        tone = (0.1 * np.sin(2 * np.pi * pitch * t) * np.exp(-t / 0.087)).astype(np.float32)
        for background in ("noise", "speech", "music", "speech+music"):
            config = MixtureConfig(p_no_event=0.0, background_p=BACKGROUNDS[background])
            snrs, scores = [], []
            for k in range(args.mixtures):
                seed = zlib.crc32(f"{pitch}{background}{k}".encode())
                audio, events = simulate_mixture(sounds={"beep": [tone]}, speech=speech, music=music, rng=np.random.default_rng(seed), config=config)
                alone, _ = simulate_mixture(sounds={"beep": [np.zeros_like(tone)]}, speech=speech, music=music, rng=np.random.default_rng(seed), config=config)
                alone *= _gain(audio, alone, events, len(tone))
                times, tone_energy = band_energy(audio - alone, pitch)
                _, background_energy = band_energy(alone, pitch)
                with tempfile.TemporaryDirectory() as tmp:
                    sf.write(f"{tmp}/m.wav", audio, SR)
                    detection = detect_events(f"{tmp}/m.wav", model=model)
                beep = detection.scores[:, detection.classes.index("beep")]
                for event in events:
                    frames = (times >= event.onset) & (times <= event.onset + 0.25)
                    snrs.append(10 * np.log10(tone_energy[frames].sum() / max(background_energy[frames].sum(), 1e-12)))
                    scores.append(beep[(detection.times >= event.onset) & (detection.times <= event.onset + 0.25)].max())
            snr, found = np.array(snrs), np.array(scores) > 0.5
            parts = [f"{lo:g} to {hi:g} dB: {found[(snr >= lo) & (snr < hi)].mean():.2f} of {int(((snr >= lo) & (snr < hi)).sum())}"
                     if ((snr >= lo) & (snr < hi)).any() else f"{lo:g} to {hi:g} dB: none" for lo, hi in SNR_RANGES]
            print(f"{pitch:6.0f} Hz over {background:12s} median in-band SNR {np.median(snr):5.1f} dB; score > 0.5: " + ", ".join(parts), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (TurnpointError, OSError) as error:  # a missing model, sound folder or voice pool: one line, no traceback
        raise SystemExit(f"{Path(__file__).name}: {error}") from None
