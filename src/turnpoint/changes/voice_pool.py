"""Voice pools for simulated conversations: speakers' clip folders, a person-disjoint split, and their clips.

A voice pool is a folder ``voices_dir/<speaker_id>/*.wav`` (one speaker per folder, one
utterance per file), optionally with ``voices_dir/manifest.tsv`` (columns ``speaker``,
``kind`` and ``person``; see ``recipes/prepare_voices.py``). Speaker ids look like
``<engine>_<voice>``: the part before the first ``_`` names the engine (``espeak``, ``flite``,
``festival``, ``real``...). :func:`load_voice_pool` indexes one, :func:`split_speakers` splits it
by person, and :func:`load_clip`, :func:`trim_clip` and :func:`fragment_clip` read and cut its clips
for :mod:`turnpoint.changes.simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from turnpoint.core.signal import SAMPLE_RATE

__all__ = ["Voice", "fragment_clip", "load_clip", "load_voice_pool", "split_speakers", "trim_clip"]


@dataclass
class Voice:
    """One speaker of a pool: its clips, ``kind`` (``tts`` or ``real``), the person behind it and its engine."""

    speaker: str
    files: list[Path]
    kind: str = "tts"
    person: str = ""
    engine: str = ""


def load_voice_pool(voices_dir: str | Path, speakers: list[str] | None = None) -> dict[str, Voice]:
    """Index ``voices_dir/<speaker>/*.wav`` (and ``manifest.tsv`` when present)."""
    voices_dir = Path(voices_dir)
    meta: dict[str, dict[str, str]] = {}
    manifest = voices_dir / "manifest.tsv"
    if manifest.exists():
        lines = manifest.read_text().splitlines()
        header = lines[0].split("\t")
        for line in lines[1:]:
            if line.strip():
                row = dict(zip(header, line.split("\t")))
                meta[row["speaker"]] = row
    names = speakers if speakers is not None else sorted(
        p.name for p in voices_dir.iterdir() if p.is_dir()
    )
    pool = {}
    for spk in names:
        files = sorted((voices_dir / spk).glob("*.wav"))
        if not files:
            raise FileNotFoundError(f"no clips for speaker {spk!r} in {voices_dir / spk}")
        row = meta.get(spk, {})
        kind = row.get("kind") or ("real" if spk.startswith("real") else "tts")
        person = row.get("person") or spk.split("_sp")[0]
        pool[spk] = Voice(spk, files, kind, person, spk.split("_")[0])
    return pool


def split_speakers(
    pool: dict[str, Voice],
    *,
    validation_fraction: float = 0.15,
    held_out_persons: tuple[str, ...] = (),
    seed: int = 0,
) -> dict[str, list[str]]:
    """Speaker-disjoint split by *person* (perturbed copies and same-person voices stay together).

    Validation gets one person from each TTS engine with at least two persons (two from an
    engine with six or more, so validation has a same-engine pair), one real voice when at least two remain, then random persons up to
    ``validation_fraction``. Persons in ``held_out_persons`` go to ``held_out`` only.
    """
    rng = np.random.default_rng(seed)
    persons: dict[str, list[str]] = {}
    for s, v in sorted(pool.items()):
        persons.setdefault(v.person, []).append(s)
    held = [p for p in persons if p in held_out_persons]
    free = sorted(p for p in persons if p not in held_out_persons)
    # engines of a person: the engines of its speakers (a person may span two engines)
    eng_of = {p: {pool[s].engine for s in persons[p]} for p in free}
    kind_of = {p: pool[persons[p][0]].kind for p in free}
    val: list[str] = []
    engines = sorted({e for p in free if kind_of[p] == "tts" for e in eng_of[p]})
    for e in engines:
        cands = [p for p in free if eng_of[p] == {e} and p not in val and kind_of[p] == "tts"]
        n_e = len([p for p in free if e in eng_of[p]])
        # an engine with many voices gives two, so validation has a same-engine pair
        k = 2 if n_e >= 6 else 1 if n_e >= 2 else 0
        for _ in range(min(k, len(cands))):
            val.append(cands.pop(int(rng.integers(len(cands)))))
    reals = [p for p in free if kind_of[p] == "real"]
    if len(reals) >= 2:
        val.append(reals[rng.integers(len(reals))])
    target = max(len(val), int(round(validation_fraction * len(free))))
    rest = [p for p in free if p not in val]
    rng.shuffle(rest)
    while len(val) < target and rest:
        val.append(rest.pop())
    train = [p for p in free if p not in val]
    expand = lambda ps: sorted(s for p in ps for s in persons[p])  # noqa: E731
    return {"train": expand(train), "validation": expand(val), "held_out": expand(held)}


def load_clip(path: Path) -> np.ndarray:
    """One clip as mono float32 at 16 kHz."""
    x, sr = sf.read(str(path), dtype="float32", always_2d=False)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE).astype(np.float32)
    return x


def _frame_db(x: np.ndarray, hop: int = 160) -> np.ndarray:
    n = len(x) // hop
    if n == 0:
        return np.full(1, -120.0)
    e = np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    return 10 * np.log10(e + 1e-12)


def trim_clip(x: np.ndarray, rel_db: float = 40.0) -> np.ndarray:
    """Cut leading/trailing frames more than ``rel_db`` below the loudest one."""
    db = _frame_db(x)
    active = np.flatnonzero(db > db.max() - rel_db)
    if active.size == 0:
        return x[:0]
    return x[active[0] * 160 : (active[-1] + 1) * 160]


def fragment_clip(x: np.ndarray, target_s: float, rng: np.random.Generator) -> np.ndarray:
    """About ``target_s`` of ``x``, cut where the clip is quiet (between words) when it can be.

    Cut points are the middles of runs of frames 25 dB or more below the clip's loudest frame,
    plus both ends; a random start is followed by the end nearest to ``target_s`` later.
    Without quiet runs, the clip is cut at ``target_s`` (the fade hides the edge).
    """
    if len(x) <= int(target_s * SAMPLE_RATE):
        return x
    db = _frame_db(x)
    quiet = db < db.max() - 25.0
    cuts = [0]
    start = None
    for i, q in enumerate(quiet):
        if q and start is None:
            start = i
        elif not q and start is not None:
            cuts.append((start + i) // 2 * 160)
            start = None
    cuts.append(len(x))
    cuts = sorted(set(cuts))
    target = int(target_s * SAMPLE_RATE)
    starts = [c for c in cuts[:-1] if len(x) - c >= 0.6 * target] or [0]
    a = starts[int(rng.integers(len(starts)))]
    ends = [c for c in cuts if c - a >= min(target, 0.2 * SAMPLE_RATE)]
    b = min(ends, key=lambda c: abs(c - a - target)) if ends else len(x)
    if abs(b - a - target) > 0.3 * target + 0.05 * SAMPLE_RATE:  # no quiet point near: cut (the fade hides it)
        b = min(len(x), a + target)
    piece = trim_clip(x[a:b])
    return piece if len(piece) >= int(0.1 * SAMPLE_RATE) else trim_clip(x[:target])


