"""Each ensemble member's score for one class over time spans of one file: where do the networks disagree?

    python research/probe_members.py src/turnpoint/examples/events_example.flac --label beep --span 0.828 1.288 --span 1.298 1.768

prints, per span, the peak and mean score of the ensemble and of every member (a single network is
its own only member).
"""

from __future__ import annotations

import argparse

import numpy as np

from turnpoint.events.inference import score_event_file
from turnpoint.events.modelfile import load_event_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio")
    parser.add_argument("--model", default=None, help="event model file or bundled name (default: the bundled model)")
    parser.add_argument("--label", required=True, help="the class whose scores are shown")
    parser.add_argument("--span", nargs=2, type=float, action="append", required=True, metavar=("START", "END"), help="seconds; repeat for more")
    args = parser.parse_args()
    loaded = load_event_model(args.model)
    if args.label not in loaded.classes:
        parser.error(f"unknown class {args.label!r} (the model's: {', '.join(loaded.classes)})")
    column = loaded.classes.index(args.label)
    networks = [("ensemble", loaded.model)] + [(f"member {i}", m) for i, m in enumerate(getattr(loaded.model, "members", []))]
    print("network      " + "  ".join(f"{start:.2f}-{end:.2f} s: peak / mean" for start, end in args.span))
    for name, network in networks:
        scores = score_event_file(args.audio, model=network, specifications=loaded.specifications)
        times = np.arange(len(scores.values)) * scores.frame_step
        cells = []
        for start, end in args.span:
            inside = scores.values[(times >= start) & (times < end), column]
            cells.append(f"{inside.max():.2f} / {inside.mean():.2f}" if len(inside) else "(no frames)")
        print(f"{name:12s} " + "  ".join(f"{cell:>26s}" for cell in cells))


if __name__ == "__main__":
    main()
