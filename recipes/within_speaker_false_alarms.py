"""False alarms inside one speaker's speech, per minute, next to speaker-change F1.

A false alarm is a hypothesis change that no reference change matches (``turnpoint evaluate``'s
matching). It is *inside one speaker's speech* when, over the whole hypothesis change interval
widened by the tolerance, exactly one reference speaker talks and nobody else: the detector split
a turn, with no pause, overlap or other speaker to excuse it.

    python recipes/within_speaker_false_alarms.py REFERENCE_DIR HYPOTHESIS_DIR [--tolerance 0.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from turnpoint.changes.annotations import read_rttm
from turnpoint.changes.change_definition import hypothesis_changes, speaker_changes
from turnpoint.changes.metrics import match_boundaries


def inside_one_speaker(interval: np.ndarray, turns, tolerance: float) -> bool:
    start, end = float(interval[0]) - tolerance, float(interval[1]) + tolerance
    covering = [t for t in turns if t.start <= start and t.end >= end]
    touching = [t for t in turns if t.end > start and t.start < end]
    return len({t.speaker for t in covering}) == 1 and len({t.speaker for t in touching}) == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("hypothesis")
    parser.add_argument("--tolerance", type=float, default=0.5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    hits = n_ref = n_hyp = inside = 0
    speech_minutes = 0.0
    for path in sorted(Path(args.reference).glob("*.rttm")):
        for uri, turns in read_rttm(path).items():
            hyp_path = Path(args.hypothesis) / f"{uri}.rttm"
            hyp_turns = read_rttm(hyp_path).get(uri, []) if hyp_path.exists() else []
            end = max([t.end for t in turns] + [t.end for t in hyp_turns] + [0.0])
            regions = [(0.0, end)]
            reference = speaker_changes(turns, regions)
            hypothesis = hypothesis_changes(hyp_turns, regions) if hyp_turns else np.zeros((0, 2))
            pairs = match_boundaries(reference, hypothesis, tolerance=args.tolerance)
            matched = {j for _, j in pairs}
            hits += len(pairs)
            n_ref += len(reference)
            n_hyp += len(hypothesis)
            inside += sum(inside_one_speaker(hypothesis[j], turns, args.tolerance) for j in range(len(hypothesis)) if j not in matched)
            speech = sorted((t.start, t.end) for t in turns)
            covered, cursor = 0.0, 0.0
            for s, e in speech:
                covered += max(0.0, e - max(s, cursor))
                cursor = max(cursor, e)
            speech_minutes += covered / 60
    precision, recall = hits / max(n_hyp, 1), hits / max(n_ref, 1)
    result = {"f1": 2 * precision * recall / max(precision + recall, 1e-12), "precision": precision, "recall": recall,
              "reference": n_ref, "detections": n_hyp, "false_alarms_inside_one_speaker": inside,
              "speech_minutes": round(speech_minutes, 2), "inside_per_minute": inside / max(speech_minutes, 1e-9)}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
