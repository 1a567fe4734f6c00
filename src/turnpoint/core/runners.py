"""Fast paths for scoring windows: the BiLSTM through onnxruntime, torch as the fallback.

A *runner* turns a batch of equal-length feature windows ``(batch, frames, 35)`` float32 into change
probabilities ``(batch, frames)`` float32. :func:`make_runner` picks one:

``"torch"``  the model itself (``model.scores``), on whatever device it lives (CPU or CUDA).
``"onnx"``   the model exported to ONNX (opset 17, dynamic batch *and* time axes, so the one export
             serves the 3.2 s windows and the single shorter pass of a short file), run by
             onnxruntime's CPU provider. Each export is checked against torch on random windows of
             two lengths and refused when any score differs by more than 1e-5.
``"auto"``   onnx when onnxruntime is installed and the model is on the CPU, else torch. Any failure
             to export or load falls back to torch with a warning: detection never depends on it.

Exports are cached per weights (sha256 of the tensors and the architecture) in memory and on disk
(``$TURNPOINT_CACHE`` or ``~/.cache/turnpoint/onnx``; written atomically; unwritable caches are
skipped), so a worker process or a second run loads the graph instead of re-exporting it.

Threads: one intra-op thread by default for both engines, with onnxruntime's spinning turned off —
on a busy machine spinning worker threads cost far more than they give to a 33k-parameter network.
Use processes (``turnpoint detect --jobs N``) to use more cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from turnpoint.changes.model import SpeakerChangeDetector

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch")
ONNX_TOLERANCE = 1e-5
OPSET = 17
_EXPORT_VERSION = "1"

Runner = Callable[[np.ndarray], np.ndarray]
_sessions: dict[tuple[str, int], Runner] = {}


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


def _device(model: SpeakerChangeDetector) -> torch.device:
    return next(model.parameters()).device


def model_digest(model: SpeakerChangeDetector) -> str:
    """sha256 of the architecture, the weights and buffers, and the exporter (names the cache entry)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model.config.to_dict(), sort_keys=True).encode())
    digest.update(f"{torch.__version__}/{OPSET}/{_EXPORT_VERSION}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class _Scores(torch.nn.Module):
    def __init__(self, model: SpeakerChangeDetector):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(features))[..., 0]


def export_onnx(model: SpeakerChangeDetector) -> bytes:
    """The model (features -> sigmoid scores) as an ONNX graph with dynamic batch and time axes."""
    import copy

    cpu = copy.deepcopy(model).to("cpu").eval()
    buffer = io.BytesIO()
    example = torch.zeros(2, 200, model.config.input_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Scores(cpu),
            (example,),
            buffer,
            input_names=["features"],
            output_names=["scores"],
            dynamic_axes={"features": {0: "batch", 1: "frames"}, "scores": {0: "batch", 1: "frames"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


def cache_dir() -> Path:
    root = os.environ.get("TURNPOINT_CACHE")
    if root:
        return Path(root) / "onnx"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "turnpoint" / "onnx"


def _cached_export(model: SpeakerChangeDetector, digest: str) -> bytes:
    path = cache_dir() / f"{digest}.onnx"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = export_onnx(model)
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
    """Windows through ``model.scores`` on the model's device."""

    name = "torch"

    def __init__(self, model: SpeakerChangeDetector):
        self.model = model
        self.device = _device(model)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), full_float32():
            batch = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
            return self.model.scores(batch).float().cpu().numpy()


class OnnxRunner:
    """Windows through an onnxruntime session of the exported model (CPU)."""

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


def max_difference(runner: Runner, model: SpeakerChangeDetector, *, seed: int = 0) -> float:
    """Largest |runner - torch| score difference on random windows of 200 and 37 frames."""
    rng = np.random.default_rng(seed)
    reference = TorchRunner(model)
    worst = 0.0
    for shape in ((3, 200, model.config.input_dim), (1, 37, model.config.input_dim)):
        x = (rng.normal(size=shape) * model.input_scale.cpu().numpy() + model.input_mean.cpu().numpy()).astype(np.float32)
        worst = max(worst, float(np.abs(runner(x) - reference(x)).max()))
    return worst


def onnx_runner(model: SpeakerChangeDetector, *, threads: int | None = 1) -> OnnxRunner:
    """An onnxruntime runner for ``model``, checked against torch to 1e-5 (cached per weights)."""
    digest = model_digest(model)
    key = (digest, threads or 0)
    if key not in _sessions:
        runner = OnnxRunner(_cached_export(model, digest), threads=threads)
        difference = max_difference(runner, model)
        if not difference <= ONNX_TOLERANCE:
            (cache_dir() / f"{digest}.onnx").unlink(missing_ok=True)
            raise RuntimeError(f"onnx export differs from torch by {difference:.2e} (> {ONNX_TOLERANCE})")
        while len(_sessions) >= 8:  # weights that change (a training loop) must not pile up sessions
            _sessions.pop(next(iter(_sessions)))
        _sessions[key] = runner
    return _sessions[key]  # type: ignore[return-value]


def make_runner(model: SpeakerChangeDetector, backend: str = "auto", *, threads: int | None = 1) -> Runner:
    """The window runner for ``backend`` ("auto", "onnx" or "torch").

    Examples
    --------
    >>> from turnpoint.changes.model import SpeakerChangeConfig
    >>> make_runner(SpeakerChangeDetector(SpeakerChangeConfig()), "torch").name
    'torch'
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "torch":
        return TorchRunner(model)
    if backend == "auto" and (_device(model).type != "cpu" or not onnxruntime_available()):
        return TorchRunner(model)
    try:
        return onnx_runner(model, threads=threads)
    except Exception as error:  # noqa: BLE001 - any export/load problem: torch still works
        if backend == "onnx":
            raise
        warnings.warn(f"onnxruntime path unavailable ({error}); using torch", RuntimeWarning, stacklevel=2)
        return TorchRunner(model)


__all__ = [
    "BACKENDS", "OnnxRunner", "TorchRunner", "export_onnx", "full_float32", "make_runner", "max_difference", "onnx_runner", "onnxruntime_available",
]
