"""Write the bundled example: src/turnpoint/examples/events_example.{flac,tsv}.

15 s of speech over music (voices and music excerpts from the held-out test split) with sounds
from the test pool (including clips the bundled model never heard). Usage::

    python recipes/make_event_example.py --raw "$TURNPOINT_DATA/events/raw" --voices "$TURNPOINT_DATA/voices"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from turnpoint.core.audio import load_audio
from turnpoint.events.annotations import write_events
from turnpoint.events.simulate import MixtureConfig, simulate_mixture

FREEDESKTOP = "usr/share/sounds/freedesktop/stereo"
EXAMPLE_SOUNDS = {
    "alarm": ["alarm-clock-elapsed"],
    "phone": ["phone-outgoing-calling"],
    "shutter": ["camera-shutter"],
    "chime": ["service-logout"],
    "beep": ["window-question", "power-unplug"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, required=True, help="the unpacked Debian sound packages (their usr/share/...)")
    parser.add_argument("--voices", type=Path, required=True, help="the voice pool of recipes/prepare_voices.py")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/turnpoint/examples")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    sounds = {label: [load_audio(args.raw / FREEDESKTOP / f"{n}.oga") for n in names] for label, names in EXAMPLE_SOUNDS.items()}
    speech = [load_audio(p) for p in sorted((args.voices / "real_en-us-allison").glob("*.wav"))[:20]]
    music = [load_audio(p)[-30 * 16000 :] for p in sorted((args.raw / "usr/share/asterisk/moh").glob("*.wav"))[:2]]
    config = MixtureConfig(duration=15.0, max_events=6, p_no_event=0.0, ebr_db=(3.0, 12.0), background_p=(0.0, 0.0, 0.0, 1.0))
    audio, events = simulate_mixture(sounds=sounds, speech=speech, music=music, rng=np.random.default_rng(args.seed), config=config)
    sf.write(args.out / "events_example.flac", audio, 16000, subtype="PCM_16")
    write_events(args.out / "events_example.tsv", {"events_example": events}, suffix=".flac")
    for e in events:
        print(f"{e.onset:7.3f} {e.offset:7.3f} {e.label}")


if __name__ == "__main__":
    main()
