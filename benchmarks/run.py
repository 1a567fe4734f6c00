"""turnpoint's benchmark: speed and memory of every bundled detector and of pyannote.audio's
segmentation, in one run, on the same audio, with the speaker pipeline's time split by stage.

    python benchmarks/run.py                      # 10 min, 1 h, 10 h (~30-40 min on a quiet 2-core machine, est.)
    python benchmarks/run.py --quick              # 10 min and 1 h, each run once (~4 min quiet)
    python benchmarks/run.py --readme-table FILE  # also write the README's performance table
    python benchmarks/run.py --from-json benchmarks/results.json --readme-table FILE   # tables only, no runs
    python benchmarks/run.py --detectors default,fast --lengths 10min --repeat 1     # a subset

Detectors, each run end to end through ``turnpoint.detect_changes(path, model=...)`` on a WAV file
(reading the file included):

``paper``     the bundled ``paper`` model: Yin et al.'s BiLSTM alone.
``default``   the bundled ``default`` model: the dense speaker pipeline (Silero VAD, GE2E
              embeddings of 1 s windows, smoothing, clustering, Viterbi re-segmentation).
``fast``      the bundled ``fast`` model: the same pipeline on the compact encoder, one streaming pass.
``hybrid``    the bundled ``hybrid`` model: the BiLSTM with GE2E re-scoring of its candidates (extra row).
``pyannote``  the peer: pyannote.audio's segmentation model (``PyanNet``, random weights: speed only)
              through its own ``Inference`` at its defaults, run by the peers' interpreter
              (``scripts/install_peers.sh``; ``benchmarks/peers.py``). MISSING, with the reason,
              when it cannot be run.

Audio: the bundled two-speaker example (``turnpoint.example_path()``, 8 kHz FLAC, 42 s of speech)
read with ``turnpoint.core.audio.load_audio`` (resampled to 16 kHz) and tiled to 10 min, 1 h and
10 h, written as 16 kHz 16-bit WAV into ``--data`` (default ``$TURNPOINT_DATA/bench``), never into
the repository (the 10 h file is 1.15 GB).

Every measurement is a fresh subprocess: its peak RSS is that process's ``ru_maxrss`` (imports and
models included); its wall time is the ``detect_changes`` call alone, after the imports, the model
load and one warm-up run on 20 s of the example (which loads the encoders and VAD and builds the
onnxruntime sessions; pyannote's model is likewise built before its timing), listed separately
as start-up. The ``total`` column is the whole subprocess. Thread-count variables
(``OMP_NUM_THREADS`` ...) of the calling shell are not passed on (``--keep-thread-env`` passes them).

Stage breakdown (default, fast; hybrid has its own): functions of ``turnpoint.core.audio``,
``turnpoint.changes.speakers``, ``turnpoint.changes.streaming_embeddings``,
``turnpoint.changes.speaker_encoder`` and ``turnpoint.changes.detect`` are looked up by name at
run time and wrapped with a stopwatch (:class:`_Stopwatch`) in the measured process. Each stage is
the *exclusive* time of its functions (time in a nested wrapped function of another stage counts
for that stage: in the streamed ``fast`` path the encoder pulls blocks through the VAD and the
decoder), "rest" is the wall time no stage claims. A stage none of whose names exist in the code
being measured is reported as "not measured", never a crash. The JSON lists every function
wrapped, its calls and seconds, and the names not found.

Ratios compare runs of this one invocation on the same file: each detector's × real time over
pyannote's and over paper's. The machine may be busy (each run's 1-min load average is recorded),
so absolute numbers move between runs; the ratios move less. The 10 min runs are repeated
(``--repeat``, median kept), the longer ones ``--repeat-long`` times.

Outputs: a JSON (``benchmarks/results.json``; with ``--quick`` ``DATA/results_quick.json`` so a
quick run never replaces the published file; ``--json FILE``), the markdown tables next to it
(same name, ``.md``; ``--markdown FILE``) and, with ``--readme-table FILE``, the README's
performance table. Paths in them are relative (``DATA/...``) or left out.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import inspect
import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RATE = 16000
_DATA_ROOT = Path(os.environ.get("TURNPOINT_DATA", "turnpoint_data"))
DEFAULT_DATA = Path(os.environ.get("TURNPOINT_BENCH_DATA", str(_DATA_ROOT / "bench")))
DEFAULT_PEERS = Path(os.environ.get("TURNPOINT_PEERS_VENV", str(_DATA_ROOT / "peers-venv"))) / "bin" / "python"
DEFAULT_JSON = HERE / "results.json"
WARMUP_SECONDS = 20.0
FORMAT_VERSION = 2

#: audio lengths: key, seconds, label
LENGTHS = {"10min": (600, "10 min"), "1h": (3600, "1 h"), "10h": (36000, "10 h")}

#: detector key: (label, what it is)
DETECTORS = {
    "paper": ("paper", "the bundled paper model: BiLSTM alone"),
    "default": ("default", "the bundled default model: speaker pipeline on the GE2E encoder"),
    "fast": ("fast", "the bundled fast model: speaker pipeline on the compact encoder"),
    "hybrid": ("hybrid", "the bundled hybrid model: BiLSTM + GE2E re-scoring"),
    "pyannote": ("pyannote", "peer: pyannote.audio segmentation (PyanNet, random weights) through Inference at its defaults"),
}
#: what each bundled detector is expected to run (checked, and a note added when it does not)
EXPECTED_PIPELINE = {"paper": "BiLSTM", "default": "speakers/ge2e", "fast": "speakers/compact", "hybrid": "BiLSTM+re-scoring"}

SP = "turnpoint.changes.speakers"
VA = "turnpoint.changes.voice_activity"
SE = "turnpoint.changes.streaming_embeddings"
ENC = "turnpoint.changes.speaker_encoder"
AUDIO = "turnpoint.core.audio"
#: the speaker pipeline's stages: (stage, [(module, name)...]); "Class.method" names wrap a method.
#: More names than run on one path (and old and new homes of the VAD): the missing ones are listed,
#: a stage is "not measured" only when none of its names exists.
SPEAKER_STAGES = [
    ("decode", [(AUDIO, "iter_audio"), (AUDIO, "load_audio"), (AUDIO, "audio_info")]),
    ("VAD", [(mod, name) for mod in (VA, SP) for name in ("SpeechStream.__init__", "SpeechStream.push", "SpeechStream.finish",
                                                          "silent_regions", "regions_from_probabilities")]
     + [(VA, "silero_network"), (VA, "chunk_spectra")]),
    ("speaker encoder", [(SP, "window_embeddings"), (SE, "embed_stream"), (SE, "CompactEncoderStream.__init__"),
                         (SE, "CompactEncoderStream.push"), (SE, "CompactEncoderStream.finish"), (ENC, "normalize_volume"),
                         (SP, "signal_rms"), (ENC, "MelStream.push"), (ENC, "MelStream.finish"), (ENC, "mel_frames"),
                         (ENC, "embed_segments")]),
    ("smoothing", [(SP, "smooth_embeddings")]),
    ("clustering", [(SP, "cluster_centroids")]),
    ("re-segmentation", [(SP, "viterbi_labels"), (SP, "turns_from_labels")]),
    # the main thread waiting for work it handed to another thread (the streamed path's VAD thread)
    ("waiting on threads", [("concurrent.futures", "Future.result")]),
]
#: VAD code may move or grow: modules taken whole as VAD, and words that make a function of the
#: speaker module (or the methods of a class named so) count as VAD
VAD_MODULES = (VA, "turnpoint.changes.vad", "turnpoint.core.vad", "turnpoint.core.voice_activity")
VAD_WORDS = ("vad", "speech", "silen", "voice")
HYBRID_STAGES = [
    ("BiLSTM scoring", [("turnpoint.changes.scoring", "score_file"), ("turnpoint.changes.scoring", "score_blocks")]),
    ("re-scoring", [("turnpoint.changes.rescoring", "rescore")]),
    ("segment clustering", [("turnpoint.changes.segment_clustering", name) for name in ("segment_embeddings", "separation_scores", "cluster_changes")]),
]
#: checked to exist (the pipeline's entry points), reported with the breakdown
SPEAKER_ENTRY_POINTS = [("turnpoint.changes.detect", "_detect_speakers"), (SP, "speaker_turns"), (SP, "speaker_turns_streamed"),
                        (SP, "turns_from_embeddings")]


# ---------------------------------------------------------------- audio (parent process)


def make_tiled(path: Path, seconds: float) -> Path:
    """The bundled example (16 kHz through ``load_audio``) tiled to ``seconds``, 16-bit WAV, unless present."""
    import soundfile as sf

    total = int(round(seconds * RATE))
    if path.exists():
        info = sf.info(str(path))
        if info.frames == total and info.samplerate == RATE and info.channels == 1:
            return path
    import turnpoint
    from turnpoint.core.audio import load_audio

    example = np.clip(load_audio(turnpoint.example_path(), sample_rate=RATE), -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    block = 600 * RATE
    with sf.SoundFile(str(temp), "w", RATE, 1, subtype="PCM_16", format="WAV") as out:
        for start in range(0, total, block):
            out.write(example[np.arange(start, min(total, start + block)) % len(example)])
    os.replace(temp, path)
    return path


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
    """``seconds`` of deterministic synthetic "conversation" (voiced harmonic turns of alternating
    pitch and timbre, with noise; 16 kHz, 16-bit) unless present.

    Not used by this benchmark any more (the speaker pipeline needs speech-like audio: it runs on
    the tiled example, :func:`make_tiled`); kept for ``benchmarks/gpu.py``, ``encoders.py`` and
    ``events.py``, which import it.
    """
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


# ---------------------------------------------------------------- stopwatch (measured process)


class _Stopwatch:
    """Exclusive wall time and calls of the functions it wraps, grouped into stages.

    A wrapped call's time, minus the time of wrapped calls nested in it, goes to its own stage, so
    functions of different stages may call each other (the streamed encoder pulls blocks through
    the VAD and the decoder) and a stage may list a function and the ones it calls. Generator
    functions are timed per ``next``. Calls in other threads are kept apart (``other_threads``).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._main = threading.get_ident()
        self._wrapped: dict[int, object] = {}  # id(original) -> wrapper
        self.functions: dict[str, dict] = {}  # "module:name" -> stage, seconds, other_threads, calls
        self.stages: dict[str, list[str]] = {}  # stage -> wrapped keys
        self.missing: dict[str, list[str]] = {}  # stage -> names not found

    # -- timing
    def _enter(self) -> float:
        stack = self._local.__dict__.setdefault("stack", [])
        stack.append(0.0)
        return time.perf_counter()

    def _exit(self, key: str, start: float) -> None:
        elapsed = time.perf_counter() - start
        stack = self._local.stack
        nested = stack.pop()
        if stack:
            stack[-1] += elapsed
        record = self.functions[key]
        with self._lock:
            record["calls"] += 1
            record["seconds" if threading.get_ident() == self._main else "other_threads"] += elapsed - nested

    def _timer(self, key: str, original):
        if inspect.isgeneratorfunction(original):

            @functools.wraps(original)
            def generator(*args, **kwargs):
                return self._iterate(key, original(*args, **kwargs))

            return generator

        @functools.wraps(original)
        def timed(*args, **kwargs):
            start = self._enter()
            try:
                return original(*args, **kwargs)
            finally:
                self._exit(key, start)

        return timed

    def _iterate(self, key: str, iterator):
        try:
            while True:
                start = self._enter()
                try:
                    item = next(iterator)
                except StopIteration:
                    return
                finally:
                    self._exit(key, start)
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    # -- wrapping
    def wrap(self, module_name: str, name: str, stage: str) -> bool:
        """Wrap ``module_name``'s ``name`` ("function" or "Class.method"); False when it does not exist."""
        import importlib

        self.stages.setdefault(stage, [])
        try:
            module = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001 - a module being edited or gone: that name is just missing
            module = None
        owner, _, attribute = name.rpartition(".")
        holder = getattr(module, owner, None) if owner else module
        raw = inspect.getattr_static(holder, attribute, None) if holder is not None else None
        original = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else (getattr(holder, attribute, None) if raw is not None else None)
        if original is None or not callable(original):
            self.missing.setdefault(stage, []).append(f"{module_name}:{name}")
            return False
        if id(original) in self._wrapped or getattr(original, "_stopwatch", False):
            return True  # already wrapped under another name
        # named where it is defined (the speaker module re-exports the VAD's names)
        key = f"{getattr(original, '__module__', None) or module_name}:{getattr(original, '__qualname__', None) or name}"
        if key in self.functions:
            key = f"{module_name}:{name}"
        self.functions[key] = {"stage": stage, "seconds": 0.0, "other_threads": 0.0, "calls": 0}
        self.stages[stage].append(key)
        wrapper = self._timer(key, original)
        wrapper._stopwatch = True
        self._wrapped[id(original)] = wrapper
        if owner:
            setattr(holder, attribute, type(raw)(wrapper) if isinstance(raw, (staticmethod, classmethod)) else wrapper)
        else:  # the module's name and every turnpoint module's alias of it (``from x import f``)
            for loaded in list(sys.modules.values()):
                if getattr(loaded, "__name__", "").startswith("turnpoint"):
                    for alias, value in list(vars(loaded).items()):
                        if value is original:
                            setattr(loaded, alias, wrapper)
        return True

    def wrap_stages(self, stages: list[tuple[str, list[tuple[str, str]]]]) -> None:
        for stage, names in stages:
            for module_name, name in names:
                self.wrap(module_name, name, stage)

    def wrap_vad_code(self) -> None:
        """Functions and classes that look like VAD code in the speaker module and in VAD modules."""
        import importlib
        import importlib.util

        modules = [SP]
        for name in VAD_MODULES:
            try:
                if importlib.util.find_spec(name) is not None:
                    modules.append(name)
            except Exception:  # noqa: BLE001 - a parent package missing
                pass
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except Exception:  # noqa: BLE001
                continue
            whole = module_name != SP  # a VAD module: all of it
            for name, value in list(vars(module).items()):
                if getattr(value, "__module__", None) != module_name or name.startswith("__"):
                    continue
                vad_named = whole or any(word in name.lower() for word in VAD_WORDS)
                if not vad_named or name.startswith("_no_"):
                    continue
                if inspect.isclass(value):
                    for method in ("__init__", "__call__", "push", "finish", "process", "probabilities", "speech_regions"):
                        if method in vars(value):
                            self.wrap(module_name, f"{name}.{method}", "VAD")
                elif inspect.isfunction(value) or hasattr(value, "cache_info"):
                    self.wrap(module_name, name, "VAD")

    def report(self, wall: float, order: list[str]) -> dict:
        stages: dict[str, dict] = {}
        claimed = 0.0
        for stage in order:
            keys = self.stages.get(stage, [])
            if not keys:
                stages[stage] = {"measured": False, "missing": self.missing.get(stage, [])}
                continue
            seconds = sum(self.functions[k]["seconds"] for k in keys)
            other = sum(self.functions[k]["other_threads"] for k in keys)
            claimed += seconds
            stages[stage] = {"measured": True, "seconds": round(seconds, 4), "share": round(seconds / wall, 4) if wall else None,
                             "calls": sum(self.functions[k]["calls"] for k in keys)}
            if other:
                stages[stage]["other_threads_seconds"] = round(other, 4)
        stages["rest"] = {"measured": True, "seconds": round(wall - claimed, 4), "share": round((wall - claimed) / wall, 4) if wall else None}
        functions = {k: {**v, "seconds": round(v["seconds"], 4), "other_threads": round(v["other_threads"], 4)} for k, v in self.functions.items()}
        return {"stages": stages, "functions": functions, "missing": self.missing}


