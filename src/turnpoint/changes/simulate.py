"""Simulated conversations from single-speaker voice pools, with exact speaker turns.

A voice pool is a folder ``voices_dir/<speaker_id>/*.wav`` of single-speaker clips, speaker ids
``<engine>_<voice>`` (:mod:`turnpoint.changes.voice_pool` reads it and splits it by person).

Design (so that a change detector cannot succeed by finding clip edges, pauses, levels or
bandwidth instead of voices):

* 2-4 speakers per conversation, never the same speaker twice in a row. A *turn* is 1-4
  clips of one speaker separated by pauses drawn from the same distribution as the gaps
  between turns; a few turn gaps are short overlaps (up to 0.5 s).
* Speakers are often drawn from the same engine (two espeak or two flite voices), engines are
  mixed, and real recorded voices are included in some conversations.
* Every clip gets a 10-30 ms fade in/out and a gain jitter of +-3 dB; every speaker a gain of
  +-6 dB, a gentle first-order tilt/low-pass EQ and, for half of the wideband speakers, a random
  steep low-pass (4-7.8 kHz), so that bandwidth does not identify a voice (speed-perturbed
  copies have less bandwidth than their source); in some conversations wideband speakers are
  band-limited to the telephone band, and ~40 % of conversations are band-limited as a whole.
* A continuous background (white/pink/brown noise at 10-40 dB SNR, sometimes mains hum,
  sometimes soft tonal "music") runs under the whole file: there is never digital silence.
* Optional (off by default, so the shipped models' data is reproduced byte for byte):
  ``reverb_p`` puts a speaker in a synthetic room (exponential-decay impulse response, RT60
  0.2-0.8 s, direct-to-reverberant ratio 0-12 dB), the same room for all its clips;
  ``channel_variation_p`` gives a speaker a second channel (another EQ, gain within +-4 dB,
  maybe another room) used on about half of its clips — a change of channel that is not a
  change of speaker. ``turnpoint simulate --reverb P --channel-variation P``.

The reference RTTM has one line per turn (first clip start to last clip end), so the pauses
inside a turn are not boundaries; ``info["clips"]`` (and ``conversations.jsonl``) lists where
every clip went. Everything is reproducible from ``seed``.

``SimulationConfig(style="real")`` replaces the turn taking above (the channel, noise and level
design stay) by one drawn from statistics measured on real references (``data/turn_statistics.json``,
made by ``recipes/turn_statistics.py`` from AMI meetings and VoxConverse broadcasts; profile
``meeting`` or ``broadcast`` per conversation): segment durations (clips cut between words when a
segment is shorter than a clip, several clips joined when it is longer), several segments per turn
with the measured pauses, floor-transfer offsets with overlapping take-overs, and backchannels
inside another speaker's segment at the measured rate. Its RTTM has one line per segment, where
the audio is (pauses split lines, overlaps overlap). :func:`turn_statistics` measures real and
simulated references the same way. The default style stays ``"legacy"``, which reproduces the
shipped models' data byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from turnpoint.changes.annotations import Turn, write_rttm, write_uem
from turnpoint.changes.channels import coloured_noise, mains_hum, music_bed, random_channel, telephone_band, varied_channel
from turnpoint.changes.turn_taking import draw, load_turn_statistics
from turnpoint.changes.voice_pool import Voice, fragment_clip, load_clip, load_voice_pool, trim_clip
from turnpoint.core.signal import SAMPLE_RATE, active_rms, fade

SR = SAMPLE_RATE

__all__ = [
    "SimulationConfig",
    "simulate_conversation",
    "simulate_conversations",
    "simulate_voice_conversations",
]


@dataclass
class SimulationConfig:
    """Random distributions of the simulator (all ranges are uniform unless stated)."""

    n_speakers_p: tuple[float, ...] = (0.5, 0.3, 0.2)  # P(2), P(3), P(4) speakers
    clips_per_turn_p: tuple[float, ...] = (0.4, 0.3, 0.18, 0.12)  # P(1..4 clips)
    pause_s: tuple[float, float] = (0.05, 0.8)  # pauses, inside AND between turns
    long_pause_p: float = 0.12  # same for both: occasional longer pause
    long_pause_s: tuple[float, float] = (0.8, 1.6)
    overlap_p: float = 0.12  # a turn gap that is an overlap instead
    overlap_s: tuple[float, float] = (0.05, 0.5)
    same_engine_p: float = 0.55  # conversation built around two voices of one engine
    real_voice_p: float = 0.45  # include at least one real voice (if any available)
    fade_s: tuple[float, float] = (0.010, 0.030)
    clip_gain_db: float = 3.0  # +- jitter per clip
    speaker_gain_db: float = 6.0  # +- per speaker
    snr_db: tuple[float, float] = (10.0, 40.0)
    hum_p: float = 0.2
    music_p: float = 0.2
    telephone_p: float = 0.4  # whole conversation band-limited to 300-3400 Hz
    speaker_bandlimit_p: float = 0.3  # conversations where wideband speakers may be band-limited
    eq_p: float = 0.8  # per-speaker random first-order EQ
    reverb_p: float = 0.0  # speaker in a room: a synthetic impulse response, the same for all its clips
    reverb_rt60_s: tuple[float, float] = (0.2, 0.8)
    reverb_drr_db: tuple[float, float] = (0.0, 12.0)  # direct-to-reverberant ratio
    channel_variation_p: float = 0.0  # speaker with a second channel (EQ, gain, room), half its clips: a non-change
    band_cap_p: float = 0.5  # wideband speaker gets a random steep low-pass (bandwidth != identity)
    band_cap_hz: tuple[float, float] = (4000.0, 7800.0)
    lead_s: tuple[float, float] = (0.2, 1.5)  # background before the first / after the last turn
    target_rms_db: float = -24.0  # clips are levelled to this before gains
    # style="real": turn taking drawn from measured statistics (turn_statistics.json); the fields
    # above that shape turns (clips_per_turn_p, pause_s, long_pause_*, overlap_*) are then unused.
    style: str = "legacy"  # "legacy" (the shipped models' data) or "real"
    statistics: str | None = None  # JSON of recipes/turn_statistics.py (default: the bundled one)
    profile_p: tuple[tuple[str, float], ...] = (("meeting", 0.7), ("broadcast", 0.3))
    max_pause_s: float = 3.0  # longer measured pauses (people reading, leaving the room) are cut here
    min_segment_s: float = 0.2
    max_segment_s: float = 12.0
    max_segments_per_turn: int = 8
    backchannel_scale: float = 1.0  # x the measured backchannel rate
    join_gap_s: tuple[float, float] = (0.0, 0.05)  # silence between two clips joined inside one segment


# ---------------------------------------------------------------------------------------------
# one conversation


def _pick_speakers(rng: np.random.Generator, pool: dict[str, Voice], n: int, cfg: SimulationConfig) -> list[str]:
    names = sorted(pool)
    chosen: list[str] = []
    persons: set[str] = set()

    def ok(s: str) -> bool:
        return s not in chosen and pool[s].person not in persons

    def add(s: str) -> None:
        chosen.append(s)
        persons.add(pool[s].person)

    by_engine: dict[str, list[str]] = {}
    for s in names:
        by_engine.setdefault(pool[s].engine, []).append(s)
    multi = sorted(e for e, v in by_engine.items() if len({pool[s].person for s in v}) >= 2)
    if multi and rng.random() < cfg.same_engine_p:
        eng = multi[rng.integers(len(multi))]
        cands = list(by_engine[eng])
        rng.shuffle(cands)
        for s in cands:
            if len(chosen) < min(2, n) and ok(s):
                add(s)
    reals = [s for s in names if pool[s].kind == "real"]
    if reals and len(chosen) < n and rng.random() < cfg.real_voice_p:
        cands = [s for s in reals if ok(s)]
        if cands:
            add(cands[rng.integers(len(cands))])
    rest = list(names)
    rng.shuffle(rest)
    for s in rest:
        if len(chosen) >= n:
            break
        if ok(s):
            add(s)
    rng.shuffle(chosen)
    return chosen


def _gap(rng: np.random.Generator, cfg: SimulationConfig) -> float:
    if rng.random() < cfg.long_pause_p:
        return float(rng.uniform(*cfg.long_pause_s))
    return float(rng.uniform(*cfg.pause_s))


def simulate_conversation(
    pool: dict[str, Voice],
    duration_s: float,
    rng: np.random.Generator,
    cfg: SimulationConfig | None = None,
) -> tuple[np.ndarray, list[tuple[float, float, str]], dict]:
    """Return (waveform at 16 kHz, turns [(start, end, speaker)], info) for one conversation."""
    cfg = cfg or SimulationConfig()
    n_persons = len({v.person for v in pool.values()})
    max_n = min(len(cfg.n_speakers_p) + 1, n_persons)
    if max_n < 2:
        raise ValueError("a conversation needs at least two distinct speakers in the pool")
    p = np.asarray(cfg.n_speakers_p[: max_n - 1], dtype=float)
    n_spk = 2 + int(rng.choice(len(p), p=p / p.sum()))
    speakers = _pick_speakers(rng, pool, n_spk, cfg)

    band_spk = rng.random() < cfg.speaker_bandlimit_p
    channels = {}
    for s in speakers:
        bl = band_spk and pool[s].kind != "real" and rng.random() < 0.5
        channels[s] = random_channel(rng, cfg, bl, wideband=pool[s].kind != "real")
    variants = {}  # speakers heard through a second channel on about half of their clips
    if cfg.channel_variation_p > 0:
        for s in speakers:
            if rng.random() < cfg.channel_variation_p:
                variants[s] = varied_channel(rng, cfg, channels[s])
    # per speaker: a shuffled queue of clips (no repeats until exhausted)
    queues = {s: list(rng.permutation(len(pool[s].files))) for s in speakers}

    def next_clip(s: str) -> Path:
        if not queues[s]:
            queues[s] = list(rng.permutation(len(pool[s].files)))
        return pool[s].files[queues[s].pop()]

    if cfg.style == "real":
        placed, clips, turns, t, extra_info = _place_real(pool, speakers, channels, variants, next_clip, duration_s, rng, cfg)
        return _render(placed, clips, turns, t, speakers, channels, variants, rng, cfg, extra_info)
    if cfg.style != "legacy":
        raise ValueError(f"unknown simulation style {cfg.style!r} (legacy or real)")
    # turn-taking weights: conversational partners reply more to the previous speaker
    placed: list[tuple[int, np.ndarray]] = []  # (start sample, audio)
    clips: list[tuple[float, float, str]] = []  # where each clip went: (start, end, speaker)
    turns: list[tuple[float, float, str]] = []
    t = float(rng.uniform(*cfg.lead_s))
    prev: str | None = None
    prevprev: str | None = None
    cp = np.asarray(cfg.clips_per_turn_p, dtype=float)
    while t < duration_s:
        others = [s for s in speakers if s != prev]
        w = np.array([3.0 if s == prevprev else 1.0 for s in others])
        spk = others[int(rng.choice(len(others), p=w / w.sum()))]
        if prev is not None:
            if rng.random() < cfg.overlap_p:
                t = max(turns[-1][0] + 0.3, t - float(rng.uniform(*cfg.overlap_s)))
            else:
                t += _gap(rng, cfg)
        k = 1 + int(rng.choice(len(cp), p=cp / cp.sum()))
        first = None  # the turn starts where its first clip does (a too-short clip is skipped)
        for j in range(k):
            if j > 0:
                t += _gap(rng, cfg)
            x = load_clip(next_clip(spk))
            if len(x) < int(0.2 * SR):
                continue
            x = x * (10 ** (cfg.target_rms_db / 20) / active_rms(x))
            ch = variants[spk] if spk in variants and rng.random() < 0.5 else channels[spk]
            x = x * 10 ** ((ch.gain_db + rng.uniform(-cfg.clip_gain_db, cfg.clip_gain_db)) / 20)
            x = ch.apply(x, rng)
            x = fade(x, int(rng.uniform(*cfg.fade_s) * SR), int(rng.uniform(*cfg.fade_s) * SR))
            s0 = int(round(t * SR))
            placed.append((s0, x))
            clips.append((round(s0 / SR, 4), round((s0 + len(x)) / SR, 4), spk))
            first = s0 / SR if first is None else first
            t = last = s0 / SR + len(x) / SR
        if first is None:
            continue
        t = last  # a skipped clip at the end leaves no pause inside the turn either
        turns.append((first, t, spk))
        prevprev, prev = prev, spk
    return _render(placed, clips, turns, t, speakers, channels, variants, rng, cfg, {})


def _union_length(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, -math.inf
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _place_real(pool, speakers, channels, variants, next_clip, duration_s, rng, cfg):
    """Turn taking drawn from measured statistics: segments, pauses, overlaps and backchannels.

    A turn is 1-``max_segments_per_turn`` segments of one speaker (the measured distribution of
    segments per turn), separated by the measured pauses inside turns; each segment has a measured
    duration and is made of one clip, a fragment of a clip cut between words, or several clips
    joined with at most ``join_gap_s`` of silence. The next turn starts at the measured
    floor-transfer offset from the end of the previous one (negative: the speakers overlap).
    Backchannels (short segments of another speaker strictly inside a segment) come at the measured
    rate. The reference has one line per segment, exactly where its audio is.
    """
    profiles = load_turn_statistics(cfg.statistics)
    names = [name for name, _ in cfg.profile_p]
    weights = np.asarray([w for _, w in cfg.profile_p], dtype=float)
    profile_name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    stats = profiles[profile_name]
    placed: list[tuple[int, np.ndarray]] = []
    clips: list[tuple[float, float, str]] = []
    segments: list[tuple[float, float, str]] = []

    def render_piece(spk: str, x: np.ndarray) -> np.ndarray:
        x = x * (10 ** (cfg.target_rms_db / 20) / active_rms(x))
        ch = variants[spk] if spk in variants and rng.random() < 0.5 else channels[spk]
        x = x * 10 ** ((ch.gain_db + rng.uniform(-cfg.clip_gain_db, cfg.clip_gain_db)) / 20)
        x = ch.apply(x, rng)
        return fade(x, int(rng.uniform(*cfg.fade_s) * SR), int(rng.uniform(*cfg.fade_s) * SR))

    def segment_audio(spk: str, target_s: float) -> list[tuple[int, np.ndarray]]:
        """Pieces (offset in samples, audio) of one continuous segment of about ``target_s``."""
        pieces: list[tuple[int, np.ndarray]] = []
        pos = 0
        for _ in range(12):
            remaining = target_s - pos / SR
            if pieces and remaining < 0.15:
                break
            x = trim_clip(load_clip(next_clip(spk)))
            if len(x) < int(0.1 * SR):
                continue
            if len(x) / SR > remaining + 0.15:
                x = fragment_clip(x, max(remaining, cfg.min_segment_s), rng)
            if pieces:
                pos += int(rng.uniform(*cfg.join_gap_s) * SR)
            pieces.append((pos, render_piece(spk, x)))
            pos += len(pieces[-1][1])
        return pieces

    def place(spk: str, start: float, pieces: list[tuple[int, np.ndarray]]) -> tuple[float, float]:
        s0 = int(round(start * SR))
        for offset, x in pieces:
            placed.append((s0 + offset, x))
            clips.append((round((s0 + offset) / SR, 4), round((s0 + offset + len(x)) / SR, 4), spk))
        end = (s0 + pieces[-1][0] + len(pieces[-1][1])) / SR
        segments.append((s0 / SR, end, spk))
        return s0 / SR, end

    cp_max = cfg.max_segments_per_turn
    t = float(rng.uniform(*cfg.lead_s))
    prev: str | None = None
    prevprev: str | None = None
    last_segment: tuple[float, float] | None = None
    floor_end = t
    while floor_end < duration_s:
        others = [s for s in speakers if s != prev]
        w = np.array([3.0 if s == prevprev else 1.0 for s in others])
        spk = others[int(rng.choice(len(others), p=w / w.sum()))]
        k = int(round(draw(rng, stats["segments_per_turn"], 1, cp_max)))
        offset = draw(rng, stats["floor_transfer_s"], -cfg.max_pause_s, cfg.max_pause_s)
        first_target = draw(rng, stats["floor_segment_s"], cfg.min_segment_s, cfg.max_segment_s)
        if last_segment is not None and offset < 0:
            # a long overlapping take-over needs a segment that outlasts it (else it is a backchannel)
            first_target = min(cfg.max_segment_s, max(first_target, -offset / 0.8))
        pieces = segment_audio(spk, first_target)
        if not pieces:
            continue
        length = (pieces[-1][0] + len(pieces[-1][1])) / SR
        if last_segment is None:
            start = t
        else:
            # an overlapping start stays a take-over: after the previous segment's start, and
            # ending after it (otherwise it would be a backchannel)
            earliest = max(last_segment[0] + 0.2, last_segment[1] - 0.9 * length)
            own = [e for _, e, who in segments if who == spk]
            start = max(floor_end + offset, earliest, (max(own) + 0.1) if own else 0.0)
        _, end = place(spk, start, pieces)
        last_segment = (start, end)
        for _ in range(k - 1):
            start = end + draw(rng, stats["within_pause_s"], 0.1, cfg.max_pause_s)
            pieces = segment_audio(spk, draw(rng, stats["floor_segment_s"], cfg.min_segment_s, cfg.max_segment_s))
            if not pieces:
                break
            _, end = place(spk, start, pieces)
            last_segment = (start, end)
        floor_end = max(floor_end, end)
        prevprev, prev = prev, spk

    # backchannels: short segments of another speaker strictly inside a floor segment, as many
    # as the measured rate per minute of speech gives (drawn on the floor segments by their room)
    rate = cfg.backchannel_scale * stats["backchannels_per_minute"] / 60.0
    floor = list(segments)
    rooms = np.array([max(0.0, e - s - 0.6) for s, e, _ in floor])
    wanted = int(rng.poisson(rate * _union_length([(s, e) for s, e, _ in floor])))
    n_backchannels = 0
    attempts = 0
    while n_backchannels < wanted and attempts < 4 * wanted and len(speakers) > 1 and rooms.sum() > 0:
        attempts += 1
        seg_start, seg_end, owner = floor[int(rng.choice(len(floor), p=rooms / rooms.sum()))]
        room = seg_end - seg_start - 0.6
        if room < 0.3:
            continue
        listeners = [x for x in speakers if x != owner]
        who = listeners[int(rng.integers(len(listeners)))]
        pieces = segment_audio(who, draw(rng, stats["backchannel_s"], cfg.min_segment_s, min(1.5, room)))
        if not pieces:
            continue
        length = (pieces[-1][0] + len(pieces[-1][1])) / SR
        if length > room:
            continue
        # max(): a backchannel that exactly fills the room leaves a range rounding can make negative
        start = float(rng.uniform(seg_start + 0.3, max(seg_start + 0.3, seg_end - 0.3 - length)))
        if any(s < start + length + 0.1 and start - 0.1 < e for s, e, x in segments if x == who):
            continue  # the listener is talking then already
        place(who, start, pieces)
        n_backchannels += 1
    turns = sorted(segments)
    return placed, clips, turns, max(e for _, e, _ in turns), {
        "style": "real", "profile": profile_name, "n_backchannels": n_backchannels}


def _render(placed, clips, turns, t, speakers, channels, variants, rng, cfg, extra_info):
    """Mix the placed clips, add the background and the channel; the part shared by both styles."""
    total = t + float(rng.uniform(*cfg.lead_s))
    n = int(math.ceil(total * SR))
    speech = np.zeros(n, dtype=np.float32)
    for s0, x in placed:
        speech[s0 : s0 + len(x)] += x[: n - s0]
    # exact turn bounds from the placed samples
    turns = [(round(a, 3), round(b, 3), s) for a, b, s in turns]

    # background: noise (+hum, +music) at a random SNR w.r.t. the speech level
    speech_rms = 10 ** (cfg.target_rms_db / 20)
    snr = float(rng.uniform(*cfg.snr_db))
    colour = str(rng.choice(["white", "pink", "brown"], p=[0.3, 0.4, 0.3]))
    bg = coloured_noise(rng, n, colour)
    extras = []
    if rng.random() < cfg.hum_p:
        bg = bg + mains_hum(rng, n) * float(rng.uniform(0.3, 1.5))
        extras.append("hum")
    if rng.random() < cfg.music_p:
        bg = bg + music_bed(rng, n) * float(rng.uniform(0.5, 2.0))
        extras.append("music")
    bg = bg / (np.std(bg) + 1e-12) * speech_rms * 10 ** (-snr / 20)
    y = speech + bg.astype(np.float32)
    telephone = rng.random() < cfg.telephone_p
    if telephone:
        y = telephone_band(y, rng)
    peak = float(np.max(np.abs(y))) + 1e-9
    y = y * (float(rng.uniform(0.3, 0.9)) / peak)
    info = {
        "speakers": speakers,
        "snr_db": round(snr, 1),
        "noise": colour,
        "extras": extras,
        "telephone": telephone,
        "bandlimited_speakers": [s for s in speakers if channels[s].telephone],
        "reverberant_speakers": [s for s in speakers if channels[s].room is not None],
        "varied_speakers": [s for s in speakers if s in variants],
        "clips": clips,
        "duration_s": round(n / SR, 3),
        **extra_info,
    }
    return y.astype(np.float32), turns, info


# ---------------------------------------------------------------------------------------------
# many conversations


def simulate_conversations(
    voices_dir: str | Path,
    out_dir: str | Path,
    *,
    speakers: list[str],
    n_conversations: int,
    duration_s: tuple[float, float] = (60.0, 180.0),
    seed: int = 0,
    prefix: str = "sim",
    config: SimulationConfig | None = None,
    verbose: bool = False,
) -> list[dict]:
    """Write ``n_conversations`` simulated conversations to ``out_dir``.

    Each conversation gives ``<uri>.wav`` (16 kHz mono PCM16), ``<uri>.rttm`` (one line per
    turn) and ``<uri>.uem`` (whole file). Conversation ``i`` depends only on ``(seed, i)`` and
    the voice pool, so the output is reproducible. Returns one info dict per conversation
    (also written to ``out_dir/conversations.jsonl``).
    """
    cfg = config or SimulationConfig()
    pool = load_voice_pool(voices_dir, speakers)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    infos = []
    for i in range(n_conversations):
        rng = np.random.default_rng([seed, i])
        dur = float(rng.uniform(*duration_s))
        y, turns, info = simulate_conversation(pool, dur, rng, cfg)
        uri = f"{prefix}_{seed}_{i:04d}"
        sf.write(str(out_dir / f"{uri}.wav"), y, SR, subtype="PCM_16")
        write_rttm(out_dir / f"{uri}.rttm", {uri: [Turn(start=a, end=b, speaker=s) for a, b, s in sorted(turns)]})
        write_uem(out_dir / f"{uri}.uem", {uri: [(0.0, len(y) / SR)]})
        info = {"uri": uri, "n_turns": len(turns), **info}
        infos.append(info)
        if verbose:
            print(f"  {uri}: {info['duration_s']:.0f}s {len(turns)} turns {info['speakers']}", flush=True)
    with open(out_dir / "conversations.jsonl", "w") as f:
        for info in infos:
            f.write(json.dumps(info) + "\n")
    return infos


def simulate_voice_conversations(
    voices_dir: str | Path,
    out_dir: str | Path,
    *,
    n_conversations: int,
    duration_s: tuple[float, float] = (60.0, 180.0),
    speakers: list[str] | None = None,
    seed: int = 0,
    config: SimulationConfig | None = None,
) -> list[dict]:
    """:func:`simulate_conversations` over every speaker folder of ``voices_dir`` (or ``speakers``).

    Bad input (a missing folder, a speaker without clips, fewer than two speakers, an empty
    duration range) is a one-line :class:`~turnpoint.core.errors.TurnpointError`.

    Examples
    --------
    >>> # simulate_voice_conversations("voices/", "sim/", n_conversations=20, seed=1)
    """
    from turnpoint.core.errors import TurnpointError

    voices_dir = Path(voices_dir)
    if not voices_dir.is_dir():
        raise TurnpointError("no such folder of voices", path=voices_dir)
    if not 0 < duration_s[0] <= duration_s[1]:
        raise TurnpointError(f"durations must satisfy 0 < min <= max, not {duration_s}")
    if n_conversations < 1:
        raise TurnpointError("need at least one conversation")
    names = speakers if speakers is not None else sorted(p.name for p in voices_dir.iterdir() if p.is_dir())
    if len(names) < 2:
        raise TurnpointError("need at least two speaker folders", path=voices_dir)
    try:
        return simulate_conversations(voices_dir, out_dir, speakers=names, n_conversations=n_conversations, duration_s=duration_s, seed=seed,
                                      config=config)
    except FileNotFoundError as error:
        raise TurnpointError(str(error), path=voices_dir) from None
