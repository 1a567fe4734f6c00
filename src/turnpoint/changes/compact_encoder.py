"""A compact convolutional speaker encoder for dense, streaming speaker embeddings, distilled from GE2E.

The bundled GE2E encoder (:mod:`turnpoint.changes.speaker_encoder`) reads 100 mel frames per second with
a 3 x 256 LSTM and has to be run again for every overlapping window. This encoder gives an
embedding of about one second of audio every ``hop`` (96 ms by default) in one pass of a few
1-D convolutions, so a whole file is embedded densely for a small fraction of GE2E's cost.

Network (:class:`CompactEncoder`)
    Input: the paper's log-mel frames (40 slaney bands 130-6854 Hz, 32 ms windows every 16 ms;
    the energies whose DCT gives turnpoint's MFCC features). A strided convolution, further
    (dilated) convolutions with ReLU, a 1x1 layer giving frame features and one gate per frame,
    then gated mean and standard deviation of the frame features over a fixed window of
    ``pool_blocks`` hops, a small head and L2 normalisation. No padding anywhere: each embedding
    sees a fixed span of ``receptive_frames`` input frames (about 1.2 s) centred on its time, so
    a file streamed in blocks of any size gives the same embeddings as the whole file at once.
Output space
    The student is trained to reproduce the teacher's 256-dimensional GE2E embedding of the 1 s
    window centred on the same time (:func:`teacher_embeddings`), so cosine similarities (and
    thresholds on them) mean about the same for both encoders.
Times
    Embedding ``n`` is centred at ``n * hop`` seconds, for ``n = 0 .. floor(duration / hop)``;
    beyond the file's ends the network sees the log-mel value of digital silence.
Level
    The teacher's windows are each scaled to -30 dBFS before GE2E reads them, so neither encoder
    depends on the recording level (the student was trained with random gains).

:func:`embed_stream` gives ``(times, embeddings)`` for an array, an iterable of sample blocks
or an audio file, with bounded memory, from the compact encoder (by default; onnxruntime when
installed) or from GE2E (``encoder="ge2e"``) at the same times.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> audio = (0.05 * rng.normal(size=3 * 16000)).astype(np.float32)
>>> times, embeddings = embed_stream(audio, backend="torch")
>>> embeddings.shape[1], float(times[1] - times[0])
(256, 0.096)
>>> bool(np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5))
True
"""

from __future__ import annotations

import functools
import io
import json
import logging
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import nn

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import LOG_FLOOR, _cepstra_from_padded, _FrameBuffer, static_cepstra
from turnpoint.core.fileio import atomic_write_bytes
from turnpoint.core.task import FeatureConfig, JsonConfig

logger = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CompactEncoder",
    "CompactEncoderConfig",
    "CompactEncoderStream",
    "Ge2eStream",
    "bundled_compact_encoder_path",
    "compact_features",
    "embed_stream",
    "embed_whole",
    "export_onnx",
    "load_compact_encoder",
    "read_compact_encoder",
    "save_compact_encoder",
    "teacher_embeddings",
]

