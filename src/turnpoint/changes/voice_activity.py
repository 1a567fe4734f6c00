"""Speech and non-speech: Silero VAD (MIT; its model ships in its wheel), many chunks at a time.

Silero scores 32 ms chunks one call at a time, its LSTM state carried from chunk to chunk: about
170x real time on one core, most of it per-call overhead, and the slowest stage of the fast
pipeline. Everything before its LSTM sees one chunk alone (the chunk and the 64 samples before
it), so :class:`BatchedSilero` runs the STFT and the four convolutions over a block of chunks as
one batch (the STFT by FFT) and the LSTM once over the block's sequence, with Silero's own weights
read from the TorchScript file in its wheel. The probabilities are Silero's to about 1e-5
(``tests/test_voice_activity.py`` compares them with its ONNX model chunk by chunk) at more
than 10x the speed (``benchmarks/run.py`` reports the stage).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import scipy.fft
import torch
from torch import nn
from torch.nn import functional as F

SAMPLE_RATE = 16000
CHUNK = 512  # samples Silero scores at a time (32 ms)
CONTEXT = 64  # samples of the previous chunk each chunk sees
STFT_WINDOW, STFT_HOP = 256, 128
#: chunks per batch (~33 s): blocks are cut at fixed places in the file, so any way of feeding the
#: stream gives bitwise the same probabilities; larger blocks stop fitting in cache
BLOCK_CHUNKS = 1024


def chunk_spectra(chunks: np.ndarray) -> np.ndarray:
    """Silero's STFT of each chunk: (chunk, CONTEXT + CHUNK) samples -> (chunk, 129, 4) magnitudes.

    Silero takes it as a convolution with a periodic-Hann-windowed DFT basis after reflecting the
    chunk's last 64 samples; an FFT gives the same numbers for a fraction of the work.

    Examples
    --------
    >>> chunk_spectra(np.zeros((2, CONTEXT + CHUNK), np.float32)).shape
    (2, 129, 4)
    """
    reflected = chunks[:, -2 : -CONTEXT - 2 : -1]  # torch's "reflect" padding: the edge sample not repeated
    padded = np.concatenate([chunks, reflected], axis=1)  # (chunk, 640)
    frames = np.lib.stride_tricks.sliding_window_view(padded, STFT_WINDOW, axis=1)[:, ::STFT_HOP]  # (chunk, 4, 256)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(STFT_WINDOW) / STFT_WINDOW)).astype(np.float32)
    return np.abs(scipy.fft.rfft(frames * window, axis=-1)).transpose(0, 2, 1)


class BatchedSilero(nn.Module):
    """Silero VAD v5/v6 (16 kHz) after its STFT, over many chunks at once.

    Examples
    --------
    >>> network = silero_network()
    >>> spectra = torch.from_numpy(chunk_spectra(np.zeros((3, CONTEXT + CHUNK), np.float32)))
    >>> probabilities, state = network(spectra)
    >>> tuple(probabilities.shape), tuple(state[0].shape)
    ((3,), (1, 1, 128))
    """

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([
            nn.Conv1d(129, 128, 3, stride=1, padding=1), nn.Conv1d(128, 64, 3, stride=2, padding=1),
            nn.Conv1d(64, 64, 3, stride=2, padding=1), nn.Conv1d(64, 128, 3, stride=1, padding=1),
        ])
        self.lstm = nn.LSTM(128, 128, batch_first=True)
        self.out = nn.Linear(128, 1)

    def forward(self, spectra: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        # spectra: (chunk, 129, 4) of consecutive chunks of one stream -> (chunk,), LSTM state
        x = spectra
        for conv in self.convs:
            x = F.relu(conv(x))  # -> (chunk, 128, 1) after the two strided ones
        hidden, state = self.lstm(x[:, :, 0][None], state)  # (1, chunk, 128): the chunks are the time axis
        return torch.sigmoid(self.out(F.relu(hidden[0])))[:, 0], state


@functools.lru_cache(maxsize=1)
def silero_network() -> BatchedSilero:
    """:class:`BatchedSilero` with the weights of the Silero model in the installed wheel."""
    import silero_vad

    packaged = torch.jit.load(str(Path(silero_vad.__file__).parent / "data" / "silero_vad.jit"), map_location="cpu")
    weights = {name: value.detach() for name, value in packaged._model.named_parameters()}
    network = BatchedSilero()
    state = {}
    for index in range(len(network.convs)):
        state[f"convs.{index}.weight"] = weights[f"encoder.{index}.reparam_conv.weight"]
        state[f"convs.{index}.bias"] = weights[f"encoder.{index}.reparam_conv.bias"]
    for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        state[f"lstm.{part}_l0"] = weights[f"decoder.rnn.{part}"]
    state["out.weight"] = weights["decoder.decoder.2.weight"][:, :, 0]
    state["out.bias"] = weights["decoder.decoder.2.bias"]
    network.load_state_dict(state)  # strict: a Silero release with other layers fails here, loudly
    return network.eval()


class SpeechStream:
    """Silero VAD over a stream of sample blocks: the same probabilities as one pass over the whole
    signal (32 ms chunks, the last one zero-padded), whatever the blocks.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(0, 0.05, 20000).astype(np.float32)
    >>> stream = SpeechStream()
    >>> stream.push(x[:7000]); stream.push(x[7000:])
    >>> len(stream.finish()), stream.n_samples
    (40, 20000)
    """

    def __init__(self) -> None:
        self.network = silero_network()
        self._state = None
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._probabilities: list[np.ndarray] = []
        self.n_samples = 0

    def _score(self, samples: np.ndarray) -> None:
        """Score whole chunks (``len(samples)`` a multiple of :data:`CHUNK`)."""
        if not len(samples):
            return
        with_context = np.concatenate([self._context, samples])
        chunks = np.lib.stride_tricks.as_strided(with_context, (len(samples) // CHUNK, CONTEXT + CHUNK), (CHUNK * with_context.itemsize, with_context.itemsize), writeable=False)
        with torch.inference_mode():
            probabilities, self._state = self.network(torch.from_numpy(chunk_spectra(chunks)), self._state)
        self._probabilities.append(probabilities.numpy())
        self._context = samples[-CONTEXT:].copy()

    def push(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float32)
        self.n_samples += len(block)
        self._pending.append(block)
        self._pending_samples += len(block)
        size = BLOCK_CHUNKS * CHUNK
        if self._pending_samples < size:
            return
        samples = np.concatenate(self._pending)
        whole = len(samples) // size * size
        for start in range(0, whole, size):
            self._score(samples[start : start + size])
        rest = samples[whole:]
        self._pending, self._pending_samples = [rest], len(rest)

    def finish(self) -> np.ndarray:
        """The speech probability of every chunk."""
        if self._pending_samples:
            samples = np.concatenate(self._pending)
            padded = np.zeros(-(-len(samples) // CHUNK) * CHUNK, dtype=np.float32)
            padded[: len(samples)] = samples
            self._score(padded)
            self._pending, self._pending_samples = [], 0
        return np.concatenate(self._probabilities) if self._probabilities else np.zeros(0, np.float32)


def regions_from_probabilities(
    probabilities: np.ndarray, *, n_samples: int, vad_threshold: float, min_silence: float, min_speech: float
) -> list[tuple[float, float]]:
    """(start, end) of the non-speech regions from Silero's chunk probabilities (its own decoding)."""
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    duration = n_samples / SAMPLE_RATE
    speech = get_speech_timestamps_from_probs(
        np.asarray(probabilities, dtype=np.float32).tolist(), sampling_rate=SAMPLE_RATE, threshold=vad_threshold,
        min_speech_duration_ms=int(round(min_speech * 1000)), min_silence_duration_ms=int(round(min_silence * 1000)),
        speech_pad_ms=30, audio_length_samples=n_samples,
    )
    regions, cursor = [], 0.0
    for region in speech:
        start, end = region["start"] / SAMPLE_RATE, region["end"] / SAMPLE_RATE
        if start > cursor:
            regions.append((round(cursor, 6), round(start, 6)))
        cursor = max(cursor, end)
    if cursor < duration:
        regions.append((round(cursor, 6), round(duration, 6)))
    return regions


def silent_regions(samples: np.ndarray, *, vad_threshold: float, min_silence: float, min_speech: float) -> list[tuple[float, float]]:
    """(start, end) of the non-speech regions of 16 kHz mono samples.

    Examples
    --------
    >>> silent_regions(np.zeros(32000, dtype=np.float32), vad_threshold=0.2, min_silence=0.1, min_speech=0.25)
    [(0.0, 2.0)]
    """
    stream = SpeechStream()
    stream.push(samples)
    return regions_from_probabilities(stream.finish(), n_samples=stream.n_samples, vad_threshold=vad_threshold,
                                      min_silence=min_silence, min_speech=min_speech)