# ---------------------------------------------------------------- workers (fresh subprocesses)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(function):
    start, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - start, time.process_time() - cpu


def _pipeline(settings: dict) -> str:
    if "speakers" in settings:
        return f"speakers/{(settings.get('speakers') or {}).get('encoder', '?')}"
    return "BiLSTM+re-scoring" if "rescoring" in settings else "BiLSTM"


def worker_detect(which: str, path: str) -> dict:
    """One bundled detector end to end on ``path``, with the stage breakdown where it has one."""
    started = time.perf_counter()
    import turnpoint
    from turnpoint.changes.detect import detect_changes
    from turnpoint.changes.modelfile import load_model
    from turnpoint.core.audio import load_audio

    startup = {"python imports": time.perf_counter() - started}
    mark = time.perf_counter()
    loaded = load_model(which)
    startup["load_model"] = time.perf_counter() - mark
    info: dict = {}
    mark = time.perf_counter()
    try:  # encoders, VAD, onnxruntime sessions: loaded and built here, outside the timing
        warm = load_audio(turnpoint.example_path(), sample_rate=RATE)[: int(WARMUP_SECONDS * RATE)]
        detect_changes(warm, model=loaded)
    except Exception as error:  # noqa: BLE001 - the timed run will say what is wrong
        info["note"] = f"warm-up failed ({type(error).__name__}: {str(error)[:120]})"
    startup["warm-up"] = time.perf_counter() - mark
    watch, order = None, []
    if which in ("default", "fast"):
        watch, order = _Stopwatch(), [stage for stage, _ in SPEAKER_STAGES]
        watch.wrap_stages(SPEAKER_STAGES)
        watch.wrap_vad_code()
    elif which == "hybrid":
        watch, order = _Stopwatch(), [stage for stage, _ in HYBRID_STAGES]
        watch.wrap_stages(HYBRID_STAGES)
    imported = time.perf_counter() - started
    detection, wall, cpu = _timed(lambda: detect_changes(path, model=loaded))
    info["changes"] = len(detection.changes)
    info["pipeline"] = _pipeline(detection.settings)
    if detection.settings.get("n_speakers") is not None:
        info["n_speakers"] = detection.settings["n_speakers"]
    if info["pipeline"] != EXPECTED_PIPELINE[which]:
        info["note"] = (info.get("note", "") + "; " if info.get("note") else "") + f"ran {info['pipeline']}, expected {EXPECTED_PIPELINE[which]}"
    if watch is not None:
        info["breakdown"] = watch.report(wall, order)
        if which != "hybrid":
            import importlib

            present = []
            for module_name, name in SPEAKER_ENTRY_POINTS:
                try:
                    present.append(hasattr(importlib.import_module(module_name), name))
                except Exception:  # noqa: BLE001
                    present.append(False)
            info["breakdown"]["entry_points_missing"] = [f"{m}:{n}" for (m, n), ok in zip(SPEAKER_ENTRY_POINTS, present) if not ok]
    info["startup"] = {k: round(v, 4) for k, v in startup.items()}
    return {"wall": wall, "cpu": cpu, "audio": float(detection.duration), "rss_mb": _rss_mb(), "imports": imported, **info}


