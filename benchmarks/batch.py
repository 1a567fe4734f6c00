"""Batch benchmark: ``turnpoint detect --jobs 1`` against ``--jobs 2`` and ``--jobs auto``.

    python benchmarks/batch.py                          # 20 x 30 s and 4 x 30 min, both bundled models
    python benchmarks/batch.py --cases short --repeat 1 # a quick look
    python benchmarks/batch.py --data DIR --json out.json --before OLD_CHECKOUT   # also the code in OLD_CHECKOUT/src

Each run is the real command in a fresh process (``python -m turnpoint.cli.main -q detect FOLDER
--jobs J --overwrite``), timed from start to exit, so interpreter start, imports, model loading and
every worker's start-up count, as a user meets them. Runs of one case are interleaved (1, 2, auto,
1, 2, auto, ...) so that a change in the machine's load hits every setting alike; the median is
kept, with every run's wall time, the CPU time of the command and its workers, and the load average
before it. ``auto`` also records how many processes it used (from the command's debug log).

Audio is made from the bundled example (``two_speakers.flac``, 42 s): each 30 s file a different
stretch of it, each 30 min file a concatenation of its stretches, with independent noise, written
into ``--data`` (default ``$TURNPOINT_DATA/batch_bench``, else a temporary folder), never into the
repository. ``--before SRC`` runs the short case's ``--jobs 1`` and ``--jobs 2`` with another
checkout's ``SRC/src`` on ``PYTHONPATH`` as well (e.g. ``git archive HEAD src | tar -x -C SRC``).

``--probe`` measures what one fresh worker process pays before its first file, stage by stage.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RATE = 16000
CASES = {"short": (20, 30.0), "long": (4, 1800.0)}
MODELS = ("default", "paper")
SETTINGS = ("1", "2", "auto")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def example() -> np.ndarray:
    import soundfile as sf
    import soxr

    audio, rate = sf.read(str(ROOT / "src" / "turnpoint" / "examples" / "two_speakers.flac"), dtype="float32")
    return soxr.resample(audio, rate, RATE).astype(np.float32)


def make_file(path: Path, seconds: float, *, seed: int, source: np.ndarray) -> Path:
    """``seconds`` of the example's stretches from random points, with noise (16 kHz, 16-bit), unless present."""
    import soundfile as sf

    total = int(seconds * RATE)
    if path.exists():
        with sf.SoundFile(str(path)) as handle:
            if handle.frames == total:
                return path
    rng = np.random.default_rng(seed)
    temp = path.with_name(f".{path.name}.tmp")
    with sf.SoundFile(str(temp), "w", RATE, 1, subtype="PCM_16", format="WAV") as out:
        written = 0
        while written < total:
            start = int(rng.integers(0, len(source) // 2))
            piece = source[start : start + min(total - written, len(source) - start)]
            gain = float(rng.uniform(0.6, 1.0))
            out.write(np.clip(gain * piece + rng.normal(scale=0.003, size=len(piece)).astype(np.float32), -1, 1))
            written += len(piece)
    os.replace(temp, path)
    return path


def make_case(data: Path, name: str) -> Path:
    count, seconds = CASES[name]
    folder = data / f"{name}_{count}x{int(seconds)}s"
    folder.mkdir(parents=True, exist_ok=True)
    source = example()
    for index in range(count):
        make_file(folder / f"{name}{index:02d}.wav", seconds, seed=1000 * count + index, source=source)
    return folder


def run_detect(folder: Path, model: str, jobs: str, *, out: Path, src: Path | None = None, timeout: float = 3600) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    env["PYTHONWARNINGS"] = "ignore"
    if src is not None:
        env["PYTHONPATH"] = str(src)
    # -v after -q: no bars, but the debug line that says how many workers a batch started
    command = [sys.executable, "-m", "turnpoint.cli.main", "-q", "-v", "detect", str(folder), "--model", model, "--jobs", jobs,
               "--out", str(out), "--format", "json", "--overwrite"]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "load": load}
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {done.returncode}: {tail[:300]}", "load": load}
    started = re.search(r"batch: (\d+) worker processes started after ([\d.]+) s", done.stderr)
    return {
        "wall": round(wall, 3), "cpu": round(cpu, 3), "load": round(load, 2),
        "processes": 1 + int(started.group(1)) if started else 1,
        "workers_started_after": float(started.group(2)) if started else None,
    }


def summarise(runs: list[dict]) -> dict:
    good = [r for r in runs if "wall" in r]
    if not good:
        return {"error": runs[0].get("error", "no run"), "runs": runs}
    walls = [r["wall"] for r in good]
    median = statistics.median(walls)
    closest = min(good, key=lambda r: abs(r["wall"] - median))
    return {"wall_median": round(median, 3), "walls": walls, "cpu_median": round(statistics.median(r["cpu"] for r in good), 3),
            "processes": sorted({r["processes"] for r in good}), "load": [r["load"] for r in good],
            "workers_started_after": closest["workers_started_after"]}


def bench_case(folder: Path, name: str, model: str, repeat: int, scratch: Path, before: Path | None) -> dict:
    settings = [(jobs, None) for jobs in SETTINGS]
    if before is not None and name == "short":
        settings += [("1", before), ("2", before)]
    runs: dict[str, list[dict]] = {}
    for round_ in range(repeat):
        for jobs, src in settings:
            key = jobs if src is None else f"before_{jobs}"
            result = run_detect(folder, model, jobs, out=scratch / f"{name}_{model}_{key}", src=src)
            runs.setdefault(key, []).append(result)
            status = result.get("error") or f"{result['wall']:.2f} s wall, {result['cpu']:.1f} s CPU, {result['processes']} process(es)"
            print(f"  {name:<5} {model:<7} --jobs {key:<9} run {round_ + 1}/{repeat}: {status} (load {result['load']:.1f})", file=sys.stderr, flush=True)
    table = {key: summarise(value) for key, value in runs.items()}
    one = table.get("1", {}).get("wall_median")
    for key, entry in table.items():
        if one and "wall_median" in entry:
            entry["speedup_vs_jobs_1"] = round(one / entry["wall_median"], 3)
    if "before_1" in table and "wall_median" in table["before_1"]:
        for key in ("before_1", "before_2"):
            if "wall_median" in table.get(key, {}):
                table[key]["speedup_vs_before_jobs_1"] = round(table["before_1"]["wall_median"] / table[key]["wall_median"], 3)
    timed = {key: entry["wall_median"] for key, entry in table.items() if key in SETTINGS and "wall_median" in entry}
    count, seconds = CASES[name]
    return {"files": count, "seconds_each": seconds, "model": model, "settings": table,
            "fastest": min(timed, key=timed.get) if timed else None}


# ---------------------------------------------------------------- what a worker pays before its first file


def probe(folder: Path, model: str) -> None:
    """Run in a fresh process: times (wall and CPU) of each step of a worker's start-up."""
    def mark() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    steps: dict[str, dict] = {}
    last = mark()

    def step(name: str) -> None:
        nonlocal last
        now = mark()
        steps[name] = {"wall": round(now[0] - last[0], 3), "cpu": round(now[1] - last[1], 3)}
        last = now

    import torch  # noqa: F401

    step("import torch")
    from turnpoint.changes.batch import _Job, _run_one
    from turnpoint.changes.modelfile import load_model

    step("import turnpoint (scipy, onnxruntime, ...)")
    loaded = load_model(model)
    step("load the model")
    files = sorted(folder.glob("*.wav"))[:2]
    with tempfile.TemporaryDirectory() as out:
        job = _Job(out, None, None, None, ("json",), False, False, None, 64, ())
        _run_one(files[0], job, loaded)
        step("first file (with one-time set-up: ONNX session and check, speaker encoder)")
        _run_one(files[1], job, loaded)
        step("second file")
    print("RESULT " + json.dumps({"threads": torch.get_num_threads(), "steps": steps}))


def run_probe(folder: Path, model: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe-worker", str(folder), model],
                          capture_output=True, text=True, env=env, timeout=1800)
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None, help="folder for the generated audio (default: $TURNPOINT_DATA/batch_bench, else a temporary one)")
    parser.add_argument("--json", default=str(HERE / "batch.json"), help="results file (default: %(default)s)")
    parser.add_argument("--cases", default="short,long", help="comma-separated: short (20 x 30 s), long (4 x 30 min)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated bundled models (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each setting on the short case (default: %(default)s)")
    parser.add_argument("--repeat-long", type=int, default=1, help="runs of each setting on the long case (default: %(default)s)")
    parser.add_argument("--before", default=None, metavar="SRC", help="also run the short case with SRC/src's code (jobs 1 and 2)")
    parser.add_argument("--probe", action="store_true", help="also measure a worker's start-up, step by step")
    parser.add_argument("--probe-worker", nargs=2, metavar=("FOLDER", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_worker:
        probe(Path(args.probe_worker[0]), args.probe_worker[1])
        return 0

    data_root = args.data or (str(Path(os.environ["TURNPOINT_DATA"]) / "batch_bench") if os.environ.get("TURNPOINT_DATA") else None)
    temporary = data_root is None
    data = Path(data_root or tempfile.mkdtemp(prefix="turnpoint-batch-"))
    scratch = Path(tempfile.mkdtemp(prefix="turnpoint-batch-out-"))
    before = Path(args.before) / "src" if args.before else None
    from turnpoint.core.fileio import atomic_write_text
    from turnpoint.core.windows import available_cpus

    results: dict = {
        "machine": {"cpus": available_cpus(), "platform": platform.platform(), "python": platform.python_version()},
        "command": "python -m turnpoint.cli.main -q detect FOLDER --model MODEL --jobs J --format json --overwrite",
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cases": [],
    }
    try:
        for name in args.cases.split(","):
            folder = make_case(data, name)
            for model in args.models.split(","):
                repeat = args.repeat if name == "short" else args.repeat_long
                results["cases"].append(bench_case(folder, name, model, repeat, scratch, before))
                if args.probe and name == "short":
                    results.setdefault("worker_startup", {})[model] = run_probe(folder, model)
                atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")  # partial results survive an interruption
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if temporary:
            shutil.rmtree(data, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    for case in results["cases"]:
        row = "  ".join(f"--jobs {key}: {entry.get('wall_median', float('nan')):.2f} s" + (f" ({entry['processes']} proc)" if key == "auto" else "")
                        for key, entry in case["settings"].items())
        print(f"{case['files']} x {case['seconds_each']:.0f} s, {case['model']}: {row}; fastest: --jobs {case['fastest']}")
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