FORMAT_NAME = "turnpoint-compact-encoder"
FORMAT_VERSION = 1
BUNDLED_FILE = "compact_encoder.safetensors"
BACKENDS = ("auto", "onnx", "torch")
ENCODERS = ("compact", "ge2e")
ONNX_TOLERANCE = 1e-4
OPSET = 17
PAD_VALUE = float(np.log(LOG_FLOOR))  # log-mel of digital silence: what lies beyond the file's ends
TEACHER_WINDOW = 1.0  # s, the GE2E window the student imitates
TEACHER_LEVEL_DBFS = -30.0  # each teacher window is scaled to this RMS level (both ways)
MAX_FORWARD_OUTPUTS = 640  # embeddings per forward pass (~1 min): bounds memory whatever the block size
MAX_SIZE = 4096  # largest channel count / kernel / stride a header may ask for
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class CompactEncoderConfig(JsonConfig):
    """Front end and architecture of :class:`CompactEncoder`.

    ``channels``, ``kernels`` and ``dilations`` describe the convolutions (the first one has
    stride ``first_stride``, the others stride 1); ``frame_size`` is the width of the pooled frame
    features; one embedding is pooled from ``pool_blocks`` consecutive blocks of ``hop_frames``
    convolution frames and the next one starts one block later.

    Examples
    --------
    >>> config = CompactEncoderConfig()
    >>> round(config.hop, 3), config.receptive_frames, round(config.receptive_seconds, 3)
    (0.096, 75, 1.216)
    """

    sample_rate: int = SAMPLE_RATE
    window_duration: float = 0.032
    step_duration: float = 0.016
    n_mels: int = 40
    fmin: float = 130.0
    fmax: float = 6854.0
    channels: tuple[int, ...] = (128, 128, 128)
    kernels: tuple[int, ...] = (6, 3, 3)
    dilations: tuple[int, ...] = (1, 1, 2)
    first_stride: int = 3
    frame_size: int = 192
    hop_frames: int = 2
    pool_blocks: int = 9
    head_size: int = 256  # hidden layer of the head (0: a single linear layer)
    embedding_size: int = 256

    def __post_init__(self) -> None:
        if not (len(self.channels) == len(self.kernels) == len(self.dilations) >= 1):
            raise ValueError("channels, kernels and dilations must have the same (non-zero) length")

    @property
    def features(self) -> FeatureConfig:
        """The log-mel front end as a :class:`~turnpoint.core.task.FeatureConfig`."""
        return FeatureConfig(
            sample_rate=self.sample_rate,
            window_duration=self.window_duration,
            step_duration=self.step_duration,
            n_mels=self.n_mels,
            n_mfcc=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            coefficients="logmel",
        )

    @property
    def stride_frames(self) -> int:
        """Input frames between consecutive embeddings."""
        return self.first_stride * self.hop_frames

    @property
    def hop(self) -> float:
        """Seconds between consecutive embeddings."""
        return self.stride_frames * self.features.frame_step

    @property
    def receptive_frames(self) -> int:
        """Input frames that one embedding reads."""
        first = (self.kernels[0] - 1) * self.dilations[0] + 1
        later = sum((k - 1) * d for k, d in zip(self.kernels[1:], self.dilations[1:]))
        return first + self.first_stride * (later + self.hop_frames * self.pool_blocks - 1)

    @property
    def receptive_seconds(self) -> float:
        """Span of audio one embedding reads (frame centres plus one analysis window)."""
        return (self.receptive_frames - 1) * self.features.frame_step + self.window_duration

    @property
    def left_pad(self) -> int:
        """Frames of digital silence put before the file, so that embedding 0 is centred at 0 s."""
        return (self.receptive_frames - 1) // 2


