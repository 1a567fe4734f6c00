"""Build the sound-event training / validation / test mixtures from Debian's sound packages.

Sounds (``sound-theme-freedesktop``) are grouped into 5 classes; where a class has several clips,
some clips are kept for the test set only (unseen sounds). Music (``asterisk-moh-opsound-wav``) is
split in time (first 70 % of each track for train/validation, the rest for test); speech voices
(``--voices``, the pool of ``recipes/prepare_voices.py``) are split by speaker.

Several freedesktop names are symbolic links to one recording (window-question, window-attention,
dialog-error -> dialog-warning; network-connectivity-lost, power-unplug -> device-removed;
network-connectivity-established, power-plug -> device-added; screen-capture -> camera-shutter), so
clips are compared by content: a held-out clip is never also a training clip. The beep class has
few distinct recordings, so its training pool adds ``--synthetic-beeps`` procedural beeps
(:func:`turnpoint.events.simulate.synthetic_beeps`: random pitch, waveform, pulses, chirps and
envelopes, from a seed); the test set keeps only the held-out real recordings. Usage::

    python recipes/make_event_data.py --raw "$TURNPOINT_DATA/events/raw" --voices "$TURNPOINT_DATA/voices" --out "$TURNPOINT_DATA/events"

(``TURNPOINT_DATA``: any folder outside the repository; ``recipes/build_event_model.sh`` unpacks the raw sounds.)
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from turnpoint.core.audio import load_audio
from turnpoint.core.errors import TurnpointError
from turnpoint.events.simulate import MixtureConfig, simulate_mixtures, synthetic_beeps, synthetic_chimes, synthetic_low_tones

FREEDESKTOP = "usr/share/sounds/freedesktop/stereo"
# class -> (clips for train/validation, clips held out for test only)
CLASSES = {
    "alarm": (["alarm-clock-elapsed"], []),
    "phone": (["phone-incoming-call", "phone-outgoing-busy"], ["phone-outgoing-calling"]),
    "shutter": (["camera-shutter", "screen-capture"], []),
    "chime": (["complete", "message-new-instant", "service-login", "suspend-error"], ["service-logout"]),
    "beep": (
        ["bell", "message", "device-added", "dialog-information", "audio-volume-change"],
        ["window-question", "network-connectivity-lost", "power-unplug"],  # = dialog-warning, device-removed
    ),
}
SYNTHETIC_SEED = 5
LOW_TONE_SEED = 25  # --low-tone-beeps: their own seed, so the other procedural beeps stay as they were
REAL_SHARE = {"beep": 1 / 3, "chime": 1 / 2}  # real recordings are repeated in the pool so they stay this share of the draws
TRAIN_CLASS_WEIGHTS = (("beep", 2.0),)  # training mixtures only: beeps are short, so draw them twice as often
# --beep-mixtures N (off by default; tried and rejected, docs/events.md "Beeps over music"): N extra training
# mixtures (seed 15, "trainbeep_NNNN", annotations in train/events_beeps.tsv) of beeps over tonal backgrounds:
# music or speech over music, 1-6 events, half of them beeps, event-to-background ratios from -9 dB
# --beep-mixture-style beep: the same backgrounds with beeps only (no other class), event-to-background ratios -6 to +12 dB
BEEP_MIXTURES = MixtureConfig(max_events=6, p_no_event=0.0, ebr_db=(-9.0, 12.0), background_p=(0.2, 0.45, 0.0, 0.35), class_weights=(("beep", 4.0),))
# --low-tone-mixtures N: N extra training mixtures (seed 16, "trainlow_NNNN", train/events_low_tones.tsv) over music or
# speech over music, all classes drawn as usual but every beep one of the LOW_TONE_CLIPS low pure tones: with the
# main pool's --low-tone-beeps 0 and N = 100 about as many low tones as --low-tone-beeps 30 gives, all over tonal backgrounds
LOW_TONE_CLIPS = 30
LOW_TONE_MIXTURES = MixtureConfig(class_weights=TRAIN_CLASS_WEIGHTS, background_p=(0.0, 0.5, 0.0, 0.5))
BEEP_ONLY_MIXTURES = MixtureConfig(max_events=6, p_no_event=0.0, ebr_db=(-6.0, 12.0), background_p=(0.2, 0.45, 0.0, 0.35))


def extra_mixtures(train: Path, name: str, *, count: int, prefix: str, **simulate: object) -> None:
    """Add ``count`` mixtures to the training folder ``train``, annotated in ``events_{name}.tsv`` and
    ``durations_{name}.tsv`` beside the main ones (built aside first, so a failed run leaves the folder as it was)."""
    extra = train.parent / f"train_{name}.tmp"
    shutil.rmtree(extra, ignore_errors=True)
    simulate_mixtures(extra, count=count, prefix=prefix, **simulate)
    for path in sorted(extra.glob("*.wav")):
        path.replace(train / path.name)
    (extra / "events.tsv").replace(train / f"events_{name}.tsv")
    (extra / "durations.tsv").replace(train / f"durations_{name}.tsv")
    extra.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, required=True, help="the unpacked Debian sound packages (their usr/share/...)")
    parser.add_argument("--voices", type=Path, required=True, help="the voice pool of recipes/prepare_voices.py")
    parser.add_argument("--out", type=Path, required=True, help="folder for the train/validation/test mixtures")
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--beep-mixtures", type=int, default=0, help="extra training mixtures of beeps over music and speech (default: %(default)s; 300 and 600 were tried)")
    parser.add_argument("--beep-mixture-style", choices=["all", "beep"], default="all", help="extra mixtures: all classes, half beeps (all) or beeps only (beep)")
    parser.add_argument("--validation", type=int, default=200)  # 80 was too few beeps to tune their decoding
    parser.add_argument("--test", type=int, default=120)
    parser.add_argument("--utterances-per-voice", type=int, default=12)
    parser.add_argument("--test-seed", type=int, default=13, help="seed of the test mixtures (another one gives a fresh test set; default: %(default)s)")
    parser.add_argument("--synthetic-beeps", type=int, default=80, help="procedural beeps added to the beep training pool (default: %(default)s)")
    parser.add_argument("--low-tone-beeps", type=int, default=0, help="low pure-tone beeps (250-700 Hz sines) added to the procedural "
                        "beeps of the training pool only, so validation stays comparable (default: %(default)s)")
    parser.add_argument("--low-tone-mixtures", type=int, default=0, help="extra training mixtures over music and speech over music "
                        "whose beeps are all low pure tones (default: %(default)s)")
    parser.add_argument("--synthetic-chimes", type=int, default=40, help="procedural chimes added to the chime training pool (default: %(default)s)")
    parser.add_argument("--label-threshold-db", type=float, default=MixtureConfig.label_threshold_db, help="references span each sound's 10 ms frames within "
                        "this many dB of its loudest (the audio is the same whatever it is; default: %(default)s)")
    parser.add_argument("--validation-synthetic-seed", type=int, help="validation procedural beeps and chimes from this seed, "
                        "so the networks never heard them, as at test time (default: the training pool's)")
    args = parser.parse_args()
    for name in ("train", "beep_mixtures", "validation", "test", "utterances_per_voice", "synthetic_beeps", "low_tone_beeps", "low_tone_mixtures", "synthetic_chimes"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or more, not {getattr(args, name)}")
    if not args.label_threshold_db < 0:
        parser.error(f"--label-threshold-db must be below 0 (dB re each sound's loudest 10 ms), not {args.label_threshold_db:g}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def clip(name: str) -> np.ndarray:
        return load_audio(args.raw / FREEDESKTOP / f"{name}.oga")

    folder = args.raw / FREEDESKTOP
    for label, (names, held) in CLASSES.items():
        shared = {(folder / f"{n}.oga").resolve().name for n in names} & {(folder / f"{n}.oga").resolve().name for n in held}
        if shared:
            raise SystemExit(f"{label}: held-out clips are training clips under another name: {sorted(shared)}")
    real = {label: [clip(n) for n in names] for label, (names, _) in CLASSES.items()}
    unseen = {label: [clip(n) for n in held] or [clip(n) for n in names] for label, (names, held) in CLASSES.items()}

    def with_synthetic(seed: int, *, low_tones: int = 0) -> dict[str, list[np.ndarray]]:
        """The real clips plus procedural beeps (``seed``; ``low_tones`` of them from :func:`synthetic_low_tones`) and
        chimes (``seed + 1``), real ones repeated to their share."""
        sounds = dict(real)
        beeps = synthetic_beeps(args.synthetic_beeps, seed=seed) + synthetic_low_tones(low_tones, seed=seed + LOW_TONE_SEED)
        for label, synthetic in (("beep", beeps), ("chime", synthetic_chimes(args.synthetic_chimes, seed=seed + 1))):
            if synthetic:  # 80 beeps: 8 repeats of 5 clips; 40 chimes: 10 repeats of 4
                repeats = max(1, round(REAL_SHARE[label] / (1 - REAL_SHARE[label]) * len(synthetic) / len(real[label])))
                sounds[label] = real[label] * repeats + synthetic
        return sounds

    seen = with_synthetic(SYNTHETIC_SEED, low_tones=args.low_tone_beeps)
    validation_sounds = with_synthetic(SYNTHETIC_SEED if args.validation_synthetic_seed is None else args.validation_synthetic_seed)
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
    labels = {"label_threshold_db": args.label_threshold_db}
    config = MixtureConfig(**labels)
    train_config = MixtureConfig(class_weights=TRAIN_CLASS_WEIGHTS, **labels)
    if args.train:
        simulate_mixtures(args.out / "train", count=args.train, sounds=seen, speech=speech_train, music=music_train, seed=11, prefix="train", config=train_config)
    if args.train and args.beep_mixtures:
        only = args.beep_mixture_style == "beep"
        extra_mixtures(args.out / "train", "beeps", count=args.beep_mixtures, sounds={"beep": seen["beep"]} if only else seen, speech=speech_train,
                       music=music_train, seed=15, prefix="trainbeep", config=replace(BEEP_ONLY_MIXTURES if only else BEEP_MIXTURES, **labels))
    if args.train and args.low_tone_mixtures:
        low_tones = synthetic_low_tones(LOW_TONE_CLIPS, seed=SYNTHETIC_SEED + LOW_TONE_SEED)  # the clips --low-tone-beeps 30 adds
        extra_mixtures(args.out / "train", "low_tones", count=args.low_tone_mixtures, sounds={**seen, "beep": low_tones}, speech=speech_train,
                       music=music_train, seed=16, prefix="trainlow", config=replace(LOW_TONE_MIXTURES, **labels))
    if args.validation:
        simulate_mixtures(args.out / "validation", count=args.validation, sounds=validation_sounds, speech=speech_train, music=music_train, seed=12, prefix="val", config=config)
    simulate_mixtures(args.out / "test", count=args.test, sounds=unseen, speech=speech_test, music=music_test, seed=args.test_seed, prefix="test", config=config)
    print("test voices:", ", ".join(sorted(test_voices)))


if __name__ == "__main__":
    try:
        main()
    except (TurnpointError, OSError) as error:  # a missing sound folder or voice pool: one line, no traceback
        raise SystemExit(f"{Path(__file__).name}: {error}") from None
