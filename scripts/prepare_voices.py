#!/usr/bin/env python
"""Build single-speaker voice pools for simulated conversations.

Writes ``OUT/<speaker_id>/*.wav`` (16 kHz mono PCM16, leading/trailing near-silence trimmed)
and ``OUT/manifest.tsv`` (speaker, source, kind, licence, n_clips, duration_s, bandwidth_hz).

Voices
------
* TTS (kind=tts): flite (awb, rms, slt, kal16), festival (kal_diphone, ked_diphone,
  cmu_us_slt_arctic_hts) and ten espeak-ng language/variant pairs with their own speed and pitch.
  Each voice speaks its own random selection of English sentences from
  ``scripts/data/voice_sentences.txt`` (taken from the licence texts of a Debian 12 machine;
  ``--sentences-from-machine`` takes them from this machine's /usr/share/common-licenses and
  /usr/share/doc/*/copyright instead, which depends on the installed packages, and
  ``--write-sentences FILE`` writes that list).
* Real recordings (kind=real): Debian asterisk prompt packages, one speaker per package
  (8 kHz telephone audio, resampled to 16 kHz). They are downloaded with ``apt-get download``
  and unpacked with ``dpkg -x`` into ``--debs`` (no installation).
* ``--perturb``: speed-perturbed copies (x0.88, x1.12: pitch and formants move) of every TTS
  voice, as new pseudo-speakers ``<id>_sp0.88`` / ``<id>_sp1.12``.

Speaker ids are ``<engine>_<voice>``; ``person`` in the manifest groups ids that are the same
human (flite slt = festival slt, flite kal16 = festival kal, perturbed copies = their source).

Needs: flite, espeak-ng, festival (+festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts),
sox (reads the .gsm prompts), apt-get/dpkg; Python: numpy, soundfile, soxr.

Example::

    python scripts/prepare_voices.py --out /work/data/voices --seed 0 --perturb
"""

from __future__ import annotations

import argparse
import glob
import gzip
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 16000

# --------------------------------------------------------------------------------------------
# voices

# espeak-ng: (voice, speed wpm, pitch 0-99). en-gb+VARIANT ignores the variant: avoid it.
ESPEAK_VOICES = [
    ("en-us+m1", 165, 45),
    ("en+f5", 175, 62),
    ("en-gb-x-rp+m3", 150, 38),
    ("en-gb-scotland+m7", 158, 30),
    ("en-us+f2", 185, 70),
    ("en+m4", 140, 50),
    ("en-029+f3", 160, 58),
    ("en-gb-x-gbclan+m2", 170, 25),
    ("en-us-nyc+f4", 150, 55),
    ("en-gb-x-gbcwmd+m6", 180, 42),
]
FLITE_VOICES = ["awb", "rms", "slt", "kal16"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]

# same human behind two ids
PERSON = {
    "flite_slt": "slt",
    "festival_cmu_us_slt_arctic_hts": "slt",
    "flite_kal16": "kal",
    "festival_kal_diphone": "kal",
}

# real voices: package -> (speaker id, glob of audio under the unpacked tree, licence)
REAL_PACKAGES = {
    "asterisk-core-sounds-en-wav": ("real_en-us-allison", "usr/share/asterisk/sounds/*/**/*.wav"),
    "asterisk-core-sounds-es-wav": ("real_es-mx-allison", "usr/share/asterisk/sounds/*/**/*.wav"),
    "asterisk-core-sounds-fr-wav": ("real_fr-ca-june", "usr/share/asterisk/sounds/*/**/*.wav"),
    "asterisk-core-sounds-it-wav": ("real_it-carlo", "usr/share/asterisk/sounds/*/**/*.wav"),
    "asterisk-prompt-it-menardi-wav": ("real_it-menardi", "usr/share/asterisk/sounds/*/**/*.wav"),
    "asterisk-prompt-fr-armelle": ("real_fr-armelle", "usr/share/asterisk/sounds/fr/**/*.gsm"),
    "asterisk-prompt-es-co": ("real_es-co", "usr/share/asterisk/sounds/es/**/*.gsm"),
}
# the English and the Spanish asterisk core sounds both credit Allison Smith: one person
PERSON["real_en-us-allison"] = "allison"
PERSON["real_es-mx-allison"] = "allison"

# prompts that are not speech
NON_SPEECH = re.compile(r"(beep|silence|tone|ring|dial|click|music|moh|sound|hold)", re.I)

# --------------------------------------------------------------------------------------------
# text


SENTENCES_FILE = Path(__file__).resolve().parent / "data" / "voice_sentences.txt"


