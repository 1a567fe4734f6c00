"""Build the sound-event training / validation / test mixtures from Debian's sound packages.

Sounds (``sound-theme-freedesktop``) are grouped into 5 classes; where a class has several clips,
some clips are kept for the test set only (unseen sounds). Music (``asterisk-moh-opsound-wav``) is
split in time (first 70 % of each track for train/validation, the rest for test); speech voices
(``../data/voices``, see DATA.md) are split by speaker. Usage::

    python scripts/make_event_data.py --raw /work/data/events/raw --voices /work/data/voices --out /work/data/events
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from turnpoint.audio import load_audio
from turnpoint.events.simulate import MixtureConfig, simulate_mixtures

FREEDESKTOP = "usr/share/sounds/freedesktop/stereo"
# class -> (clips for train/validation, clips held out for test only)
CLASSES = {
    "alarm": (["alarm-clock-elapsed"], []),
    "phone": (["phone-incoming-call", "phone-outgoing-busy"], ["phone-outgoing-calling"]),
    "shutter": (["camera-shutter", "screen-capture"], []),
    "chime": (["complete", "message-new-instant", "service-login", "suspend-error"], ["service-logout"]),
    "beep": (
        ["bell", "dialog-error", "dialog-warning", "window-attention", "message", "device-added", "device-removed", "power-plug", "network-connectivity-established"],
        ["window-question", "network-connectivity-lost", "power-unplug"],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, default=Path("/work/data/events/raw"))
    parser.add_argument("--voices", type=Path, default=Path("/work/data/voices"))
    parser.add_argument("--out", type=Path, default=Path("/work/data/events"))
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--validation", type=int, default=80)
    parser.add_argument("--test", type=int, default=120)
    parser.add_argument("--utterances-per-voice", type=int, default=12)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def clip(name: str) -> np.ndarray:
        return load_audio(args.raw / FREEDESKTOP / f"{name}.oga")

    seen = {label: [clip(n) for n in names] for label, (names, _) in CLASSES.items()}
    unseen = {label: [clip(n) for n in held] or [clip(n) for n in names] for label, (names, held) in CLASSES.items()}
    tracks = [load_audio(p) for p in sorted((args.raw / "usr/share/asterisk/moh").glob("*.wav"))]
    music_train = [t[: int(0.7 * len(t))] for t in tracks]
    music_test = [t[int(0.7 * len(t)) :] for t in tracks]
    voices = sorted(p for p in args.voices.iterdir() if p.is_dir() and "_sp" not in p.name)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(voices))
    test_voices = {voices[i].name for i in order[: max(2, len(voices) // 4)]}

    def utterances(names: set[str] | None, exclude: set[str]) -> list[np.ndarray]:
        out = []
        for voice in voices:
            if voice.name in exclude or (names is not None and voice.name not in names):
                continue
            files = sorted(voice.glob("*.wav"))[: args.utterances_per_voice]
            out.extend(load_audio(f) for f in files)
        return out

    speech_train = utterances(None, test_voices)
    speech_test = utterances(test_voices, set())
    config = MixtureConfig()
    simulate_mixtures(args.out / "train", count=args.train, sounds=seen, speech=speech_train, music=music_train, seed=11, prefix="train", config=config)
    simulate_mixtures(args.out / "validation", count=args.validation, sounds=seen, speech=speech_train, music=music_train, seed=12, prefix="val", config=config)
    simulate_mixtures(args.out / "test", count=args.test, sounds=unseen, speech=speech_test, music=music_test, seed=13, prefix="test", config=config)
    print("test voices:", ", ".join(sorted(test_voices)))


if __name__ == "__main__":
    main()