def worker_extra(kind: str, path: str, option: str) -> dict:
    """The paper path's parts alone (``--extras``) and ruptures' KernelCPD."""
    started = time.perf_counter()
    from turnpoint.changes.modelfile import load_model
    from turnpoint.core.audio import iter_audio
    from turnpoint.core.features import FeatureStream

    loaded = load_model("paper")
    info: dict = {}
    if kind == "backend":  # the paper model end to end with a backend forced ("torch": the fallback)
        from turnpoint.changes.detect import changes_from_scores
        from turnpoint.changes.scoring import score_file

        settings = {"alpha": loaded.defaults.alpha, "min_duration": loaded.defaults.min_duration, "alpha_scale": loaded.defaults.alpha_scale}
        imported = time.perf_counter() - started

        def run():
            scores = score_file(path, model=loaded.model, specifications=loaded.specifications, backend=option)
            return changes_from_scores(scores, **settings), scores.duration

        (changes, audio), wall, cpu = _timed(run)
        info["changes"] = len(changes)
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
        from turnpoint.changes.scoring import ChangeAggregator
        from turnpoint.core.features import extract_features
        from turnpoint.core.windows import DEFAULT_THREADS, torch_threads

        samples = np.concatenate(list(iter_audio(path, sample_rate=RATE)))
        features = extract_features(samples)
        aggregator = ChangeAggregator(loaded.model, loaded.specifications, backend=option)
        info["runner"] = getattr(aggregator.runner, "name", "?")
        imported = time.perf_counter() - started

        def run():
            step = 3750  # 60 s of frames per push, as file scoring does
            parts = [aggregator.push(features[i : i + step]) for i in range(0, len(features), step)]
            return len(np.concatenate([*parts, aggregator.finish()]))

        with torch_threads(DEFAULT_THREADS):  # as file scoring does
            _, wall, cpu = _timed(run)
        audio = len(samples) / RATE
    elif kind == "kernel_cpd":
        import ruptures

        from turnpoint.changes.baselines import kernel_cpd_scores

        samples = np.concatenate(list(iter_audio(path, sample_rate=RATE)))
        imported = time.perf_counter() - started
        _, wall, cpu = _timed(lambda: kernel_cpd_scores(samples, penalties=(3.0,)))
        audio = len(samples) / RATE
        info["version"] = ruptures.__version__
    else:
        raise SystemExit(f"unknown worker {kind}")
    return {"wall": wall, "cpu": cpu, "audio": audio, "rss_mb": _rss_mb(), "imports": imported, **info}


