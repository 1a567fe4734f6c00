"""Dense speaker embeddings of whole signals and streams: ~1 s windows every ``hop`` seconds, in one pass.

:func:`embed_stream` gives ``(times, embeddings)`` for an array, an iterable of sample blocks
or an audio file, with bounded memory, from the compact encoder (by default; onnxruntime when
installed) or from GE2E (``encoder="ge2e"``) at the same times. :class:`CompactEncoderStream`
pushes blocks through the compact encoder and gives the same embeddings as :func:`embed_whole`,
whatever the blocks; :func:`compact_features` is the encoder's log-mel input.

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

import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from turnpoint.changes.compact_encoder import PAD_VALUE, SAMPLE_RATE, CompactEncoder, CompactEncoderConfig, load_compact_encoder
from turnpoint.changes.compact_onnx import make_runner
from turnpoint.changes.ge2e_teacher import Ge2eStream
from turnpoint.core.features import _cepstra_from_padded, _FrameBuffer, static_cepstra

__all__ = ["CompactEncoderStream", "compact_features", "embed_stream", "embed_whole", "iter_embeddings"]

ENCODERS = ("compact", "ge2e")
MAX_FORWARD_OUTPUTS = 640  # embeddings per forward pass (~1 min): bounds memory whatever the block size


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


def iter_embeddings(
    source: np.ndarray | Iterable[np.ndarray] | str | Path,
    *,
    encoder: str | CompactEncoder | None = None,
    block_seconds: float = 60.0,
    hop: float | None = None,
    backend: str = "auto",
    threads: int = 1,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`embed_stream` one part at a time: ``(times, embeddings)`` of consecutive windows,
    as each block of audio makes them final, so that a caller can store or consume them without
    holding the whole file's embeddings (the parameters are :func:`embed_stream`'s).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=32000).astype(np.float32) * 0.05
    >>> parts = list(iter_embeddings(x, block_seconds=0.5, backend="torch"))
    >>> len(parts) > 2, sum(len(t) for t, _ in parts)
    (True, 21)
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
    seen = 0  # embeddings produced so far (for subsampling across blocks)

    def chosen(part: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        nonlocal seen
        t, e = part
        keep = (seen + np.arange(len(t))) % every == 0
        seen += len(t)
        return t[keep], np.asarray(e[keep], dtype=np.float32)

    for block in _blocks(source, block_samples):
        yield chosen(stream.push(block))
    yield chosen(stream.finish())


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
    parts = list(iter_embeddings(source, encoder=encoder, block_seconds=block_seconds, hop=hop, backend=backend, threads=threads))
    return np.concatenate([t for t, _ in parts]), np.concatenate([e for _, e in parts])
