"""Speed of the dense speaker-embedding stage: the compact encoder against GE2E, same audio, same run.

    python benchmarks/encoders.py                    # 1 h file; writes benchmarks/encoders.json
    python benchmarks/encoders.py --seconds 600 --ge2e-seconds 120 --json encoders.json

Both encoders give one embedding of ~1 s of audio every 96 ms (``turnpoint.changes.compact_encoder``).
Every measurement runs in a fresh subprocess on **one thread** (``OMP_NUM_THREADS=1``, torch and
onnxruntime set to one intra-op thread), so its peak RSS is its own:

``compact (onnx)``          ``embed_stream(path)``: decoding, log-mel front end and the network
                            through onnxruntime, streamed in 60 s blocks (the default path)
``compact (torch)``         the same with ``backend="torch"``
``compact stages``          front end alone (log-mel of the whole file, in 60 s blocks), and the
                            network alone on those features (onnxruntime fp32; and int8 after
                            onnxruntime's dynamic quantisation, with its agreement with fp32)
``ge2e (dense)``            ``embed_stream(path, encoder="ge2e")``: the bundled GE2E on the 1 s
                            window at every time. Its cost is the same for every window, so it
                            runs on the first ``--ge2e-seconds`` only and its x real time is that
                            excerpt's; the ratio compares x real time.

Times are wall clock and, beside them (``*_cpu``), the process's CPU time: on a machine shared
with other jobs the CPU time is the closer estimate of what a quiet core would take.

Audio is the synthetic conversation of ``benchmarks/run.py`` (written into ``--data``, never into
the repository); the network's cost does not depend on the content. The machine may be busy: the
load average before each run is recorded, and ratios within one run move less than absolute
numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATE = 16000
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker(kind: str, path: str, seconds: float) -> dict:
    import soundfile as sf
    import torch

    torch.set_num_threads(1)
    from turnpoint.changes.compact_encoder import load_compact_encoder
    from turnpoint.changes.compact_onnx import make_runner
    from turnpoint.changes.streaming_embeddings import compact_features, embed_stream

    audio = sf.info(path).frames / RATE
    if kind in ("compact-onnx", "compact-torch"):
        backend = kind.split("-")[1]
        encoder = load_compact_encoder()
        embed_stream(np.zeros(RATE, dtype=np.float32), encoder=encoder, backend=backend)  # session set-up, excluded
        start, cpu = time.perf_counter(), time.process_time()
        times, embeddings = embed_stream(path, encoder=encoder, backend=backend)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return {"audio": audio, "wall": wall, "cpu": cpu, "embeddings": len(times), "dim": int(embeddings.shape[1])}
    if kind == "ge2e":
        excerpt, _ = sf.read(path, frames=int(seconds * RATE), dtype="float32")
        embed_stream(np.zeros(RATE, dtype=np.float32), encoder="ge2e")
        start, cpu = time.perf_counter(), time.process_time()
        times, _ = embed_stream(excerpt, encoder="ge2e")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        return {"audio": len(excerpt) / RATE, "wall": wall, "cpu": cpu, "embeddings": len(times)}
    if kind == "stages":
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from turnpoint.changes.compact_onnx import export_onnx
        from turnpoint.changes.streaming_embeddings import MAX_FORWARD_OUTPUTS, _padded_features
        from turnpoint.core.runners import OnnxRunner

        encoder = load_compact_encoder()
        config = encoder.config
        samples, _ = sf.read(path, dtype="float32")
        start, cpu = time.perf_counter(), time.process_time()
        block = 60 * RATE  # as the stream does: 60 s blocks (a whole hour at once needs ~1 GB)
        features = np.concatenate([compact_features(samples[i : i + block], config=config) for i in range(0, len(samples), block)])
        front, front_cpu = time.perf_counter() - start, time.process_time() - cpu
        padded = _padded_features(features, len(samples), config)
        count = (len(padded) - config.receptive_frames) // config.stride_frames + 1
        chunks = []
        for first in range(0, count, MAX_FORWARD_OUTPUTS):
            last = min(count, first + MAX_FORWARD_OUTPUTS) - 1
            chunks.append(padded[None, first * config.stride_frames : last * config.stride_frames + config.receptive_frames])
        result = {"audio": audio, "front_end": front, "front_end_cpu": front_cpu}
        graph = export_onnx(encoder)
        with tempfile.TemporaryDirectory() as folder:
            fp32, int8 = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
            fp32.write_bytes(graph)
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
            runners = {"onnx_fp32": OnnxRunner(graph), "onnx_int8": OnnxRunner(int8.read_bytes()), "torch": make_runner(encoder, "torch")}
        outputs = {}
        for name, run in runners.items():
            run(chunks[0])
            start, cpu = time.perf_counter(), time.process_time()
            outputs[name] = np.concatenate([run(chunk)[0] for chunk in chunks])
            result[f"network_{name}"] = time.perf_counter() - start
            result[f"network_{name}_cpu"] = time.process_time() - cpu
        del ort
        reference = outputs["onnx_fp32"]
        for name in ("onnx_int8", "torch"):
            result[f"{name}_max_abs_difference"] = float(np.abs(outputs[name] - reference).max())
            result[f"{name}_mean_cosine_to_fp32"] = float(np.mean(np.sum(outputs[name] * reference, axis=1)))
        result["wall"] = front + result["network_onnx_fp32"]
        result["cpu"] = front_cpu + result["network_onnx_fp32_cpu"]
        return result
    raise SystemExit(f"unknown worker {kind}")


def run_child(kind: str, path: Path, seconds: float) -> dict:
    env = {**os.environ, **THREAD_ENV, "PYTHONWARNINGS": "ignore"}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), str(seconds)], capture_output=True, text=True, env=env)
    total = time.perf_counter() - started
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result.update(total=round(total, 3), load=round(load, 2))
            result["x_realtime"] = result["audio"] / result["wall"]
            result["x_realtime_cpu"] = result["audio"] / result["cpu"]
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": f"exit {done.returncode}: {tail[0][:300]}", "load": round(load, 2)}


def _median(runs: list[dict]) -> dict:
    good = sorted((r for r in runs if "wall" in r), key=lambda r: r["wall"])
    if not good:
        return runs[0]
    chosen = dict(good[len(good) // 2])
    if len(runs) > 1:
        chosen["walls"] = [round(r["wall"], 3) for r in good]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=3600.0, help="length of the benchmark file")
    parser.add_argument("--ge2e-seconds", type=float, default=180.0, help="GE2E runs on this excerpt")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each compact measurement (median kept)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TURNPOINT_BENCH_DATA") or Path(tempfile.gettempdir()) / "turnpoint-bench"))
    parser.add_argument("--json", type=Path, default=HERE / "encoders.json")
    args = parser.parse_args()
    if args.worker:
        kind, path, seconds = args.worker
        result = _worker(kind, path, float(seconds))
        result["rss_mb"] = _rss_mb()
        print("RESULT " + json.dumps(result))
        return

    sys.path.insert(0, str(HERE))
    from run import make_audio

    from turnpoint import __version__
    from turnpoint.changes.compact_encoder import read_compact_header, bundled_compact_encoder_path

    path = make_audio(args.data / f"encoders_{int(args.seconds)}s.wav", args.seconds)
    header = read_compact_header(bundled_compact_encoder_path())
    results = {}
    plan = [("compact (onnx)", "compact-onnx", args.repeat), ("compact (torch)", "compact-torch", args.repeat),
            ("compact stages", "stages", 1), ("ge2e (dense)", "ge2e", 1)]  # fmt: skip
    for name, kind, repeat in plan:
        result = _median([run_child(kind, path, args.ge2e_seconds) for _ in range(repeat)])
        results[name] = result
        status = result.get("error") or f"{result['wall']:.2f} s on {result['audio']:.0f} s, {result['x_realtime']:.0f}x real time, {result['rss_mb']:.0f} MB"
        print(f"  {name:<18} {status}", file=sys.stderr, flush=True)
    compact, ge2e = results["compact (onnx)"], results["ge2e (dense)"]
    summary = {}
    if "x_realtime" in compact and "x_realtime" in ge2e:
        summary["compact_vs_ge2e_speed"] = round(compact["x_realtime"] / ge2e["x_realtime"], 1)
        summary["compact_vs_ge2e_speed_cpu"] = round(compact["x_realtime_cpu"] / ge2e["x_realtime_cpu"], 1)
        summary["compact_end_to_end_x_realtime"] = round(compact["x_realtime"])
        summary["compact_end_to_end_x_realtime_cpu"] = round(compact["x_realtime_cpu"])
        summary["ge2e_dense_x_realtime"] = round(ge2e["x_realtime"], 1)
    stages = results["compact stages"]
    if "front_end" in stages:
        audio = stages["audio"]
        summary["front_end_x_realtime"] = round(audio / stages["front_end"])
        summary["front_end_x_realtime_cpu"] = round(audio / stages["front_end_cpu"])
        for name in ("onnx_fp32", "onnx_int8", "torch"):
            summary[f"network_{name}_x_realtime"] = round(audio / stages[f"network_{name}"])
            summary[f"network_{name}_x_realtime_cpu"] = round(audio / stages[f"network_{name}_cpu"])
        summary["int8_mean_cosine_to_fp32"] = round(stages["onnx_int8_mean_cosine_to_fp32"], 5)
    report = {
        "command": "python benchmarks/encoders.py" + ("" if args.seconds == 3600 else f" --seconds {args.seconds:g}"),
        "turnpoint": __version__,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
        "threads": 1,
        "audio_seconds": args.seconds,
        "ge2e_seconds": args.ge2e_seconds,
        "compact_architecture": header["architecture"],
        "results": results,
        "summary": summary,
    }
    text = json.dumps(report, indent=1)
    from turnpoint.core.fileio import atomic_write_text

    atomic_write_text(args.json, text + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
