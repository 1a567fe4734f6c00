"""The paper's 35-dim MFCC frames, offline (batchable) and streaming (bounded memory).

Per frame: MFCC c1..c11, their Δ, their ΔΔ, then Δc0 and ΔΔc0 (c0 acts as energy; the static c0 is
left out so that a change of level does not look like a change of speaker). Cepstra are the DCT
(type II, orthonormal) of natural-log slaney-mel energies (40 filters, 130–6854 Hz) of a periodic
Hann-windowed power spectrum, frames centred with zero padding — the same as
``librosa.feature.mfcc(S=np.log(melspectrogram(...)))``. Δ is the usual ±4-frame regression
(``librosa.feature.delta`` inside the file) with the edge frames repeated at the file's ends; ΔΔ is
Δ of Δ. The streaming extractor gives exactly the offline result whatever the block sizes.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import scipy.signal

from turnpoint.core.task import FeatureConfig

LOG_FLOOR = 1e-10

# Per-channel energy normalisation (Wang et al. 2017, "Trainable frontend for robust and far-field
# keyword spotting"; Lostanlen et al. 2019, "Per-channel energy normalization: why and how") with
# librosa.pcen's defaults, on mel magnitudes scaled as librosa's documentation scales float audio.
# A model file names only coefficients="pcen", so these constants are part of that format.
PCEN_TIME_CONSTANT = 0.4  # s, of the smoother M that each band is divided by
PCEN_GAIN = 0.98
PCEN_BIAS = 2.0
PCEN_POWER = 0.5
PCEN_EPS = 1e-6
PCEN_INPUT_SCALE = 2.0**31


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's auditory toolbox scale: linear below 1 kHz, logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_region = hz >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), hz)


def slaney_mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney-scale, area-normalised triangular mel filters, as ``librosa.filters.mel(...).T``.

    Parameters
    ----------
    sample_rate : int
        Sample rate (Hz) of the signal.
    n_fft : int
        FFT size: the filters act on its ``n_fft // 2 + 1`` bins.
    n_mels : int
        Number of filters.
    fmin, fmax : float
        Edges (Hz) of the lowest and highest filters; ``fmax=None`` is ``sample_rate / 2``.

    Returns
    -------
    array (n_fft // 2 + 1, n_mels), float32, C order
        ``power_spectrum @ filters`` gives the mel energies.

    Examples
    --------
    >>> slaney_mel_filterbank(sample_rate=16000, n_fft=400, n_mels=40).shape
    (201, 40)
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(lower, upper))
    filters *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]  # slaney area normalisation
    return np.ascontiguousarray(filters.T, dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _analysis_matrices(config: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window (n_fft,), mel filterbank (n_bins, n_mels) and DCT (n_mels, n_mfcc + 1), float32."""
    n_fft, win = config.n_fft, config.win_length
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset : offset + win] = periodic_hann

    filters = slaney_mel_filterbank(sample_rate=config.sample_rate, n_fft=n_fft, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax)

    m = config.n_mels
    k = np.arange(config.n_mfcc + 1)[None, :]
    n = np.arange(m)[:, None]
    dct = np.cos(np.pi * k * (2 * n + 1) / (2 * m)) * np.sqrt(2.0 / m)
    dct[:, 0] *= np.sqrt(0.5)
    return window.astype(np.float32), filters, dct.astype(np.float32)


@functools.lru_cache(maxsize=8)
def _mel_band(config: FeatureConfig) -> tuple[slice, np.ndarray]:
    """The FFT bins any mel filter touches, and the filterbank restricted to them (C order).

    Bins outside every filter (below fmin, above fmax) have zero weight: skipping them changes no
    mel energy beyond float rounding and saves a fifth of the spectrum work at the paper's settings.
    """
    filters = _analysis_matrices(config)[1]
    used = np.flatnonzero(filters.any(axis=1))
    band = slice(int(used[0]), int(used[-1]) + 1) if len(used) else slice(0, len(filters))
    return band, np.ascontiguousarray(filters[band])


def n_frames(n_samples: int, config: FeatureConfig) -> int:
    """Number of frames for ``n_samples`` samples (centred frames: ``1 + n_samples // hop``)."""
    return 1 + n_samples // config.hop_length


def frame_times(count: int, config: FeatureConfig) -> np.ndarray:
    """Centre time (s) of each of ``count`` frames."""
    return np.arange(count) * config.frame_step


