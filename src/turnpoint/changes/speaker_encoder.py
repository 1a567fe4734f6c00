"""GE2E speaker embeddings (Wan et al., ICASSP 2018) with Resemblyzer's pretrained encoder, bundled.

The network is Resemblyzer's ``VoiceEncoder``: a 3-layer LSTM (40 → 256) over power mel frames
(25 ms Hann windows every 10 ms at 16 kHz, 40 slaney mel bands, no log), a 256 → 256 linear layer
on the last layer's final hidden state, ReLU, L2 normalisation. Its weights come from
Resemblyzer's ``pretrained.pt`` (Apache-2.0, Resemble AI; see ``models/GE2E_LICENSE.txt``),
converted by ``recipes/convert_ge2e.py`` into ``models/ge2e.safetensors``: float16 weights (about
2.8 MB) with a JSON header, upcast to float32 when loaded, so nothing needs resemblyzer, webrtcvad
or librosa at run time. Embeddings agree with Resemblyzer's to about 5e-4.

The front end (:func:`normalize_volume`, :func:`mel_frames`) reproduces
``resemblyzer.audio.normalize_volume`` and ``resemblyzer.audio.wav_to_mel_spectrogram`` (that is
``librosa.feature.melspectrogram`` with centred, zero-padded frames) with numpy and scipy only.
Resemblyzer's voice-activity trimming (webrtcvad) is not part of it.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> audio = normalize_volume(0.01 * rng.normal(size=38400).astype(np.float32))
>>> mel = mel_frames(audio)
>>> mel.shape
(241, 40)
>>> embeddings = embed_segments([mel[:120], mel[120:240]])
>>> embeddings.shape
(2, 256)
>>> bool(np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5))
True
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import torch
from torch import nn

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import slaney_mel_filterbank
from turnpoint.core.modelfile import FileFormat, bundled_path, read_file_header, read_weights, write_file
from turnpoint.core.task import JsonConfig

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MelStream",
    "SpeakerEncoder",
    "SpeakerEncoderConfig",
    "bundled_speaker_encoder_path",
    "embed_segments",
    "load_speaker_encoder",
    "mel_frames",
    "normalize_volume",
    "read_speaker_encoder",
    "read_speaker_encoder_header",
    "save_speaker_encoder",
    "volume_gain",
]

FORMAT_NAME = "turnpoint-speaker-encoder"
FORMAT_VERSION = 1
FILE_FORMAT = FileFormat(FORMAT_NAME, FORMAT_VERSION, "speaker encoder")
BUNDLED_FILE = "ge2e.safetensors"
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)  # how the weights may be stored
INT16_MAX = 2**15 - 1
MEL_BLOCK_FRAMES = 4096  # frames per FFT block in mel_frames: bounds memory on long files (~7 MB)
MAX_SIZE = 4096  # largest layer size / channel count / FFT size a header may ask for


@dataclass(frozen=True)
class SpeakerEncoderConfig(JsonConfig):
    """Architecture and audio front end of :class:`SpeakerEncoder`; the defaults are Resemblyzer's.

    Examples
    --------
    >>> config = SpeakerEncoderConfig()
    >>> config.hidden_size, config.num_layers, config.hop_length / config.sample_rate
    (256, 3, 0.01)
    """

    mel_channels: int = 40
    hidden_size: int = 256
    num_layers: int = 3
    embedding_size: int = 256
    sample_rate: int = 16000
    n_fft: int = 400  # 25 ms Hann window, also the FFT size
    hop_length: int = 160  # 10 ms
    target_dbfs: float = -30.0  # normalize_volume's target (raise only)


class SpeakerEncoder(nn.Module):
    """GE2E speaker encoder: LSTM stack, linear, ReLU, L2 norm (Resemblyzer's ``VoiceEncoder``).

    Examples
    --------
    >>> encoder = SpeakerEncoder(SpeakerEncoderConfig())
    >>> encoder(torch.rand(2, 160, 40)).shape
    torch.Size([2, 256])
    >>> sum(p.numel() for p in encoder.parameters())
    1423616
    """

    def __init__(self, config: SpeakerEncoderConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(config.mel_channels, config.hidden_size, config.num_layers, batch_first=True)
        self.linear = nn.Linear(config.hidden_size, config.embedding_size)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        # (batch, frame, mel_channels) -> (batch, embedding_size); every row of the batch must be
        # real frames (no padding): the embedding is read from the final hidden state.
        _, (hidden, _) = self.lstm(mels)
        embeddings = self.relu(self.linear(hidden[-1]))
        # x / ||x|| as in Resemblyzer; an all-zero embedding stays zero instead of becoming NaN
        return nn.functional.normalize(embeddings, dim=1)


# ---------------------------------------------------------------------------------------------
# audio front end


def normalize_volume(
    samples: np.ndarray,
    *,
    target_dbfs: float = SpeakerEncoderConfig.target_dbfs,
    increase_only: bool = True,
    decrease_only: bool = False,
) -> np.ndarray:
    """Scale ``samples`` to an RMS level of ``target_dbfs`` (as ``resemblyzer.audio.normalize_volume``).

    The level is measured relative to int16 full scale. With ``increase_only`` (the default, as in
    Resemblyzer's preprocessing) loud signals are left alone; with ``decrease_only`` quiet ones
    are. Unlike Resemblyzer, an all-zero (or non-finite) signal is returned unchanged instead of
    turning into NaN.

    Parameters
    ----------
    samples : array (samples,)
        Mono audio in [-1, 1].
    target_dbfs : float
        Target RMS level in dB relative to full scale.
    increase_only, decrease_only : bool
        Only raise / only lower the level (not both).

    Returns
    -------
    array (samples,), float32

    Examples
    --------
    >>> import numpy as np
    >>> x = normalize_volume(np.full(1600, 0.001, dtype=np.float32))
    >>> round(float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)))), 3)
    -30.0
    >>> float(normalize_volume(np.full(10, 0.5, dtype=np.float32))[0])  # loud: left as is
    0.5
    """
    if increase_only and decrease_only:
        raise ValueError("increase_only and decrease_only are both set")
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size == 0:
        return samples
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    gain = volume_gain(rms, target_dbfs=target_dbfs, increase_only=increase_only, decrease_only=decrease_only)
    return samples if gain is None else (samples * gain).astype(np.float32, copy=False)


def volume_gain(rms: float, *, target_dbfs: float = SpeakerEncoderConfig.target_dbfs, increase_only: bool = True,
                decrease_only: bool = False) -> np.float32 | None:
    """The factor :func:`normalize_volume` multiplies a signal of RMS ``rms`` by (None: left as is).

    Lets a stream be normalised block by block once its RMS is known (a first pass).

    Examples
    --------
    >>> float(volume_gain(10 ** (-40 / 20)))  # 10 dB below the target
    3.1622776985168457
    >>> volume_gain(0.5) is None  # loud: left alone
    True
    """
    if not np.isfinite(rms) or rms == 0.0:
        return None
    change = target_dbfs - 20.0 * np.log10(rms)  # (rms * INT16_MAX) / INT16_MAX, as Resemblyzer
    if (change < 0 and increase_only) or (change > 0 and decrease_only):
        return None
    return np.float32(10.0 ** (change / 20.0))


@functools.lru_cache(maxsize=4)
def _mel_analysis(config: SpeakerEncoderConfig) -> tuple[np.ndarray, np.ndarray]:
    """Periodic Hann window (n_fft,) and slaney mel filterbank (n_fft // 2 + 1, mel_channels), float32."""
    n_fft = config.n_fft
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    filters = slaney_mel_filterbank(sample_rate=config.sample_rate, n_fft=n_fft, n_mels=config.mel_channels)
    window.flags.writeable = False
    filters.flags.writeable = False
    return window, filters


def mel_frames(samples: np.ndarray, *, config: SpeakerEncoderConfig | None = None) -> np.ndarray:
    """Power mel frames, the encoder's input (as ``resemblyzer.audio.wav_to_mel_spectrogram``).

    That is ``librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=400, hop_length=160,
    n_mels=40).T``: frames centred on every ``hop_length``-th sample with zero padding at both
    ends (``1 + len(samples) // hop_length`` frames), periodic Hann window, power spectrum, slaney
    mel filters with slaney area normalisation; no log. Computed in float32, in blocks of frames.

    Parameters
    ----------
    samples : array (samples,) or (batch, samples)
        Mono audio at ``config.sample_rate`` (16 kHz), usually after :func:`normalize_volume`.
    config : SpeakerEncoderConfig, optional
        Front-end settings; Resemblyzer's by default.

    Returns
    -------
    array (frames, mel_channels) or (batch, frames, mel_channels), float32

    Examples
    --------
    >>> import numpy as np
    >>> mel_frames(np.zeros(16000, dtype=np.float32)).shape
    (101, 40)
    """
    config = config or SpeakerEncoderConfig()
    samples = np.asarray(samples, dtype=np.float32)
    half = config.n_fft // 2
    count = 1 + samples.shape[-1] // config.hop_length
    padded = np.pad(samples, [(0, 0)] * (samples.ndim - 1) + [(half, half)])
    return _power_mel(padded, count, config)


def _power_mel(padded: np.ndarray, count: int, config: SpeakerEncoderConfig) -> np.ndarray:
    """Mel frames 0 .. count - 1 of ``padded``, frame i reading samples i * hop .. i * hop + n_fft."""
    window, filters = _mel_analysis(config)
    frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft, axis=-1)[..., :: config.hop_length, :][..., :count, :]
    out = np.empty(padded.shape[:-1] + (count, config.mel_channels), dtype=np.float32)
    for first in range(0, count, MEL_BLOCK_FRAMES):
        block = slice(first, first + MEL_BLOCK_FRAMES)
        spectrum = scipy.fft.rfft(frames[..., block, :] * window, axis=-1)  # float32 in: complex64 out
        power = spectrum.real**2 + spectrum.imag**2
        out[..., block, :] = power @ filters
    return out


