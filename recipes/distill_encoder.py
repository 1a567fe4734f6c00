#!/usr/bin/env python
"""Distil the bundled GE2E speaker encoder into turnpoint's compact encoder (the shipped recipe).

Steps (each cached under ``DATA/distill``; ``all`` runs them in order)::

    nonspeech  apt-get download + dpkg -x of the non-speech packages (sound-theme-freedesktop,
               asterisk-moh-opsound-wav, alsa-utils), converted to 16 kHz mono clips
    streams    simulated multi-speaker streams from the training voices (turns of several clips,
               pauses, overlaps, non-speech, speed-perturbed pseudo-speakers), and GE2E teacher
               embeddings of the 1 s windows every 192 ms of each stream; the same, separately,
               for the held-out voices (for the report only)
    train      the student: cosine + similarity-matrix loss against the teacher, on channel,
               EQ, noise, reverberation and gain perturbed copies of the streams (fresh each
               epoch), for a fixed wall-clock budget on one thread
    evaluate   held-out voices: cosine agreement with the teacher; same/different-speaker ROC
               AUC and EER of teacher and student side by side

Voices come from ``VOICES/manifest.tsv`` and ``VOICES/sources.tsv`` (speaker -> source package),
as written by the voice preparation. Voices of the ``--holdout`` source packages are never
trained on; ``--exclude`` packages are not used at all. Nothing here reads the selection set.

Usage::

    python recipes/distill_encoder.py --data "$TURNPOINT_DATA" all \\
        --out src/turnpoint/models/compact_encoder.safetensors
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
import soxr
import torch
import torch.nn.functional as nn_functional

from turnpoint.changes.compact_encoder import (
    PAD_VALUE,
    CompactEncoder,
    CompactEncoderConfig,
    read_compact_encoder,
    read_compact_header,
    save_compact_encoder,
)
from turnpoint.changes.ge2e_teacher import teacher_embeddings
from turnpoint.changes.streaming_embeddings import _padded_features, compact_features, embed_whole
from turnpoint.core.fileio import atomic_write_text

log = logging.getLogger("distill")
RATE = 16000
TEACHER_EVERY = 2  # teacher targets at every 2nd student hop (192 ms): halves the teacher's cost
NONSPEECH_PACKAGES = ("sound-theme-freedesktop", "asterisk-moh-opsound-wav", "alsa-utils")
# held out by default: two packages of real voices, never trained on
DEFAULT_HOLDOUT = ("ktuberling-data", "asterisk-prompt-it-menardi-wav", "asterisk-prompt-fr-armelle")
SPLIT_SEEDS = {"train": 0, "valid": 1, "heldout": 2, "synth": 3}
RESERVED_PREFIXES = ("fillets-ng-data", "asterisk-core-sounds-ru", "transcriber")


# ---------------------------------------------------------------------------------------------
# inputs


def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def voice_inventory(voices: Path) -> list[dict]:
    """Speakers with their source package, person (same human) and clip paths."""
    manifest = {row["speaker"]: row for row in _read_tsv(voices / "manifest.tsv")}
    sources_file = voices / "sources.tsv"
    sources = {}
    if sources_file.exists():
        for row in _read_tsv(sources_file):
            sources[row["speaker"]] = row.get("package") or row.get("source") or ""
    out = []
    for speaker, row in sorted(manifest.items()):
        package = sources.get(speaker) or row.get("package") or row.get("source") or ""
        if not package:
            raise SystemExit(f"no source package for speaker {speaker}")
        clips = sorted((voices / speaker).glob("*.wav"))
        if not clips:
            continue
        person = row.get("person") or speaker
        out.append({"speaker": speaker, "package": package, "person": person, "kind": row.get("kind", ""), "clips": clips})
    return out


def _load_clip(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    data = data.mean(axis=1)
    if rate != RATE:
        data = soxr.resample(data, rate, RATE)
    return np.asarray(data, dtype=np.float32)


def load_nonspeech(data: Path) -> list[np.ndarray]:
    folder = data / "distill" / "nonspeech"
    clips = [_load_clip(p) for p in sorted(folder.glob("*.wav"))]
    return [c for c in clips if len(c) > RATE // 4]


def cmd_nonspeech(args) -> None:
    """Fetch and unpack the non-speech packages (no installation), convert clips to 16 kHz wav."""
    root = args.data / "distill"
    debs, unpacked, out = root / "debs", root / "nonspeech_pkgs", root / "nonspeech"
    for folder in (debs, unpacked, out):
        folder.mkdir(parents=True, exist_ok=True)
    for package in NONSPEECH_PACKAGES:
        if not list(debs.glob(f"{package}_*.deb")):
            subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
        deb = sorted(debs.glob(f"{package}_*.deb"))[-1]
        subprocess.run(["dpkg", "-x", str(deb), str(unpacked / package)], check=True)
    count = 0
    for package in NONSPEECH_PACKAGES:
        for path in sorted((unpacked / package).rglob("*")):
            if path.suffix.lower() not in (".wav", ".oga", ".ogg", ".flac") or not path.is_file():
                continue
            if package == "alsa-utils" and path.name != "Noise.wav":
                continue  # the other alsa clips are a voice
            try:
                audio = _load_clip(path)
            except Exception as error:  # noqa: BLE001 - an unreadable clip is skipped, not fatal
                log.warning("skipped %s (%s)", path.name, error)
                continue
            sf.write(out / f"{package}__{path.stem}.wav", audio, RATE, subtype="PCM_16")
            count += 1
    log.info("non-speech: %d clips in %s", count, out)


SYNTHETIC_CLIP_SECONDS = 4.0
SKIPPED_VARIANTS = ("robo", "demonic", "half-life", "universalrobot", "anikarobot", "fast_test", "whisper", "klatt")


def _espeak_list(kind: str | None) -> list[str]:
    command = ["espeak-ng", "--voices" + (f"={kind}" if kind else "")]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[1:]
    names = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 5:
            names.append(fields[4].split("/")[-1] if kind == "variant" else fields[1])
    return names


def cmd_synthvoices(args) -> None:
    """Many more voices for the teacher to map: random espeak-ng language x variant x pitch x speed.

    Formant-synthesised voices are not people, but the student has to reproduce the teacher on
    whatever it hears: a wide spread of pitch, formants and rhythm teaches that mapping beyond the
    few dozen recorded people available here. They are mixed with the recorded voices in their
    own streams.
    """
    out = args.data / "distill" / "synthetic_voices"
    out.mkdir(parents=True, exist_ok=True)
    sentences = [line.strip() for line in (Path(__file__).parent / "data" / "voice_sentences.txt").read_text().splitlines() if line.strip()]
    languages = _espeak_list(None)
    variants = [v for v in _espeak_list("variant") if not v.lower().startswith(SKIPPED_VARIANTS)]
    rng = np.random.default_rng([args.seed, 7])
    rows = []
    for index in range(args.synthetic_voices):
        while True:  # a few language voices do not load: draw another
            language, variant = str(rng.choice(languages)), str(rng.choice(variants))
            probe = subprocess.run(["espeak-ng", "-v", f"{language}+{variant}", "-q", "test"], capture_output=True)
            if probe.returncode == 0:
                break
        pitch, speed = int(rng.integers(15, 86)), int(rng.integers(120, 210))
        speaker = f"espeak{index:03d}"
        folder = out / speaker
        folder.mkdir(exist_ok=True)
        for clip in range(args.synthetic_clips):
            path = folder / f"{clip:03d}.wav"
            if path.exists():
                continue
            text = str(rng.choice(sentences))
            raw = folder / f".{clip:03d}.raw.wav"
            subprocess.run(["espeak-ng", "-v", f"{language}+{variant}", "-p", str(pitch), "-s", str(speed), "-w", str(raw), text],
                           check=True, capture_output=True)  # fmt: skip
            audio = _load_clip(raw)
            raw.unlink()
            sf.write(path, audio, RATE, subtype="PCM_16")
        rows.append(f"{speaker}\tespeak-ng-data\t{speaker}\t{language}+{variant} p{pitch} s{speed}\n")
    atomic_write_text(out / "manifest.tsv", "speaker\tpackage\tperson\tvoice\n" + "".join(rows))
    log.info("synthetic voices: %d espeak-ng voices x %d clips in %s", len(rows), args.synthetic_clips, out)


# ---------------------------------------------------------------------------------------------
# streams


def _db(x: float) -> float:
    return 10 ** (x / 20)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


class VoicePool:
    def __init__(self, speakers: list[dict], rng: np.random.Generator, max_clips: int):
        self.speakers = speakers
        self.clips: dict[str, list[np.ndarray]] = {}
        for s in speakers:
            paths = list(s["clips"])
            rng.shuffle(paths)
            loaded = [_load_clip(p) for p in paths[:max_clips]]
            if s["package"] == "espeak-ng-data":  # whole licence sentences: cut to prompt-like lengths
                loaded = [_crop(c, SYNTHETIC_CLIP_SECONDS, rng) for c in loaded]
            self.clips[s["speaker"]] = [c for c in loaded if len(c) > RATE // 5]
        self.speakers = [s for s in speakers if self.clips[s["speaker"]]]


def _crop(clip: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    length = int(seconds * RATE)
    if len(clip) <= length:
        return clip
    start = int(rng.integers(0, len(clip) - length))
    return clip[start : start + length]


def _speed(clip: np.ndarray, factor: float) -> np.ndarray:
    # resampling played back at 16 kHz: pitch, formants and tempo all move by ``factor``
    return clip if factor == 1.0 else soxr.resample(clip, RATE, RATE / factor).astype(np.float32)


def _vocoder_warp(clip: np.ndarray, pitch: float, formant: float) -> np.ndarray:
    """A WORLD re-synthesis with F0 scaled by ``pitch`` and the spectral envelope stretched along
    frequency by ``formant`` (vocal-tract length), independently: a new pseudo-speaker the teacher
    hears, where plain resampling moves pitch and formants together."""
    import pyworld  # recipe-only dependency: pip install "turnpoint[distill]"

    x = clip.astype(np.float64)
    f0, times = pyworld.dio(x, RATE, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, times, RATE)
    envelope = pyworld.cheaptrick(x, f0, times, RATE)
    aperiodicity = pyworld.d4c(x, f0, times, RATE)
    bins = np.arange(envelope.shape[1])
    source = np.minimum(bins / formant, bins[-1])
    envelope = np.stack([np.interp(source, bins, row) for row in envelope])
    aperiodicity = np.stack([np.interp(source, bins, row) for row in aperiodicity])
    return pyworld.synthesize(f0 * pitch, envelope, aperiodicity, RATE, 5.0)[: len(clip)].astype(np.float32)


def _fade(clip: np.ndarray) -> np.ndarray:
    n = min(len(clip) // 4, int(0.01 * RATE))
    if n > 1:
        ramp = np.linspace(0, 1, n, dtype=np.float32)
        clip = clip.copy()
        clip[:n] *= ramp
        clip[-n:] *= ramp[::-1]
    return clip


def make_stream(pool: VoicePool, nonspeech: list[np.ndarray], rng: np.random.Generator, seconds: float, *,
                vocoder_warp: float = 0.0) -> tuple[np.ndarray, dict]:  # fmt: skip
    """A clean simulated stream of 1-4 (pseudo-)speakers; returns audio and who is in it.

    With probability ``vocoder_warp`` a voice is re-synthesised with its pitch (x0.8-1.25) and
    vocal-tract length (x0.88-1.14) changed independently (:func:`_vocoder_warp`)."""
    n_speakers = int(rng.choice([1, 2, 3, 4], p=[0.15, 0.4, 0.3, 0.15]))
    n_speakers = min(n_speakers, len(pool.speakers))
    chosen = rng.choice(len(pool.speakers), size=n_speakers, replace=False)
    voices = []
    for index in chosen:
        speaker = pool.speakers[int(index)]
        factor = 1.0 if rng.random() < 0.5 else float(rng.uniform(0.86, 1.16))
        voice = {"speaker": speaker["speaker"], "factor": round(factor, 3), "level": float(rng.uniform(-34, -18))}
        if vocoder_warp and rng.random() < vocoder_warp:
            voice["pitch"] = round(float(np.exp(rng.uniform(np.log(0.8), np.log(1.25)))), 3)
            voice["formant"] = round(float(np.exp(rng.uniform(np.log(0.88), np.log(1.14)))), 3)
        voices.append(voice)
    total = int(seconds * RATE)
    audio = np.zeros(total + 10 * RATE, dtype=np.float32)
    position = int(rng.uniform(0, 1.0) * RATE)
    previous = -1
    while position < total:
        if nonspeech and rng.random() < 0.12:  # a non-speech event between turns
            clip = nonspeech[int(rng.integers(len(nonspeech)))]
            length = int(rng.uniform(0.5, 3.0) * RATE)
            start = int(rng.integers(0, max(1, len(clip) - length)))
            piece = _fade(clip[start : start + length])
            piece = piece * (_db(float(rng.uniform(-40, -20))) / max(_rms(piece), 1e-6))
            audio[position : position + len(piece)] += piece[: len(audio) - position]
            position += len(piece) + int(rng.uniform(0.0, 0.5) * RATE)
            continue
        choices = [i for i in range(n_speakers) if i != previous] or [0]
        current = int(rng.choice(choices))
        voice = voices[current]
        clips = pool.clips[voice["speaker"]]
        for _ in range(int(rng.integers(1, 4))):  # a turn: several clips of one speaker
            clip = clips[int(rng.integers(len(clips)))]
            if "pitch" in voice:
                clip = _vocoder_warp(clip, voice["pitch"], voice["formant"])
            clip = _fade(_speed(clip, voice["factor"]))
            gain = _db(voice["level"] + float(rng.uniform(-3, 3))) / max(_rms(clip), 1e-6)
            piece = clip * gain
            end = min(len(audio), position + len(piece))
            audio[position:end] += piece[: end - position]
            position = end + int(rng.uniform(0.05, 0.5) * RATE)
            if position >= total:
                break
        gap = float(rng.uniform(-0.4, 0.2)) if rng.random() < 0.15 else float(rng.uniform(0.0, 0.8))
        position = max(0, position + int(gap * RATE))  # negative gap: the next turn overlaps
        previous = current
    audio = audio[:total]
    floor = _db(float(rng.uniform(-75, -50)))  # a recording's noise floor (rarely digital silence)
    audio += (floor * rng.standard_normal(total)).astype(np.float32)
    peak = float(np.max(np.abs(audio))) or 1.0
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio, {"voices": voices}


def _teacher_times(n_samples: int, config: CompactEncoderConfig) -> np.ndarray:
    count = int(np.floor(n_samples / RATE / config.hop + 1e-9)) + 1
    return (np.arange(0, count, TEACHER_EVERY) * config.hop).round(9)


def _split_speakers(inventory: list[dict], holdout: set[str], exclude: set[str], *, perturbed: bool = False,
                    exclude_people: set[str] = frozenset()):  # fmt: skip
    train, held = [], []
    for s in inventory:
        package = s["package"]
        if package in exclude or package.startswith(RESERVED_PREFIXES) or s["person"] in exclude_people:
            continue
        if not perturbed and re.search(r"_sp\d", s["speaker"]):
            continue  # speed-perturbed copies of a voice: the streams make their own
        (held if package in holdout else train).append(s)
    # a person in both sets (one human under two package names) stays out of training
    held_people = {s["person"] for s in held}
    train = [s for s in train if s["person"] not in held_people]
    return train, held


def cmd_streams(args) -> None:
    config = CompactEncoderConfig()
    inventory = voice_inventory(args.voices)
    train, held = _split_speakers(inventory, set(args.holdout), set(args.exclude), perturbed=args.include_perturbed,
                                  exclude_people=set(args.exclude_people))  # fmt: skip
    if not train or not held:
        raise SystemExit(f"need training and held-out voices (train {len(train)}, held out {len(held)})")
    root = args.data / "distill" / "streams"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    nonspeech = load_nonspeech(args.data)
    log.info("voices: %d train (%d packages), %d held out (%s); %d non-speech clips", len(train), len({s["package"] for s in train}),
             len(held), ", ".join(sorted({s["package"] for s in held})), len(nonspeech))  # fmt: skip
    torch.set_num_threads(1)
    from turnpoint.changes.speaker_encoder import load_speaker_encoder

    teacher = load_speaker_encoder()
    synthetic_folder = args.data / "distill" / "synthetic_voices"
    synthetic = voice_inventory(synthetic_folder) if (synthetic_folder / "manifest.tsv").exists() else []
    if args.synthetic_streams and not synthetic:
        raise SystemExit("no synthetic voices: run the 'synthvoices' step first")
    plan = [("train", train, args.train_streams), ("valid", train, args.valid_streams), ("heldout", held, args.heldout_streams),
            ("synth", train + synthetic, args.synthetic_streams)]  # fmt: skip
    summary = {"train_speakers": [s["speaker"] for s in train], "heldout_speakers": [s["speaker"] for s in held],
               "train_packages": sorted({s["package"] for s in train}), "heldout_packages": sorted({s["package"] for s in held}),
               "synthetic_voices": len(synthetic) if args.synthetic_streams else 0,
               "excluded_people": sorted(args.exclude_people), "vocoder_warp": args.vocoder_warp}  # fmt: skip
    atomic_write_text(root / "split.json", json.dumps(summary, indent=1))
    for split, speakers, count in plan:
        pool = VoicePool(speakers, rng, args.max_clips)
        started = time.time()
        for index in range(count):
            path = root / f"{split}_{index:04d}.npz"
            stream_rng = np.random.default_rng([args.seed, SPLIT_SEEDS[split], index])
            if path.exists():
                continue
            warp = args.vocoder_warp if split in ("train", "valid") else 0.0  # held-out streams stay comparable
            audio, info = make_stream(pool, nonspeech if split != "heldout" else [], stream_rng, args.stream_seconds, vocoder_warp=warp)
            times = _teacher_times(len(audio), config)
            targets = teacher_embeddings(audio, times, encoder=teacher)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, audio=(np.clip(audio, -1, 1) * 32767).astype(np.int16), times=times, teacher=targets.astype(np.float16),
                     info=json.dumps(info))  # fmt: skip
            os.replace(tmp, path)
            if index % 10 == 0 or index == count - 1:
                log.info("%s stream %d/%d (%.0f s elapsed)", split, index + 1, count, time.time() - started)


def load_streams(data: Path, split: str) -> list[dict]:
    out = []
    for path in sorted((data / "distill" / "streams").glob(f"{split}_*.npz")):
        with np.load(path) as z:
            out.append({"audio": z["audio"].astype(np.float32) / 32767, "times": z["times"], "teacher": z["teacher"].astype(np.float32),
                        "info": json.loads(str(z["info"]))})  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------
# perturbation (student input only: the teacher heard the clean stream)


def _room(rng: np.random.Generator) -> np.ndarray:
    rt60 = float(rng.uniform(0.15, 0.6))
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir[0] = 1.0 / max(float(rng.uniform(0.3, 1.0)), 1e-3)  # direct path against reverberation
    return (ir / np.sqrt(np.sum(ir**2))).astype(np.float32)


def _coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    exponent = float(rng.choice([0.0, 1.0, 2.0]))  # white, pink, brown
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0)
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (noise / max(_rms(noise), 1e-9)).astype(np.float32)


def perturb(audio: np.ndarray, rng: np.random.Generator, nonspeech: list[np.ndarray]) -> np.ndarray:
    x = audio.copy()
    if rng.random() < 0.2:
        x = scipy.signal.fftconvolve(x, _room(rng))[: len(x)].astype(np.float32)
    choice = rng.random()
    if choice < 0.2:  # telephone band, sometimes through 8 kHz sampling
        sos = scipy.signal.butter(4, [300, 3400], btype="bandpass", fs=RATE, output="sos")
        x = scipy.signal.sosfilt(sos, x).astype(np.float32)
        if rng.random() < 0.5:
            x = soxr.resample(soxr.resample(x, RATE, 8000), 8000, RATE)[: len(audio)].astype(np.float32)
    elif choice < 0.35:  # a duller microphone or codec
        sos = scipy.signal.butter(4, float(rng.uniform(3000, 7000)), btype="lowpass", fs=RATE, output="sos")
        x = scipy.signal.sosfilt(sos, x).astype(np.float32)
    elif choice < 0.45:  # rumble cut
        sos = scipy.signal.butter(2, float(rng.uniform(100, 400)), btype="highpass", fs=RATE, output="sos")
        x = scipy.signal.sosfilt(sos, x).astype(np.float32)
    if rng.random() < 0.5:
        level = _rms(x)
        snr = float(rng.uniform(5, 30))
        if nonspeech and rng.random() < 0.4:
            clip = nonspeech[int(rng.integers(len(nonspeech)))]
            noise = np.resize(clip, len(x))
            noise = noise / max(_rms(noise), 1e-9)
        else:
            noise = _coloured_noise(len(x), rng)
        x = x + noise * (level / _db(snr))
    x = x * _db(float(rng.uniform(-20, 10)))
    return x.astype(np.float32)


def _eq(features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # a smooth random spectral tilt / EQ, added in the log-mel domain (a linear filter with a
    # smooth response multiplies each band's energy)
    if rng.random() < 0.5:
        return features
    bands = np.linspace(-1, 1, features.shape[1], dtype=np.float32)
    curve = float(rng.uniform(-1.2, 1.2)) * bands + float(rng.uniform(-0.6, 0.6)) * np.cos(np.pi * bands * float(rng.uniform(1, 3)))
    return features + curve.astype(np.float32)[None]


# ---------------------------------------------------------------------------------------------
# training


def _features_for(audio: np.ndarray, config: CompactEncoderConfig) -> np.ndarray:
    return _padded_features(compact_features(audio, config=config), len(audio), config)


def _tiled_crops(features: np.ndarray, n_teacher: int, outputs: int, config: CompactEncoderConfig, rng: np.random.Generator):
    """Every window of a stream once, in crops of ``outputs`` student embeddings from a random offset:
    (features (crops, frames, mels), teacher indices (crops, outputs // TEACHER_EVERY))."""
    span = outputs // TEACHER_EVERY
    frames = config.receptive_frames + (outputs - 1) * config.stride_frames
    offset = int(rng.integers(0, span)) - span + 1  # the first crop may start before the stream
    xs, idx = [], []
    for start in range(offset, n_teacher, span):
        first = start * TEACHER_EVERY * config.stride_frames
        crop = features[max(0, first) : first + frames]
        before = max(0, -first)
        after = frames - before - len(crop)
        if before or after:
            crop = np.pad(crop, [(before, after), (0, 0)], constant_values=PAD_VALUE)
        xs.append(crop)
        idx.append(np.arange(start, start + span))
    return xs, idx


def _loss(student: torch.Tensor, teacher: torch.Tensor, valid: torch.Tensor, weight_matrix: float, rng: np.random.Generator,
          centre: torch.Tensor, weight_centred: float):  # fmt: skip
    s, t = student[valid], teacher[valid]
    cosine = (s * t).sum(-1)
    loss = (1 - cosine).mean()
    if weight_centred:
        # GE2E embeddings share a large common direction (any two speech windows have cosine
        # ~0.6): matching what is left after removing it is what tells speakers apart
        centred = nn_functional.cosine_similarity(s - centre, t - centre, dim=-1, eps=1e-6)
        loss = loss + weight_centred * (1 - centred).mean()
    if weight_matrix and len(s) > 8:
        pick = torch.from_numpy(rng.choice(len(s), size=min(256, len(s)), replace=False))
        ss, tt = s[pick], t[pick]
        loss = loss + weight_matrix * ((ss @ ss.T - tt @ tt.T) ** 2).mean()
    return loss, cosine.detach().mean()


def agreement_report(encoder: CompactEncoder, streams: list[dict], audios: list[np.ndarray] | None = None) -> dict:
    """Cosine agreement with the teacher, next to what a constant embedding would get.

    ``constant``: the teacher's mean embedding over these very windows used as the prediction
    for every window (an oracle baseline: GE2E embeddings share a large common direction);
    ``centred``: the cosine of student and teacher after removing that mean, which is what
    separates speakers. With ``audios`` both encoders read those (perturbed) signals instead.
    """
    students, teachers = [], []
    for index, stream in enumerate(streams):
        audio = stream["audio"] if audios is None else audios[index]
        times, e = embed_whole(audio, encoder=encoder)
        times, e = times[::TEACHER_EVERY], e[::TEACHER_EVERY]
        teacher = stream["teacher"][: len(e)] if audios is None else teacher_embeddings(audio, times)
        students.append(e[: len(teacher)])
        teachers.append(teacher)
    s, t = np.concatenate(students), np.concatenate(teachers)
    mean = t.mean(axis=0)
    unit = mean / np.linalg.norm(mean)

    def rowcos(a, b):
        return np.sum(a * b, axis=1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-9)

    return {"windows": len(t), "cosine": round(float(np.mean(rowcos(s, t))), 4), "constant": round(float(np.mean(t @ unit)), 4),
            "centred": round(float(np.mean(rowcos(s - mean, t - mean))), 4)}  # fmt: skip


def cmd_train(args) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    config = CompactEncoderConfig(**json.loads(args.config)) if args.config else CompactEncoderConfig()
    train = load_streams(args.data, "train") + load_streams(args.data, "synth")
    valid = load_streams(args.data, "valid")
    if not train:
        raise SystemExit("no training streams: run the 'streams' step first")
    nonspeech = load_nonspeech(args.data)
    split = json.loads((args.data / "distill" / "streams" / "split.json").read_text())
    hours = sum(len(s["audio"]) for s in train) / RATE / 3600
    log.info("training on %d streams (%.2f h, %d teacher windows); %d validation streams", len(train), hours,
             sum(len(s["teacher"]) for s in train), len(valid))  # fmt: skip
    if args.init:  # fine-tune an earlier student (its architecture and input normalisation) instead of starting afresh
        encoder = read_compact_encoder(args.init).requires_grad_(True)
        config = encoder.config
    else:
        encoder = CompactEncoder(config)
        clean = np.concatenate([compact_features(s["audio"], config=config) for s in train[:40]])
        encoder.input_mean.copy_(torch.from_numpy(clean.mean(axis=0)))
        encoder.input_scale.copy_(torch.from_numpy(np.maximum(clean.std(axis=0), 1e-3)))
        del clean
    centre = torch.from_numpy(np.concatenate([s["teacher"] for s in train]).mean(axis=0))
    parameters = sum(p.numel() for p in encoder.parameters())
    log.info("student: %d parameters, hop %.3f s, receptive field %.2f s", parameters, config.hop, config.receptive_seconds)
    optimiser = torch.optim.AdamW(encoder.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60
    started = time.time()
    step, epoch = 0, 0
    history = []
    best = (-1.0, None)
    outputs = args.crop_outputs
    while time.time() - started < budget:
        epoch += 1
        prep_started = time.time()
        crops_x, crops_t, crops_valid = [], [], []  # every window once, perturbed afresh this round
        for stream in train:
            audio = stream["audio"] if rng.random() < args.clean_fraction else perturb(stream["audio"], rng, nonspeech)
            features = _eq(_features_for(audio, config), rng)
            teacher = stream["teacher"]
            for _ in range(args.passes):
                xs, idx = _tiled_crops(features, len(teacher), outputs, config, rng)
                for x, index in zip(xs, idx):
                    crops_x.append(x)
                    crops_valid.append((index >= 0) & (index < len(teacher)))
                    crops_t.append(teacher[np.clip(index, 0, len(teacher) - 1)])
        prep = time.time() - prep_started
        encoder.train()
        losses, cosines = [], []
        order = rng.permutation(len(crops_x))
        for first in range(0, len(order), args.batch):
            chosen = order[first : first + args.batch]
            x = torch.from_numpy(np.stack([crops_x[i] for i in chosen]))
            target = torch.from_numpy(np.stack([crops_t[i] for i in chosen]))
            mask = torch.from_numpy(np.stack([crops_valid[i] for i in chosen]))
            progress = min(1.0, (time.time() - started) / budget)
            for group_ in optimiser.param_groups:  # cosine decay over the wall-clock budget, short warm-up
                group_["lr"] = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + np.cos(np.pi * progress))
            student = encoder(x)[:, ::TEACHER_EVERY]
            loss, cosine = _loss(student, target, mask, args.matrix_weight, rng, centre, args.centred_weight)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.parameters(), 5.0)
            optimiser.step()
            step += 1
            losses.append(float(loss.detach()))
            cosines.append(float(cosine))
            if time.time() - started >= budget:
                break
        del crops_x, crops_t, crops_valid
        report = agreement_report(encoder, valid) if valid else {"cosine": float("nan"), "centred": float("nan")}
        agreement = report["centred"]  # chosen on: what tells speakers apart, not the shared direction
        history.append({"round": epoch, "minutes": round((time.time() - started) / 60, 2), "steps": step, "loss": round(float(np.mean(losses)), 4),
                        "train_cosine": round(float(np.mean(cosines)), 4), "valid_cosine": report["cosine"], "valid_centred": agreement})  # fmt: skip
        log.info("round %d  %.1f min (%.0f s perturbing)  %d steps  loss %.4f  train cos %.4f  valid cos %.4f centred %.4f", epoch,
                 history[-1]["minutes"], prep, step, history[-1]["loss"], history[-1]["train_cosine"], report["cosine"], agreement)  # fmt: skip
        if agreement > best[0]:
            best = (agreement, {k: v.detach().clone() for k, v in encoder.state_dict().items()})
    if best[1] is not None:
        encoder.load_state_dict(best[1])
    encoder.eval()
    training = {
        "teacher": "ge2e",
        "loss": f"1 - cosine + {args.centred_weight} x (1 - cosine after removing the teacher's mean) + {args.matrix_weight} x squared error of the within-batch cosine matrices",
        "data": {
            "voice_packages": split["train_packages"] + (["espeak-ng-data"] if split.get("synthetic_voices") else []),
            "synthetic_voices": split.get("synthetic_voices", 0),
            "nonspeech_packages": list(NONSPEECH_PACKAGES),
            "heldout_packages": split["heldout_packages"],
            "excluded_people": split.get("excluded_people", []),
            "train_speakers": len(split["train_speakers"]),
            "streams": len(train),
            "hours": round(hours, 3),
            "teacher_windows": int(sum(len(s["teacher"]) for s in train)),
            "perturbation": "speed/pitch 0.86-1.16"
            + (f", WORLD re-synthesis of {split['vocoder_warp']:.0%} of the voices (training streams) with pitch x0.8-1.25 and "
               "vocal-tract length x0.88-1.14 changed independently" if split.get("vocoder_warp") else "")
            + " (teacher hears it), then for the student only: reverberation, telephone "
            "300-3400 Hz / 8 kHz, low-pass, high-pass, noise and non-speech backgrounds at 5-30 dB SNR, EQ tilt, gain -20..+10 dB",
        },
        "rounds": epoch,
        "steps": step,
        "minutes": round((time.time() - started) / 60, 1),
        "validation_centred_cosine": round(best[0], 4),
        "seed": args.seed,
        **({"initialised_from": Path(args.init).name} if args.init else {}),
        "history": history[-3:],
    }
    save_compact_encoder(args.out, encoder=encoder, training=training, licence="MIT (weights distilled from Resemblyzer's Apache-2.0 GE2E)")
    log.info("wrote %s (%d bytes)", args.out, Path(args.out).stat().st_size)


# ---------------------------------------------------------------------------------------------
# evaluation


def _roc(same: np.ndarray, different: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.concatenate([np.ones(len(same)), np.zeros(len(different))])
    scores = np.concatenate([same, different])
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    k = int(np.argmin(np.abs(fnr - fpr)))
    return {"auc": round(float(roc_auc_score(labels, scores)), 4), "eer": round(float((fpr[k] + fnr[k]) / 2), 4)}


def speaker_pairs(encoder: CompactEncoder, speakers: list[dict], rng: np.random.Generator, *, per_speaker_clips: int, pairs: int) -> dict:
    """Same/different-speaker pairs of 1 s windows of held-out voices, teacher vs student.

    Each speaker's clips are joined (short pauses) into one stream; both encoders embed it at the
    same times; only windows whose middle 0.5 s holds speech energy are kept. Same-speaker pairs
    come from different clips of one speaker; different-speaker pairs from two different people.
    """
    config = encoder.config
    rows = []  # (person, clip, teacher embedding, student embedding)
    for s in speakers:
        clips = list(s["clips"])
        rng.shuffle(clips)
        audio, owner = [], []
        for clip_index, path in enumerate(clips[:per_speaker_clips]):
            clip = _load_clip(path)
            clip = clip * (_db(-26) / max(_rms(clip), 1e-6))
            pause = np.zeros(int(0.3 * RATE), dtype=np.float32)
            audio += [clip, pause]
            owner += [np.full(len(clip), clip_index), np.full(len(pause), -1)]
        if not audio:
            continue
        signal, owner_samples = np.concatenate(audio), np.concatenate(owner)
        signal = signal + (_db(-65) * rng.standard_normal(len(signal))).astype(np.float32)
        times, student = embed_whole(signal, encoder=encoder)
        times, student = times[::TEACHER_EVERY], student[::TEACHER_EVERY]
        teacher = teacher_embeddings(signal, times)
        for t, es, et in zip(times, student, teacher):
            centre = int(t * RATE)
            middle = signal[max(0, centre - RATE // 4) : centre + RATE // 4]
            whose = owner_samples[max(0, centre - RATE // 4) : centre + RATE // 4]
            if len(middle) < RATE // 2 or _rms(middle) < _db(-40):
                continue
            clip_ids = whose[whose >= 0]
            if len(clip_ids) < RATE // 4:
                continue
            rows.append((s["person"], (s["speaker"], int(np.bincount(clip_ids).argmax())), et, es))
    people = np.array([r[0] for r in rows])
    clip_keys = [r[1] for r in rows]
    teacher = np.stack([r[2] for r in rows])
    student = np.stack([r[3] for r in rows])
    n = len(rows)
    same, different = [], []
    tries = 0
    while (len(same) < pairs or len(different) < pairs) and tries < 200 * pairs:
        tries += 1
        i, j = (int(v) for v in rng.integers(0, n, size=2))
        if i == j or clip_keys[i] == clip_keys[j]:
            continue
        if people[i] == people[j]:
            if len(same) < pairs:
                same.append((i, j))
        elif len(different) < pairs:
            different.append((i, j))
    same_idx, diff_idx = np.array(same), np.array(different)

    def scores(e, idx):
        return np.sum(e[idx[:, 0]] * e[idx[:, 1]], axis=1)

    return {
        "windows": n,
        "people": len(set(people.tolist())),
        "same_pairs": len(same),
        "different_pairs": len(different),
        "teacher": _roc(scores(teacher, same_idx), scores(teacher, diff_idx)),
        "student": _roc(scores(student, same_idx), scores(student, diff_idx)),
        "window_agreement": round(float(np.mean(np.sum(teacher * student, axis=1))), 4),
    }


def real_conversations(encoder: CompactEncoder, folder: Path, rng: np.random.Generator, *, pairs: int) -> dict:
    """Real recordings with RTTM: agreement on every window, and same/different-speaker pairs of
    windows (within each file: the comparisons a per-file clustering makes) whose whole second
    holds exactly one active speaker. Report only: nothing is fitted on these files."""
    from turnpoint.changes.annotations import read_rttm
    from turnpoint.core.audio import load_audio

    students, teachers, labels, files = [], [], [], []
    for index, audio_path in enumerate(sorted(p for p in folder.iterdir() if p.suffix in (".flac", ".wav"))):
        rttm = audio_path.with_suffix(".rttm")
        if not rttm.exists():
            continue
        turns = [t for ts in read_rttm(rttm).values() for t in ts]
        audio = load_audio(audio_path)
        times, e = embed_whole(audio, encoder=encoder)
        times, e = times[::TEACHER_EVERY], e[::TEACHER_EVERY]
        teacher = teacher_embeddings(audio, times)
        for t, es, et in zip(times, e, teacher):
            active = {turn.speaker for turn in turns if turn.start < t + 0.5 and turn.end > t - 0.5}
            covered = [turn for turn in turns if turn.start <= t - 0.5 and turn.end >= t + 0.5]
            label = covered[0].speaker if len(active) == 1 and covered else None
            students.append(es)
            teachers.append(et)
            labels.append(label)
            files.append(index)
    s, t = np.stack(students), np.stack(teachers)
    labels_arr, files_arr = np.array(labels, dtype=object), np.array(files)
    keep = np.flatnonzero(labels_arr != None)  # noqa: E711 - elementwise on an object array
    same, different = [], []
    for i in keep:
        for j in keep:
            if j <= i + 5 or files_arr[i] != files_arr[j]:  # windows at least ~1 s apart, same file
                continue
            (same if labels_arr[i] == labels_arr[j] else different).append((i, j))
    same_idx, diff_idx = np.array(same), np.array(different)

    def scores(e, idx):
        return np.sum(e[idx[:, 0]] * e[idx[:, 1]], axis=1)

    mean = t.mean(axis=0)
    out = {"files": int(files_arr.max()) + 1, "windows": len(t), "cosine": round(float(np.mean(np.sum(s * t, axis=1))), 4),
           "constant": round(float(np.mean(t @ (mean / np.linalg.norm(mean)))), 4), "single_speaker_windows": len(keep),
           "same_pairs": len(same), "different_pairs": len(different)}  # fmt: skip
    if len(same) and len(different):
        out["teacher"] = _roc(scores(t, same_idx), scores(t, diff_idx))
        out["student"] = _roc(scores(s, same_idx), scores(s, diff_idx))
    return out


def cmd_evaluate(args) -> None:
    torch.set_num_threads(1)
    encoder = read_compact_encoder(args.out)
    rng = np.random.default_rng(args.seed + 1)
    held_streams = load_streams(args.data, "heldout")
    result: dict = {"model": Path(args.out).name}
    if held_streams:
        # clean streams, then both encoders on the same perturbed audio (channel, noise, room, gain)
        perturbed = [perturb(stream["audio"], rng, []) for stream in held_streams]
        result["heldout_streams"] = {
            "streams": len(held_streams),
            "hours": round(sum(len(s["audio"]) for s in held_streams) / RATE / 3600, 3),
            "clean": agreement_report(encoder, held_streams),
            "perturbed": agreement_report(encoder, held_streams, perturbed),
        }
    inventory = voice_inventory(args.voices)
    _, held = _split_speakers(inventory, set(args.holdout), set(args.exclude), perturbed=args.include_perturbed)
    result["heldout_packages"] = sorted({s["package"] for s in held})
    result["pairs"] = speaker_pairs(encoder, held, rng, per_speaker_clips=args.pair_clips, pairs=args.pairs)
    if args.real:
        result["real_conversations"] = real_conversations(encoder, args.real, rng, pairs=args.pairs)
    text = json.dumps(result, indent=1)
    print(text)
    if args.record:  # the figures go into the model file's training summary
        header = read_compact_header(args.out)
        training = dict(header.get("training") or {})
        training["heldout_evaluation"] = {key: value for key, value in result.items() if key != "model"}
        save_compact_encoder(args.out, encoder=encoder, training=training, licence=header.get("licence", ""))
    if args.report:
        atomic_write_text(args.report, text + "\n")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("TURNPOINT_DATA"), help="data folder (default $TURNPOINT_DATA)")
    parser.add_argument("--voices", type=Path, help="voice folder with manifest.tsv and sources.tsv (default DATA/voices)")
    parser.add_argument("--holdout", default=",".join(DEFAULT_HOLDOUT), help="source packages never trained on (comma-separated)")
    parser.add_argument("--exclude", default="", help="source packages not used at all (comma-separated)")
    parser.add_argument("--exclude-people", default="", help="people (manifest 'person') not used at all, e.g. those of the "
                        "selection set, so that settings are chosen on voices the student never heard (comma-separated)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--include-perturbed", action="store_true", help="also use the voice folder's speed-perturbed copies (*_sp0.88 ...)")
    parser.add_argument("--out", type=Path, default=Path("src/turnpoint/models/compact_encoder.safetensors"))
    parser.add_argument("--report", type=Path, help="evaluate: also write the JSON here")
    parser.add_argument("--record", action="store_true", help="evaluate: also store the figures in the model file's header")
    parser.add_argument("--train-streams", type=int, default=200)
    parser.add_argument("--valid-streams", type=int, default=8)
    parser.add_argument("--heldout-streams", type=int, default=20)
    parser.add_argument("--synthetic-voices", type=int, default=240, help="random espeak-ng voices (synthvoices)")
    parser.add_argument("--synthetic-clips", type=int, default=16, help="sentences per synthetic voice")
    parser.add_argument("--synthetic-streams", type=int, default=120, help="streams mixing synthetic and recorded voices")
    parser.add_argument("--stream-seconds", type=float, default=45.0)
    parser.add_argument("--max-clips", type=int, default=400, help="clips loaded per speaker")
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--init", type=Path, help="train: start from this compact encoder (fine-tuning) instead of afresh")
    parser.add_argument("--vocoder-warp", type=float, default=0.0, help="streams: fraction of voices re-synthesised with "
                        "independently changed pitch and vocal-tract length (WORLD; needs pyworld)")
    parser.add_argument("--matrix-weight", type=float, default=1.0)
    parser.add_argument("--centred-weight", type=float, default=1.0)
    parser.add_argument("--crop-outputs", type=int, default=64)
    parser.add_argument("--passes", type=int, default=3, help="passes over each perturbed copy before perturbing again")
    parser.add_argument("--batch", type=int, default=32, help="crops per step")
    parser.add_argument("--clean-fraction", type=float, default=0.25, help="streams left unperturbed in each round")
    parser.add_argument("--config", default="", help="architecture overrides as JSON (CompactEncoderConfig fields)")
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--real", type=Path, help="evaluate: also a folder of real recordings with RTTM (report only)")
    parser.add_argument("--pair-clips", type=int, default=40, help="clips per held-out speaker for the pair test")
    parser.add_argument("command", choices=["nonspeech", "synthvoices", "streams", "train", "evaluate", "all"])
    args = parser.parse_args(argv)
    if args.data is None:
        parser.error("give --data or set TURNPOINT_DATA")
    args.voices = args.voices or args.data / "voices"
    args.holdout = [p for p in args.holdout.split(",") if p]
    args.exclude = [p for p in args.exclude.split(",") if p]
    args.exclude_people = [p for p in args.exclude_people.split(",") if p]
    if len(args.holdout) < 2:
        parser.error("hold out at least two source packages")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    steps = {"nonspeech": [cmd_nonspeech], "synthvoices": [cmd_synthvoices], "streams": [cmd_streams], "train": [cmd_train],
             "evaluate": [cmd_evaluate]}  # fmt: skip
    steps["all"] = [cmd_nonspeech, cmd_synthvoices, cmd_streams, cmd_train, cmd_evaluate]
    for step in steps[args.command]:
        step(args)


if __name__ == "__main__":
    main()
