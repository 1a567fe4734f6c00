"""CUDA against CPU in one process: the same results, and how much faster (run where a GPU is).

    python benchmarks/gpu.py                      # 10 min and 1 h of synthetic audio in a temp folder
    python benchmarks/gpu.py --minutes 10 --data DIR

For each file, with ``device="cpu"`` then ``device="cuda"`` (one warm-up call each first):
the paper BiLSTM's score curve (``detect_changes(model="paper")``), the default hybrid (its GE2E
re-scoring and second pass on the device too) and the sound event detector's scores. Prints wall
times, their ratio (CPU / CUDA) and the largest difference between the two devices' scores and
change times. Features are computed on the CPU either way. The audio is the speaker benchmark's
synthetic conversation (``benchmarks/run.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import make_audio  # noqa: E402


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--data", type=Path, default=None, help="folder for the generated audio (default: a temp folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--no-tf32", action="store_true", help="full float32 on the GPU (cuDNN and cuBLAS TF32 off)")
    args = parser.parse_args()
    import numpy as np
    import torch

    if args.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False

    import turnpoint
    from turnpoint.events.detect import detect_events
    from turnpoint.events.modelfile import load_event_model

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: nothing to compare")
    data = args.data or Path(tempfile.mkdtemp())
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"TF32 {'off' if args.no_tf32 else 'as torch defaults (cuDNN on, matmul off)'}")
    models = {device: (turnpoint.load_model("paper", device=device), turnpoint.load_model(None, device=device),
                       load_event_model(None, device=device)) for device in ("cpu", "cuda")}
    warm = make_audio(data / "gpu_warm.wav", 20.0, seed=3)
    for device, (paper, hybrid, events) in models.items():  # first calls load kernels and the speaker encoder
        turnpoint.detect_changes(str(warm), model=paper)
        turnpoint.detect_changes(str(warm), model=hybrid)
        detect_events(str(warm), model=events)
    rows = []
    for minutes in args.minutes:
        path = str(make_audio(data / f"gpu_{minutes:g}min.wav", minutes * 60, seed=5))
        out = {}
        for device, (paper, hybrid, events) in models.items():
            out[device] = {
                "paper": _timed(lambda: turnpoint.detect_changes(path, model=paper)),
                "hybrid": _timed(lambda: turnpoint.detect_changes(path, model=hybrid)),
                "events": _timed(lambda: detect_events(path, model=events)),
            }
        for name in ("paper", "hybrid", "events"):
            (cpu, cpu_s), (cuda, cuda_s) = out["cpu"][name], out["cuda"][name]
            scores_cpu = cpu.scores.values if name != "events" else cpu.scores
            scores_cuda = cuda.scores.values if name != "events" else cuda.scores
            if name == "events":
                same = [(round(e.onset, 2), e.label) for e in cpu.events] == [(round(e.onset, 2), e.label) for e in cuda.events]
                found = f"{len(cpu.events)} / {len(cuda.events)} events, {'same' if same else 'DIFFERENT'}"
            else:
                same = len(cpu.changes) == len(cuda.changes) and bool(np.allclose(cpu.changes, cuda.changes, atol=0.02))
                found = f"{len(cpu.changes)} / {len(cuda.changes)} changes, {'same' if same else 'DIFFERENT'}"
            row = {"audio_min": minutes, "system": name, "cpu_s": round(cpu_s, 3), "cuda_s": round(cuda_s, 3),
                   "cpu_over_cuda": round(cpu_s / cuda_s, 2), "max_score_diff": float(np.abs(scores_cpu - scores_cuda).max()),
                   "same_output": same}
            rows.append(row)
            print(f"{minutes:>5g} min {name:<7} cpu {cpu_s:8.2f} s  cuda {cuda_s:8.2f} s  ratio {cpu_s / cuda_s:6.2f}x  "
                  f"max score diff {row['max_score_diff']:.1e}  {found}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
