"""turnpoint's benchmark: speed and memory of both shipped detectors and of every stage, with peers measured in the same run.

    python benchmarks/run.py                 # 5 min, 10 min, 1 h, 10 h; ~10 min on a quiet 2-core machine
    python benchmarks/run.py --quick         # no 10 h file, no hybrid on 10 min (~7 min quiet, ~17 busy)
    python benchmarks/run.py --data DIR --json out.json --peers-python /path/to/peers/bin/python

Detectors (each measured end to end: decode, features, model, peaks, through ``detect_changes``):

``paper BiLSTM (--model paper)``  the bundled ``paper`` model, Yin et al.'s BiLSTM alone; 5 min,
    10 min, 1 h and 10 h, plus the torch fallback and each stage alone.
``default hybrid (BiLSTM + GE2E re-scoring)``  the bundled ``default`` model with the re-scoring
    it ships (``turnpoint.changes.rescoring``); while a default ships none, re-scoring is switched on with
    the module's defaults and the note says so. 5 min and 1 h (and 10 min without ``--quick``),
    with the re-scoring stage's breakdown: candidates, seconds per hour of audio, and how much of
    it goes to reading the audio again, the mel front end and the GE2E LSTM.

Audio is generated (deterministic synthetic "conversations": voiced harmonic turns of alternating
pitch and timbre with noise) into ``--data`` (default ``$TURNPOINT_DATA/bench``), never into the repository.
Every measurement runs in a fresh subprocess, so its peak RSS (``ru_maxrss`` of that process) is
its own and imports are not shared; the table reports the stage's wall time (imports, model load
and the onnxruntime session / speaker encoder set-up excluded and listed separately; the ``total``
column includes interpreter start and imports), × real time, and peak RSS. Thread-count variables
(``OMP_NUM_THREADS`` ...) of the calling shell are not passed on: each process runs at its defaults
(``--keep-thread-env`` passes them on: on a machine busy with other jobs, pyannote's default
OpenMP threads can spend most of their time waiting; see ``run_child``).

Peers: pyannote.audio's segmentation model (``PyanNet``, random weights) through its own
``Inference`` at its defaults, run by the peers' interpreter (``scripts/install_peers.sh``) on the
same 5 min excerpt *and the same 1 h file* as turnpoint, and ruptures' ``KernelCPD`` (RBF, PELT,
one penalty) on MFCC. A peer that cannot be run is reported as MISSING with the reason. Ratios
compare runs of this one invocation only: the machine may be busy (each run's load average is
recorded), so absolute numbers move between runs; the ratios move less. The short runs the ratios
rest on are repeated (``--repeat``, median kept); the minutes-long ones (hybrid and pyannote on
1 h) run ``--repeat-long`` times (default once).
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
DEFAULT_DATA = Path(os.environ.get("TURNPOINT_BENCH_DATA", str(Path(os.environ.get("TURNPOINT_DATA", "turnpoint_data")) / "bench")))
DEFAULT_PEERS = Path(os.environ.get("TURNPOINT_PEERS_VENV", str(Path(os.environ.get("TURNPOINT_DATA", "turnpoint_data")) / "peers-venv"))) / "bin" / "python"
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


PAPER = "paper BiLSTM (--model paper)"
HYBRID = "default hybrid (BiLSTM + GE2E re-scoring)"
PYANNOTE = "peer: pyannote PyanNet Inference"


def _load_detector(which: str) -> tuple:
    """The loaded model, the ``rescoring`` argument for detect_changes, and notes, for ``which``.

    ``paper``: the bundled ``paper`` model (the BiLSTM alone), as ``--model paper``; trees from before
    it was bundled fall back to ``default`` with re-scoring off. ``hybrid``: the bundled ``default``
    model with what it ships; while the default ships no re-scoring settings, re-scoring is switched
    on with the module's defaults (``rescoring=True``), and the note says so.
    """
    from turnpoint.changes.modelfile import load_model

    info: dict = {}
    if which == "hybrid":
        loaded = load_model("default")
        shipped = getattr(loaded.defaults, "rescoring", None)
        info["rescoring_source"] = "shipped in the default model" if shipped is not None else "module defaults (the default model ships none yet)"
        return loaded, (None if shipped is not None else True), info
    try:
        loaded = load_model("paper")
    except Exception as error:  # noqa: BLE001 - an older tree: the default model was the BiLSTM
        info["model_note"] = f"no bundled 'paper' model ({type(error).__name__}); default with rescoring=False"
        return load_model("default"), False, info
    return loaded, None, info


class _Stopwatch:
    """Accumulates the time and calls of functions it wraps (the re-scoring stage's breakdown)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.values: dict[str, object] = {}

    def wrap(self, module, name: str, label: str, *, keep=None) -> None:
        original = getattr(module, name, None)
        if original is None:  # renamed or gone: that part of the breakdown is just not reported
            return

        def timed(*args, **kwargs):
            start = time.perf_counter()
            value = original(*args, **kwargs)
            self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
            self.calls[label] = self.calls.get(label, 0) + 1
            if keep is not None:
                self.values[label] = keep(value)
            return value

        setattr(module, name, timed)


def _instrument_rescoring() -> _Stopwatch:
    import turnpoint.changes.context_embeddings as context_embeddings
    import turnpoint.changes.rescoring as rescoring
    import turnpoint.changes.speaker_encoder as encoder

    watch = _Stopwatch()
    # detect_changes imports rescore at call time and embedding_distances imports the encoder's
    # functions at call time, so module attributes replaced here are the ones that run
    watch.wrap(rescoring, "rescore", "rescoring")
    watch.wrap(rescoring, "candidates", "candidate selection", keep=len)
    watch.wrap(encoder, "normalize_volume", "volume normalisation")
    watch.wrap(encoder, "mel_frames", "mel front end")
    watch.wrap(encoder, "embed_segments", "GE2E LSTM, left contexts")
    watch.wrap(context_embeddings, "_right_embeddings", "GE2E LSTM, right contexts")
    return watch


def worker(kind: str, path: str, option: str) -> dict:
    started = time.perf_counter()
    import soundfile as sf

    from turnpoint.core.audio import iter_audio
    from turnpoint.core.features import FeatureStream

    which = "hybrid" if (kind == "e2e" and option == "hybrid") else "paper"
    mark = time.perf_counter()
    loaded, rescoring, info = _load_detector(which)
    startup = {"python imports": mark - started, "load_model": time.perf_counter() - mark}
    if kind == "e2e":
        from turnpoint.changes.detect import changes_from_scores, detect_changes
        from turnpoint.changes.scoring import score_file
        from turnpoint.changes.peaks import segments_from_changes

        if option in ("paper", "hybrid"):
            # per-process set-up outside the timing, as pyannote's model is built before its timing:
            # the onnxruntime session (export cached on disk), and the speaker encoder for the hybrid
            from turnpoint.changes.scoring import change_runner as make_runner

            mark = time.perf_counter()
            info["runner"] = getattr(make_runner(loaded.model, "auto"), "name", "?")
            startup["runner"] = time.perf_counter() - mark
            watch = None
            if option == "hybrid":
                from turnpoint.changes.speaker_encoder import load_speaker_encoder

                mark = time.perf_counter()
                load_speaker_encoder("cpu")
                startup["speaker_encoder"] = time.perf_counter() - mark
                watch = _instrument_rescoring()
            imported = time.perf_counter() - started
            detection, wall, cpu = _timed(lambda: detect_changes(path, model=loaded, rescoring=rescoring))
            info["changes"] = len(detection.changes)
            info["rescored"] = "rescoring" in detection.settings
            if option == "hybrid":
                info["rescoring_settings"] = detection.settings.get("rescoring")
                info["breakdown"] = {
                    "seconds": {k: round(v, 4) for k, v in watch.seconds.items()},
                    "calls": watch.calls,
                    "candidates": watch.values.get("candidate selection"),
                }
            elif info["rescored"]:
                raise SystemExit("the paper path ran re-scoring")
        else:  # the paper model with a backend forced: "torch" (the fallback) or "onnx"
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
        from turnpoint.core.features import extract_features
        from turnpoint.changes.scoring import ChangeAggregator as WindowAggregator
        from turnpoint.core.windows import DEFAULT_THREADS, torch_threads

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
        from turnpoint.changes.batch import detect_files

        folder, jobs = Path(path), int(option)
        out = Path(tempfile.mkdtemp(prefix="turnpoint-bench-out-"))
        imported = time.perf_counter() - started
        # the paper path (the default model may be the hybrid): this row measures the batch machinery
        report, wall, cpu = _timed(
            lambda: detect_files([folder], model=loaded.path or None, out_dir=out, jobs=jobs, show_progress=False, formats=("rttm", "json"), rescoring=rescoring)
        )
        shutil.rmtree(out, ignore_errors=True)
        assert not report.failures, report.failures
        audio = sum(r.duration or 0 for r in report.results)
        info["files"] = len(report.results)
    elif kind == "kernel_cpd":
        from turnpoint.changes.baselines import kernel_cpd_scores

        samples = np.concatenate(list(iter_audio(path, sample_rate=RATE)))
        imported = time.perf_counter() - started
        _, wall, cpu = _timed(lambda: kernel_cpd_scores(samples, penalties=(3.0,)))
        audio = len(samples) / RATE
        import ruptures

        info["version"] = ruptures.__version__
    else:
        raise SystemExit(f"unknown worker {kind}")
    info["startup"] = {k: round(v, 4) for k, v in startup.items()}
    return {"wall": wall, "cpu": cpu, "audio": audio, "rss_mb": _rss_mb(), "imports": imported, **info}


# ---------------------------------------------------------------- parent: orchestration and table


# Thread-count variables of the calling shell are not passed on (unless --keep-thread-env): every
# measured process runs at its own defaults (pyannote's torch then uses all cores, as its users
# get; turnpoint sets its threads itself). An inherited OMP_NUM_THREADS=1 silently turns "pyannote
# at its defaults" into a second 1-thread row. On a machine busy with other jobs, though, torch's
# default OpenMP threads wait for cores that others hold (pyannote took 258 s instead of 31 s on
# the 5 min excerpt at load 5): there, --keep-thread-env with OMP_NUM_THREADS=1 keeps the run
# short, and the tables say which thread count each peer ran with.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
KEEP_THREAD_ENV = False


def run_child(command: list[str], *, timeout: float = 1800) -> dict:
    env = {key: value for key, value in os.environ.items() if KEEP_THREAD_ENV or key not in THREAD_VARIABLES}
    env["PYTHONWARNINGS"] = "ignore"
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


def _note(r: dict) -> str:
    note = r.get("note") or ""
    if r.get("rescoring_source"):
        note = f"re-scoring: {r['rescoring_source']}" + (f"; {note}" if note else "")
    if r.get("runner"):
        note = f"runner {r['runner']}" + (f"; {note}" if note else "")
    if r.get("settings"):
        note = f"{r['settings']}, {r.get('torch_threads')} torch threads" + (f"; {note}" if note else "")
    if r.get("walls"):
        note = f"median of {len(r['walls'])} runs: {', '.join(f'{w:.2f}' for w in r['walls'])} s" + (f"; {note}" if note else "")
    if r.get("files"):
        note = f"{r['files']} files" + (f"; {note}" if note else "")
    return note


def table(results: list[dict]) -> str:
    rows = ["| stage | audio | wall (s) | total incl. imports (s) | × real time | peak RSS (MB) | note |", "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['name']} | | | | | | **MISSING**: {r['error']} |")
            continue
        rows.append(
            f"| {r['name']} | {_fmt_duration(r['audio'])} | {r['wall']:.2f} | {r.get('total', float('nan')):.1f} | "
            f"{r['x_realtime']:,.0f} | {r['rss_mb']:.0f} | {_note(r)} |"
        )
    return "\n".join(rows)


LENGTHS = (("excerpt", "5 min excerpt"), ("10 min", "10 min"), ("1 h", "1 h"), ("10 h", "10 h"))


def summary_table(results: list[dict]) -> str:
    """Detectors by audio length: × real time (wall s, peak RSS MB), and × pyannote on the same audio."""
    by = {r["name"]: r for r in results}
    head = "| detector | " + " | ".join(label for _, label in LENGTHS) + " | × pyannote, same 5 min | × pyannote, same 1 h |"
    rows = [head, "|---|" + "---:|" * (len(LENGTHS) + 2)]

    def cell(name: str) -> str:
        r = by.get(name)
        if r is None:
            return "–"
        if "error" in r:
            return "MISSING"
        return f"{r['x_realtime']:,.0f}× ({r['wall']:.2f} s, {r['rss_mb']:.0f} MB)"

    def versus(name: str, length: str) -> str:
        value = _ratio(by, f"{name}, {length}", f"{PYANNOTE}, {length}")
        return "–" if value is None else f"{value:,.1f}×"

    for name in (PAPER, HYBRID, PYANNOTE):
        cells = [cell(f"{name}, {length}") for length, _ in LENGTHS]
        extra = ["", ""] if name == PYANNOTE else [versus(name, "excerpt"), versus(name, "1 h")]
        label = name
        threads = sorted({r["torch_threads"] for r in results if r.get("name", "").startswith(f"{name}, ") and "torch_threads" in r})
        if threads:  # pyannote's speed depends on its torch threads: say how many it had
            label += f" ({'/'.join(map(str, threads))} torch thread{'s' if threads != [1] else ''})"
        rows.append(f"| {label} | " + " | ".join(cells + extra) + " |")
    return "\n".join(rows)


def rescoring_table(results: list[dict]) -> str:
    """Where the hybrid's time goes: candidates and the re-scoring stage's parts, per audio length."""
    rows = [
        "| audio | candidates | per min | re-scoring (s) | s per hour of audio | share of wall | BiLSTM path (s) | audio read again | mel | GE2E LSTM | other |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for length, label in LENGTHS:
        r = next((x for x in results if x.get("name") == f"{HYBRID}, {length}" and "breakdown" in x), None)
        if r is None:
            continue
        part = r["breakdown"]["seconds"]
        total = part.get("rescoring", 0.0)
        lstm = part.get("GE2E LSTM, left contexts", 0.0) + part.get("GE2E LSTM, right contexts", 0.0)
        read, mel = part.get("audio read again (candidate contexts)", 0.0), part.get("mel front end", 0.0)
        other = total - lstm - read - mel
        count = r["breakdown"].get("candidates") or 0
        minutes = r["audio"] / 60
        rows.append(
            f"| {label} | {count:,} | {count / minutes:.1f} | {total:.2f} | {total / r['audio'] * 3600:,.0f} | "
            f"{total / r['wall']:.0%} | {r['wall'] - total:.2f} | {read:.2f} | {mel:.2f} | {lstm:.2f} | {other:.2f} |"
        )
    return "\n".join(rows) if len(rows) > 2 else ""


def _ratio(by: dict, a: str, b: str) -> float | None:
    x, y = by.get(a), by.get(b)
    if x is None or y is None or "error" in x or "error" in y:
        return None
    return x["x_realtime"] / y["x_realtime"]


def ratios(results: list[dict]) -> list[tuple[str, float | None]]:
    by = {r["name"]: r for r in results}
    out: list[tuple[str, float | None]] = []

    def ratio(label: str, a: str, b: str) -> None:
        out.append((label, _ratio(by, a, b)))

    ratio("paper BiLSTM / pyannote segmentation (same 1 h file)", f"{PAPER}, 1 h", f"{PYANNOTE}, 1 h")
    ratio("default hybrid / pyannote segmentation (same 1 h file)", f"{HYBRID}, 1 h", f"{PYANNOTE}, 1 h")
    ratio("paper BiLSTM / pyannote segmentation (same 5 min excerpt)", f"{PAPER}, excerpt", f"{PYANNOTE}, excerpt")
    ratio("default hybrid / pyannote segmentation (same 5 min excerpt)", f"{HYBRID}, excerpt", f"{PYANNOTE}, excerpt")
    ratio("paper BiLSTM / pyannote with 1 torch thread (same excerpt)", f"{PAPER}, excerpt", "peer: pyannote, 1 torch thread, excerpt")
    ratio("paper BiLSTM / ruptures KernelCPD (same excerpt)", f"{PAPER}, excerpt", "peer: ruptures KernelCPD, excerpt")
    ratio("paper BiLSTM / default hybrid (1 h): the cost of re-scoring", f"{PAPER}, 1 h", f"{HYBRID}, 1 h")
    ratio("onnxruntime / torch model alone (10 min)", "model alone (onnxruntime), 10 min", "model alone (torch), 10 min")
    ratio("paper end-to-end onnxruntime / torch fallback (1 h)", f"{PAPER}, 1 h", "paper BiLSTM, torch fallback, 1 h")
    ratio("batch: 2 processes / 1 process", "batch detect_files --jobs 2 (paper)", "batch detect_files --jobs 1 (paper)")
    for name, short in ((PAPER, "paper"), (HYBRID, "hybrid")):
        rss = {length: by[f"{name}, {length}"]["rss_mb"] for length, _ in LENGTHS if f"{name}, {length}" in by and "error" not in by[f"{name}, {length}"]}
        if "1 h" in rss and "10 h" in rss:
            out.append((f"{short}: peak RSS 10 h / 1 h", rss["10 h"] / rss["1 h"]))
        if "1 h" in rss and "excerpt" in rss:
            out.append((f"{short}: peak RSS 1 h / 5 min", rss["1 h"] / rss["excerpt"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where generated audio goes (default %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help="results file (default DATA/results.json)")
    parser.add_argument("--quick", action="store_true", help="skip the 10 h file and the hybrid on 10 min")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="runs (median kept) of the short measurements the ratios rest on (default %(default)s)")
    parser.add_argument("--repeat-long", type=int, default=1, help="runs of the minutes-long ones: hybrid and pyannote on 1 h (default %(default)s)")
    parser.add_argument("--peers-python", default=str(DEFAULT_PEERS), help="interpreter of the peers' venv (default %(default)s)")
    parser.add_argument("--keep-thread-env", action="store_true", help="pass OMP_NUM_THREADS and the like on to the measured processes (default: dropped, each runs at its defaults)")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "OPTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, path, option = args.worker
        print("RESULT " + json.dumps(worker(kind, path, option)))
        return

    global KEEP_THREAD_ENV
    KEEP_THREAD_ENV = args.keep_thread_env
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

    def pyannote(name: str, path: Path, option: str = "", repeat: int = 1) -> None:
        if peers_python:
            results.append(measure(name, "pyannote", path, option, python=peers_python, script=HERE / "peers.py", repeat=repeat))
        else:
            results.append({"name": name, "error": f"peers venv not found ({args.peers_python}): run scripts/install_peers.sh"})

    print("measuring (each line a fresh process) ...", file=sys.stderr, flush=True)
    # the 5 min excerpt: both turnpoint paths and the peers
    results.append(measure(f"{PAPER}, excerpt", "e2e", piece, "paper", repeat=args.repeat))
    results.append(measure(f"{HYBRID}, excerpt", "e2e", piece, "hybrid", repeat=args.repeat))
    pyannote(f"{PYANNOTE}, excerpt", piece, repeat=args.repeat)
    pyannote("peer: pyannote, 1 torch thread, excerpt", piece, "1")
    results.append(measure("peer: ruptures KernelCPD, excerpt", "kernel_cpd", piece))
    # 10 min, 1 h (both paths and pyannote on the same file), 10 h
    results.append(measure(f"{PAPER}, 10 min", "e2e", short, "paper"))
    if not args.quick:
        results.append(measure(f"{HYBRID}, 10 min", "e2e", short, "hybrid"))
    results.append(measure(f"{PAPER}, 1 h", "e2e", long_1h, "paper", repeat=args.repeat))
    results.append(measure(f"{HYBRID}, 1 h", "e2e", long_1h, "hybrid", repeat=args.repeat_long))
    pyannote(f"{PYANNOTE}, 1 h", long_1h, repeat=args.repeat_long)
    results.append(measure("paper BiLSTM, torch fallback, 1 h", "e2e", long_1h, "torch"))
    if long_10h is not None:
        results.append(measure(f"{PAPER}, 10 h", "e2e", long_10h, "paper"))
    # stages of the paper path
    results.append(measure("decode alone, 1 h", "decode", long_1h))
    results.append(measure("features alone (in memory), 1 h", "features", long_1h))
    results.append(measure("model alone (onnxruntime), 10 min", "model", short, "onnx"))
    results.append(measure("model alone (torch), 10 min", "model", short, "torch"))
    results.append(measure("batch detect_files --jobs 1 (paper)", "batch", batch, "1"))
    results.append(measure("batch detect_files --jobs 2 (paper)", "batch", batch, "2"))

    import torch

    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "load_average_end": os.getloadavg(),
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "thread_variables_passed_on": KEEP_THREAD_ENV,
    }
    summary, text, rescored = summary_table(results), table(results), rescoring_table(results)
    lines = [f"- {label}: {'n/a (a side is missing)' if value is None else f'{value:,.2f}x'}" for label, value in ratios(results)]
    startup = [
        f"- {r['name']}: " + ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in r["startup"].items())
        for r in results
        if r.get("kind") == "e2e" and r.get("input") == piece.name and r.get("startup")
    ]
    loads = [r["load"] for r in results if "load" in r]
    threads = ", ".join(f"{k}={v}" for k, v in machine["thread_variables"].items()) or "none set"
    machine_line = (
        f"machine: {machine['cpus']} CPUs, {machine['platform']}, torch {machine['torch']}, CUDA {'available' if machine['cuda'] else 'not available (GPU figures not measured)'}; "
        f"1-min load average during the run {min(loads):.1f}–{max(loads):.1f}; thread variables ({threads}) {'passed on' if KEEP_THREAD_ENV else 'not passed on'}"
    )
    print()
    print(summary)
    print()
    if rescored:
        print("Re-scoring stage of the hybrid:\n")
        print(rescored)
        print()
    print(text)
    print()
    print("\n".join(lines))
    print()
    print("Per-process start-up, outside the timed detection (excerpt runs):")
    print("\n".join(startup))
    print()
    print(machine_line)
    out = args.json or data / "results.json"
    out.write_text(
        json.dumps(
            {"machine": machine, "results": results, "ratios": dict(ratios(results)), "summary": summary, "rescoring": rescored, "table": text},
            indent=2,
        )
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
