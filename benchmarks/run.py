"""turnpoint's benchmark: speed and memory of every stage, with peers measured in the same run.

    python benchmarks/run.py                 # 10 min, 1 h and 10 h; peers on a 5 min excerpt; ~6 min
    python benchmarks/run.py --quick         # no 10 h file (about a minute less... and 1.2 GB less disk)
    python benchmarks/run.py --data /tmp/b --json out.json --peers-python /path/to/peers/bin/python

Audio is generated (deterministic synthetic "conversations": voiced harmonic turns of alternating
pitch and timbre with noise) into ``--data`` (default /work/data/bench), never into the repository.
Every measurement runs in a fresh subprocess, so its peak RSS (``ru_maxrss`` of that process) is
its own and imports are not shared; the table reports the stage's wall time (imports excluded;
the ``total`` column includes interpreter start and imports), × real time, and peak RSS.

Peers: pyannote.audio's segmentation model (``PyanNet``, random weights) through its own
``Inference`` at its defaults, run by the peers' interpreter (``scripts/install_peers.sh``), and
ruptures' ``KernelCPD`` (RBF, PELT, one penalty) on MFCC. A peer that cannot be run is reported as
MISSING with the reason. Ratios compare runs of this one invocation only: the machine may be busy
(its load average is recorded), so absolute numbers move between runs; the ratios move less.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 16000
DEFAULT_DATA = Path(os.environ.get("TURNPOINT_BENCH_DATA", "/work/data/bench"))
DEFAULT_PEERS = Path(os.environ.get("TURNPOINT_PEERS_VENV", "/work/data/peers-venv")) / "bin" / "python"
EXCERPT_SECONDS = 300
BATCH_FILES = 12
BATCH_SECONDS = 600


# ---------------------------------------------------------------- audio generation (parent process)


def _synth_block(rng: np.random.Generator, start: int, count: int, turns: np.ndarray, voices: np.ndarray) -> np.ndarray:
    t = (start + np.arange(count)) / RATE
    speaker = voices[np.searchsorted(turns, t, side="right") % len(voices)]
    f0 = speaker[:, 0] * (1 + 0.03 * np.sin(2 * np.pi * 3.1 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    voiced = sum(np.sin(k * phase) * np.exp(-k * speaker[:, 1]) for k in range(1, 9))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + speaker[:, 2]) ** 2
    noise = rng.normal(scale=0.02, size=count)
    return (0.08 * voiced * syllables + noise).astype(np.float32)


def make_audio(path: Path, seconds: float, *, seed: int = 0) -> Path:
    """Write ``seconds`` of deterministic synthetic conversation (16 kHz, 16-bit) unless present."""
    import soundfile as sf

    total = int(seconds * RATE)
    if path.exists():
        with sf.SoundFile(str(path)) as handle:
            if handle.frames == total and handle.samplerate == RATE:
                return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    turns = np.cumsum(rng.uniform(1.0, 12.0, size=int(seconds / 1.0) + 2))
    voices = np.stack([rng.uniform(90, 260, 4), rng.uniform(0.1, 0.6, 4), rng.uniform(0, 3, 4)], axis=1)
    temp = path.with_name(f".{path.name}.tmp")
    block = 60 * RATE
    with sf.SoundFile(str(temp), "w", RATE, 1, subtype="PCM_16", format="WAV") as out:
        for start in range(0, total, block):
            out.write(_synth_block(rng, start, min(block, total - start), turns, voices))
    os.replace(temp, path)
    return path


def excerpt(source: Path, path: Path, seconds: float) -> Path:
    import soundfile as sf

    if not path.exists():
        samples, _ = sf.read(str(source), frames=int(seconds * RATE), dtype="int16")
        sf.write(str(path), samples, RATE, subtype="PCM_16")
    return path


# ---------------------------------------------------------------- workers (fresh subprocesses)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(function):
    start, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - start, time.process_time() - cpu


def worker(kind: str, path: str, option: str) -> dict:
    started = time.perf_counter()
    import soundfile as sf

    from turnpoint.audio import iter_audio
    from turnpoint.features import FeatureStream
    from turnpoint.modelfile import load_model

    loaded = load_model(None)
    info: dict = {}
    if kind == "e2e":
        from turnpoint.detect import changes_from_scores, detect_changes
        from turnpoint.inference import score_file
        from turnpoint.peaks import segments_from_changes

        if option == "default":
            # warm the onnx export cache outside the timing (a one-time cost per model; cached on disk)
            from turnpoint.fast import make_runner

            info["runner"] = getattr(make_runner(loaded.model, "auto"), "name", "?")
            imported = time.perf_counter() - started
            detection, wall, cpu = _timed(lambda: detect_changes(path, model=loaded))
            info["changes"] = len(detection.changes)
        elif option == "rescoring":
            from turnpoint.rescoring import RescoringSettings

            imported = time.perf_counter() - started
            detection, wall, cpu = _timed(lambda: detect_changes(path, model=loaded, rescoring=RescoringSettings()))
            info["changes"] = len(detection.changes)
        else:  # a backend forced: "torch" (the fallback) or "onnx"
            settings = {"alpha": loaded.defaults.alpha, "min_duration": loaded.defaults.min_duration, "alpha_scale": loaded.defaults.alpha_scale}

            def run():
                scores = score_file(path, model=loaded.model, specifications=loaded.specifications, backend=option)
                changes = changes_from_scores(scores, **settings)
                return changes, segments_from_changes(changes, duration=scores.duration)

            imported = time.perf_counter() - started
            (changes, _), wall, cpu = _timed(run)
            info["changes"] = len(changes)
        audio = sf.info(path).frames / RATE
    elif kind == "decode":
        imported = time.perf_counter() - started
        audio, wall, cpu = _timed(lambda: sum(len(b) for b in iter_audio(path, sample_rate=RATE)) / RATE)
    elif kind == "features":
        samples = np.concatenate(list(iter_audio(path, sample_rate=RATE)))
        imported = time.perf_counter() - started

        def run():
            stream = FeatureStream(loaded.specifications.features)
            block = 60 * RATE
            return sum(len(stream.push(samples[i : i + block])) for i in range(0, len(samples), block)) + len(stream.finish())

        info["frames"], wall, cpu = _timed(run)
        audio = len(samples) / RATE
    elif kind == "model":
        from turnpoint.features import extract_features
        from turnpoint.inference import DEFAULT_THREADS, WindowAggregator, torch_threads

        samples = np.concatenate(list(iter_audio(path, sample_rate=RATE)))
        features = extract_features(samples)
        aggregator = WindowAggregator(loaded.model, loaded.specifications, backend=option)
        info["runner"] = getattr(aggregator.runner, "name", "?")
        imported = time.perf_counter() - started

        def run():
            step = 3750  # 60 s of frames per push, as file scoring does
            parts = [aggregator.push(features[i : i + step]) for i in range(0, len(features), step)]
            return len(np.concatenate([*parts, aggregator.finish()]))

        with torch_threads(DEFAULT_THREADS):  # as file scoring does
            _, wall, cpu = _timed(run)
        info["windows"] = aggregator._windows_run
        audio = len(samples) / RATE
    elif kind == "batch":
        from turnpoint.api import detect_files

        folder, jobs = Path(path), int(option)
        out = Path(tempfile.mkdtemp(prefix="turnpoint-bench-out-"))
        imported = time.perf_counter() - started
        report, wall, cpu = _timed(lambda: detect_files([folder], out_dir=out, jobs=jobs, show_progress=False, formats=("rttm", "json")))
        shutil.rmtree(out, ignore_errors=True)
        assert not report.failures, report.failures
        audio = sum(r.duration or 0 for r in report.results)
        info["files"] = len(report.results)
    elif kind == "kernel_cpd":
        from turnpoint.baselines import kernel_cpd_scores

        samples = np.concatenate(list(iter_audio(path, sample_rate=RATE)))
        imported = time.perf_counter() - started
        _, wall, cpu = _timed(lambda: kernel_cpd_scores(samples, penalties=(3.0,)))
        audio = len(samples) / RATE
        import ruptures

        info["version"] = ruptures.__version__
    else:
        raise SystemExit(f"unknown worker {kind}")
    return {"wall": wall, "cpu": cpu, "audio": audio, "rss_mb": _rss_mb(), "imports": imported, **info}


# ---------------------------------------------------------------- parent: orchestration and table


def run_child(command: list[str], *, timeout: float = 1800) -> dict:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    total = time.perf_counter() - start
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result["total"] = total
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {done.returncode}: {tail[0][:200]}"}


REPEAT = 3


def measure(name: str, kind: str, path: Path, option: str = "", *, python: str | None = None, script: Path | None = None, repeat: int = 1) -> dict:
    """Run one measurement ``repeat`` times (fresh processes) and keep the run with the median wall time."""
    load_before = os.getloadavg()[0]
    if script is None:
        command = [python or sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(path), option]
    else:
        command = [python or sys.executable, str(script), kind, str(path), option]
    runs = [run_child(command) for _ in range(repeat)]
    good = sorted((r for r in runs if "wall" in r), key=lambda r: r["wall"])
    result = good[len(good) // 2] if good else runs[0]
    if len(runs) > 1:
        result["walls"] = [round(r["wall"], 3) for r in runs if "wall" in r]
    result.update(name=name, kind=kind, option=option, input=path.name, load=round(load_before, 2))
    if "wall" in result:
        result["x_realtime"] = result["audio"] / result["wall"]
    status = result.get("error") or f"{result['wall']:.2f} s{' (median of ' + str(len(result['walls'])) + ')' if result.get('walls') else ''}, {result['x_realtime']:.0f}x real time, {result['rss_mb']:.0f} MB"
    print(f"  {name:<44} {status}", file=sys.stderr, flush=True)
    return result


def _fmt_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def table(results: list[dict]) -> str:
    rows = ["| stage | audio | wall (s) | total incl. imports (s) | × real time | peak RSS (MB) | note |", "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['name']} | | | | | | **MISSING**: {r['error']} |")
            continue
        note = r.get("note") or ""
        if r.get("runner"):
            note = f"runner {r['runner']}" + (f"; {note}" if note else "")
        if r.get("settings"):
            note = f"{r['settings']}, {r.get('torch_threads')} torch threads" + (f"; {note}" if note else "")
        if r.get("walls"):
            note = f"median of {len(r['walls'])} runs: {', '.join(f'{w:.2f}' for w in r['walls'])} s" + (f"; {note}" if note else "")
        if r.get("files"):
            note = f"{r['files']} files" + (f"; {note}" if note else "")
        rows.append(
            f"| {r['name']} | {_fmt_duration(r['audio'])} | {r['wall']:.2f} | {r.get('total', float('nan')):.1f} | "
            f"{r['x_realtime']:,.0f} | {r['rss_mb']:.0f} | {note} |"
        )
    return "\n".join(rows)


def ratios(results: list[dict]) -> list[tuple[str, float | None]]:
    by = {r["name"]: r for r in results}

    def speed(name: str) -> float | None:
        r = by.get(name)
        return None if r is None or "error" in r else r["x_realtime"]

    out: list[tuple[str, float | None]] = []

    def ratio(label: str, a: str, b: str) -> None:
        x, y = speed(a), speed(b)
        out.append((label, None if x is None or y is None else x / y))

    ratio("turnpoint end-to-end / pyannote segmentation (same 5 min excerpt)", "turnpoint end-to-end, excerpt", "peer: pyannote PyanNet Inference, excerpt")
    ratio("turnpoint end-to-end / pyannote segmentation with 1 torch thread (same excerpt)", "turnpoint end-to-end, excerpt", "peer: pyannote, 1 torch thread, excerpt")
    ratio("turnpoint end-to-end 1 h / pyannote segmentation (excerpt)", "turnpoint end-to-end, 1 h", "peer: pyannote PyanNet Inference, excerpt")
    ratio("turnpoint end-to-end / ruptures KernelCPD (same excerpt)", "turnpoint end-to-end, excerpt", "peer: ruptures KernelCPD, excerpt")
    ratio("onnxruntime / torch model alone (10 min)", "model alone (onnxruntime), 10 min", "model alone (torch), 10 min")
    ratio("end-to-end onnxruntime / torch fallback (1 h)", "turnpoint end-to-end, 1 h", "turnpoint end-to-end (torch fallback), 1 h")
    ratio("batch: 2 processes / 1 process", "batch detect_files --jobs 2", "batch detect_files --jobs 1")
    rss = {name: by[name]["rss_mb"] for name in ("turnpoint end-to-end, 10 min", "turnpoint end-to-end, 1 h", "turnpoint end-to-end, 10 h") if name in by and "error" not in by[name]}
    if "turnpoint end-to-end, 10 h" in rss and "turnpoint end-to-end, 1 h" in rss:
        out.append(("peak RSS 10 h / 1 h", rss["turnpoint end-to-end, 10 h"] / rss["turnpoint end-to-end, 1 h"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where generated audio goes (default %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="results file (default DATA/results.json)")
    parser.add_argument("--quick", action="store_true", help="skip the 10 h file")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs (median kept) of the measurements the ratios rest on (default %(default)s)")
    parser.add_argument("--peers-python", default=str(DEFAULT_PEERS), help="interpreter of the peers' venv (default %(default)s)")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "OPTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, path, option = args.worker
        print("RESULT " + json.dumps(worker(kind, path, option)))
        return

    data = args.data
    print(f"generating audio in {data} ...", file=sys.stderr, flush=True)
    long_1h = make_audio(data / "bench_1h.wav", 3600)
    short = excerpt(long_1h, data / "bench_10min.wav", 600)
    piece = excerpt(long_1h, data / "bench_5min.wav", EXCERPT_SECONDS)
    long_10h = None if args.quick else make_audio(data / "bench_10h.wav", 36000, seed=1)
    batch = data / "batch"
    batch.mkdir(exist_ok=True)
    for index in range(BATCH_FILES):
        target = batch / f"file{index:02d}.wav"
        if not target.exists():
            make_audio(target, BATCH_SECONDS, seed=100 + index)

    peers_python = args.peers_python if Path(args.peers_python).exists() else None
    results: list[dict] = []
    print("measuring (each line a fresh process) ...", file=sys.stderr, flush=True)
    results.append(measure("turnpoint end-to-end, excerpt", "e2e", piece, "default", repeat=args.repeat))
    if peers_python:
        results.append(measure("peer: pyannote PyanNet Inference, excerpt", "pyannote", piece, python=peers_python, script=HERE / "peers.py", repeat=args.repeat))
        results.append(measure("peer: pyannote, 1 torch thread, excerpt", "pyannote", piece, "1", python=peers_python, script=HERE / "peers.py"))
    else:
        for name in ("peer: pyannote PyanNet Inference, excerpt", "peer: pyannote, 1 torch thread, excerpt"):
            results.append({"name": name, "error": f"peers venv not found ({args.peers_python}): run scripts/install_peers.sh"})
    results.append(measure("peer: ruptures KernelCPD, excerpt", "kernel_cpd", piece))
    try:
        import turnpoint.rescoring  # noqa: F401
        import resemblyzer  # noqa: F401

        results.append(measure("turnpoint + GE2E re-scoring, excerpt", "e2e", piece, "rescoring"))
    except Exception as error:  # noqa: BLE001
        results.append({"name": "turnpoint + GE2E re-scoring, excerpt", "error": f"not available ({type(error).__name__}: {error})"})
    results.append(measure("turnpoint end-to-end, 10 min", "e2e", short, "default"))
    results.append(measure("turnpoint end-to-end, 1 h", "e2e", long_1h, "default", repeat=args.repeat))
    results.append(measure("turnpoint end-to-end (torch fallback), 1 h", "e2e", long_1h, "torch"))
    if long_10h is not None:
        results.append(measure("turnpoint end-to-end, 10 h", "e2e", long_10h, "default"))
    results.append(measure("decode alone, 1 h", "decode", long_1h))
    results.append(measure("features alone (in memory), 1 h", "features", long_1h))
    results.append(measure("model alone (onnxruntime), 10 min", "model", short, "onnx"))
    results.append(measure("model alone (torch), 10 min", "model", short, "torch"))
    results.append(measure("batch detect_files --jobs 1", "batch", batch, "1"))
    results.append(measure("batch detect_files --jobs 2", "batch", batch, "2"))

    import torch

    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "load_average_end": os.getloadavg(),
    }
    text = table(results)
    lines = [f"- {label}: {'n/a (a side is missing)' if value is None else f'{value:,.2f}x'}" for label, value in ratios(results)]
    print()
    print(text)
    print()
    print("\n".join(lines))
    print()
    loads = [r["load"] for r in results if "load" in r]
    print(
        f"machine: {machine['cpus']} CPUs, {machine['platform']}, torch {machine['torch']}, CUDA {'available' if machine['cuda'] else 'not available (GPU figures not measured)'}; "
        f"1-min load average during the run {min(loads):.1f}–{max(loads):.1f}"
    )
    out = args.json or data / "results.json"
    out.write_text(json.dumps({"machine": machine, "results": results, "ratios": dict(ratios(results)), "table": text}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()