def read_sentences(path: Path = SENTENCES_FILE) -> list[str]:
    """The shipped prompt list: one sentence per line, ``#`` lines are comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def collect_sentences(min_words: int = 4, max_words: int = 25) -> list[str]:
    """Sentences from the licence texts installed here (how ``voice_sentences.txt`` was made)."""
    files = sorted(glob.glob("/usr/share/common-licenses/*")) + sorted(
        glob.glob("/usr/share/doc/*/copyright")
    )
    seen: set[str] = set()
    out: list[str] = []
    for path in files:
        try:
            if os.path.isdir(path):
                continue
            raw = Path(path).read_bytes()
            if path.endswith(".gz"):
                raw = gzip.decompress(raw)
            text = raw.decode("utf-8", "ignore")
        except Exception:
            continue
        text = re.sub(r"\S+@\S+|https?://\S+|www\.\S+", " ", text)
        text = re.sub(r"\s+", " ", text)
        for sent in re.split(r"(?<=[.!?])\s+", text):
            sent = re.sub(r"[^A-Za-z ,.;:'?!-]", " ", sent)
            sent = re.sub(r"\s+", " ", sent).strip(" ,;:-'")
            if re.search(r"copyright|files:|license:|licence:|\bc\b| [,.;:-]|--", sent, re.I):
                continue
            words = sent.split()
            if not (min_words <= len(words) <= max_words):
                continue
            if any(len(w) > 16 for w in words):
                continue
            letters = [c for c in sent if c.isalpha()]
            if len(letters) < 15:
                continue
            upper = sum(c.isupper() for c in letters) / len(letters)
            if upper > 0.3:
                sent = sent.lower().capitalize()
            if sum(len(w) == 1 for w in words) > len(words) / 3:
                continue
            if not sent.endswith((".", "?", "!")):
                sent += "."
            key = sent.lower()
            if key in seen:
                continue
            seen.add(key)
            out.append(sent)
    return out


# --------------------------------------------------------------------------------------------
# audio helpers


def to_mono_16k(x: np.ndarray, sr: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR, quality="HQ").astype(np.float32)
    return x


def trim(x: np.ndarray, rel_db: float = 40.0, pad_s: float = 0.02) -> np.ndarray:
    """Cut leading/trailing near-silence: frames more than ``rel_db`` below the loudest one."""
    hop = int(0.01 * SR)
    n = len(x) // hop
    if n < 3:
        return x[:0]
    frames = x[: n * hop].reshape(n, hop)
    db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    thr = max(db.max() - rel_db, -70.0)
    active = np.flatnonzero(db > thr)
    if active.size == 0:
        return x[:0]
    pad = int(pad_s * SR)
    a = max(0, active[0] * hop - pad)
    b = min(len(x), (active[-1] + 1) * hop + pad)
    return x[a:b]


def bandwidth_hz(clips: list[np.ndarray], rel_db: float = 50.0) -> float:
    """Highest frequency where the average power spectrum is within ``rel_db`` of its peak."""
    nfft = 1024
    acc = np.zeros(nfft // 2 + 1)
    cnt = 0
    win = np.hanning(nfft)
    for x in clips[:40]:
        if len(x) < nfft:
            continue
        fr = np.lib.stride_tricks.sliding_window_view(x, nfft)[:: nfft // 2]
        acc += (np.abs(np.fft.rfft(fr * win, axis=1)) ** 2).sum(0)
        cnt += fr.shape[0]
    if cnt == 0:
        return 0.0
    db = 10 * np.log10(acc / cnt + 1e-20)
    db = np.convolve(db, np.ones(9) / 9, mode="same")
    ok = np.flatnonzero(db > db.max() - rel_db)
    return float(ok[-1] * SR / nfft) if ok.size else 0.0


def write_clip(path: Path, x: np.ndarray) -> None:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0.99:
        x = x * (0.99 / peak)
    sf.write(str(path), x, SR, subtype="PCM_16")


def finish_clip(x: np.ndarray, sr: int, min_s: float, max_s: float) -> np.ndarray | None:
    x = trim(to_mono_16k(x, sr))
    d = len(x) / SR
    if d < min_s or d > max_s:
        return None
    if float(np.sqrt(np.mean(x**2))) < 1e-4:
        return None
    return x


# --------------------------------------------------------------------------------------------
# synthesis workers (one task = one voice x a chunk of sentences)


def _synth_task(task) -> list[str]:
    engine, voice, params, items, out_dir = task
    out_dir = Path(out_dir)
    written = []
    with tempfile.TemporaryDirectory(prefix="tts_") as tmp:
        tmp = Path(tmp)
        if engine == "festival":
            lines = [f"(voice_{voice})"]
            for idx, text in items:
                t = text.replace("\\", " ").replace('"', " ")
                lines.append(
                    f'(utt.save.wave (utt.synth (Utterance Text "{t}")) "{tmp}/{idx:04d}.wav" \'riff)'
                )
            scm = tmp / "batch.scm"
            scm.write_text("\n".join(lines) + "\n")
            subprocess.run(["festival", "-b", str(scm)], check=False, capture_output=True, timeout=1800)
        for idx, text in items:
            wav = tmp / f"{idx:04d}.wav"
            try:
                if engine == "flite":
                    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(wav)],
                                   check=True, capture_output=True, timeout=120)
                elif engine == "espeak":
                    speed, pitch = params
                    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                                    "-w", str(wav), text], check=True, capture_output=True, timeout=120)
                if not wav.exists():
                    continue
                x, sr = sf.read(str(wav), dtype="float32")
            except Exception:
                continue
            y = finish_clip(x, sr, 1.0, 8.0)
            if y is None:
                continue
            dst = out_dir / f"{idx:04d}.wav"
            write_clip(dst, y)
            written.append(str(dst))
    return written


def _real_task(task) -> list[str]:
    src_files, out_dir = task
    out_dir = Path(out_dir)
    written = []
    for i, f in src_files:
        try:
            if f.endswith(".gsm"):
                with tempfile.NamedTemporaryFile(suffix=".wav") as tmpf:
                    subprocess.run(["sox", "-t", "gsm", "-r", "8000", "-c", "1", f, tmpf.name],
                                   check=True, capture_output=True, timeout=60)
                    x, sr = sf.read(tmpf.name, dtype="float32")
            else:
                x, sr = sf.read(f, dtype="float32")
        except Exception:
            continue
        y = finish_clip(x, sr, 0.4, 12.0)
        if y is None:
            continue
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(f).stem)
        dst = out_dir / f"{i:04d}_{stem}.wav"
        write_clip(dst, y)
        written.append(str(dst))
    return written


# --------------------------------------------------------------------------------------------


def fetch_debs(debs: Path, packages: list[str]) -> dict[str, Path]:
    debs.mkdir(parents=True, exist_ok=True)
    roots = {}
    for pkg in packages:
        root = debs / "x" / pkg
        if not root.exists():
            found = sorted(debs.glob(f"{pkg}_*.deb"))
            if not found:
                r = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
                found = sorted(debs.glob(f"{pkg}_*.deb"))
                if not found:
                    print(f"[warn] cannot download {pkg}: {r.stderr.strip()[:200]}", file=sys.stderr)
                    continue
            root.parent.mkdir(parents=True, exist_ok=True)  # dpkg -x makes the folder, not its parents
            subprocess.run(["dpkg", "-x", str(found[-1]), str(root)], check=True)
        roots[pkg] = root
    return roots


REAL_LICENCES = {
    "asterisk-core-sounds-en-wav": "CC-BY-SA-3.0 (Allison Smith / Digium)",
    "asterisk-core-sounds-es-wav": "CC-BY-SA-3.0 (Allison Smith / Digium)",
    "asterisk-core-sounds-fr-wav": "CC-BY-SA-3.0 (June Wallack / Digium)",
    "asterisk-core-sounds-it-wav": "CC-BY-SA-3.0 (Carlo Flora / Digium)",
    "asterisk-prompt-it-menardi-wav": "CC-BY-SA-3.0 Italian (Marco Menardi, Paola Dal Zot)",
    "asterisk-prompt-fr-armelle": "BSD-style (voice Armelle Desjardins, (C) 2006 Michel Gutierrez)",
    "asterisk-prompt-es-co": "GPL-2 (Avatar Ltda. / July E. Jimenez)",
}


def licence_of(root: Path, pkg: str) -> str:
    """Licence as read by hand in ``/usr/share/doc/PKG/copyright`` (checked for these packages)."""
    return REAL_LICENCES.get(pkg, f"see /usr/share/doc/{pkg}/copyright")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="voice pool folder (required unless --write-sentences)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sentences", type=int, default=220, help="sentences per TTS voice")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--debs", type=Path, default=None, help="where .deb files are fetched/unpacked (default OUT/../debs)")
    ap.add_argument("--perturb", action="store_true", help="add x0.88 / x1.12 speed copies of TTS voices")
    ap.add_argument("--no-tts", action="store_true")
    ap.add_argument("--sentences-from-machine", action="store_true",
                    help="TTS text from this machine's licence files instead of scripts/data/voice_sentences.txt")
    ap.add_argument("--write-sentences", type=Path, default=None, help="write the machine's sentence list here and exit")
    ap.add_argument("--no-real", action="store_true")
    args = ap.parse_args(argv)

    if args.write_sentences:
        args.write_sentences.write_text("\n".join(collect_sentences()) + "\n", encoding="utf-8")
        return 0
    if args.out is None:
        ap.error("--out is required")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    debs = args.debs or (out.parent / "debs")
    rng = random.Random(args.seed)
    t0 = time.time()
    rows = []  # speaker, source, kind, licence, person

    tasks = []
    if not args.no_tts:
        sentences = collect_sentences() if args.sentences_from_machine else read_sentences()
        print(f"{len(sentences)} sentences", flush=True)
        voices = (
            [("espeak", v, (s, p)) for v, s, p in ESPEAK_VOICES]
            + [("flite", v, None) for v in FLITE_VOICES]
            + [("festival", v, None) for v in FESTIVAL_VOICES]
        )
        for engine, voice, params in voices:
            spk = f"{engine}_{voice}"
            d = out / spk
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            picks = rng.sample(range(len(sentences)), min(args.sentences, len(sentences)))
            items = [(i, sentences[j]) for i, j in enumerate(picks)]
            chunk = 40 if engine == "festival" else 60
            for k in range(0, len(items), chunk):
                tasks.append((engine, voice, params, items[k : k + chunk], str(d)))
            src = {"espeak": f"espeak-ng -v {voice} -s {params[0] if params else ''} -p {params[1] if params else ''}",
                   "flite": f"flite -voice {voice}", "festival": f"festival voice_{voice}"}[engine]
            lic = {"espeak": "GPL-3+ (espeak-ng); text from Debian licence files",
                   "flite": "flite licence (BSD-like, CMU); text from Debian licence files",
                   "festival": "festival/festvox licence (BSD-like/free); text from Debian licence files"}[engine]
            rows.append((spk, src, "tts", lic, PERSON.get(spk, spk)))
        # festival first: slowest
        tasks.sort(key=lambda t: t[0] != "festival")

    real_tasks = []
    if not args.no_real:
        roots = fetch_debs(debs, list(REAL_PACKAGES))
        for pkg, root in roots.items():
            spk, pattern = REAL_PACKAGES[pkg]
            files = sorted(glob.glob(str(root / pattern), recursive=True))
            files = [f for f in files if not NON_SPEECH.search(Path(f).stem)
                     and "/silence/" not in f]
            d = out / spk
            if d.exists():
                shutil.rmtree(d)
            d.mkdir(parents=True)
            items = list(enumerate(files))
            for k in range(0, len(items), 100):
                real_tasks.append((items[k : k + 100], str(d)))
            rows.append((spk, f"Debian package {pkg}", "real", licence_of(root, pkg), PERSON.get(spk, spk)))

    with mp.get_context("fork").Pool(max(1, args.jobs)) as pool:
        res_real = pool.map_async(_real_task, real_tasks, chunksize=1) if real_tasks else None
        n = 0
        for written in pool.imap_unordered(_synth_task, tasks, chunksize=1):
            n += 1
            print(f"  tts chunk {n}/{len(tasks)} ({len(written)} clips) {time.time() - t0:.0f}s", flush=True)
        if res_real is not None:
            res_real.get()
    print(f"synthesis done {time.time() - t0:.0f}s", flush=True)

    if args.perturb:
        for spk, src, kind, lic, person in list(rows):
            if kind != "tts":
                continue
            for f in (0.88, 1.12):
                new = f"{spk}_sp{f:.2f}"
                d = out / new
                if d.exists():
                    shutil.rmtree(d)
                d.mkdir(parents=True)
                for wav in sorted((out / spk).glob("*.wav")):
                    x, _ = sf.read(str(wav), dtype="float32")
                    # play at f x speed: pitch and formants scale by f
                    y = soxr.resample(x, SR * f, SR, quality="HQ").astype(np.float32)
                    write_clip(d / wav.name, y)
                rows.append((new, f"{src}, speed x{f:.2f} (soxr resampling)", "tts", lic, person))
        print(f"perturbation done {time.time() - t0:.0f}s", flush=True)

    lines = ["speaker\tsource\tkind\tlicence\tn_clips\tduration_s\tbandwidth_hz\tperson"]
    for spk, src, kind, lic, person in rows:
        clips = []
        dur = 0.0
        files = sorted((out / spk).glob("*.wav"))
        for i, wav in enumerate(files):
            info = sf.info(str(wav))
            dur += info.frames / info.samplerate
            if i % max(1, len(files) // 40) == 0:
                clips.append(sf.read(str(wav), dtype="float32")[0])
        if not files:
            print(f"[warn] no clips for {spk}", file=sys.stderr)
            continue
        bw = bandwidth_hz(clips)
        lines.append(f"{spk}\t{src}\t{kind}\t{lic}\t{len(files)}\t{dur:.1f}\t{bw:.0f}\t{person}")
    (out / "manifest.tsv").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
