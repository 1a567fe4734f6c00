"""Sound event detection: speed and peak memory of ``detect_events`` (streamed) against the whole-file path.

    python benchmarks/events.py                    # 10 min and 1 h of audio, ~3 min on 2 cores
    python benchmarks/events.py --minutes 10 60 180 --data DIR
    python benchmarks/events.py --minutes 60 --model ENSEMBLE --peer-model default   # cost of an ensemble

``streamed``  what ``turnpoint events`` runs: ``turnpoint.events.detect_events`` reads the file in
    60 s blocks (``score_event_file``: streamed features, windows scored as they complete).
``whole file (peer)``  the path it replaced, run in the same script: the whole file decoded
    (``load_audio``), featurised (``event_features``) and scored (``score_event_features``), then
    decoded into events the same way.

Each run is a fresh subprocess with one torch thread, so its peak RSS (``ru_maxrss``) is its own;
the audio is the speaker benchmark's synthetic conversation (``benchmarks/run.py``), written to
``--data`` (default ``$TURNPOINT_DATA/bench``), never into the repository. The script checks that both
paths give the same events and prints the ratios (time and memory, whole file / streamed).
``--model`` picks the model file (default: the bundled one); ``--peer-model`` adds a streamed run
with a second model and prints the time and memory ratios of the two (e.g. an ensemble against one network).
``--threads-peer`` adds a streamed run that leaves torch and OpenMP their own thread counts (what
file scoring did before streaming) and prints its time ratio against the one-thread default; run it
on an idle and on a busy machine (e.g. beside a training).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import DEFAULT_DATA, make_audio  # noqa: E402  (the speaker benchmark's audio generator)


OWN_THREADS = "streamed, torch's threads"  # the --threads-peer run


def worker(kind: str, path: str, model: str) -> None:
    import torch

    own_threads = kind == OWN_THREADS
    if not own_threads:
        torch.set_num_threads(1)
    from turnpoint.core.audio import load_audio
    from turnpoint.events.detect import detect_events
    from turnpoint.events.decode import decode_scores
    from turnpoint.events.inference import score_event_features, score_event_file
    from turnpoint.events.modelfile import load_event_model
    from turnpoint.core.features import event_features

    loaded = load_event_model(None if model == "default" else model)
    start = time.perf_counter()
    if own_threads:
        scores = score_event_file(path, model=loaded.model, specifications=loaded.specifications, num_threads=None)
        events, duration = decode_scores(scores.values, frame_step=scores.frame_step, classes=loaded.classes, params=loaded.decode, duration=scores.duration), scores.duration
    elif kind.startswith("streamed"):
        detection = detect_events(path, model=loaded)
        events, duration = detection.events, detection.duration
    else:
        config = loaded.specifications.features
        samples = load_audio(path, sample_rate=config.sample_rate)
        duration = len(samples) / config.sample_rate
        scores = score_event_features(event_features(samples, config=config), model=loaded.model, specifications=loaded.specifications)
        events = decode_scores(scores, frame_step=config.frame_step, classes=loaded.classes, params=loaded.decode, duration=duration)
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    digest = [(round(e.onset, 2), round(e.offset, 2), e.label) for e in events]
    print("RESULT " + json.dumps({"wall": wall, "audio": duration, "rss_mb": rss, "events": len(events), "digest": hash(str(digest)) % 10**9}))


def measure(kind: str, path: Path, model: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    if kind != OWN_THREADS:
        env["OMP_NUM_THREADS"] = "1"
    env["PYTHONHASHSEED"] = "0"
    done = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), model], capture_output=True, text=True, env=env)
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise SystemExit(f"{kind} on {path.name} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="default", help="event model file (default: the bundled model)")
    parser.add_argument("--peer-model", default=None, help="also time a streamed run with this model; print model/peer ratios")
    parser.add_argument("--threads-peer", action="store_true", help="also time a streamed run with torch's own thread count; print the ratio")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    print(f"{'audio':>8} {'path':<26} {'wall s':>8} {'x real time':>12} {'peak RSS MB':>12} {'events':>7}")
    for minutes in args.minutes:
        path = make_audio(args.data / f"events_{minutes:g}min.wav", minutes * 60, seed=7)
        results = {kind: measure(kind, path, args.model) for kind in ("streamed", "whole file (peer)")}
        if args.peer_model:
            results["streamed, peer model"] = measure("streamed, peer model", path, args.peer_model)
        if args.threads_peer:
            results[OWN_THREADS] = measure(OWN_THREADS, path, args.model)
        for kind, r in results.items():
            print(f"{minutes:>6g} m {kind:<26} {r['wall']:>8.1f} {r['audio'] / r['wall']:>12.0f} {r['rss_mb']:>12.0f} {r['events']:>7}")
        streamed, whole = results["streamed"], results["whole file (peer)"]
        same = "same events" if streamed["digest"] == whole["digest"] else "EVENTS DIFFER"
        print(f"{'':>8} ratio whole/streamed: time {whole['wall'] / streamed['wall']:.2f}x, peak memory {whole['rss_mb'] / streamed['rss_mb']:.2f}x ({same})")
        if args.peer_model:
            peer = results["streamed, peer model"]
            print(f"{'':>8} ratio model/peer model: time {streamed['wall'] / peer['wall']:.2f}x, peak memory {streamed['rss_mb'] / peer['rss_mb']:.2f}x")
        if args.threads_peer:
            own = results[OWN_THREADS]
            same = "same events" if streamed["digest"] == own["digest"] else "EVENTS DIFFER"
            print(f"{'':>8} ratio torch's threads/one thread: time {own['wall'] / streamed['wall']:.2f}x ({same})")


if __name__ == "__main__":
    main()
