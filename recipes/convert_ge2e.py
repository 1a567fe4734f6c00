"""Convert Resemblyzer's pretrained GE2E encoder into turnpoint's bundled safetensors file.

    python recipes/convert_ge2e.py [--source .../resemblyzer/pretrained.pt] [--output src/turnpoint/models/ge2e.safetensors]

Reads ``pretrained.pt`` from the installed resemblyzer package (``pip install resemblyzer``; only
needed for this conversion) with ``torch.load(weights_only=True)``, keeps the encoder weights
(``lstm.*``, ``linear.*``; not the GE2E similarity scale/bias nor the optimizer state), and writes
them as float16 with a JSON header (see :func:`turnpoint.changes.speaker_encoder.save_speaker_encoder`).
The result is checked by loading it back through :func:`turnpoint.changes.speaker_encoder.read_speaker_encoder`.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path

import torch

from turnpoint.changes.speaker_encoder import SpeakerEncoder, SpeakerEncoderConfig, read_speaker_encoder, save_speaker_encoder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "src" / "turnpoint" / "models" / "ge2e.safetensors"
LICENCE = "Apache-2.0, Resemble AI (Resemblyzer, https://github.com/resemble-ai/Resemblyzer); see GE2E_LICENSE.txt"
REFERENCE = "Wan, Wang, Papir & Lopez Moreno, Generalized End-to-End Loss for Speaker Verification, ICASSP 2018"
KEPT_PREFIXES = ("lstm.", "linear.")


def resemblyzer_checkpoint() -> Path:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or spec.origin is None:
        sys.exit("resemblyzer is not installed (pip install resemblyzer), or pass --source .../pretrained.pt")
    return Path(spec.origin).parent / "pretrained.pt"


def resemblyzer_version() -> str:
    try:
        return importlib.metadata.version("resemblyzer")
    except importlib.metadata.PackageNotFoundError:
        return "0.1.x"


def convert(source: Path, output: Path) -> dict:
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    state = checkpoint["model_state"] if isinstance(checkpoint, dict) and "model_state" in checkpoint else checkpoint
    weights = {key: value for key, value in state.items() if key.startswith(KEPT_PREFIXES)}
    dropped = sorted(set(state) - set(weights))
    encoder = SpeakerEncoder(SpeakerEncoderConfig())
    encoder.load_state_dict(weights, strict=True)  # names and shapes must match exactly
    largest = max(float(value.abs().max()) for value in weights.values())
    if largest >= torch.finfo(torch.float16).max:
        sys.exit(f"a weight of magnitude {largest} does not fit in float16")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    save_speaker_encoder(
        output,
        encoder=encoder,
        dtype=torch.float16,
        source=f"resemblyzer {resemblyzer_version()} pretrained.pt",
        licence=LICENCE,
        extra={
            "name": "ge2e",
            "source_sha256": digest,
            "source_step": int(checkpoint.get("step", -1)) if isinstance(checkpoint, dict) else -1,
            "reference": REFERENCE,
            "embedding": "L2-normalised ReLU(linear(final hidden state of the last LSTM layer))",
        },
    )
    reloaded = read_speaker_encoder(output)
    error = max(float((reloaded.state_dict()[key] - value).abs().max()) for key, value in weights.items())
    return {"kept": sorted(weights), "dropped": dropped, "max_weight_rounding": error, "bytes": output.stat().st_size}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="resemblyzer's pretrained.pt (default: the installed package's)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="safetensors file to write")
    args = parser.parse_args(argv)
    source = args.source or resemblyzer_checkpoint()
    if not source.is_file():
        sys.exit(f"{source}: no such file")
    report = convert(source, args.output)
    print(f"{args.output}: {report['bytes']} bytes, {len(report['kept'])} tensors as float16 "
          f"(largest rounding {report['max_weight_rounding']:.2e}); left out: {', '.join(report['dropped'])}")


if __name__ == "__main__":
    main()
