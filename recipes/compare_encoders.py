"""The default detector with GE2E against the compact encoder, on the same files, with a paired bootstrap.

Each folder's files are embedded once per encoder; GE2E runs the bundled default's speaker
settings, the compact encoder the settings a ``choose_speaker_settings.py --encoder compact``
result file chose (its ``best`` point) or the default's. Prints pooled speaker-change P/R/F1 and
DER per encoder, and the 95 % paired bootstrap interval (files resampled) of F1(compact) - F1(GE2E).

    python recipes/compare_encoders.py REAL_DEV SIM_TEST --compact-settings docs/results/speaker_settings_compact.json \
        --json docs/results/encoder_comparison.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np

from turnpoint.changes.modelfile import load_model

_spec = importlib.util.spec_from_file_location("choose_speaker_settings", Path(__file__).with_name("choose_speaker_settings.py"))
choose = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(choose)


def bootstrap_difference(first: dict[str, dict], second: dict[str, dict], *, repeats: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of pooled F1(second) - F1(first) over files drawn with replacement."""
    uris = sorted(first)
    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(repeats):
        drawn = [uris[i] for i in rng.integers(0, len(uris), len(uris))]
        differences.append(choose.pooled(second, drawn)["f1"] - choose.pooled(first, drawn)["f1"])
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders of audio + RTTM (+ UEM)")
    parser.add_argument("--compact-settings", default=None, help="a choose_speaker_settings.py --encoder compact result (JSON)")
    parser.add_argument("--tolerance", type=float, default=0.5)
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ge2e = load_model("default").defaults.speakers
    compact = ge2e.with_encoder("compact")
    if args.compact_settings:
        chosen = json.loads(Path(args.compact_settings).read_text())
        compact = compact.with_overrides(**chosen["best"]["settings"])
    report = {"tolerance": args.tolerance, "ge2e": ge2e.to_dict(), "compact": compact.to_dict(), "folders": {}}
    for folder in args.folders:
        per_encoder = {}
        for name, settings in (("ge2e", ge2e), ("compact", compact)):
            files = choose.load_files(folder, settings)
            per_encoder[name] = choose.score_files(files, settings, tolerance=args.tolerance)
        uris = sorted(per_encoder["ge2e"])
        low, high = bootstrap_difference(per_encoder["ge2e"], per_encoder["compact"])
        entry = {name: choose.pooled(scores, uris) for name, scores in per_encoder.items()}
        entry["f1_difference_95"] = [low, high]
        report["folders"][Path(folder).name] = entry
        for name in ("ge2e", "compact"):
            r = entry[name]
            logging.info("%s %-8s F1 %.3f (P %.3f R %.3f, %d detections of %d)  DER %.3f",
                         Path(folder).name, name, r["f1"], r["precision"], r["recall"], r["detections"], r["reference"], r["der"])
        logging.info("%s F1(compact) - F1(ge2e): 95 %% interval [%.3f, %.3f]", Path(folder).name, low, high)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
