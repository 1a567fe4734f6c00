"""Turn-taking statistics of conversations: measured from references, stored, drawn from.

:func:`turn_statistics` measures turn lengths, pauses, overlaps and backchannels from RTTM turns
(``recipes/turn_statistics.py`` runs it on real meetings and broadcasts and writes
``turnpoint/data/turn_statistics.json``); :func:`load_turn_statistics` reads those profiles and
:func:`draw` samples them, so the simulator's ``style="real"`` conversations match real ones.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from turnpoint.core.errors import TurnpointError

STATISTICS_FILE = Path(__file__).resolve().parents[1] / "data" / "turn_statistics.json"


@functools.lru_cache(maxsize=8)
def load_turn_statistics(path: str | None = None) -> dict:
    """The profiles of measured turn-taking statistics (``recipes/turn_statistics.py``).

    Examples
    --------
    >>> profiles = load_turn_statistics()
    >>> sorted(profiles)
    ['broadcast', 'meeting']
    >>> len(profiles["meeting"]["floor_segment_s"]["quantile_function"])
    101
    """
    source = Path(path) if path else STATISTICS_FILE
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        return data["profiles"]
    except (OSError, ValueError, KeyError) as error:
        raise TurnpointError(f"not a turn statistics file ({error.__class__.__name__})", path=source) from None


def draw(rng: np.random.Generator, distribution: dict, lo: float, hi: float) -> float:
    """One value from a stored quantile function (inverse-CDF sampling), clipped to [lo, hi]."""
    qf = distribution["quantile_function"]
    value = float(np.interp(rng.uniform(0.0, 100.0), np.arange(len(qf)), qf))
    return min(max(value, lo), hi)


QUANTILE_GRID = tuple(round(q / 100, 2) for q in range(101))  # the stored quantile functions
_SUMMARY_Q = (0.1, 0.25, 0.5, 0.75, 0.9)


def _speaker_spans(turns) -> list[tuple[float, float, str]]:
    """Each speaker's speech as disjoint spans (overlapping or touching lines of one speaker merged)."""
    by_speaker: dict[str, list[tuple[float, float]]] = {}
    for turn in turns:
        start, end, speaker = (turn.start, turn.end, turn.speaker) if hasattr(turn, "speaker") else turn
        if end > start:
            by_speaker.setdefault(str(speaker), []).append((float(start), float(end)))
    spans = []
    for speaker, items in by_speaker.items():
        items.sort()
        cur_start, cur_end = items[0]
        for start, end in items[1:]:
            if start <= cur_end + 1e-6:
                cur_end = max(cur_end, end)
            else:
                spans.append((cur_start, cur_end, speaker))
                cur_start, cur_end = start, end
        spans.append((cur_start, cur_end, speaker))
    return sorted(spans)


def conversation_events(turns) -> dict[str, list[float]]:
    """Turn-taking events of one file's reference: the raw values :func:`turn_statistics` pools.

    Definitions (each speaker's overlapping or touching lines are merged first):

    * ``segment_s``: durations of the speech segments (a speaker's speech between two pauses);
    * ``backchannel_s``: segments that lie strictly inside another speaker's segment; the others are
      *floor* segments (``floor_segment_s``);
    * a *turn* is a run of consecutive floor segments of one speaker (``turn_s``,
      ``segments_per_turn``); ``within_pause_s`` are the pauses between its segments;
    * ``floor_transfer_s``: start of a turn minus the end of the previous turn (negative: an
      overlapping take-over);
    * from the set of active speakers over time: ``overlap_s`` (stretches with two or more
      speakers), ``pause_same_s`` / ``pause_change_s`` (silences with the same / another set of
      speakers on both sides) and ``change_interval_s`` (time between consecutive changes of the
      active set, a change across a pause placed in its middle);
    * ``speech_s``, ``overlap_total_s``, ``span_s`` (first speech start to last speech end),
      ``n_speakers``, ``n_changes`` are one-element lists.

    Examples
    --------
    >>> events = conversation_events([(0.0, 4.0, "A"), (1.0, 1.5, "B"), (4.5, 6.0, "A"), (5.5, 8.0, "C")])
    >>> events["backchannel_s"], events["within_pause_s"], events["floor_transfer_s"], events["overlap_s"]
    ([0.5], [0.5], [-0.5], [0.5, 0.5])
    >>> events["change_interval_s"]  # changes at 1.0, 1.5, 5.5 and 6.0 s
    [0.5, 4.0, 0.5]
    """
    spans = _speaker_spans(turns)
    events: dict[str, list[float]] = {key: [] for key in (
        "segment_s", "floor_segment_s", "backchannel_s", "turn_s", "segments_per_turn", "within_pause_s",
        "floor_transfer_s", "overlap_s", "pause_same_s", "pause_change_s", "change_interval_s")}
    if not spans:
        events.update(speech_s=[0.0], overlap_total_s=[0.0], span_s=[0.0], n_speakers=[0.0], n_changes=[0.0])
        return events
    floor = []
    for start, end, speaker in spans:
        inside = any(s < start and end < e and who != speaker for s, e, who in spans)
        events["segment_s"].append(end - start)
        (events["backchannel_s"] if inside else events["floor_segment_s"]).append(end - start)
        if not inside:
            floor.append((start, end, speaker))
    runs: list[list[tuple[float, float, str]]] = []
    for seg in floor:
        if runs and runs[-1][-1][2] == seg[2]:
            events["within_pause_s"].append(seg[0] - runs[-1][-1][1])
            runs[-1].append(seg)
        else:
            if runs:
                events["floor_transfer_s"].append(seg[0] - runs[-1][-1][1])
            runs.append([seg])
    for run in runs:
        events["turn_s"].append(run[-1][1] - run[0][0])
        events["segments_per_turn"].append(float(len(run)))
    # the active set of speakers between consecutive boundaries
    bounds = sorted({t for s, e, _ in spans for t in (s, e)})
    pieces = []  # (start, end, frozenset of speakers)
    for a, b in zip(bounds, bounds[1:]):
        mid = 0.5 * (a + b)
        active = frozenset(who for s, e, who in spans if s <= mid < e)
        if pieces and pieces[-1][2] == active:
            pieces[-1] = (pieces[-1][0], b, active)
        else:
            pieces.append((a, b, active))
    speech = sum(b - a for a, b, active in pieces if active)
    overlap = [b - a for a, b, active in pieces if len(active) >= 2]
    # adjacent pieces with >= 2 speakers but different sets are one overlap stretch
    stretches: list[float] = []
    previous_multi = False
    for a, b, active in pieces:
        multi = len(active) >= 2
        if multi and previous_multi:
            stretches[-1] += b - a
        elif multi:
            stretches.append(b - a)
        previous_multi = multi
    events["overlap_s"] = stretches
    changes = []
    voiced = [p for p in pieces if p[2]]
    for (a0, b0, s0), (a1, b1, s1) in zip(voiced, voiced[1:]):
        gap = a1 - b0
        if gap > 1e-9:
            (events["pause_same_s"] if s0 == s1 else events["pause_change_s"]).append(gap)
        if s0 != s1:
            changes.append(b0 + 0.5 * gap)
    events["change_interval_s"] = [round(b - a, 6) for a, b in zip(changes, changes[1:])]
    events.update(speech_s=[speech], overlap_total_s=[float(sum(overlap))], span_s=[spans[-1][1] - spans[0][0]],
                  n_speakers=[float(len({who for _, _, who in spans}))], n_changes=[float(len(changes))])
    return events