def _cepstra_from_padded(padded: np.ndarray, count: int, config: FeatureConfig) -> np.ndarray:
    """c0..c11 for ``count`` frames of an already padded signal (..., samples) -> (..., count, 12).

    With ``config.coefficients == "logmel"`` the log-mel energies themselves, (..., count, n_mels);
    with ``"pcen"`` the scaled mel magnitudes that :class:`_Pcen` normalises.
    """
    window, _, dct = _analysis_matrices(config)
    band, filters = _mel_band(config)
    frames = np.lib.stride_tricks.sliding_window_view(padded, config.n_fft, axis=-1)
    frames = frames[..., : (count - 1) * config.hop_length + 1 : config.hop_length, :]
    spectrum = scipy.fft.rfft(frames * window, axis=-1)[..., band]  # float32 in: complex64 out
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32, copy=False)
    if config.coefficients == "pcen":
        return (np.sqrt(power) @ filters) * np.float32(PCEN_INPUT_SCALE)
    log_mel = np.log(np.maximum(power @ filters, LOG_FLOOR))
    return log_mel if config.coefficients == "logmel" else log_mel @ dct


def static_cepstra(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """c0..c11 per frame for a whole signal (..., samples) -> (..., frames, 12)."""
    samples = np.asarray(samples, dtype=np.float32)
    half = config.n_fft // 2
    pad = [(0, 0)] * (samples.ndim - 1) + [(half, half)]
    return _cepstra_from_padded(np.pad(samples, pad), n_frames(samples.shape[-1], config), config)


def _delta_valid(x: np.ndarray, width: int) -> np.ndarray:
    """Regression delta over axis -2 without padding: (..., T, D) -> (..., T - width + 1, D)."""
    half = width // 2
    norm = 2.0 * sum(n * n for n in range(1, half + 1))
    length = x.shape[-2] - 2 * half
    out = np.zeros(x.shape[:-2] + (length, x.shape[-1]), dtype=np.float32)
    for n in range(1, half + 1):
        out += n * (x[..., half + n : half + n + length, :] - x[..., half - n : half - n + length, :])
    return out / norm


def _delta_edge(x: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    pad = [(0, 0)] * (x.ndim - 2) + [(half, half), (0, 0)]
    return _delta_valid(np.pad(x, pad, mode="edge"), width)


def _assemble(cepstra: np.ndarray, delta: np.ndarray, delta2: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [cepstra[..., 1:], delta[..., 1:], delta2[..., 1:], delta[..., :1], delta2[..., :1]], axis=-1
    ).astype(np.float32, copy=False)


def _require_cepstra(config: FeatureConfig) -> None:
    if config.coefficients != "mfcc":
        raise ValueError(f"speaker change features are cepstral; coefficients={config.coefficients!r} is for event features")


def _check_event_config(config: FeatureConfig) -> None:
    if config.coefficients in ("logmel", "pcen") and config.n_mels != config.n_mfcc:
        raise ValueError(f"{config.coefficients} event features use every band: n_mfcc must equal n_mels (got {config.n_mfcc} and {config.n_mels})")
    if config.coefficients == "mfcc" and config.n_mels <= config.n_mfcc:
        raise ValueError(f"event features need n_mels > n_mfcc (got n_mels={config.n_mels}, n_mfcc={config.n_mfcc})")


def extract_features(samples: np.ndarray, *, config: FeatureConfig | None = None) -> np.ndarray:
    """35-dim features of a whole signal; works on a batch of equal-length signals too.

    Parameters
    ----------
    samples : array (samples,) or (batch, samples)
        Mono audio at ``config.sample_rate``.
    config : FeatureConfig, optional
        Framing and filterbank; the paper's 32 ms / 16 ms by default.

    Returns
    -------
    array (frames, 35) or (batch, frames, 35), float32

    Examples
    --------
    >>> import numpy as np
    >>> extract_features(np.zeros(16000, dtype=np.float32)).shape
    (63, 35)
    >>> extract_features(np.zeros((4, 8000), dtype=np.float32)).shape
    (4, 32, 35)
    """
    config = config or FeatureConfig()
    _require_cepstra(config)
    cepstra = static_cepstra(samples, config)
    delta = _delta_edge(cepstra, config.delta_width)
    delta2 = _delta_edge(delta, config.delta_width)
    return _assemble(cepstra, delta, delta2)


class _Pcen:
    """PCEN over frames (axis -2) of mel magnitudes, carrying the smoother across calls.

    ``M[t] = (1 - s) M[t-1] + s E[t]`` with ``M`` starting at the first frame (as librosa.pcen), then
    ``(E / (eps + M)^gain + bias)^power - bias^power``: each band divided by its own recent level,
    so a steady background (a held chord, hum) fades and what starts over it stands out.
    """

    def __init__(self, config: FeatureConfig):
        frames = PCEN_TIME_CONSTANT / config.frame_step
        self.weight = (np.sqrt(1 + 4 * frames**2) - 1) / (2 * frames**2)  # librosa's s for this time constant
        self.previous: np.ndarray | None = None  # M at the last frame seen, (..., 1, bands)

    def __call__(self, magnitudes: np.ndarray) -> np.ndarray:
        if magnitudes.shape[-2] == 0:
            return magnitudes.astype(np.float32, copy=False)
        energy = magnitudes.astype(np.float64)
        if self.previous is None:
            self.previous = energy[..., :1, :]
        smooth, _ = scipy.signal.lfilter([self.weight], [1.0, self.weight - 1.0], energy, axis=-2, zi=(1.0 - self.weight) * self.previous)
        self.previous = smooth[..., -1:, :]
        normalised = energy * np.exp(-PCEN_GAIN * np.log(PCEN_EPS + smooth))
        return ((normalised + PCEN_BIAS) ** PCEN_POWER - PCEN_BIAS**PCEN_POWER).astype(np.float32)


class _DeltaStream:
    """Streaming Δ with edge repetition at both ends of the stream."""

    def __init__(self, width: int, dim: int):
        self.width = width
        self.half = width // 2
        self.buffer = np.zeros((0, dim), dtype=np.float32)
        self.started = False

    def push(self, frames: np.ndarray) -> np.ndarray:
        if len(frames) == 0:
            return frames[:0]
        if not self.started:
            self.started = True
            frames = np.concatenate([np.repeat(frames[:1], self.half, axis=0), frames])
        self.buffer = np.concatenate([self.buffer, frames])
        if len(self.buffer) < self.width:
            return self.buffer[:0]
        out = _delta_valid(self.buffer, self.width)
        self.buffer = self.buffer[-(self.width - 1) :]
        return out

    def finish(self) -> np.ndarray:
        if not self.started:
            return self.buffer[:0]
        tail = np.concatenate([self.buffer, np.repeat(self.buffer[-1:], self.half, axis=0)])
        return _delta_valid(tail, self.width) if len(tail) >= self.width else self.buffer[:0]


class _FrameBuffer:
    """Streamed samples, zero-padded by half a window at both ends as the whole-signal features are,
    handed out as the (padded) samples of every frame that is now complete."""

    def __init__(self, config: FeatureConfig):
        self.config = config
        self._samples = np.zeros(config.n_fft // 2, dtype=np.float32)  # left zero padding
        self._samples_start = 0  # padded index of self._samples[0]
        self._next_frame = 0
        self.received = 0

    def push(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.received += len(samples)
        self._samples = np.concatenate([self._samples, samples])

    def finish(self) -> None:
        self._samples = np.concatenate([self._samples, np.zeros(self.config.n_fft // 2, dtype=np.float32)])  # right padding

    def take(self, *, final: bool) -> tuple[np.ndarray, int]:
        """Padded samples from the next frame's start, and how many frames they complete (then dropped)."""
        hop, n_fft = self.config.hop_length, self.config.n_fft
        last = self.received // hop if final else (self._samples_start + len(self._samples) - n_fft) // hop
        count = max(0, last - self._next_frame + 1)
        local = self._samples[self._next_frame * hop - self._samples_start :]
        if count:
            self._next_frame += count
            keep_from = self._next_frame * hop - self._samples_start
            self._samples = self._samples[keep_from:]
            self._samples_start += keep_from
        return local[: (count - 1) * hop + n_fft] if count else local[:0], count


class FeatureStream:
    """Feature extraction over a stream of sample blocks, equal to :func:`extract_features`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=20000).astype(np.float32)
    >>> stream = FeatureStream()
    >>> parts = [stream.push(x[:7000]), stream.push(x[7000:]), stream.finish()]
    >>> np.allclose(np.concatenate(parts), extract_features(x), atol=1e-4)
    True
    """

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config or FeatureConfig()
        _require_cepstra(self.config)
        self._buffer = _FrameBuffer(self.config)
        dim = self.config.n_mfcc + 1
        self._delta = _DeltaStream(self.config.delta_width, dim)
        self._delta2 = _DeltaStream(self.config.delta_width, dim)
        self._pending_cepstra = np.zeros((0, dim), dtype=np.float32)
        self._pending_delta = np.zeros((0, dim), dtype=np.float32)

    def _cepstra(self, final: bool) -> np.ndarray:
        padded, count = self._buffer.take(final=final)
        if count == 0:
            return np.zeros((0, self.config.n_mfcc + 1), dtype=np.float32)
        return _cepstra_from_padded(padded, count, self.config)

    def _emit(self, cepstra: np.ndarray, delta: np.ndarray, delta2: np.ndarray) -> np.ndarray:
        self._pending_cepstra = np.concatenate([self._pending_cepstra, cepstra])
        self._pending_delta = np.concatenate([self._pending_delta, delta])
        ready = len(delta2)
        out = _assemble(self._pending_cepstra[:ready], self._pending_delta[:ready], delta2)
        self._pending_cepstra = self._pending_cepstra[ready:]
        self._pending_delta = self._pending_delta[ready:]
        return out

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add mono samples; return the feature frames that are now final, (frames, 35)."""
        self._buffer.push(samples)
        cepstra = self._cepstra(final=False)
        delta = self._delta.push(cepstra)
        return self._emit(cepstra, delta, self._delta2.push(delta))

    def finish(self) -> np.ndarray:
        """Flush the end of the stream (right zero padding, edge-repeated deltas)."""
        self._buffer.finish()
        cepstra = self._cepstra(final=True)
        delta = np.concatenate([self._delta.push(cepstra), self._delta.finish()])
        delta2 = np.concatenate([self._delta2.push(delta), self._delta2.finish()])
        return self._emit(cepstra, delta, delta2)


def zero_crossing_rate(samples: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Zero-crossing rate per frame, on the same centred frames as :func:`static_cepstra`.

    The rate is the fraction of the ``win_length`` sample pairs of a frame whose signs differ
    (zero counts as positive), so it lies in [0, 1].

    Parameters
    ----------
    samples : array (samples,) or (batch, samples)
    config : FeatureConfig

    Returns
    -------
    array (frames,) or (batch, frames), float32

    Examples
    --------
    >>> import numpy as np
    >>> x = np.tile(np.array([1.0, -1.0], dtype=np.float32), 8000)
    >>> float(zero_crossing_rate(x, FeatureConfig())[10])
    1.0
    """
    samples = np.asarray(samples, dtype=np.float32)
    half = config.n_fft // 2
    pad = [(0, 0)] * (samples.ndim - 1) + [(half, half)]
    return _zcr_from_padded(np.pad(samples, pad), n_frames(samples.shape[-1], config), config)


def _zcr_from_padded(padded: np.ndarray, count: int, config: FeatureConfig) -> np.ndarray:
    """Zero-crossing rate of ``count`` frames of an already padded signal (..., samples) -> (..., count)."""
    signs = np.signbit(padded)
    flips = (signs[..., 1:] != signs[..., :-1]).astype(np.float32)  # flips[i]: between i and i+1
    offset = (config.n_fft - config.win_length) // 2
    cumulative = np.concatenate([np.zeros(flips.shape[:-1] + (1,), np.float64), np.cumsum(flips, axis=-1, dtype=np.float64)], axis=-1)
    starts = np.arange(count) * config.hop_length + offset
    pairs = config.win_length - 1
    return ((cumulative[..., starts + pairs] - cumulative[..., starts]) / pairs).astype(np.float32)


def event_features(samples: np.ndarray, *, config: FeatureConfig) -> np.ndarray:
    """Per-frame inputs of the sound event detector: ``n_mfcc`` MFCC, their Δ and the ZCR.

    Columns are c0..c(n_mfcc-1) (the first ``n_mfcc`` cepstra, energy included), their Δ (the same
    ±``delta_width // 2``-frame regression with edge repetition as :func:`extract_features`), and
    the zero-crossing rate: ``2 * n_mfcc + 1`` columns (129 for ``n_mfcc=64``). Needs
    ``config.n_mels > config.n_mfcc``; with ``config.coefficients == "logmel"`` the first columns
    are the ``n_mels`` log-mel energies instead (``n_mfcc == n_mels``), with ``"pcen"`` the PCEN of
    the mel magnitudes (:class:`_Pcen`: librosa.pcen's settings, smoother started at the first frame).

    Parameters
    ----------
    samples : array (samples,) or (batch, samples)
        Mono audio at ``config.sample_rate``.
    config : FeatureConfig
        e.g. ``FeatureConfig(n_mfcc=64, n_mels=128, fmin=0.0, fmax=8000.0)``.

    Returns
    -------
    array (frames, 2 * n_mfcc + 1) or (batch, frames, 2 * n_mfcc + 1), float32

    Examples
    --------
    >>> import numpy as np
    >>> cfg = FeatureConfig(window_duration=0.04, step_duration=0.02, n_mels=128, n_mfcc=64, fmin=0.0, fmax=8000.0)
    >>> event_features(np.zeros(16000, dtype=np.float32), config=cfg).shape
    (51, 129)
    """
    _check_event_config(config)
    cepstra = static_cepstra(samples, config)[..., : config.n_mfcc]
    if config.coefficients == "pcen":
        cepstra = _Pcen(config)(cepstra)
    delta = _delta_edge(cepstra, config.delta_width)
    zcr = zero_crossing_rate(samples, config)[..., None]
    return np.concatenate([cepstra, delta, zcr], axis=-1).astype(np.float32, copy=False)


class EventFeatureStream:
    """:func:`event_features` over a stream of sample blocks (equal to it on the whole signal).

    Memory holds one block and a few frames, so an hour-long file costs no more than a minute.

    Examples
    --------
    >>> import numpy as np
    >>> cfg = FeatureConfig(window_duration=0.04, step_duration=0.02, n_mels=96, n_mfcc=64, fmin=20.0, fmax=8000.0)
    >>> x = np.random.default_rng(0).normal(size=20000).astype(np.float32)
    >>> stream = EventFeatureStream(cfg)
    >>> parts = [stream.push(x[:7000]), stream.push(x[7000:]), stream.finish()]
    >>> np.allclose(np.concatenate(parts), event_features(x, config=cfg), atol=1e-4)
    True
    """

    def __init__(self, config: FeatureConfig):
        _check_event_config(config)
        self.config = config
        self._buffer = _FrameBuffer(config)
        self._delta = _DeltaStream(config.delta_width, config.n_mfcc)
        self._pcen = _Pcen(config) if config.coefficients == "pcen" else None
        self._pending = np.zeros((0, config.n_mfcc + 1), dtype=np.float32)  # cepstra + ZCR waiting for their delta

    def _frames(self, final: bool) -> tuple[np.ndarray, np.ndarray]:
        padded, count = self._buffer.take(final=final)
        if count == 0:
            return np.zeros((0, self.config.n_mfcc), dtype=np.float32), np.zeros(0, dtype=np.float32)
        cepstra = _cepstra_from_padded(padded, count, self.config)[:, : self.config.n_mfcc]
        if self._pcen is not None:
            cepstra = self._pcen(cepstra)
        return cepstra, _zcr_from_padded(padded, count, self.config)

    def _emit(self, cepstra: np.ndarray, zcr: np.ndarray, delta: np.ndarray) -> np.ndarray:
        self._pending = np.concatenate([self._pending, np.concatenate([cepstra, zcr[:, None]], axis=1)])
        ready, self._pending = self._pending[: len(delta)], self._pending[len(delta) :]
        return np.concatenate([ready[:, :-1], delta, ready[:, -1:]], axis=1).astype(np.float32, copy=False)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add mono samples; return the frames that are now final, (frames, 2 * n_mfcc + 1)."""
        self._buffer.push(samples)
        cepstra, zcr = self._frames(final=False)
        return self._emit(cepstra, zcr, self._delta.push(cepstra))

    def finish(self) -> np.ndarray:
        """Flush the end of the stream (right zero padding, edge-repeated Δ)."""
        self._buffer.finish()
        cepstra, zcr = self._frames(final=True)
        return self._emit(cepstra, zcr, np.concatenate([self._delta.push(cepstra), self._delta.finish()]))
