"""The bundled detectors side by side: default (speaker pipeline on GE2E), fast (the same on the
compact encoder), hybrid and paper, same audio, same run.

    python benchmarks/detectors.py [--minutes 5] [--repeat 3] [--json benchmarks/detectors.json]

The audio is the bundled two-speaker example repeated to the asked length. Each detector runs
in this process after one warm-up run on the example; the figure is the median wall time of
``--repeat`` runs, as × real time, with the ratio to the paper path measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import turnpoint
from turnpoint.core.audio import load_audio
from turnpoint.changes.modelfile import load_model

#: name: (bundled model, detect_changes options)
DETECTORS = {
    "default": ("default", {}),
    "fast (the default on the compact encoder)": ("fast", {}),
    "hybrid": ("hybrid", {}),
    "paper": ("paper", {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    example = load_audio(turnpoint.example_path())
    copies = int(np.ceil(args.minutes * 60 * 16000 / len(example)))
    audio = np.tile(example, copies)[: int(args.minutes * 60 * 16000)]
    seconds = len(audio) / 16000
    results = {}
    for name, (model, options) in DETECTORS.items():
        loaded = load_model(model)
        turnpoint.detect_changes(example, model=loaded, **options)  # warm-up: encoder and VAD loaded, graphs built
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            detection = turnpoint.detect_changes(audio, model=loaded, **options)
            times.append(time.perf_counter() - start)
        wall = statistics.median(times)
        results[name] = {"wall_s": round(wall, 3), "x_real_time": round(seconds / wall, 1), "changes": len(detection.changes)}
        print(f"{name:42s} {seconds / wall:8.1f}x real time ({wall:.2f} s for {seconds / 60:.1f} min), {len(detection.changes)} changes")
    for name in DETECTORS:
        results[name]["paper_speed_ratio"] = round(results["paper"]["wall_s"] / results[name]["wall_s"], 4)
    report = {"audio_seconds": seconds, "repeat": args.repeat, "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
              "detectors": results}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
