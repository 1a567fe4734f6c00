"""Write a bundled speaker-pipeline model: the hybrid's networks with the dense speaker pipeline's settings.

    python recipes/choose_speaker_settings.py REAL_DEV_DIR --also SIM_VALIDATION_DIR --json choice.json
    python recipes/build_default_model.py choice.json --out src/turnpoint/models/default.safetensors

    # the same pipeline on the compact encoder: `fast`
    python recipes/choose_speaker_settings.py REAL_DEV_DIR --encoder compact --json docs/results/speaker_settings_compact.json
    python recipes/build_default_model.py docs/results/speaker_settings_compact.json --name fast --out src/turnpoint/models/fast.safetensors

The settings are the ones best on all real-dev files (``best.settings`` of the choice); the
leave-one-file-out figures are recorded beside them in the header's ``training`` section.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from turnpoint.changes.modelfile import Defaults, load_model, save_model
from turnpoint.changes.speakers import SpeakerSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("choice", help="JSON written by recipes/choose_speaker_settings.py")
    parser.add_argument("--base", default="hybrid", help="model whose networks and peak settings are kept (default: the bundled hybrid)")
    parser.add_argument("--out", required=True, help="model file to write")
    parser.add_argument("--name", default="default", help="the model's name in its header")
    args = parser.parse_args(argv)
    choice = json.loads(Path(args.choice).read_text())
    base = load_model(args.base)
    speakers = SpeakerSettings.from_dict({**choice["base"], **choice["best"]["settings"]})
    defaults = Defaults(alpha=base.defaults.alpha, min_duration=base.defaults.min_duration, alpha_scale=base.defaults.alpha_scale,
                        rescoring=base.defaults.rescoring, speakers=speakers)
    training = dict(base.training)
    training["speakers_selection"] = {
        "data": "real-dev/ami-excerpts (10 real meeting excerpts, 30 s each)"
                + (" and simulated validation conversations of the voice pool's validation people" if choice.get("second_set") else ""),
        "recipe": "recipes/choose_speaker_settings.py",
        "tolerance": choice["tolerance"],
        "grid": choice["grid"],
        "in_sample": {key: round(choice["best"][key], 4) for key in ("f1", "precision", "recall", "der")},
        "leave_one_file_out": {key: round(choice["leave_one_file_out"][key], 4) for key in ("f1", "precision", "recall", "der")},
    }
    if choice.get("second_set"):
        training["speakers_selection"]["second_set"] = {key: round(choice["second_set"][key], 4) for key in ("f1", "precision", "recall", "der")}
    save_model(args.out, model=base.model, specifications=base.specifications, defaults=defaults, training=training, name=args.name)
    print(f"wrote {args.out}: {speakers.to_dict()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
