"""Peer measurements, run by ``benchmarks/run.py`` with the PEERS' interpreter (scripts/install_peers.sh).

This file imports nothing from turnpoint: it runs in the peers' own virtual environment.

    $TURNPOINT_DATA/peers-venv/bin/python benchmarks/peers.py pyannote excerpt.wav

pyannote.audio 4.x imports torchaudio (and torchcodec) at module level; on a CPU-only machine the
torchaudio wheel that pip finds is built for another torch and its native library fails to load.
Nothing here needs it: the waveform is handed to ``Inference`` in memory
(``{"waveform": (1, samples) tensor, "sample_rate": 16000}``), so no decoding or resampling goes
through torchaudio/torchcodec. When the real torchaudio cannot be imported, an inert stand-in
module is put in its place (any call raises), which is enough for pyannote to import.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import types
import warnings


def _stub_torchaudio() -> None:
    import importlib.abc
    import importlib.machinery

    class Inert:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, *args, **kwargs):
            raise RuntimeError("torchaudio stand-in: pass 16 kHz waveforms in memory")

        def __getattr__(self, name):
            return Inert()

        def __mro_entries__(self, bases):
            return (object,)

    class Module(types.ModuleType):
        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return Inert()

    class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "torchaudio" or name.startswith("torchaudio."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            module = Module(spec.name)
            module.__path__ = []
            module.__version__ = "0-stand-in"
            return module

        def exec_module(self, module):
            pass

    for name in [n for n in sys.modules if n == "torchaudio" or n.startswith("torchaudio.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, Finder())


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pyannote(path: str, threads: str = "") -> dict:
    started = time.perf_counter()
    warnings.filterwarnings("ignore")
    note = ""
    try:
        import torchaudio  # noqa: F401
    except Exception as error:  # noqa: BLE001
        _stub_torchaudio()
        note = f"torchaudio stand-in ({type(error).__name__}); waveform passed in memory"
    import soundfile as sf
    import torch
    from pyannote.audio import Inference, __version__
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    model = PyanNet(sample_rate=16000)  # random weights: speed only
    model.specifications = Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0, classes=["a", "b", "c"]
    )
    model.build()
    model.eval()
    inference = Inference(model, device=torch.device("cpu"))  # its defaults: 10 s windows, 1 s step, batch 32
    samples, rate = sf.read(path, dtype="float32")
    waveform = torch.from_numpy(samples)[None]
    imported = time.perf_counter() - started
    start, cpu = time.perf_counter(), time.process_time()
    output = inference({"waveform": waveform, "sample_rate": rate})
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "cpu": time.process_time() - cpu,
        "audio": len(samples) / rate,
        "rss_mb": _rss_mb(),
        "imports": imported,
        "version": __version__,
        "torch_threads": torch.get_num_threads(),
        "settings": f"window {inference.duration:g} s, step {inference.step:g} s, batch {inference.batch_size}",
        "frames": int(output.data.shape[0]),
        "note": note,
    }


def check() -> None:
    """Print the peers' versions, importing pyannote.audio the way the benchmark does."""
    warnings.filterwarnings("ignore")  # torchcodec's "not installed correctly": not needed in memory
    try:
        import torchaudio  # noqa: F401
        how = "real torchaudio"
    except Exception as error:  # noqa: BLE001
        _stub_torchaudio()
        how = f"torchaudio stand-in: the real one fails to load ({type(error).__name__})"
    for name in ("torch", "ruptures", "pyannote.audio"):
        try:
            module = __import__(name, fromlist=["__version__"])
            extra = f" ({how})" if name == "pyannote.audio" else ""
            print(f"{name:16s} {getattr(module, '__version__', '?')}{extra}")
        except Exception as error:  # noqa: BLE001
            print(f"{name:16s} MISSING ({type(error).__name__}: {str(error).splitlines()[0][:120]})")


def main() -> None:
    if sys.argv[1:] == ["check"]:
        check()
        return
    kind, path, option = sys.argv[1], sys.argv[2], (sys.argv[3] if len(sys.argv) > 3 else "")
    result = {"pyannote": pyannote}[kind](path, option)
    result["pid"] = os.getpid()
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
