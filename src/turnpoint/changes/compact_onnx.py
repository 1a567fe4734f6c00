"""Running the compact encoder: torch, or onnxruntime on an exported ONNX graph checked against torch.

:func:`make_runner` gives a function ``(batch, frames, n_mels) -> (batch, n, embedding_size)`` for
a :class:`~turnpoint.changes.compact_encoder.CompactEncoder`; the onnxruntime one is built from an
export kept in :mod:`turnpoint.core.runners`' on-disk cache and refused when it differs from torch
by more than :data:`ONNX_TOLERANCE`.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import torch

from turnpoint.changes.compact_encoder import CompactEncoder
from turnpoint.core.fileio import atomic_write_bytes
from turnpoint.core.runners import onnx_graph

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "export_onnx", "make_runner", "max_onnx_difference"]

BACKENDS = ("auto", "onnx", "torch")
ONNX_TOLERANCE = 1e-4


def export_onnx(encoder: CompactEncoder) -> bytes:
    """The encoder as an ONNX graph (input ``features`` (batch, frames, n_mels), dynamic axes)."""
    config = encoder.config
    example = torch.zeros(1, config.receptive_frames + 7 * config.stride_frames, config.n_mels)
    return onnx_graph(encoder, example, output="embeddings", output_axes={0: "batch", 1: "outputs"})


def _torch_runner(encoder: CompactEncoder):
    device = next(encoder.parameters()).device

    def run(features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return encoder(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)).to(device)).float().cpu().numpy()

    run.name = "torch"  # type: ignore[attr-defined]
    return run


_onnx_sessions: dict[str, object] = {}


def max_onnx_difference(run, encoder: CompactEncoder, *, seed: int = 0) -> float:
    """Largest |runner - torch| embedding difference on random log-mel inputs of two lengths."""
    rng = np.random.default_rng(seed)
    reference = _torch_runner(encoder)
    config = encoder.config
    mean, scale = encoder.input_mean.cpu().numpy(), encoder.input_scale.cpu().numpy()
    worst = 0.0
    for batch, count in ((2, 12), (1, 1)):
        shape = (batch, config.receptive_frames + (count - 1) * config.stride_frames, config.n_mels)
        x = (rng.normal(size=shape) * scale + mean).astype(np.float32)
        worst = max(worst, float(np.abs(run(x) - reference(x)).max()))
    return worst


def _cached_export(encoder: CompactEncoder, digest: str) -> bytes:
    """The ONNX graph from the on-disk cache that :mod:`turnpoint.core.runners` uses, exported on a miss
    (an export costs seconds, mostly importing the exporter; reading it back, milliseconds)."""
    from turnpoint.core.runners import cache_dir

    path = cache_dir() / f"compact-{digest}.onnx"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = export_onnx(encoder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as error:  # read-only home, full disk: just don't cache
        logger.debug("onnx cache not written (%s)", error)
    return data


def _onnx_runner(encoder: CompactEncoder, *, threads: int = 1):
    from turnpoint.core.runners import OnnxRunner, cache_dir, model_digest

    digest = model_digest(encoder)  # type: ignore[arg-type]
    key = f"{digest}/{threads}"
    if key not in _onnx_sessions:
        runner = OnnxRunner(_cached_export(encoder, digest), threads=threads)
        difference = max_onnx_difference(runner, encoder)
        if not difference <= ONNX_TOLERANCE:
            (cache_dir() / f"compact-{digest}.onnx").unlink(missing_ok=True)
            raise RuntimeError(f"onnx export differs from torch by {difference:.2e} (> {ONNX_TOLERANCE})")
        while len(_onnx_sessions) >= 4:
            _onnx_sessions.pop(next(iter(_onnx_sessions)))
        runner.name = "onnx"  # type: ignore[attr-defined]
        _onnx_sessions[key] = runner
    return _onnx_sessions[key]


def make_runner(encoder: CompactEncoder, backend: str = "auto", *, threads: int = 1):
    """A function (batch, frames, n_mels) -> (batch, n, embedding_size) for ``backend``.

    ``"auto"`` is onnxruntime when it is installed and the encoder is on the CPU (falling back to
    torch with a warning if the export fails), else torch.

    Examples
    --------
    >>> from turnpoint.changes.compact_encoder import CompactEncoderConfig
    >>> make_runner(CompactEncoder(CompactEncoderConfig()), "torch").name
    'torch'
    """
    from turnpoint.core.runners import onnxruntime_available

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    on_cpu = next(encoder.parameters()).device.type == "cpu"
    if backend == "torch" or (backend == "auto" and (not on_cpu or not onnxruntime_available())):
        return _torch_runner(encoder)
    try:
        return _onnx_runner(encoder, threads=threads)
    except Exception as error:  # noqa: BLE001 - any export/load problem: torch still works
        if backend == "onnx":
            raise
        warnings.warn(f"onnxruntime path unavailable ({error}); using torch", RuntimeWarning, stacklevel=2)
        return _torch_runner(encoder)
