#!/usr/bin/env python
"""Where a detector succeeds and fails on simulated conversations, for the model card.

For each system (a folder of hypothesis RTTMs from ``turnpoint detect``): boundary precision /
recall / F1 at ±0.5 s on clean (SNR ≥ 25 dB) vs noisy, and wideband vs telephone-band files (read
from the simulator's ``conversations.jsonl``), and false alarms *inside* reference turns (more than
the tolerance away from any turn boundary: same-speaker pauses and clip joins) per minute of speech
against hits at true changes. Usage::

    python research/breakdown.py DATA/test_real bilstm=out_plain rescored=out_rescored
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from turnpoint.changes.annotations import read_rttm, read_uem
from turnpoint.changes.change_definition import hypothesis_changes, reference_changes  # the definitions of `turnpoint evaluate`
from turnpoint.changes.metrics import BoundaryScore, boundary_score, match_boundaries

TOLERANCE = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference", type=Path, help="folder of reference RTTMs + conversations.jsonl")
    parser.add_argument("systems", nargs="+", help="NAME=FOLDER of hypothesis RTTMs")
    args = parser.parse_args()
    infos = {json.loads(line)["uri"]: json.loads(line) for line in (args.reference / "conversations.jsonl").read_text().splitlines() if line.strip()}
    groups = {"all": lambda i: True, "clean (SNR ≥ 25 dB)": lambda i: i["snr_db"] >= 25, "noisy (SNR < 25 dB)": lambda i: i["snr_db"] < 25,
              "wideband": lambda i: not i["telephone"], "telephone band": lambda i: i["telephone"]}
    print("| system | files | precision | recall | boundary F1 | false alarms inside turns / min | hits |")
    print("|---|---|---|---|---|---|---|")
    for spec in args.systems:
        name, folder = spec.split("=", 1)
        for label, keep in groups.items():
            total, inside, speech, files = BoundaryScore(0, 0, 0), 0, 0.0, 0
            for uri, info in infos.items():
                if not keep(info):
                    continue
                turns = read_rttm(args.reference / f"{uri}.rttm")[uri]
                regions = read_uem(args.reference / f"{uri}.uem")[uri]
                reference = reference_changes(turns, regions, tolerance=TOLERANCE)
                hypothesis = hypothesis_changes(read_rttm(Path(folder) / f"{uri}.rttm")[uri], regions)
                total = total + boundary_score(reference, hypothesis, tolerance=TOLERANCE)
                matched = {j for _, j in match_boundaries(reference, hypothesis, tolerance=TOLERANCE)}
                for j, time in enumerate(hypothesis):
                    if j not in matched and any(t.start + TOLERANCE < time < t.end - TOLERANCE for t in turns):
                        inside += 1
                speech += sum(t.end - t.start for t in turns)
                files += 1
            print(f"| {name}: {label} | {files} | {total.precision:.3f} | {total.recall:.3f} | {total.f1:.3f} | "
                  f"{inside / max(speech / 60, 1e-9):.2f} | {total.hits} of {total.n_reference} |")


if __name__ == "__main__":
    main()
