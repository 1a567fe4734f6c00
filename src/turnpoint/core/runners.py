"""Fast paths for scoring windows: a network through onnxruntime, torch as the fallback.

A *runner* turns a batch of equal-length feature windows ``(batch, frame, feature)`` float32 into
scores ``(batch, frame)`` or ``(batch, frame, output)`` float32. It runs a *scoring module*: any
:class:`torch.nn.Module` whose forward maps those windows to those scores (a task wraps its network
so, e.g. adding the sigmoid). :func:`make_runner` picks one:

``"torch"``  the module itself, on whatever device it lives (CPU or CUDA).
``"onnx"``   the module exported to ONNX (opset 17, dynamic batch *and* time axes, so the one export
             serves the full windows and the single shorter pass of a short file), run by
             onnxruntime's CPU provider. Each export is checked against torch on random windows of
             two lengths and refused when any score differs by more than 1e-5.
``"auto"``   onnx when onnxruntime is installed and the module is on the CPU, else torch. Any failure
             to export or load falls back to torch with a warning: scoring never depends on it.

What the module reads is described by :class:`Inputs` (feature width, and the typical mean and
spread the check draws its random windows around).

Exports are cached per weights (sha256 of the tensors and the architecture) in memory and on disk
(``$TURNPOINT_CACHE`` or ``~/.cache/turnpoint/onnx``; written atomically; unwritable caches are
skipped), so a worker process or a second run loads the graph instead of re-exporting it.

Threads: one intra-op thread by default for both engines, with onnxruntime's spinning turned off —
on a busy machine spinning worker threads cost far more than they give to a small network.
Use processes (``turnpoint detect --jobs N``) to use more cores.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from turnpoint.core.task import JsonConfig

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")
ONNX_TOLERANCE = 1e-5
OPSET = 17
_EXPORT_VERSION = "1"

Runner = Callable[[np.ndarray], np.ndarray]
_sessions: dict[tuple[str, int], Runner] = {}


@dataclass(frozen=True)
class Inputs:
    """What a scoring module reads: windows of ``dim`` features, typically ``mean`` +- ``scale``.

    ``mean`` and ``scale`` (scalars or ``(dim,)`` arrays) only shape the random windows that an
    ONNX export is checked on: a network normalising its input sees realistic values then.

    Examples
    --------
    >>> Inputs(35).random((2, 10), np.random.default_rng(0)).shape
    (2, 10, 35)
    """

    dim: int
    mean: np.ndarray | float = 0.0
    scale: np.ndarray | float = 1.0

    def random(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Random (batch, frame, dim) float32 windows around :attr:`mean`."""
        return (rng.normal(size=(*shape, self.dim)) * self.scale + self.mean).astype(np.float32)


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported here.

    Examples
    --------
    >>> isinstance(onnxruntime_available(), bool)
    True
    """
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001 - a broken install counts as missing
        return False
    return True


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def model_digest(module: torch.nn.Module) -> str:
    """sha256 of the architecture, the weights and buffers, and the exporter (names the cache entry).

    The architecture is the module's ``config`` where it is a :class:`~turnpoint.core.task.JsonConfig`
    (as turnpoint's networks and their scoring wrappers carry), else the module's layer listing.

    Examples
    --------
    >>> len(model_digest(torch.nn.Linear(3, 1)))
    64
    """
    config = getattr(module, "config", None)
    architecture = config.to_dict() if isinstance(config, JsonConfig) else repr(module)
    digest = hashlib.sha256()
    digest.update(json.dumps(architecture, sort_keys=True).encode())
    digest.update(f"{torch.__version__}/{OPSET}/{_EXPORT_VERSION}".encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def onnx_graph(module: torch.nn.Module, example: torch.Tensor, *, output: str, output_axes: dict[int, str]) -> bytes:
    """``module`` (a CPU copy, in eval mode) as an ONNX graph: input ``features`` with dynamic batch
    and frame axes, one output named ``output`` with the dynamic ``output_axes``."""
    cpu = copy.deepcopy(module).to("cpu").eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cpu,
            (example,),
            buffer,
            input_names=["features"],
            output_names=[output],
            dynamic_axes={"features": {0: "batch", 1: "frames"}, output: dict(output_axes)},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def export_onnx(module: torch.nn.Module, inputs: Inputs) -> bytes:
    """The scoring module as an ONNX graph with dynamic batch and time axes."""
    example = torch.zeros(2, 200, inputs.dim)  # (batch, frame, feature)
    # the scores' batch and frame axes are dynamic; a trailing output axis is fixed
    return onnx_graph(module, example, output="scores", output_axes={0: "batch", 1: "frames"})


def cache_dir() -> Path:
    """Where ONNX exports are kept: ``$TURNPOINT_CACHE/onnx``, else the user's cache folder.

    Examples
    --------
    >>> cache_dir().name
    'onnx'
    """
    root = os.environ.get("TURNPOINT_CACHE")
    if root:
        return Path(root) / "onnx"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "turnpoint" / "onnx"


def _cached_export(module: torch.nn.Module, inputs: Inputs, digest: str) -> bytes:
    path = cache_dir() / f"{digest}.onnx"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = export_onnx(module, inputs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except OSError as error:  # read-only home, full disk: just don't cache
        logger.debug("onnx cache not written (%s)", error)
    return data


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """Inference in full float32 on a GPU: cuDNN's TF32 (on by default for its LSTMs and convolutions
    on Ampere and later) off for the block, the other cuDNN flags kept.

    With TF32 the GPU's scores differed from the CPU's by up to 1e-3 (speaker change) and 8e-2
    (sound events), and one change in an hour flipped; without it 1e-5, and the outputs are the
    same (``benchmarks/gpu.py``, H100), for 10-20 % of the GPU's speed. No effect on a CPU.

    Examples
    --------
    >>> with full_float32():
    ...     torch.backends.cudnn.allow_tf32
    False
    """
    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=False):
        yield


class TorchRunner:
    """Windows through the scoring module on the module's device.

    Examples
    --------
    >>> TorchRunner(torch.nn.Linear(3, 2))(np.zeros((4, 5, 3), np.float32)).shape
    (4, 5, 2)
    """

    name = "torch"

    def __init__(self, module: torch.nn.Module):
        self.module = module
        self.device = _device(module)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), full_float32():
            batch = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)  # (batch, frame, feature)
            return self.module(batch).float().cpu().numpy()  # (batch, frame[, output])


class OnnxRunner:
    """Windows through an onnxruntime session of an exported graph (CPU)."""

    name = "onnx"

    def __init__(self, graph: bytes, *, threads: int | None = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, threads or 0)  # 0: onnxruntime's default
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"features": np.ascontiguousarray(windows, dtype=np.float32)})[0]


def max_difference(runner: Runner, module: torch.nn.Module, inputs: Inputs, *, seed: int = 0) -> float:
    """Largest |runner - torch| score difference on random windows of 200 and 37 frames.

    Examples
    --------
    >>> linear = torch.nn.Linear(3, 1)
    >>> max_difference(TorchRunner(linear), linear, Inputs(3))
    0.0
    """
    rng = np.random.default_rng(seed)
    reference = TorchRunner(module)
    worst = 0.0
    for shape in ((3, 200), (1, 37)):
        x = inputs.random(shape, rng)
        worst = max(worst, float(np.abs(runner(x) - reference(x)).max()))
    return worst


def onnx_runner(module: torch.nn.Module, inputs: Inputs, *, threads: int | None = 1) -> OnnxRunner:
    """An onnxruntime runner for ``module``, checked against torch to 1e-5 (cached per weights)."""
    digest = model_digest(module)
    key = (digest, threads or 0)
    if key not in _sessions:
        runner = OnnxRunner(_cached_export(module, inputs, digest), threads=threads)
        difference = max_difference(runner, module, inputs)
        if not difference <= ONNX_TOLERANCE:
            (cache_dir() / f"{digest}.onnx").unlink(missing_ok=True)
            raise RuntimeError(f"onnx export differs from torch by {difference:.2e} (> {ONNX_TOLERANCE})")
        while len(_sessions) >= 8:  # weights that change (a training loop) must not pile up sessions
            _sessions.pop(next(iter(_sessions)))
        _sessions[key] = runner
    return _sessions[key]  # type: ignore[return-value]


def make_runner(module: torch.nn.Module, backend: str = "auto", *, inputs: Inputs, threads: int | None = 1) -> Runner:
    """The window runner of a scoring module for ``backend`` ("auto", "onnx" or "torch").

    Examples
    --------
    >>> make_runner(torch.nn.Linear(3, 1), "torch", inputs=Inputs(3)).name
    'torch'
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "torch":
        return TorchRunner(module)
    if backend == "auto" and (_device(module).type != "cpu" or not onnxruntime_available()):
        return TorchRunner(module)
    try:
        return onnx_runner(module, inputs, threads=threads)
    except Exception as error:  # noqa: BLE001 - any export/load problem: torch still works
        if backend == "onnx":
            raise
        warnings.warn(f"onnxruntime path unavailable ({error}); using torch", RuntimeWarning, stacklevel=2)
        return TorchRunner(module)


__all__ = [
    "BACKENDS", "Inputs", "OnnxRunner", "Runner", "TorchRunner", "cache_dir", "export_onnx", "full_float32", "make_runner", "max_difference",
    "model_digest", "onnx_runner", "onnxruntime_available",
]