class MelStream:
    """:func:`mel_frames` of a stream of mono sample blocks, equal to it on their concatenation.

    Keeps only the samples the next frame needs.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=5000).astype(np.float32)
    >>> stream = MelStream()
    >>> parts = [stream.push(x[:1234]), stream.push(x[1234:]), stream.finish()]
    >>> bool(np.allclose(np.concatenate(parts), mel_frames(x), rtol=1e-5, atol=1e-7))
    True
    """

    def __init__(self, config: SpeakerEncoderConfig | None = None):
        self.config = config or SpeakerEncoderConfig()
        self._samples = np.zeros(self.config.n_fft // 2, dtype=np.float32)  # the left zero padding
        self._first = 0  # index of the next frame, which starts at self._samples[0]
        self._received = 0
        self._finished = False

    def _frames(self, count: int) -> np.ndarray:
        out = _power_mel(self._samples, count, self.config) if count > 0 else np.zeros((0, self.config.mel_channels), np.float32)
        self._first += count
        self._samples = self._samples[count * self.config.hop_length :]
        return out

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add samples; return the mel frames (frames, mel_channels) that are now complete."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._samples = np.concatenate([self._samples, samples])
        self._received += len(samples)
        n_fft, hop = self.config.n_fft, self.config.hop_length
        return self._frames(max(0, (len(self._samples) - n_fft) // hop + 1))

    def finish(self) -> np.ndarray:
        """The remaining frames, the right zero padding included."""
        if self._finished:
            raise RuntimeError("the stream is finished")
        self._finished = True
        self._samples = np.concatenate([self._samples, np.zeros(self.config.n_fft // 2, dtype=np.float32)])
        return self._frames(1 + self._received // self.config.hop_length - self._first)


# ---------------------------------------------------------------------------------------------
# embedding


def embed_segments(
    segments: list[np.ndarray],
    *,
    device: str | torch.device = "cpu",
    encoder: SpeakerEncoder | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Embed many mel segments, batching those of equal length.

    The LSTM reads its embedding from the final hidden state, so segments are never padded: they
    are sorted by frame count and only segments of identical length share a batch. Re-scoring
    embeds thousands of segments of the same duration, which then run ``batch_size`` at a time.
    The result does not depend on the batching beyond float rounding.

    Parameters
    ----------
    segments : list of arrays (frames, mel_channels)
        Outputs of :func:`mel_frames` (or slices of them), each with at least one frame.
    device : str or torch.device
        Where the encoder runs (ignored when ``encoder`` is given).
    encoder : SpeakerEncoder, optional
        The encoder; the bundled one (:func:`load_speaker_encoder`) by default.
    batch_size : int
        Most segments per forward pass.

    Returns
    -------
    array (len(segments), embedding_size), float32
        L2-normalised embeddings in the order of ``segments``; the cosine distance of two
        segments is ``1 - e[i] @ e[j]``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> mels = [rng.random((n, 40), dtype=np.float32) for n in (160, 100, 160)]
    >>> e = embed_segments(mels)
    >>> e.shape
    (3, 256)
    >>> bool(np.allclose(e[1], embed_segments([mels[1]])[0], atol=1e-5))
    True
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    encoder = encoder if encoder is not None else load_speaker_encoder(device)
    channels = encoder.config.mel_channels
    groups: dict[int, list[int]] = defaultdict(list)
    for index, segment in enumerate(segments):
        shape = np.shape(segment)
        if len(shape) != 2 or shape[1] != channels or shape[0] < 1:
            raise ValueError(f"segment {index} has shape {shape}; expected (frames >= 1, {channels})")
        groups[shape[0]].append(index)
    out = np.zeros((len(segments), encoder.config.embedding_size), dtype=np.float32)
    parameter = next(encoder.parameters())
    from turnpoint.core.runners import full_float32

    with torch.inference_mode(), full_float32():
        for length in sorted(groups):
            indices = groups[length]
            for first in range(0, len(indices), batch_size):
                chosen = indices[first : first + batch_size]
                batch = np.stack([np.asarray(segments[i], dtype=np.float32) for i in chosen])
                tensor = torch.from_numpy(batch).to(device=parameter.device, dtype=parameter.dtype)
                out[chosen] = encoder(tensor).float().cpu().numpy()
    return out


# ---------------------------------------------------------------------------------------------
# weight files


def bundled_speaker_encoder_path() -> Path:
    """Path of the bundled ``models/ge2e.safetensors``."""
    return bundled_path(BUNDLED_FILE)


def save_speaker_encoder(
    path: str | Path,
    *,
    encoder: SpeakerEncoder,
    dtype: torch.dtype = torch.float16,
    source: str = "",
    licence: str = "",
    extra: dict | None = None,
) -> Path:
    """Write ``encoder`` atomically as safetensors (weights as ``dtype``) with a JSON header.

    The header (safetensors metadata key ``"turnpoint"``) holds the format name and version, the
    architecture (:class:`SpeakerEncoderConfig`), the stored weight dtype, ``source``,
    ``licence`` and any ``extra`` entries.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "enc.safetensors"
    >>> _ = save_speaker_encoder(p, encoder=SpeakerEncoder(SpeakerEncoderConfig(hidden_size=8, embedding_size=4)))
    >>> read_speaker_encoder(p).config.embedding_size
    4
    """
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"weights can be stored as float16, bfloat16 or float32, not {dtype}")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "turnpoint_version": __version__,
        "architecture": encoder.config.to_dict(),
        "weights_dtype": str(dtype).removeprefix("torch."),
        "source": source,
        "licence": licence,
        **(extra or {}),
    }
    return write_file(path, header, {key: value.to(dtype) for key, value in encoder.state_dict().items()})


def read_speaker_encoder_header(path: str | Path) -> dict:
    """The checked JSON header of a speaker encoder file (format, version, architecture, source, ...)."""
    return read_file_header(path, FILE_FORMAT)


def _architecture(header: dict, path: Path) -> SpeakerEncoderConfig:
    try:
        config = SpeakerEncoderConfig.from_dict(header["architecture"])
    except (TypeError, ValueError) as error:
        raise TurnpointError(f"invalid speaker encoder architecture ({error})", path=path) from None
    for name in ("mel_channels", "hidden_size", "num_layers", "embedding_size", "sample_rate", "n_fft", "hop_length"):
        value = getattr(config, name)
        limit = 10**6 if name == "sample_rate" else MAX_SIZE
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            raise TurnpointError(f"invalid speaker encoder architecture: {name} = {value!r}", path=path)
    if config.n_fft // 2 + 1 < config.mel_channels or not isinstance(config.target_dbfs, (int, float)):
        raise TurnpointError("invalid speaker encoder front end (n_fft, mel_channels, target_dbfs)", path=path)
    return config


def read_speaker_encoder(path: str | Path, *, device: str | torch.device = "cpu") -> SpeakerEncoder:
    """Load a speaker encoder file, checking its header, tensor names, shapes and values.

    Pickles are refused without being opened; weights stored in half precision are upcast to
    float32; the encoder is returned in eval mode without gradients.

    Raises
    ------
    TurnpointError
        One line naming the file and the problem.
    """
    path = Path(path)
    encoder = SpeakerEncoder(_architecture(read_speaker_encoder_header(path), path))
    tensors = read_weights(path, encoder, dtypes=WEIGHT_DTYPES)
    encoder.load_state_dict({key: value.float() for key, value in tensors.items()})
    encoder.requires_grad_(False)
    return encoder.eval().to(device)


@functools.lru_cache(maxsize=4)
def load_speaker_encoder(device: str | torch.device = "cpu") -> SpeakerEncoder:
    """The bundled GE2E encoder (Resemblyzer's pretrained weights), loaded once per device.

    The returned module is shared between callers: do not modify it.

    Examples
    --------
    >>> encoder = load_speaker_encoder()
    >>> encoder.config == SpeakerEncoderConfig(), encoder.training
    (True, False)
    >>> next(encoder.parameters()).dtype
    torch.float32
    """
    return read_speaker_encoder(bundled_speaker_encoder_path(), device=device)