def worker(kind: str, path: str, option: str) -> dict:
    return worker_detect(option, path) if kind == "detect" else worker_extra(kind, path, option)


# ---------------------------------------------------------------- parent: orchestration


# Thread-count variables of the calling shell are not passed on (unless --keep-thread-env): every
# measured process runs at its own defaults (pyannote's torch then uses all cores, as its users
# get; turnpoint sets its threads itself). An inherited OMP_NUM_THREADS=1 silently turns "pyannote
# at its defaults" into a 1-thread run. On a machine busy with other jobs, though, torch's default
# OpenMP threads wait for cores that others hold (pyannote took 258 s instead of 31 s on 5 min at
# load 5): there, --keep-thread-env with OMP_NUM_THREADS=1 keeps the run short, and the tables say
# which thread count pyannote ran with.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
KEEP_THREAD_ENV = False


def run_child(command: list[str], *, timeout: float) -> dict:
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
    return {"error": f"exit {done.returncode}: {tail[0][:300]}"}


def measure(name: str, kind: str, path: Path, option: str = "", *, python: str | None = None, script: Path | None = None,
            repeat: int = 1, seconds: float = 3600, extra: dict | None = None) -> dict:
    """Run one measurement ``repeat`` times (fresh processes) and keep the run with the median wall time."""
    load_before = os.getloadavg()[0]
    if script is None:
        command = [python or sys.executable, str(Path(__file__).resolve()), "--worker", kind, str(path), option]
    else:
        command = [python or sys.executable, str(script), kind, str(path), option]
    timeout = 600 + 0.5 * seconds  # generous: 2x real time plus start-up
    runs = [run_child(command, timeout=timeout) for _ in range(max(1, repeat))]
    good = sorted((r for r in runs if "wall" in r), key=lambda r: r["wall"])
    result = good[len(good) // 2] if good else runs[0]
    if len(runs) > 1:
        result["walls"] = [round(r["wall"], 3) for r in runs if "wall" in r]
    result.update(name=name, kind=kind, option=option, input=path.name, load=round(load_before, 2), **(extra or {}))
    if "wall" in result:
        result["x_realtime"] = result["audio"] / result["wall"]
    status = result.get("error") or (
        f"{result['wall']:.2f} s{' (median of ' + str(len(result['walls'])) + ')' if result.get('walls') else ''}, "
        f"{result['x_realtime']:,.0f}x real time, {result['rss_mb']:.0f} MB"
    )
    print(f"  {name:<28} {status}", file=sys.stderr, flush=True)
    return result


# ---------------------------------------------------------------- tables


def _fmt_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _x(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    if value >= 0.1:
        return f"{value:.2f}×"
    return f"{value:.3f}×"


def _find(results: list[dict], detector: str, length: str) -> dict | None:
    return next((r for r in results if r.get("detector") == detector and r.get("length") == length), None)


def _ok(r: dict | None) -> bool:
    return r is not None and "error" not in r and "wall" in r


def _lengths_in(results: list[dict]) -> list[str]:
    present = {r.get("length") for r in results}
    return [key for key in LENGTHS if key in present]


def _detectors_in(results: list[dict]) -> list[str]:
    present = {r.get("detector") for r in results}
    return [key for key in DETECTORS if key in present]


def compute_ratios(results: list[dict]) -> dict:
    """× real time of each detector over pyannote's and over paper's, same file; RSS growth."""
    out: dict = {"vs_pyannote": {}, "vs_paper": {}, "rss_10h_over_1h": {}}
    for detector in _detectors_in(results):
        for versus in ("pyannote", "paper"):
            if detector == versus or detector == "pyannote":  # pyannote / paper: the inverse of paper / pyannote
                continue
            row = {}
            for length in _lengths_in(results):
                a, b = _find(results, detector, length), _find(results, versus, length)
                row[length] = round(a["x_realtime"] / b["x_realtime"], 4) if _ok(a) and _ok(b) else None
            out[f"vs_{versus}"][detector] = row
        one, ten = _find(results, detector, "1h"), _find(results, detector, "10h")
        if _ok(one) and _ok(ten):
            out["rss_10h_over_1h"][detector] = round(ten["rss_mb"] / one["rss_mb"], 3)
    return out


def summary_table(results: list[dict]) -> str:
    lengths = _lengths_in(results)
    rows = ["| detector | " + " | ".join(f"{LENGTHS[k][1]}: × real time (wall, peak RSS)" for k in lengths) + " |",
            "|---|" + "---:|" * len(lengths)]
    for detector in _detectors_in(results):
        cells = []
        for length in lengths:
            r = _find(results, detector, length)
            cells.append("–" if r is None else "MISSING" if not _ok(r) else f"{_x(r['x_realtime'])} ({r['wall']:.2f} s, {r['rss_mb']:,.0f} MB)")
        rows.append(f"| {_label(results, detector)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def ratio_table(results: list[dict], ratios: dict) -> str:
    lengths = _lengths_in(results)
    rows = ["| speed ratio (× real time ÷ × real time, same file) | " + " | ".join(LENGTHS[k][1] for k in lengths) + " |",
            "|---|" + "---:|" * len(lengths)]
    for versus in ("pyannote", "paper"):
        for detector, row in ratios[f"vs_{versus}"].items():
            rows.append(f"| {detector} / {versus} | " + " | ".join(_x(row.get(k)) for k in lengths) + " |")
    return "\n".join(rows) if len(rows) > 2 else ""


def _stage_cell(stage: dict | None, *, share: bool = True) -> str:
    if stage is None or not stage.get("measured"):
        return "not measured"
    text = f"{stage['seconds']:.2f} s"
    if share and stage.get("share") is not None:
        text += f" ({stage['share']:.0%})"
    if stage.get("other_threads_seconds"):
        text += f" + {stage['other_threads_seconds']:.2f} s other threads"
    return text


def stage_table(results: list[dict], detectors: tuple[str, ...], order: list[str], *, lengths: list[str] | None = None) -> str:
    rows = ["| detector, audio | wall (s) | " + " | ".join(order + ["rest"]) + " |", "|---|---:|" + "---:|" * (len(order) + 1)]
    for detector in detectors:
        for length in lengths or _lengths_in(results):
            r = _find(results, detector, length)
            if not _ok(r) or "breakdown" not in r:
                continue
            stages = r["breakdown"]["stages"]
            rows.append(f"| {detector}, {LENGTHS[length][1]} | {r['wall']:.2f} | " + " | ".join(_stage_cell(stages.get(s)) for s in order + ["rest"]) + " |")
    return "\n".join(rows) if len(rows) > 2 else ""


def _note(r: dict) -> str:
    parts = []
    if r.get("walls"):
        parts.append(f"median of {len(r['walls'])}: {', '.join(f'{w:.2f}' for w in r['walls'])} s")
    if r.get("pipeline"):
        parts.append(r["pipeline"] + (f", {r['n_speakers']} speakers" if r.get("n_speakers") is not None else ""))
    if r.get("changes") is not None:
        parts.append(f"{r['changes']} changes")
    if r.get("settings"):
        parts.append(f"{r['settings']}, {r.get('torch_threads')} torch threads")
    if r.get("runner"):
        parts.append(f"runner {r['runner']}")
    if r.get("startup"):
        parts.append("start-up " + ", ".join(f"{k} {v:.2f} s" for k, v in r["startup"].items()))
    if r.get("note"):
        parts.append(r["note"])
    return "; ".join(parts)


def runs_table(results: list[dict]) -> str:
    rows = ["| run | audio | wall (s) | total incl. start-up (s) | × real time | peak RSS (MB) | load | note |",
            "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        if not _ok(r):
            rows.append(f"| {r['name']} | | | | | | {r.get('load', '')} | **MISSING**: {r.get('error', 'no result')} |")
            continue
        rows.append(f"| {r['name']} | {_fmt_duration(r['audio'])} | {r['wall']:.2f} | {r.get('total', float('nan')):.1f} | "
                    f"{r['x_realtime']:,.0f} | {r['rss_mb']:,.0f} | {r.get('load', '')} | {_note(r)} |")
    return "\n".join(rows)


def _machine_line(report: dict) -> str:
    m = report["machine"]
    loads = [r["load"] for r in report["results"] if "load" in r]
    threads = ", ".join(f"{k}={v}" for k, v in m.get("thread_variables", {}).items()) or "none set"
    load = f"1-min load average {min(loads):.1f}–{max(loads):.1f} during the run" if loads else "no load recorded"
    return (f"{m.get('cpus')} CPUs ({m.get('processor') or m.get('machine')}), {m.get('system')}, Python {m.get('python')}, "
            f"torch {m.get('torch')}, onnxruntime {m.get('onnxruntime')}, CUDA {'available (not used)' if m.get('cuda') else 'not available'}; "
            f"{load}; thread variables ({threads}) {'passed on' if m.get('thread_variables_passed_on') else 'not passed on'}")


def markdown(report: dict) -> str:
    results, ratios = report["results"], report["ratios"]
    quick = report.get("quick")
    parts = [f"# turnpoint benchmark{' (--quick: not the published numbers)' if quick else ''}", "",
             f"`{report['command']}`, {report['date']}. {_machine_line(report)}.", "",
             f"Audio: {report['audio']['source']}.", "", summary_table(results), ""]
    ratio = ratio_table(results, ratios)
    if ratio:
        parts += [ratio, ""]
    speaker = stage_table(results, ("default", "fast"), [s for s, _ in SPEAKER_STAGES])
    if speaker:
        parts += ["Speaker pipeline by stage: exclusive wall time on the main thread (share of the detection's wall time); "
                  "\"+ s other threads\" is time on other threads (the streamed path's VAD thread), overlapping the main "
                  "thread's stages, whose waits for it are \"waiting on threads\":", "", speaker, ""]
    hybrid = stage_table(results, ("hybrid",), [s for s, _ in HYBRID_STAGES])
    if hybrid:
        parts += ["Hybrid by stage:", "", hybrid, ""]
    if ratios.get("rss_10h_over_1h"):
        parts += ["Peak RSS 10 h / 1 h: " + ", ".join(f"{k} {v:.2f}×" for k, v in ratios["rss_10h_over_1h"].items()), ""]
    missing = sorted({name for r in results for names in (r.get("breakdown") or {}).get("missing", {}).values() for name in names})
    if missing:
        parts += ["Names the stopwatch looked up and did not find in this code (a stage is \"not measured\" only when none of its "
                  "names exists): " + ", ".join(f"`{n}`" for n in missing), ""]
    parts += ["Every run:", "", runs_table(results), ""]
    return "\n".join(parts)


def readme_table(report: dict) -> str:
    """The README's performance table: × real time, peak RSS and speed ratios per detector, and the
    speaker pipeline's stages on the longest audio measured; no machine paths."""
    results, ratios = report["results"], report["ratios"]
    lengths = _lengths_in(results)
    span = " / ".join(LENGTHS[k][1] for k in lengths)
    rows = [f"| detector | × real time ({span}) | peak RSS, MB ({span}) | speed vs pyannote ({span}) | speed vs paper ({span}) |",
            "|---|---:|---:|---:|---:|"]
    for detector in _detectors_in(results):
        found = [_find(results, detector, k) for k in lengths]
        speed = " / ".join(_x(r["x_realtime"]) if _ok(r) else ("MISSING" if r is not None else "–") for r in found)
        rss = " / ".join(f"{r['rss_mb']:,.0f}" if _ok(r) else "–" for r in found)
        vs_pyannote = " / ".join(_x(ratios["vs_pyannote"].get(detector, {}).get(k)) for k in lengths) if detector != "pyannote" else ""
        vs_paper = " / ".join(_x(ratios["vs_paper"].get(detector, {}).get(k)) for k in lengths) if detector not in ("paper", "pyannote") else ""
        rows.append(f"| {_label(results, detector)} | {speed} | {rss} | {vs_pyannote} | {vs_paper} |")
    out = [f"<!-- generated by `python benchmarks/run.py --readme-table FILE` from its JSON ({report['date']}); do not edit by hand -->"]
    if report.get("quick"):
        out.append("**Quick run (`--quick`): not the published numbers.**\n")
    out.append("\n".join(rows))
    longest = next((k for k in reversed(lengths) if any(_ok(_find(results, d, k)) and "breakdown" in _find(results, d, k) for d in ("default", "fast"))), None)
    if longest:
        order = [s for s, _ in SPEAKER_STAGES]
        head = "| speaker pipeline, " + LENGTHS[longest][1] + " | " + " | ".join(order + ["rest"]) + " |"
        stage_rows = [head, "|---|" + "---:|" * (len(order) + 1)]
        for detector in ("default", "fast"):
            r = _find(results, detector, longest)
            if _ok(r) and "breakdown" in r:
                stages = r["breakdown"]["stages"]
                stage_rows.append(f"| {detector} | " + " | ".join(_share(stages.get(s)) for s in order + ["rest"]) + " |")
        out += ["", "\n".join(stage_rows)]
    m = report["machine"]
    loads = [r["load"] for r in results if "load" in r]
    repeats = report.get("repeat", {})
    out += ["", (
        f"`{_plain_command(report['command'])}` on {m.get('cpus')} CPU cores, CPU only"
        + (f", 1-min load {min(loads):.1f}–{max(loads):.1f}" if loads else "")
        + f". Audio: {report['audio']['short']}. Each figure is one fresh process"
        + (f" (median of {repeats.get('short')} on 10 min)" if repeats.get("short", 1) > 1 else "")
        + ": × real time is the detection's wall time (imports, model loading and a warm-up run excluded), peak RSS the process's"
        " `ru_maxrss`; speed ratios divide × real time on the same file in the same run."
        " pyannote: its segmentation model (PyanNet, random weights) through `Inference` at its defaults, waveform in memory."
        " Stages: exclusive wall time (share of the detection) of the pipeline's functions, wrapped by name at run time."
    )]
    return "\n".join(out) + "\n"


def _share(stage: dict | None) -> str:
    if stage is None or not stage.get("measured"):
        return "not measured"
    text = f"{stage['seconds']:.1f} s ({stage['share']:.0%})" if stage.get("share") is not None else f"{stage['seconds']:.1f} s"
    if stage.get("other_threads_seconds"):
        text += f" + {stage['other_threads_seconds']:.1f} s on another thread"
    return text


def _label(results: list[dict], detector: str) -> str:
    label = DETECTORS[detector][0]
    threads = sorted({r["torch_threads"] for r in results if r.get("detector") == detector and "torch_threads" in r})
    if threads:  # pyannote's speed depends on its torch threads: say how many it had
        label += f" ({'/'.join(map(str, threads))} torch thread{'s' if threads != [1] else ''})"
    return label


#: options that only say where files go: left out of the command shown in the README
_PATH_OPTIONS = ("--json", "--markdown", "--readme-table", "--data", "--peers-python", "--from-json")


def _plain_command(command: str) -> str:
    words, out, skip = command.split(), [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in _PATH_OPTIONS:
            skip = True
            continue
        if any(word.startswith(option + "=") for option in _PATH_OPTIONS):
            continue
        out.append(word)
    return " ".join(out)


# ---------------------------------------------------------------- no machine paths in the outputs

_ABSOLUTE = re.compile(r"(?<![\w.~$])/(?:[^\s/:'\"()\[\],;]+/)+([^\s/:'\"()\[\],;]*)")


def _scrubber(data: Path):
    """Replace the data folder by DATA, $TURNPOINT_DATA, the repository by ".", home by "~", then
    any other absolute path by its last part."""
    pairs = []
    for path, label in ((data, "DATA"), (_DATA_ROOT, "$TURNPOINT_DATA"), (REPO, "."), (Path.home(), "~")):
        try:
            pairs.append((str(Path(path).resolve()), label))
            pairs.append((str(Path(path).absolute()), label))
        except OSError:
            pass
    pairs = sorted({p for p in pairs if len(p[0]) > 1}, key=lambda p: -len(p[0]))

    def scrub(value):
        if isinstance(value, str):
            for root, label in pairs:
                value = value.replace(root, label)
            return _ABSOLUTE.sub(lambda m: ".../" + m.group(1), value)
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, dict):
            return {scrub(k) if isinstance(k, str) else k: scrub(v) for k, v in value.items()}
        return value

    return scrub


# ---------------------------------------------------------------- main


def _machine() -> dict:
    import torch

    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except Exception:  # noqa: BLE001
        ort = None
    try:
        from importlib.metadata import version

        turnpoint_version = version("turnpoint")
    except Exception:  # noqa: BLE001
        turnpoint_version = None
    return {
        "cpus": os.cpu_count(),
        "system": f"{platform.system()} {platform.machine()}",
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort,
        "turnpoint": turnpoint_version,
        "cuda": torch.cuda.is_available(),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "thread_variables_passed_on": KEEP_THREAD_ENV,
    }


def _command_line(argv: list[str]) -> str:
    return " ".join(["python", "benchmarks/run.py", *argv]).strip()


def write_outputs(report: dict, *, json_path: Path | None, markdown_path: Path | None, readme_path: Path | None) -> None:
    text = markdown(report)
    print(text)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"saved {json_path}", file=sys.stderr)
    if markdown_path is not None:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(text)
        print(f"saved {markdown_path}", file=sys.stderr)
    if readme_path is not None:
        readme_path.parent.mkdir(parents=True, exist_ok=True)
        readme_path.write_text(readme_table(report))
        print(f"saved {readme_path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where generated audio goes (default %(default)s)")
    parser.add_argument("--json", type=Path, default=None, help=f"results file (default {DEFAULT_JSON.relative_to(REPO)}; with --quick DATA/results_quick.json)")
    parser.add_argument("--markdown", type=Path, default=None, help="markdown tables (default: the JSON's name with .md)")
    parser.add_argument("--readme-table", type=Path, default=None, metavar="FILE", help="also write the README's performance table (markdown) to FILE")
    parser.add_argument("--from-json", type=Path, default=None, metavar="FILE", help="measure nothing: write the tables (--markdown, --readme-table) from FILE")
    parser.add_argument("--quick", action="store_true", help="10 min and 1 h only, each run once")
    parser.add_argument("--lengths", default=None, help=f"comma-separated audio lengths of {','.join(LENGTHS)} (default all; --quick: 10min,1h)")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated detectors (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs (median kept) on 10 min (default %(default)s; --quick: 1)")
    parser.add_argument("--repeat-long", type=int, default=1, help="runs on 1 h and 10 h (default %(default)s)")
    parser.add_argument("--extras", action="store_true", help="also the paper path's parts alone (decode, features, model onnx/torch, torch fallback) and ruptures KernelCPD")
    parser.add_argument("--peers-python", default=str(DEFAULT_PEERS), help="interpreter of the peers' venv (default %(default)s)")
    parser.add_argument("--keep-thread-env", action="store_true", help="pass OMP_NUM_THREADS and the like on to the measured processes")
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "PATH", "OPTION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        kind, path, option = args.worker
        print("RESULT " + json.dumps(worker(kind, path, option)))
        return 0

    if args.from_json is not None:
        report = json.loads(args.from_json.read_text())
        if report.get("format") != FORMAT_VERSION:
            raise SystemExit(f"{args.from_json}: not a results file of this benchmark (format {report.get('format')!r}, expected {FORMAT_VERSION})")
        write_outputs(report, json_path=None, markdown_path=args.markdown, readme_path=args.readme_table)
        return 0

    global KEEP_THREAD_ENV
    KEEP_THREAD_ENV = args.keep_thread_env
    detectors = [d.strip() for d in args.detectors.split(",") if d.strip()]
    unknown = [d for d in detectors if d not in DETECTORS]
    lengths = [x.strip() for x in (args.lengths or ("10min,1h" if args.quick else ",".join(LENGTHS))).split(",") if x.strip()]
    unknown += [x for x in lengths if x not in LENGTHS]
    if unknown:
        parser.error(f"unknown detector or length: {', '.join(unknown)} (detectors {', '.join(DETECTORS)}; lengths {', '.join(LENGTHS)})")
    repeat_short = 1 if args.quick else args.repeat
    repeat_long = 1 if args.quick else args.repeat_long
    data = args.data
    json_path = args.json or (data / "results_quick.json" if args.quick else DEFAULT_JSON)
    markdown_path = args.markdown or json_path.with_suffix(".md")

    print(f"generating audio in {data} ...", file=sys.stderr, flush=True)
    files = {length: make_tiled(data / f"example_tiled_{length}.wav", LENGTHS[length][0]) for length in lengths}
    peers_python = args.peers_python if Path(args.peers_python).exists() else None
    scrub = _scrubber(data)
    results: list[dict] = []
    print("measuring (each line a fresh process) ...", file=sys.stderr, flush=True)
    for length in lengths:  # all detectors on one file before the next: they meet the same load
        seconds, label = LENGTHS[length]
        path = files[length]
        repeat = repeat_short if length == "10min" else repeat_long
        for detector in detectors:
            name = f"{detector}, {label}"
            tags = {"detector": detector, "length": length}
            if detector == "pyannote":
                if peers_python:
                    results.append(measure(name, "pyannote", path, python=peers_python, script=HERE / "peers.py", repeat=repeat, seconds=seconds, extra=tags))
                else:
                    results.append({"name": name, **tags, "error": f"peers venv not found ({args.peers_python}): run scripts/install_peers.sh"})
                    print(f"  {name:<28} MISSING (no peers venv)", file=sys.stderr)
            else:
                results.append(measure(name, "detect", path, detector, repeat=repeat, seconds=seconds, extra=tags))
    if args.extras:
        short, long = files.get("10min"), files.get("1h") or files.get("10min")
        if short is None:
            short = make_tiled(data / "example_tiled_10min.wav", 600)
        extra = {"detector": "extra"}
        results.append(measure(f"paper, torch fallback, {_fmt_duration(sf_seconds(long))}", "backend", long, "torch", seconds=sf_seconds(long), extra=extra))
        results.append(measure(f"decode alone, {_fmt_duration(sf_seconds(long))}", "decode", long, seconds=sf_seconds(long), extra=extra))
        results.append(measure(f"features alone (in memory), {_fmt_duration(sf_seconds(long))}", "features", long, seconds=sf_seconds(long), extra=extra))
        results.append(measure("model alone (onnxruntime), 10 min", "model", short, "onnx", seconds=600, extra=extra))
        results.append(measure("model alone (torch), 10 min", "model", short, "torch", seconds=600, extra=extra))
        results.append(measure("ruptures KernelCPD, 10 min", "kernel_cpd", short, seconds=600, extra=extra))

    import soundfile as sf
    import turnpoint

    example = sf.info(turnpoint.example_path())
    report = {
        "format": FORMAT_VERSION,
        "benchmark": "benchmarks/run.py",
        "command": _command_line(argv),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "repeat": {"short": repeat_short, "long": repeat_long},
        "machine": _machine(),
        "audio": {
            "source": (f"the bundled example {Path(turnpoint.example_path()).name} ({example.samplerate} Hz {example.format}, "
                       f"{example.duration:.1f} s) read with turnpoint.core.audio.load_audio (16 kHz) and tiled, 16 kHz 16-bit WAV in DATA"),
            "short": f"the bundled two-speaker example ({example.duration:.0f} s) tiled to each length, 16 kHz 16-bit WAV",
            "files": {length: {"file": f"DATA/{files[length].name}", "seconds": LENGTHS[length][0]} for length in lengths},
        },
        "detectors": {key: DETECTORS[key][1] for key in detectors},
        "results": results,
    }
    report["ratios"] = compute_ratios(results)
    report = scrub(report)
    report["tables"] = {
        "summary": summary_table(report["results"]),
        "ratios": ratio_table(report["results"], report["ratios"]),
        "speaker_stages": stage_table(report["results"], ("default", "fast"), [s for s, _ in SPEAKER_STAGES]),
        "hybrid_stages": stage_table(report["results"], ("hybrid",), [s for s, _ in HYBRID_STAGES]),
        "runs": runs_table(report["results"]),
    }
    write_outputs(report, json_path=json_path, markdown_path=markdown_path, readme_path=args.readme_table)
    return 0


def sf_seconds(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).frames / RATE


if __name__ == "__main__":
    raise SystemExit(main())