def _distribution(values: list[float]) -> dict:
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return {"n": 0}
    return {
        "n": int(x.size),
        "mean": round(float(x.mean()), 4),
        "quantiles": {f"{q:.2f}": round(float(np.quantile(x, q)), 4) for q in _SUMMARY_Q},
        "quantile_function": [round(float(v), 4) for v in np.quantile(x, QUANTILE_GRID)],
    }


def turn_statistics(files) -> dict:
    """Pool :func:`conversation_events` over files into distributions and rates.

    Parameters
    ----------
    files : mapping of str to sequence of Turn or (start, end, speaker)
        The reference of each file.

    Returns
    -------
    dict
        One entry per event type of :func:`conversation_events` (``n``, ``mean``, summary
        ``quantiles`` and a 101-point ``quantile_function``), and the rates: ``overlap_rate``
        (share of speech time with two or more speakers), ``overlap_transition_share`` (share of
        floor transfers that overlap), ``backchannels_per_minute`` (per minute of speech),
        ``short_segment_share`` / ``short_change_interval_share`` (under 1 s),
        ``changes_per_minute`` (per minute of span), and ``speakers_per_file``.

    Examples
    --------
    >>> stats = turn_statistics({"a": [(0.0, 4.0, "A"), (1.0, 1.5, "B"), (4.5, 6.0, "A"), (5.5, 8.0, "C")]})
    >>> stats["backchannels_per_minute"], stats["overlap_transition_share"], stats["segment_s"]["n"]
    (8.0, 1.0, 4)
    """
    pooled: dict[str, list[float]] = {}
    for turns in files.values():
        for key, values in conversation_events(turns).items():
            pooled.setdefault(key, []).extend(values)
    speech = sum(pooled["speech_s"])
    span = sum(pooled["span_s"])
    fto = np.asarray(pooled["floor_transfer_s"])
    out: dict = {"files": len(files), "speech_min": round(speech / 60, 2), "span_min": round(span / 60, 2)}
    for key in ("segment_s", "floor_segment_s", "backchannel_s", "turn_s", "segments_per_turn", "within_pause_s",
                "floor_transfer_s", "overlap_s", "pause_same_s", "pause_change_s", "change_interval_s"):
        out[key] = _distribution(pooled[key])
    seg = np.asarray(pooled["segment_s"])
    intervals = np.asarray(pooled["change_interval_s"])
    out.update(
        overlap_rate=round(sum(pooled["overlap_total_s"]) / speech, 4) if speech else 0.0,
        overlap_transition_share=round(float((fto < 0).mean()), 4) if fto.size else 0.0,
        backchannels_per_minute=round(len(pooled["backchannel_s"]) / (speech / 60), 4) if speech else 0.0,
        backchannel_share=round(len(pooled["backchannel_s"]) / max(1, seg.size), 4),
        short_segment_share=round(float((seg < 1.0).mean()), 4) if seg.size else 0.0,
        short_change_interval_share=round(float((intervals < 1.0).mean()), 4) if intervals.size else 0.0,
        changes_per_minute=round(sum(pooled["n_changes"]) / (span / 60), 4) if span else 0.0,
        speakers_per_file={str(int(k)): int(v) for k, v in zip(*np.unique(pooled["n_speakers"], return_counts=True))},
    )
    return out
