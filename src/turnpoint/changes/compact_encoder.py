"""A compact convolutional speaker encoder for dense, streaming speaker embeddings, distilled from GE2E.

The bundled GE2E encoder (:mod:`turnpoint.changes.speaker_encoder`) reads 100 mel frames per second with
a 3 x 256 LSTM and has to be run again for every overlapping window. This encoder gives an
embedding of about one second of audio every ``hop`` (96 ms by default) in one pass of a few
1-D convolutions, so a whole file is embedded densely for a small fraction of GE2E's cost.

This module holds the network (:class:`CompactEncoderConfig`, :class:`CompactEncoder`) and its
weight files (:func:`save_compact_encoder`, :func:`read_compact_encoder`,
:func:`load_compact_encoder`). Running it: :mod:`turnpoint.changes.compact_onnx` (torch or
onnxruntime), :mod:`turnpoint.changes.streaming_embeddings` (whole files and streams of blocks,
:func:`~turnpoint.changes.streaming_embeddings.embed_stream`); its teacher:
:mod:`turnpoint.changes.ge2e_teacher`.

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
    window centred on the same time (:func:`turnpoint.changes.ge2e_teacher.teacher_embeddings`),
    so cosine similarities (and thresholds on them) mean about the same for both encoders.
Times
    Embedding ``n`` is centred at ``n * hop`` seconds, for ``n = 0 .. floor(duration / hop)``;
    beyond the file's ends the network sees the log-mel value of digital silence (:data:`PAD_VALUE`).
Level
    The teacher's windows are each scaled to -30 dBFS before GE2E reads them, so neither encoder
    depends on the recording level (the student was trained with random gains).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import LOG_FLOOR
from turnpoint.core.modelfile import FileFormat, bundled_path, read_file_header, read_weights, write_file
from turnpoint.core.task import FeatureConfig, JsonConfig

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PAD_VALUE",
    "CompactEncoder",
    "CompactEncoderConfig",
    "bundled_compact_encoder_path",
    "load_compact_encoder",
    "read_compact_encoder",
    "read_compact_header",
    "save_compact_encoder",
]

FORMAT_NAME = "turnpoint-compact-encoder"
FORMAT_VERSION = 1
FILE_FORMAT = FileFormat(FORMAT_NAME, FORMAT_VERSION, "compact encoder")
BUNDLED_FILE = "compact_encoder.safetensors"
WEIGHT_DTYPES = (torch.float16, torch.float32)  # how the weights may be stored
PAD_VALUE = float(np.log(LOG_FLOOR))  # log-mel of digital silence: what lies beyond the file's ends
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
# weight files


def bundled_compact_encoder_path() -> Path:
    """Path of the bundled ``models/compact_encoder.safetensors``."""
    return bundled_path(BUNDLED_FILE)


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
    if dtype not in WEIGHT_DTYPES:
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
    # the input normalisation stays float32: it is a handful of numbers whose rounding would shift
    # every input
    tensors = {key: value.to(torch.float32 if key.startswith("input_") else dtype) for key, value in encoder.state_dict().items()}
    return write_file(path, header, tensors)


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
    encoder = CompactEncoder(_architecture(read_compact_header(path), path))
    tensors = read_weights(path, encoder, dtypes=WEIGHT_DTYPES)
    if not bool((tensors["input_scale"] > 0).all()):
        raise TurnpointError("input_scale must be positive", path=path)
    encoder.load_state_dict({key: value.float() for key, value in tensors.items()})
    encoder.requires_grad_(False)
    return encoder.eval().to(device)


def read_compact_header(path: str | Path) -> dict:
    """The checked JSON header of a compact encoder file (architecture, training summary, ...)."""
    return read_file_header(path, FILE_FORMAT)


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
