#!/usr/bin/env python
"""Build single-speaker voice pools for simulated conversations.

Writes ``OUT/<speaker_id>/*.wav`` (16 kHz mono PCM16, leading/trailing near-silence trimmed)
and ``OUT/manifest.tsv`` (speaker, source, kind, licence, n_clips, duration_s, bandwidth_hz).

Voices
------
* TTS (kind=tts): flite (awb, rms, slt, kal16), festival (kal_diphone, ked_diphone,
  cmu_us_slt_arctic_hts) and ten espeak-ng language/variant pairs with their own speed and pitch.
  Each voice speaks its own random selection of English sentences from
  ``recipes/data/voice_sentences.txt`` (taken from the licence texts of a Debian 12 machine;
  ``--sentences-from-machine`` takes them from this machine's /usr/share/common-licenses and
  /usr/share/doc/*/copyright instead, which depends on the installed packages, and
  ``--write-sentences FILE`` writes that list).
* Real recordings (kind=real): Debian asterisk prompt packages, one speaker per package
  (8 kHz telephone audio, resampled to 16 kHz). They are downloaded with ``apt-get download``
  and unpacked with ``dpkg -x`` into ``--debs`` (no installation).
* ``--perturb``: speed-perturbed copies (x0.88, x1.12: pitch and formants move) of every TTS
  voice, as new pseudo-speakers ``<id>_sp0.88`` / ``<id>_sp1.12``.
* ``--sources`` adds more real voices (default ``tts,asterisk``: the shipped models' pool; ``all``
  for everything; speakers of other sources already in OUT are kept):

  - ``hedgewars``: the game's voice packs (short exclamations); its credits name one actor for the
    packs and another for the two Polish ones, so ``person`` groups them that way (``Robot`` is the
    first actor, processed);
  - ``klettres``: spoken letters and syllables per language, one person per language as credited in
    the KLettres handbook (folders credited to two people are prepared but marked in ``identity``
    and not used by ``simulate_conversations.py``);
  - ``ktuberling``: spoken words per language (uncredited; the Serbian script variants are skipped:
    same recordings);
  - ``alsa``: the eight channel-name prompts of alsa-utils;
  - ``festvox``: festival voices built from recorded people that the shipped models never used
    (Italian lp/pc, Catalan ona, Russian, Finnish lj/mv, Hindi NSK; Marathi and Telugu NSK are the
    same speaker), ``--festvox-sentences`` each, reading text in their language from the KDE
    handbooks in the unpacked packages (English sentences where there is too little; Hindi:
    random sequences of common words). Run under ``nice``: festival is slow.

  The reserved packages (``fillets-ng-data-*``, ``asterisk-core-sounds-ru*``, ``transcriber``) are
  never read.

Besides ``OUT/manifest.tsv`` (now also ``package``, ``family``, ``language``, ``identity``), each
speaker folder gets ``manifest.tsv`` (clip, speaker, package, language, duration_s, licence) and
``OUT/sources.tsv`` maps speaker -> package -> package family -> person.

Speaker ids are ``<engine>_<voice>``; ``person`` in the manifest groups ids that are the same
human (flite slt = festival slt, flite kal16 = festival kal, perturbed copies = their source).

Needs: flite, espeak-ng, festival (+festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts),
sox (reads the .gsm prompts), apt-get/dpkg; Python: numpy, soundfile, soxr.

Examples::

    python recipes/prepare_voices.py --out $TURNPOINT_DATA/voices --seed 0 --perturb
    nice python recipes/prepare_voices.py --out $TURNPOINT_DATA/voices --sources hedgewars,klettres,festvox
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
                say = f'(utt.save.wave (utt.synth (Utterance Text "{t}")) "{tmp}/{idx:04d}.wav" \'riff)'
                # unwind-protect: a sentence the voice cannot say must not end the batch (the
                # English voices of the shipped pool keep their original batches)
                lines.append(f"(unwind-protect {say} nil)" if params else say)
            scm = tmp / "batch.scm"
            # festival is 8-bit: the Latin-script voices read ISO-8859-1, the others UTF-8
            encoding = params or "utf-8"
            scm.write_bytes(("\n".join(lines) + "\n").encode(encoding, errors="ignore"))
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



# --------------------------------------------------------------------------------------------
# more real voices (``--sources hedgewars,klettres,ktuberling,alsa,festvox``)

# Reserved as blind tests of the project: never read, whatever --sources says.
RESERVED = re.compile(r"^(fillets-ng-data|asterisk-core-sounds-ru|transcriber)")

HEDGEWARS_VOICES = "usr/share/games/hedgewars/Data/Sounds/voices"
# Hedgewars' credits (in its frontend binary): "Hedgehogs voice: Stephen Alexander" and
# "Default_pl, Russian_pl voices: mtg90pl". GE2E cannot tell the packs apart (every pair of packs is
# as close as two halves of one pack), so every pack but the two Polish ones is one person; the
# language variants of Default count as that person too, and Robot is his voice processed.
HEDGEWARS_PERSON = {"Default_pl": "hedgewars-mtg90pl", "Russian_pl": "hedgewars-mtg90pl"}
HEDGEWARS_LANGUAGE = {"Default_es": "es", "Default_pl": "pl", "Default_ru": "ru", "Russian_pl": "pl"}

KLETTRES_DIR = "usr/share/klettres"
# From the KLettres handbook's credits; folders with two credited speakers are kept out of the
# conversations (``identity`` column): a folder would mix two people under one label.
KLETTRES_CREDITS = {
    "cs": "Eva Mikulcikova", "da": "Erik Kjaer Pedersen", "nl": "Geert Stams", "en": "Robert Wadley",
    "fr": "Ludovic Grossard", "de": "Helmut Kriege", "he": "Assaf Gorgon", "it": "Pietro Pasotti",
}
KLETTRES_TWO_SPEAKERS = {"pt_BR": "Lindonjohnson and Michelle Monte", "nds": "Manfred Wiese and Sonke Dibbern",
                         "es": "Ana Belen Caballero and Juan Pedro Paredes"}

KTUBERLING_DIR = "usr/share/ktuberling/sounds"
# sr@latin, sr@ijekavian, sr@ijekavianlatin are the Serbian speaker again (other scripts)
KTUBERLING_SKIP = re.compile(r"@")

# festival voices built from recorded people, not used by the shipped models:
# package -> (festival voice, language, person)
FESTVOX_VOICES = {
    "festvox-italp16k": ("lp_diphone", "it", "festvox-it-lp"),
    "festvox-itapc16k": ("pc_diphone", "it", "festvox-it-pc"),
    "festvox-ca-ona-hts": ("upc_ca_ona_hts", "ca", "festvox-ca-ona"),
    "festvox-ru": ("msu_ru_nsh_clunits", "ru", "festvox-ru-nsh"),
    "festvox-suopuhe-lj": ("suo_fi_lj_diphone", "fi", "festvox-fi-lj"),
    "festvox-suopuhe-mv": ("hy_fi_mv_diphone", "fi", "festvox-fi-mv"),
    # the Marathi and Telugu NSK voices are the same speaker as the Hindi one: one of them is enough
    "festvox-hi-nsk": ("hindi_NSK_diphone", "hi", "festvox-nsk"),
}
# Hindi needs Devanagari input; no Hindi text ships with Debian's main archive, so the voice reads
# random sequences of common words (what is said does not matter for who says it).
HINDI_WORDS = (
    "मैं आप हम वह यह घर पानी खाना आज कल सुबह शाम रात दिन अच्छा बहुत थोड़ा बड़ा छोटा नया पुराना "
    "किताब स्कूल बाजार गाड़ी रास्ता शहर गाँव दोस्त परिवार माँ पिता भाई बहन काम समय पैसा हाथ आँख "
    "जाना आना देखना सुनना बोलना पढ़ना लिखना करना है था थी हैं और लेकिन क्योंकि फिर अभी यहाँ वहाँ "
    "कहाँ क्या कौन कैसे कितना सब कुछ हमेशा कभी नहीं हाँ ज़रूर शायद ठीक सच्चा सुंदर गरम ठंडा मौसम बारिश"
).split()

FAMILY = {  # package family: packages of one project or one recording campaign
    "asterisk": "asterisk prompts", "hedgewars-data": "hedgewars", "klettres-data": "kde-edu klettres",
    "ktuberling-data": "kde-edu ktuberling", "alsa-utils": "alsa", "festvox": "festival (recorded voices)",
    "flite": "flite", "espeak-ng": "espeak-ng",
}


def family_of(package: str) -> str:
    """The package family of a Debian package (``asterisk-*`` prompts are one family)."""
    for prefix, family in FAMILY.items():
        if package.startswith(prefix):
            return family
    return package


def debian_licence(copyright_file: Path) -> str:
    """The ``License:`` of the ``Files: *`` paragraph of a machine-readable Debian copyright file."""
    try:
        text = copyright_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown (no copyright file)"
    match = re.search(r"^Files:\s*\*\s*$.*?^License:\s*(\S[^\n]*)", text, re.M | re.S)
    if match:
        return match.group(1).strip()
    match = re.search(r"^License:\s*(\S[^\n]*)", text, re.M)
    return match.group(1).strip() if match else f"see {copyright_file}"


def doc_sentences(debs: Path, language: str, *, min_words: int = 4, max_words: int = 20) -> list[str]:
    """Sentences in ``language`` from the KDE handbooks of the unpacked klettres/ktuberling packages."""
    letters = {"ru": "А-Яа-яЁё", "uk": "А-Яа-яЁёІіЇїЄєҐґ"}.get(language, "A-Za-zÀ-ÿ")
    allowed = re.compile(rf"[{letters}' ,.!?:;-]+")
    out: list[str] = []
    for book in sorted(debs.glob(f"x/*/usr/share/doc/HTML/{language}/*/index.docbook")):
        text = book.read_text(encoding="utf-8", errors="ignore")
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"&[A-Za-z.]+;", " ", text)
        text = re.sub(r"\s+", " ", text)
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            sentence = sentence.strip()
            if min_words <= len(sentence.split()) <= max_words and allowed.fullmatch(sentence) and sentence not in out:
                out.append(sentence)
    return out


def hindi_sentences(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(HINDI_WORDS) for _ in range(rng.randint(5, 11))) + "।" for _ in range(n)]


def _decode(path: str) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def _clips_task(task) -> list[tuple[str, str, float]]:
    """Convert a list of (index, source file) to trimmed 16 kHz clips; (clip, source, duration) rows."""
    items, out_dir, min_s, max_s = task
    out_dir = Path(out_dir)
    rows = []
    for i, f in items:
        try:
            x, sr = _decode(f)
        except Exception:
            continue
        y = finish_clip(x, sr, min_s, max_s)
        if y is None:
            continue
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(f).stem)
        dst = out_dir / f"{i:04d}_{stem}.wav"
        write_clip(dst, y)
        rows.append((dst.name, f, len(y) / SR))
    return rows


def extra_real_voices(debs: Path, sources: set[str]) -> list[dict]:
    """Voice specs of the real recordings beyond the asterisk prompts (one dict per speaker id)."""
    specs = []
    if "hedgewars" in sources:
        root = fetch_debs(debs, ["hedgewars-data"]).get("hedgewars-data")
        if root is not None:
            lic = "GFDL-1.3 (Data/Sounds/*, per debian/copyright); voices credited to Stephen Alexander and mtg90pl"
            for pack in sorted((root / HEDGEWARS_VOICES).iterdir()):
                files = sorted(str(f) for f in pack.glob("*.ogg"))
                person = HEDGEWARS_PERSON.get(pack.name, "hedgewars-stephen-alexander")
                specs.append({"speaker": f"hedgewars_{pack.name}", "package": "hedgewars-data", "files": files,
                              "language": HEDGEWARS_LANGUAGE.get(pack.name, "en"), "person": person, "licence": lic,
                              "identity": "processed voice (robot)" if pack.name == "Robot" else "credited",
                              "min_s": 0.25, "max_s": 8.0})
    if "klettres" in sources:
        root = fetch_debs(debs, ["klettres-data"]).get("klettres-data")
        if root is not None:
            lic = debian_licence(root / "usr/share/doc/klettres-data/copyright")
            for lang_dir in sorted((root / KLETTRES_DIR).iterdir()):
                files = sorted(str(f) for f in lang_dir.glob("*/*.ogg"))
                if not lang_dir.is_dir() or not files:
                    continue
                lang = lang_dir.name
                if lang in KLETTRES_TWO_SPEAKERS:
                    identity = f"two credited speakers ({KLETTRES_TWO_SPEAKERS[lang]}): not used in conversations"
                elif lang in KLETTRES_CREDITS:
                    identity = f"credited: {KLETTRES_CREDITS[lang]}"
                else:
                    identity = "uncredited; GE2E-distinct from every other klettres/ktuberling folder"
                specs.append({"speaker": f"klettres_{lang}", "package": "klettres-data", "files": files, "language": lang,
                              "person": f"klettres-{lang}", "licence": lic, "identity": identity, "min_s": 0.2, "max_s": 8.0})
    if "ktuberling" in sources:
        root = fetch_debs(debs, ["ktuberling-data"]).get("ktuberling-data")
        if root is not None:
            lic = debian_licence(root / "usr/share/doc/ktuberling-data/copyright")
            for lang_dir in sorted((root / KTUBERLING_DIR).iterdir()):
                files = sorted(str(f) for f in lang_dir.glob("*") if f.suffix in (".ogg", ".wav"))
                if not lang_dir.is_dir() or not files or KTUBERLING_SKIP.search(lang_dir.name):
                    continue
                specs.append({"speaker": f"ktuberling_{lang_dir.name}", "package": "ktuberling-data", "files": files,
                              "language": lang_dir.name, "person": f"ktuberling-{lang_dir.name}", "licence": lic,
                              "identity": "uncredited; one speaker per language folder assumed", "min_s": 0.2, "max_s": 8.0})
    if "alsa" in sources:
        root = fetch_debs(debs, ["alsa-utils"]).get("alsa-utils")
        if root is not None:
            files = sorted(str(f) for f in (root / "usr/share/sounds/alsa").glob("*.wav") if f.stem != "Noise")
            specs.append({"speaker": "alsa_en", "package": "alsa-utils", "files": files, "language": "en",
                          "person": "alsa-en", "licence": debian_licence(root / "usr/share/doc/alsa-utils/copyright"),
                          "identity": "one voice, uncredited", "min_s": 0.2, "max_s": 8.0})
    for spec in specs:
        if RESERVED.search(spec["package"]):
            raise SystemExit(f"refusing reserved package {spec['package']}")
    return specs


def write_speaker_manifest(folder: Path, rows: list[tuple[str, float]], *, speaker: str, package: str,
                           language: str, licence: str) -> None:
    """``folder/manifest.tsv``: clip, speaker, source package, language, duration, licence."""
    lines = ["clip\tspeaker\tpackage\tlanguage\tduration_s\tlicence"]
    lines += [f"{clip}\t{speaker}\t{package}\t{language}\t{dur:.3f}\t{licence}" for clip, dur in sorted(rows)]
    (folder / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


MANIFEST_COLUMNS = ["speaker", "source", "kind", "licence", "n_clips", "duration_s", "bandwidth_hz", "person",
                    "package", "family", "language", "identity"]


def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return {row["speaker"]: row for row in (dict(zip(header, line.split("\t"))) for line in lines[1:] if line.strip())}


ALL_SOURCES = ("tts", "asterisk", "festvox", "hedgewars", "klettres", "ktuberling", "alsa")


def _rows_of_tts(spk: str, engine: str, voice: str, params, sentences_n: int, language: str = "en",
                 package: str | None = None, person: str | None = None) -> dict:
    src = {"espeak": f"espeak-ng -v {voice} -s {params[0] if params else ''} -p {params[1] if params else ''}",
           "flite": f"flite -voice {voice}", "festival": f"festival voice_{voice}"}[engine]
    lic = {"espeak": "GPL-3+ (espeak-ng); text from Debian licence files",
           "flite": "flite licence (BSD-like, CMU); text from Debian licence files",
           "festival": "festival/festvox licence (BSD-like/free); text from Debian licence files"}[engine]
    if package is None:
        package = {"espeak": "espeak-ng", "flite": "flite", "festival": {
            "kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
            "cmu_us_slt_arctic_hts": "festvox-us-slt-hts"}.get(voice, "festival")}[engine]
    else:
        lic = f"{debian_licence(Path('/usr/share/doc') / package / 'copyright')} (voice); text: KDE handbooks or word lists"
    return {"speaker": spk, "source": src, "kind": "tts", "licence": lic, "person": person or PERSON.get(spk, spk),
            "package": package, "family": family_of(package), "language": language, "identity": "synthetic voice of a recorded person"
            if engine != "espeak" else "formant synthesis"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="voice pool folder (required unless --write-sentences)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sentences", type=int, default=220, help="sentences per TTS voice")
    ap.add_argument("--festvox-sentences", type=int, default=60,
                    help="sentences per extra festival voice (festival is slow: a few minutes of speech each)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--debs", type=Path, default=None, help="where .deb files are fetched/unpacked (default OUT/../debs)")
    ap.add_argument("--sources", default="tts,asterisk",
                    help=f"comma-separated, or 'all': {','.join(ALL_SOURCES)} (default: tts,asterisk, the shipped models' pool). "
                         "Other speakers already in OUT are kept")
    ap.add_argument("--perturb", action="store_true", help="add x0.88 / x1.12 speed copies of TTS voices")
    ap.add_argument("--no-tts", action="store_true")
    ap.add_argument("--sentences-from-machine", action="store_true",
                    help="TTS text from this machine's licence files instead of recipes/data/voice_sentences.txt")
    ap.add_argument("--write-sentences", type=Path, default=None, help="write the machine's sentence list here and exit")
    ap.add_argument("--no-real", action="store_true")
    args = ap.parse_args(argv)

    if args.write_sentences:
        args.write_sentences.write_text("\n".join(collect_sentences()) + "\n", encoding="utf-8")
        return 0
    if args.out is None:
        ap.error("--out is required")
    sources = set(ALL_SOURCES) if args.sources == "all" else {s.strip() for s in args.sources.split(",") if s.strip()}
    unknown = sources - set(ALL_SOURCES)
    if unknown:
        ap.error(f"unknown --sources {sorted(unknown)}; choose from {','.join(ALL_SOURCES)}")
    if args.no_tts:
        sources.discard("tts")
    if args.no_real:
        sources.discard("asterisk")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    debs = args.debs or (out.parent / "debs")
    rng = random.Random(args.seed)
    t0 = time.time()
    rows: list[dict] = []
    clip_rows: dict[str, list[tuple[str, float]]] = {}

    def fresh(spk: str) -> Path:
        d = out / spk
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    tasks = []
    if "tts" in sources:
        sentences = collect_sentences() if args.sentences_from_machine else read_sentences()
        print(f"{len(sentences)} sentences", flush=True)
        voices = (
            [("espeak", v, (s, p)) for v, s, p in ESPEAK_VOICES]
            + [("flite", v, None) for v in FLITE_VOICES]
            + [("festival", v, None) for v in FESTIVAL_VOICES]
        )
        for engine, voice, params in voices:
            spk = f"{engine}_{voice}"
            d = fresh(spk)
            picks = rng.sample(range(len(sentences)), min(args.sentences, len(sentences)))
            items = [(i, sentences[j]) for i, j in enumerate(picks)]
            chunk = 40 if engine == "festival" else 60
            for k in range(0, len(items), chunk):
                tasks.append((engine, voice, params, items[k : k + chunk], str(d)))
            rows.append(_rows_of_tts(spk, engine, voice, params, len(items)))
    if "festvox" in sources:
        english = read_sentences()
        for package, (voice, language, person) in FESTVOX_VOICES.items():
            if not Path(f"/usr/share/doc/{package}").exists():
                print(f"[warn] {package} is not installed (apt-get install {package}): skipped", file=sys.stderr)
                continue
            voice_rng = random.Random(f"{args.seed}-{voice}")
            if language == "hi":
                texts = hindi_sentences(voice_rng, args.festvox_sentences)
            else:
                texts = doc_sentences(debs, language) if language != "fi" else []
                if len(texts) < args.festvox_sentences // 2:  # too little text in the voice's language
                    texts += voice_rng.sample(english, args.festvox_sentences - len(texts))
                voice_rng.shuffle(texts)
                texts = texts[: args.festvox_sentences]
            spk = f"festival_{voice}"
            d = fresh(spk)
            items = list(enumerate(texts))
            for k in range(0, len(items), 20):
                tasks.append(("festival", voice, "utf-8" if language in ("ru", "hi") else "latin-1", items[k : k + 20], str(d)))
            rows.append(_rows_of_tts(spk, "festival", voice, None, len(items), language=language, package=package, person=person))
        tasks.sort(key=lambda t: t[0] != "festival")  # festival first: slowest

    real_tasks = []
    if "asterisk" in sources:
        roots = fetch_debs(debs, list(REAL_PACKAGES))
        for pkg, root in roots.items():
            spk, pattern = REAL_PACKAGES[pkg]
            files = sorted(glob.glob(str(root / pattern), recursive=True))
            files = [f for f in files if not NON_SPEECH.search(Path(f).stem)
                     and "/silence/" not in f]
            d = fresh(spk)
            items = list(enumerate(files))
            for k in range(0, len(items), 100):
                real_tasks.append((items[k : k + 100], str(d)))
            language = {"en-wav": "en", "es-wav": "es", "fr-wav": "fr", "it-wav": "it"}.get(pkg.split("sounds-")[-1], pkg.split("-")[2])
            rows.append({"speaker": spk, "source": f"Debian package {pkg}", "kind": "real", "licence": licence_of(root, pkg),
                         "person": PERSON.get(spk, spk), "package": pkg, "family": family_of(pkg), "language": language,
                         "identity": "credited"})
    clip_tasks = []
    for spec in extra_real_voices(debs, sources):
        d = fresh(spec["speaker"])
        items = list(enumerate(spec["files"]))
        for k in range(0, len(items), 100):
            clip_tasks.append((spec["speaker"], (items[k : k + 100], str(d), spec["min_s"], spec["max_s"])))
        rows.append({"speaker": spec["speaker"], "source": f"Debian package {spec['package']}", "kind": "real",
                     "licence": spec["licence"], "person": spec["person"], "package": spec["package"],
                     "family": family_of(spec["package"]), "language": spec["language"], "identity": spec["identity"]})

    with mp.get_context("fork").Pool(max(1, args.jobs)) as pool:
        res_real = pool.map_async(_real_task, real_tasks, chunksize=1) if real_tasks else None
        res_clips = pool.map_async(_clips_task, [t for _, t in clip_tasks], chunksize=1) if clip_tasks else None
        n = 0
        for written in pool.imap_unordered(_synth_task, tasks, chunksize=1):
            n += 1
            print(f"  tts chunk {n}/{len(tasks)} ({len(written)} clips) {time.time() - t0:.0f}s", flush=True)
        if res_real is not None:
            res_real.get()
        if res_clips is not None:
            for (spk, _), written in zip(clip_tasks, res_clips.get()):
                clip_rows.setdefault(spk, []).extend((name, dur) for name, _, dur in written)
    print(f"clips done {time.time() - t0:.0f}s", flush=True)

    if args.perturb:
        for row in list(rows):
            if row["kind"] != "tts" or row["package"] not in ("espeak-ng", "flite") and not row["package"].startswith(
                    ("festvox-kallpc", "festvox-kdlpc", "festvox-us-slt")):
                continue  # the shipped recipe perturbs its own TTS voices only
            spk = row["speaker"]
            for f in (0.88, 1.12):
                new = f"{spk}_sp{f:.2f}"
                d = fresh(new)
                for wav in sorted((out / spk).glob("*.wav")):
                    x, _ = sf.read(str(wav), dtype="float32")
                    # play at f x speed: pitch and formants scale by f
                    y = soxr.resample(x, SR * f, SR, quality="HQ").astype(np.float32)
                    write_clip(d / wav.name, y)
                rows.append({**row, "speaker": new, "source": f"{row['source']}, speed x{f:.2f} (soxr resampling)",
                             "identity": "speed-perturbed pseudo-speaker"})
        print(f"perturbation done {time.time() - t0:.0f}s", flush=True)

    manifest = read_manifest(out / "manifest.tsv")  # speakers of earlier runs with other --sources stay
    for row in rows:
        spk = row["speaker"]
        files = sorted((out / spk).glob("*.wav"))
        if not files:
            print(f"[warn] no clips for {spk}", file=sys.stderr)
            manifest.pop(spk, None)
            shutil.rmtree(out / spk, ignore_errors=True)
            continue
        durations = {}
        clips = []
        for i, wav in enumerate(files):
            info = sf.info(str(wav))
            durations[wav.name] = info.frames / info.samplerate
            if i % max(1, len(files) // 40) == 0:
                clips.append(sf.read(str(wav), dtype="float32")[0])
        write_speaker_manifest(out / spk, list(durations.items()), speaker=spk, package=row["package"],
                               language=row["language"], licence=row["licence"])
        manifest[spk] = {**row, "n_clips": str(len(files)), "duration_s": f"{sum(durations.values()):.1f}",
                         "bandwidth_hz": f"{bandwidth_hz(clips):.0f}"}
    lines = ["\t".join(MANIFEST_COLUMNS)]
    lines += ["\t".join(str(manifest[spk].get(c, "")) for c in MANIFEST_COLUMNS) for spk in sorted(manifest)]
    (out / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    src_lines = ["speaker\tpackage\tfamily\tperson\tkind"]
    src_lines += [f"{spk}\t{manifest[spk].get('package', '')}\t{manifest[spk].get('family', '')}\t{manifest[spk].get('person', '')}"
                  f"\t{manifest[spk].get('kind', '')}" for spk in sorted(manifest)]
    (out / "sources.tsv").write_text("\n".join(src_lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    print(f"total {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