class CompactEncoder(nn.Module):
    """Log-mel frames -> L2-normalised speaker embeddings every ``config.hop`` seconds.

    ``forward`` takes ``(batch, frames, n_mels)`` log-mel frames whose count is
    ``receptive_frames + (n - 1) * stride_frames`` and returns ``(batch, n, embedding_size)``.

    Examples
    --------
    >>> config = CompactEncoderConfig()
    >>> encoder = CompactEncoder(config).eval()
    >>> frames = config.receptive_frames + 4 * config.stride_frames
    >>> encoder(torch.randn(2, frames, config.n_mels)).shape
    torch.Size([2, 5, 256])
    """

    def __init__(self, config: CompactEncoderConfig):
        super().__init__()
        self.config = config
        self.register_buffer("input_mean", torch.zeros(config.n_mels))
        self.register_buffer("input_scale", torch.ones(config.n_mels))
        layers: list[nn.Module] = []
        previous = config.n_mels
        for index, (size, kernel, dilation) in enumerate(zip(config.channels, config.kernels, config.dilations)):
            stride = config.first_stride if index == 0 else 1
            layers += [nn.Conv1d(previous, size, kernel, stride=stride, dilation=dilation), nn.ReLU()]
            previous = size
        self.convolutions = nn.Sequential(*layers)
        self.frame = nn.Conv1d(previous, config.frame_size + 1, 1)  # frame features + one gate
        if config.head_size:
            self.head = nn.Sequential(
                nn.Conv1d(2 * config.frame_size, config.head_size, 1), nn.ReLU(), nn.Conv1d(config.head_size, config.embedding_size, 1)
            )
        else:
            self.head = nn.Sequential(nn.Conv1d(2 * config.frame_size, config.embedding_size, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        config = self.config
        x = ((features - self.input_mean) / self.input_scale).transpose(1, 2)  # (batch, n_mels, frames)
        z = self.frame(self.convolutions(x))
        h = torch.relu(z[:, :-1])
        gate = torch.sigmoid(z[:, -1:])
        # gated sums per block of hop_frames frames (the frame count is a whole number of blocks
        # by construction), then sums over pool_blocks consecutive blocks by shifted slices: unlike
        # a running cumulative sum, each window is summed in the same order whatever came before
        stats = torch.cat([gate, gate * h, gate * h * h], dim=1)
        blocks = stats.reshape(stats.shape[0], stats.shape[1], -1, config.hop_frames).sum(dim=-1)
        last = config.pool_blocks - 1
        pooled = blocks[..., : blocks.shape[-1] - last] if last else blocks
        for k in range(1, config.pool_blocks):
            pooled = pooled + blocks[..., k : blocks.shape[-1] - last + k]
        weight = pooled[:, :1] + 1e-4
        mean = pooled[:, 1 : 1 + config.frame_size] / weight
        variance = pooled[:, 1 + config.frame_size :] / weight - mean * mean
        std = torch.sqrt(torch.clamp(variance, min=1e-5))
        embeddings = self.head(torch.cat([mean, std], dim=1))
        return nn.functional.normalize(embeddings, dim=1).transpose(1, 2)


# ---------------------------------------------------------------------------------------------
# features and whole-file embedding


def compact_features(samples: np.ndarray, *, config: CompactEncoderConfig | None = None) -> np.ndarray:
    """Log-mel frames of a whole signal, the encoder's input: (frames, n_mels) float32.

    The same energies as :func:`turnpoint.core.features.extract_features` computes before its DCT
    (``1 + len(samples) // 256`` centred frames at the paper's settings).

    Examples
    --------
    >>> compact_features(np.zeros(16000, dtype=np.float32)).shape
    (63, 40)
    """
    config = config or CompactEncoderConfig()
    return static_cepstra(np.asarray(samples, dtype=np.float32), config.features)


def _output_count(n_samples: int, config: CompactEncoderConfig) -> int:
    return int(math.floor(n_samples / config.sample_rate / config.hop + 1e-9)) + 1


def _times(first: int, count: int, config: CompactEncoderConfig) -> np.ndarray:
    # the receptive field's centre; exactly n * hop when receptive_frames is odd
    centre = (config.receptive_frames - 1) / 2 - config.left_pad
    return ((np.arange(first, first + count) * config.stride_frames + centre) * config.features.frame_step).round(9)


def _padded_features(features: np.ndarray, n_samples: int, config: CompactEncoderConfig) -> np.ndarray:
    count = _output_count(n_samples, config)
    total = (count - 1) * config.stride_frames + config.receptive_frames
    right = total - config.left_pad - len(features)
    if right < 0:
        features = features[: len(features) + right]
        right = 0
    return np.pad(features, [(config.left_pad, right), (0, 0)], constant_values=PAD_VALUE).astype(np.float32)


def embed_whole(samples: np.ndarray, *, encoder: CompactEncoder | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of a whole signal in one forward pass (the reference that streaming reproduces).

    Holds the whole file's features in memory: use :func:`embed_stream` for long files.

    Examples
    --------
    >>> times, e = embed_whole(np.zeros(16000, dtype=np.float32))
    >>> len(times), e.shape[1]
    (11, 256)
    """
    encoder = encoder if encoder is not None else load_compact_encoder()
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if samples.size == 0:
        raise ValueError("no samples to embed")
    config = encoder.config
    padded = _padded_features(compact_features(samples, config=config), len(samples), config)
    with torch.inference_mode():
        out = encoder(torch.from_numpy(padded)[None].to(next(encoder.parameters()).device))[0].float().cpu().numpy()
    return _times(0, len(out), config), out


# ---------------------------------------------------------------------------------------------
# onnxruntime


def export_onnx(encoder: CompactEncoder) -> bytes:
    """The encoder as an ONNX graph (input ``features`` (batch, frames, n_mels), dynamic axes)."""
    import copy

    cpu = copy.deepcopy(encoder).to("cpu").eval()
    config = encoder.config
    example = torch.zeros(1, config.receptive_frames + 7 * config.stride_frames, config.n_mels)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cpu,
            (example,),
            buffer,
            input_names=["features"],
            output_names=["embeddings"],
            dynamic_axes={"features": {0: "batch", 1: "frames"}, "embeddings": {0: "batch", 1: "outputs"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buffer.getvalue()


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


# ---------------------------------------------------------------------------------------------
# streaming


class CompactEncoderStream:
    """Embeddings of a stream of sample blocks, equal to :func:`embed_whole` whatever the blocks.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=40000).astype(np.float32) * 0.05
    >>> stream = CompactEncoderStream(backend="torch")
    >>> parts = [stream.push(x[:7000]), stream.push(x[7000:]), stream.finish()]
    >>> times = np.concatenate([p[0] for p in parts])
    >>> bool(np.allclose(np.concatenate([p[1] for p in parts]), embed_whole(x)[1], atol=1e-5))
    True
    """

    def __init__(self, *, encoder: CompactEncoder | None = None, backend: str = "auto", threads: int = 1):
        self.encoder = encoder if encoder is not None else load_compact_encoder()
        self.config = self.encoder.config
        self.run = make_runner(self.encoder, backend, threads=threads)
        self._frames = _FrameBuffer(self.config.features)
        self._features = np.full((self.config.left_pad, self.config.n_mels), PAD_VALUE, dtype=np.float32)
        self._offset = 0  # padded frame index of self._features[0]
        self._next = 0  # next embedding to emit
        self._real_frames = 0
        self._finished = False

    def _log_mel(self, *, final: bool) -> np.ndarray:
        padded, count = self._frames.take(final=final)
        if count == 0:
            return np.zeros((0, self.config.n_mels), dtype=np.float32)
        return _cepstra_from_padded(padded, count, self.config.features)

    def _emit(self, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings self._next .. last (inclusive) from the buffered features."""
        config = self.config
        first = self._next
        outputs = []
        while self._next <= last:
            upto = min(last, self._next + MAX_FORWARD_OUTPUTS - 1)
            start = self._next * config.stride_frames - self._offset
            stop = upto * config.stride_frames + config.receptive_frames - self._offset
            outputs.append(self.run(self._features[None, start:stop])[0])
            self._next = upto + 1
        drop = self._next * config.stride_frames - self._offset
        if drop > 0:
            self._features = self._features[drop:]
            self._offset += drop
        if not outputs:
            return np.zeros(0), np.zeros((0, config.embedding_size), dtype=np.float32)
        return _times(first, self._next - first, config), np.concatenate(outputs).astype(np.float32, copy=False)

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add mono samples; return the (times, embeddings) that are now final."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        self._frames.push(samples)
        return self._advance(self._log_mel(final=False))

    def _advance(self, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._real_frames += len(new)
        self._features = np.concatenate([self._features, new])
        available = self._offset + len(self._features)
        last = (available - self.config.receptive_frames) // self.config.stride_frames
        # never beyond the last embedding of the file seen so far: its end is not known yet
        last = min(last, _output_count(self._frames.received, self.config) - 1)
        return self._emit(last)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Flush the end of the stream (digital silence beyond the last sample)."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        self._finished = True
        self._frames.finish()
        new = self._log_mel(final=True)
        self._real_frames += len(new)
        config = self.config
        if self._frames.received == 0:
            raise ValueError("no samples to embed")
        count = _output_count(self._frames.received, config)
        total = (count - 1) * config.stride_frames + config.receptive_frames
        features = np.concatenate([self._features, new])
        have = self._offset + len(features)
        if have < total:
            features = np.concatenate([features, np.full((total - have, config.n_mels), PAD_VALUE, dtype=np.float32)])
        self._features = features[: max(0, total - self._offset)]
        return self._emit(count - 1)


def _window_bounds(times: np.ndarray, n_samples: int, window: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    half = window / 2
    starts = np.clip(np.round((times - half) * rate).astype(np.int64), 0, n_samples)
    stops = np.clip(np.round((times + half) * rate).astype(np.int64), 0, n_samples)
    return starts, stops


def _teacher_segments(samples: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> list[np.ndarray]:
    from turnpoint.changes.speaker_encoder import mel_frames, normalize_volume

    return [
        mel_frames(normalize_volume(samples[a:b], target_dbfs=TEACHER_LEVEL_DBFS, increase_only=False)) for a, b in zip(starts, stops)
    ]


def teacher_embeddings(
    samples: np.ndarray, times: np.ndarray, *, window: float = TEACHER_WINDOW, batch_size: int = 64, encoder=None
) -> np.ndarray:
    """GE2E embeddings of the ``window``-second windows centred on ``times`` (clipped to the signal).

    Each window is scaled to -30 dBFS (up or down; silence stays silent), turned into GE2E's mel
    frames on its own (as Resemblyzer embeds one utterance) and embedded by the bundled encoder,
    equal-length windows in batches.

    Parameters
    ----------
    samples : array (samples,)
        Mono 16 kHz audio.
    times : array (n,)
        Window centres in seconds.
    window : float
        Window length in seconds.
    batch_size : int
        Windows per GE2E forward pass.
    encoder : turnpoint.changes.speaker_encoder.SpeakerEncoder, optional
        The GE2E encoder; the bundled one by default.

    Returns
    -------
    array (n, 256), float32

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=32000).astype(np.float32) * 0.05
    >>> teacher_embeddings(x, np.array([0.5, 1.0, 1.5])).shape
    (3, 256)
    """
    from turnpoint.changes.speaker_encoder import embed_segments, load_speaker_encoder

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    starts, stops = _window_bounds(times, len(samples), window, SAMPLE_RATE)
    encoder = encoder if encoder is not None else load_speaker_encoder()
    if len(times) == 0:
        return np.zeros((0, encoder.config.embedding_size), dtype=np.float32)
    return embed_segments(_teacher_segments(samples, starts, stops), encoder=encoder, batch_size=batch_size)


class Ge2eStream:
    """GE2E embeddings (:func:`teacher_embeddings`) every ``hop`` seconds over a stream of blocks.

    Keeps only the last window's worth of samples.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=24000).astype(np.float32) * 0.05
    >>> stream = Ge2eStream(hop=0.5)
    >>> parts = [stream.push(x[:10000]), stream.push(x[10000:]), stream.finish()]
    >>> times = np.concatenate([p[0] for p in parts])
    >>> times.tolist()
    [0.0, 0.5, 1.0, 1.5]
    >>> bool(np.allclose(np.concatenate([p[1] for p in parts]), teacher_embeddings(x, times), atol=1e-5))
    True
    """

    def __init__(self, *, hop: float = CompactEncoderConfig().hop, window: float = TEACHER_WINDOW, batch_size: int = 64, encoder=None):
        from turnpoint.changes.speaker_encoder import load_speaker_encoder

        if hop <= 0 or window <= 0:
            raise ValueError("hop and window must be positive")
        self.hop, self.window, self.batch_size = hop, window, batch_size
        self.encoder = encoder if encoder is not None else load_speaker_encoder()
        self._samples = np.zeros(0, dtype=np.float32)
        self._start = 0  # sample index of self._samples[0]
        self._received = 0
        self._next = 0
        self._finished = False

    def _emit(self, last: int) -> tuple[np.ndarray, np.ndarray]:
        from turnpoint.changes.speaker_encoder import embed_segments

        if last < self._next:
            return np.zeros(0), np.zeros((0, self.encoder.config.embedding_size), dtype=np.float32)
        times = (np.arange(self._next, last + 1) * self.hop).round(9)
        starts, stops = _window_bounds(times, self._received, self.window, SAMPLE_RATE)
        segments = _teacher_segments(self._samples, starts - self._start, stops - self._start)
        out = embed_segments(segments, encoder=self.encoder, batch_size=self.batch_size)
        self._next = last + 1
        keep = _window_bounds(np.array([self._next * self.hop]), self._received, self.window, SAMPLE_RATE)[0][0]
        if keep > self._start:
            self._samples = self._samples[keep - self._start :]
            self._start = int(keep)
        return times, out

    def push(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add mono samples; return the (times, embeddings) whose windows are now complete."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._samples = np.concatenate([self._samples, samples])
        self._received += len(samples)
        complete = (self._received / SAMPLE_RATE - self.window / 2) / self.hop
        return self._emit(int(math.floor(complete + 1e-9)) if complete >= 0 else -1)

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """Embed the remaining windows, up to the last time not after the end."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        self._finished = True
        if self._received == 0:
            raise ValueError("no samples to embed")
        return self._emit(int(math.floor(self._received / SAMPLE_RATE / self.hop + 1e-9)))


def _blocks(source, block_samples: int) -> Iterator[np.ndarray]:
    if isinstance(source, (str, Path)):
        from turnpoint.core.audio import iter_audio

        yield from iter_audio(source, sample_rate=SAMPLE_RATE, block_duration=block_samples / SAMPLE_RATE)
    elif isinstance(source, np.ndarray):
        samples = source.astype(np.float32, copy=False).reshape(-1)
        for start in range(0, len(samples), block_samples):
            yield samples[start : start + block_samples]
    else:
        for block in source:
            yield np.asarray(block, dtype=np.float32).reshape(-1)


def embed_stream(
    source: np.ndarray | Iterable[np.ndarray] | str | Path,
    *,
    encoder: str | CompactEncoder | None = None,
    block_seconds: float = 60.0,
    hop: float | None = None,
    backend: str = "auto",
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Speaker embeddings of ~1 s windows every ``hop`` seconds over a whole stream, in one pass.

    Parameters
    ----------
    source : array (samples,), iterable of arrays, or path
        Mono 16 kHz samples, blocks of them (concatenated in order), or an audio file
        (read with :func:`turnpoint.core.audio.iter_audio`).
    encoder : "compact", "ge2e" or CompactEncoder, optional
        The bundled compact encoder (default), GE2E on the 1 s window centred on each time
        (:func:`teacher_embeddings`), or a compact encoder of your own.
    block_seconds : float
        Samples read per step; memory is bounded by this and about one second of context.
    hop : float, optional
        Seconds between embeddings: the compact encoder's hop by default; for a compact encoder
        it must be a whole multiple of its hop (every k-th embedding is returned).
    backend : str
        Compact encoder only: "auto", "onnx" or "torch".
    threads : int
        Intra-op threads of the onnxruntime session.

    Returns
    -------
    times : array (n,)
        Window centres, ``0, hop, 2 hop, ...`` up to the end of the stream.
    embeddings : array (n, d), float32
        L2-normalised embeddings (d = 256 for both bundled encoders).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=32000).astype(np.float32) * 0.05
    >>> t, e = embed_stream(x, hop=0.192, backend="torch")
    >>> t[:3].tolist(), e.shape
    ([0.0, 0.192, 0.384], (11, 256))
    >>> t2, e2 = embed_stream(x, encoder="ge2e", hop=0.192)
    >>> bool(np.array_equal(t, t2)), e2.shape
    (True, (11, 256))
    """
    if block_seconds <= 0:
        raise ValueError("block_seconds must be positive")
    if isinstance(encoder, str) and encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS} or a CompactEncoder, not {encoder!r}")
    block_samples = max(1, int(round(block_seconds * SAMPLE_RATE)))
    every = 1
    if encoder == "ge2e":
        stream: CompactEncoderStream | Ge2eStream = Ge2eStream(hop=hop if hop is not None else CompactEncoderConfig().hop)
    else:
        model = load_compact_encoder() if encoder in (None, "compact") else encoder
        if not isinstance(model, CompactEncoder):
            raise TypeError(f"encoder must be 'compact', 'ge2e' or a CompactEncoder, not {type(encoder).__name__}")
        if hop is not None:
            every = int(round(hop / model.config.hop))
            if every < 1 or abs(every * model.config.hop - hop) > 1e-6:
                raise ValueError(f"hop must be a whole multiple of the compact encoder's hop ({model.config.hop:g} s), not {hop:g}")
        stream = CompactEncoderStream(encoder=model, backend=backend, threads=threads)
    times: list[np.ndarray] = []
    embeddings: list[np.ndarray] = []
    seen = 0  # embeddings produced so far (for subsampling across blocks)

    def keep(part: tuple[np.ndarray, np.ndarray]) -> None:
        nonlocal seen
        t, e = part
        chosen = (seen + np.arange(len(t))) % every == 0
        seen += len(t)
        times.append(t[chosen])
        embeddings.append(e[chosen])

    for block in _blocks(source, block_samples):
        keep(stream.push(block))
    keep(stream.finish())
    return np.concatenate(times), np.concatenate(embeddings).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------
# weight files


def bundled_compact_encoder_path() -> Path:
    """Path of the bundled ``models/compact_encoder.safetensors``."""
    return Path(str(resources.files("turnpoint") / "models" / BUNDLED_FILE))


def save_compact_encoder(
    path: str | Path,
    *,
    encoder: CompactEncoder,
    dtype: torch.dtype = torch.float16,
    training: dict | None = None,
    licence: str = "",
) -> Path:
    """Write ``encoder`` atomically as safetensors (weights as ``dtype``) with a JSON header.

    The header (metadata key ``"turnpoint"``) holds the format name and version, the
    architecture (:class:`CompactEncoderConfig`), the weight dtype, the teacher, the licence and
    a ``training`` summary.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "enc.safetensors"
    >>> _ = save_compact_encoder(p, encoder=CompactEncoder(CompactEncoderConfig(channels=(8, 8), kernels=(5, 3), dilations=(1, 1))))
    >>> read_compact_encoder(p).config.channels
    (8, 8)
    """
    from turnpoint.core.modelfile import METADATA_KEY

    if dtype not in (torch.float16, torch.float32):
        raise ValueError(f"weights can be stored as float16 or float32, not {dtype}")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "turnpoint_version": __version__,
        "architecture": encoder.config.to_dict(),
        "weights_dtype": str(dtype).removeprefix("torch."),
        "teacher": "ge2e: the bundled GE2E speaker encoder (Resemblyzer's pretrained weights), 1 s windows at -30 dBFS",
        "licence": licence,
        "training": training or {},
    }
    state = encoder.state_dict()
    # the input normalisation stays float32: it is a handful of numbers whose rounding would shift
    # every input
    tensors = {
        key: value.detach().to("cpu", torch.float32 if key.startswith("input_") else dtype).contiguous() for key, value in state.items()
    }
    path = Path(path)
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(header)}))
    return path


def _read_header(path: Path) -> dict:
    from turnpoint.core.modelfile import METADATA_KEY, looks_like_pickle

    if not path.exists():
        raise TurnpointError("no such compact encoder file", path=path)
    if path.is_dir():
        raise TurnpointError("is a directory, expected a .safetensors compact encoder file", path=path)
    if looks_like_pickle(path):
        raise TurnpointError("refusing to load: this looks like a pickle / torch.save checkpoint; turnpoint only loads safetensors files", path=path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise TurnpointError(f"not a safetensors file ({error})", path=path) from None
    try:
        header = json.loads(metadata[METADATA_KEY])
    except KeyError:
        raise TurnpointError("safetensors file without a turnpoint header", path=path) from None
    except (TypeError, json.JSONDecodeError, RecursionError):
        raise TurnpointError("turnpoint header is not valid JSON", path=path) from None
    if not isinstance(header, dict):
        raise TurnpointError("turnpoint header must be a JSON object", path=path)
    if header.get("format") != FORMAT_NAME:
        raise TurnpointError(f"not a turnpoint compact encoder (format {header.get('format')!r})", path=path)
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise TurnpointError(
            f"compact encoder format version {version!r} is not supported by turnpoint {__version__} (supports 1..{FORMAT_VERSION})", path=path
        )
    if not isinstance(header.get("architecture"), dict):
        raise TurnpointError("compact encoder header lacks a valid 'architecture' section", path=path)
    return header


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SIZE


def _architecture(header: dict, path: Path) -> CompactEncoderConfig:
    try:
        config = CompactEncoderConfig.from_dict(header["architecture"])
        config.features  # noqa: B018 - validates the front end
    except (TypeError, ValueError) as error:
        raise TurnpointError(f"invalid compact encoder architecture ({error})", path=path) from None
    sizes = [*config.channels, *config.kernels, *config.dilations, config.first_stride, config.frame_size, config.hop_frames,
             config.pool_blocks, config.n_mels, config.embedding_size]  # fmt: skip
    if not all(_positive_int(v) for v in sizes) or not (isinstance(config.head_size, int) and 0 <= config.head_size <= MAX_SIZE):
        raise TurnpointError("invalid compact encoder architecture: sizes must be positive integers", path=path)
    if config.sample_rate != SAMPLE_RATE:
        raise TurnpointError(f"compact encoder expects {config.sample_rate} Hz audio; turnpoint embeds {SAMPLE_RATE} Hz", path=path)
    return config


def read_compact_encoder(path: str | Path, *, device: str | torch.device = "cpu") -> CompactEncoder:
    """Load a compact encoder file, checking its header, tensor names, shapes and values.

    Raises
    ------
    TurnpointError
        One line naming the file and the problem.
    """
    path = Path(path)
    header = _read_header(path)
    config = _architecture(header, path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise TurnpointError(f"corrupt safetensors data ({error})", path=path) from None
    encoder = CompactEncoder(config)
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise TurnpointError(f"weights do not match the architecture in the header (missing {missing[:3]}, unexpected {unexpected[:3]})", path=path)
    for key, value in expected.items():
        tensor = tensors[key]
        if tuple(tensor.shape) != tuple(value.shape):
            raise TurnpointError(f"tensor {key} has shape {tuple(tensor.shape)}, the header's architecture needs {tuple(value.shape)}", path=path)
        if tensor.dtype not in (torch.float16, torch.float32):
            raise TurnpointError(f"tensor {key} has dtype {tensor.dtype}, expected float16 or float32", path=path)
        if not torch.isfinite(tensor).all():
            raise TurnpointError(f"tensor {key} holds NaN or infinite values", path=path)
    if not bool((tensors["input_scale"] > 0).all()):
        raise TurnpointError("input_scale must be positive", path=path)
    encoder.load_state_dict({key: value.float() for key, value in tensors.items()})
    encoder.requires_grad_(False)
    return encoder.eval().to(device)


def read_compact_header(path: str | Path) -> dict:
    """The checked JSON header of a compact encoder file (architecture, training summary, ...)."""
    return _read_header(Path(path))


@functools.lru_cache(maxsize=4)
def load_compact_encoder(device: str | torch.device = "cpu") -> CompactEncoder:
    """The bundled compact encoder, loaded once per device (shared: do not modify it).

    Examples
    --------
    >>> encoder = load_compact_encoder()
    >>> encoder.config.embedding_size, encoder.training
    (256, False)
    """
    return read_compact_encoder(bundled_compact_encoder_path(), device=device)
