"""Per-sound beep detection: how often an events model finds each beep recording, procedural beeps and pure tones.

For each sound, ``--mixtures`` mixtures (the test voices and test music of ``make_event_data.py``, default
mixture settings) hold only that sound as "beep" events. Per model it prints the share of events whose beep
score passes 0.5 within their first 0.25 s, the share whose onset a decoded beep matches (within 0.2 s), the
share whose *chime* score passes 0.5 there (beep taken for chime), and the decoded beeps matching no event. Several models are compared on the same mixtures. Usage::

    python research/probe_beeps.py --raw R --voices V --models default,other.safetensors       # recordings + procedural
    python research/probe_beeps.py --raw R --voices V --models default --tones                  # sines 300-2000 Hz
    python research/probe_beeps.py --raw R --voices V --models default --tones --background music # over music only
"""

from __future__ import annotations

import argparse
import tempfile
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf

from turnpoint.core.audio import load_audio
from turnpoint.core.errors import TurnpointError
from turnpoint.events.detect import detect_events
from turnpoint.events.modelfile import load_event_model
from turnpoint.events.simulate import MixtureConfig, simulate_mixture, synthetic_beeps

FREEDESKTOP = "usr/share/sounds/freedesktop/stereo"
RECORDINGS = ["bell", "message", "device-added", "dialog-information", "audio-volume-change", "dialog-warning", "device-removed"]
SR = 16000
BACKGROUNDS = {"all": MixtureConfig().background_p, "speech": (1, 0, 0, 0), "music": (0, 1, 0, 0), "noise": (0, 0, 1, 0), "speech+music": (0, 0, 0, 1)}


def sounds(raw: Path, tones: bool, synthetic_seed: int) -> dict[str, np.ndarray]:
    if tones:  # 0.5 s sines decaying like dialog-warning (87 ms), and held 0.25 s
        t = np.arange(SR // 2) / SR
        return {f"{kind}{f}": (0.1 * np.sin(2 * np.pi * f * t) * (np.exp(-t / 0.087) if kind == "decay" else (t < 0.25))).astype(np.float32)
                for kind in ("decay", "flat") for f in (300, 500, 1000, 2000)}
    clips = {name: load_audio(raw / FREEDESKTOP / f"{name}.oga") for name in RECORDINGS}
    clips.update({f"synthetic{i}": b for i, b in enumerate(synthetic_beeps(6, seed=synthetic_seed))})
    return clips


def test_backgrounds(raw: Path, voices_folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The test voices' utterances and the test parts of the music tracks, as ``make_event_data.py`` splits them."""
    voices = sorted(p for p in voices_folder.iterdir() if p.is_dir() and "_sp" not in p.name)
    order = np.random.default_rng(1).permutation(len(voices))  # make_event_data.py's speaker split
    test_voices = {voices[i].name for i in order[: max(2, len(voices) // 4)]}
    speech = [load_audio(f) for v in voices if v.name in test_voices for f in sorted(v.glob("*.wav"))[:12]]
    tracks = [load_audio(p) for p in sorted((raw / "usr/share/asterisk/moh").glob("*.wav"))]
    return speech, [t[int(0.7 * len(t)) :] for t in tracks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default", help="comma-separated model files or bundled names")
    parser.add_argument("--raw", type=Path, required=True, help="the unpacked Debian sound packages (as for recipes/make_event_data.py)")
    parser.add_argument("--voices", type=Path, required=True, help="the voice pool of recipes/prepare_voices.py")
    parser.add_argument("--mixtures", type=int, default=30, help="mixtures per sound (default: %(default)s)")
    parser.add_argument("--tones", action="store_true", help="pure tones instead of the recordings and procedural beeps")
    parser.add_argument("--background", choices=list(BACKGROUNDS), default="all",
                        help="backgrounds of the mixtures (default: %(default)s, the test mixtures' mix)")
    parser.add_argument("--synthetic-seed", type=int, default=999, help="seed of the procedural beeps (default: %(default)s, unheard in training)")
    args = parser.parse_args()
    speech, music = test_backgrounds(args.raw, args.voices)
    models = {name: load_event_model(name) for name in args.models.split(",")}
    for name, clip in sounds(args.raw, args.tones, args.synthetic_seed).items():
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        with tempfile.TemporaryDirectory() as tmp:
            references = []
            for k in range(args.mixtures):
                audio, events = simulate_mixture(sounds={"beep": [clip]}, speech=speech, music=music, rng=rng, config=MixtureConfig(p_no_event=0.0, background_p=BACKGROUNDS[args.background]))
                sf.write(f"{tmp}/m{k}.wav", audio, SR)
                references.append(events)
            row = []
            for model_name, loaded in models.items():
                passed = matched = as_chime = total = false_alarms = 0
                for k, events in enumerate(references):
                    detection = detect_events(f"{tmp}/m{k}.wav", model=loaded)
                    column = detection.scores[:, detection.classes.index("beep")]
                    chime = detection.scores[:, detection.classes.index("chime")] if "chime" in detection.classes else np.zeros_like(column)
                    decoded = [e for e in detection.events if e.label == "beep"]
                    for event in events:
                        window = (detection.times >= event.onset) & (detection.times <= min(event.offset, event.onset + 0.25))
                        total += 1
                        passed += bool(column[window].max() > 0.5)
                        as_chime += bool(chime[window].max() > 0.5)
                        matched += any(abs(d.onset - event.onset) <= 0.2 for d in decoded)
                    false_alarms += sum(not any(abs(d.onset - e.onset) <= 0.2 for e in events) for d in decoded)
                row.append(f"{Path(model_name).parent.name or model_name}: score>0.5 {passed / total:.2f} onset found {matched / total:.2f} "
                           f"chime>0.5 {as_chime / total:.2f} false {false_alarms}")
            print(f"{name:20s} {len(clip) / SR:.2f} s  " + " | ".join(row), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (TurnpointError, OSError) as error:  # a missing model, sound folder or voice pool: one line, no traceback
        raise SystemExit(f"{Path(__file__).name}: {error}") from None
