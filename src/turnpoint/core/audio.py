"""Audio in: any file soundfile or PyAV can decode, streamed as 16 kHz mono float32 blocks.

soundfile (libsndfile) reads wav/flac/ogg/mp3 and friends; everything else — video and other
containers (mp4, ts, mkv, m4a, webm…) — goes through PyAV (FFmpeg). Channels are averaged and the
rate converted with soxr's streaming resampler, so memory is bounded by the block size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from turnpoint.core.errors import TurnpointError

logger = logging.getLogger(__name__)

DEFAULT_BLOCK_DURATION = 60.0
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".mkv", ".ts", ".webm", ".avi", ".mov", ".aif", ".aiff", ".au", ".sph")


def audio_files(source: str | Path) -> list[Path]:
    """The audio files of a folder (by extension, sorted) or of a list file (paths relative to it).

    Examples
    --------
    >>> audio_files("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: /nonexistent: no such file or folder
    """
    from turnpoint.core.textfiles import read_list

    source = Path(source)
    if not source.exists():
        raise TurnpointError("no such file or folder", path=source)
    if source.is_dir():
        return sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    return [p if p.is_absolute() else source.parent / p for p in map(Path, read_list(source))]


def annotated_audio(source: str | Path) -> tuple[list[Path], list[Path]]:
    """The audio files of a training folder or list file, and the folders to find their annotations in.

    The folders are the source folder itself, or, for a list file, each listed file's folder (sorted).

    Examples
    --------
    >>> annotated_audio("/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    turnpoint.core.errors.TurnpointError: /nonexistent: no such file or folder
    """
    source = Path(source)
    audio = audio_files(source)
    if not audio:
        raise TurnpointError("no audio files found", path=source)
    return audio, [source] if source.is_dir() else sorted({p.parent for p in audio})
#: Largest |sample| accepted (120 dB above full scale). Float files may exceed 1.0 (clipped mixes, or
#: int16-scale values stored as float), but 1e30 is corruption: its spectrum overflows float32.
MAX_SAMPLE_MAGNITUDE = 1e6


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds before conversion."""

    sample_rate: int
    channels: int
    duration: float | None  # None when the container does not say
    backend: str


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise TurnpointError("no such file", path=path)
    if path.is_dir():
        raise TurnpointError("is a directory, expected an audio file", path=path)
    if path.stat().st_size == 0:
        raise TurnpointError("empty file (0 bytes), expected audio", path=path)


def _open_soundfile(path: Path) -> sf.SoundFile | None:
    try:
        return sf.SoundFile(str(path))
    except Exception:  # libsndfile cannot parse it: let PyAV try
        return None


def audio_info(path: str | Path) -> AudioInfo:
    """Sample rate, channel count and duration of an audio or video file.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(p, np.zeros((8000, 2)), 8000)
    >>> audio_info(p).channels, audio_info(p).duration
    (2, 1.0)
    """
    path = Path(path)
    _check_exists(path)
    handle = _open_soundfile(path)
    if handle is not None:
        with handle:
            return AudioInfo(handle.samplerate, handle.channels, handle.frames / handle.samplerate, "soundfile")
    container = _open_av(path)
    with container:
        stream = container.streams.audio[0]
        return AudioInfo(stream.rate, stream.channels, _declared_seconds(container), "pyav")


def _declared_seconds(container) -> float | None:
    """The audio stream's duration as the container states it (None when it does not)."""
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


#: A file decoding this much shorter than its header says is reported as truncated: the larger of
#: an absolute and a relative margin, so that encoder padding and rounding never trigger it.
TRUNCATION_MARGIN_S = 0.5
TRUNCATION_MARGIN_SHARE = 0.01
_reported: set[tuple[str, int, float]] = set()  # (path, size, mtime) already warned about in this process


def _check_length(path: Path, decoded: float, declared: float | None, warnings: list[str] | None) -> None:
    if declared is None or declared - decoded <= max(TRUNCATION_MARGIN_S, TRUNCATION_MARGIN_SHARE * declared):
        return
    message = f"decoded {decoded:.1f} s of audio but the file's header says {declared:.1f} s: truncated or damaged; only the {decoded:.1f} s decoded were processed"
    if warnings is not None:
        warnings.append(message)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key not in _reported:  # one warning per file, however many stages read it
        _reported.add(key)
        logger.warning("%s: %s", path, message)


def _open_av(path: Path):
    import av  # imported lazily: only containers need FFmpeg

    try:
        container = av.open(str(path))
    except Exception as error:
        raise TurnpointError(f"cannot decode audio ({_short(error)}): not an audio/video file FFmpeg reads, or a damaged one", path=path) from None
    if not container.streams.audio:
        container.close()
        raise TurnpointError("no audio stream in this file", path=path)
    return container


def _short(error: Exception) -> str:
    strerror = getattr(error, "strerror", None)  # FFmpeg's words without "[Errno 1094995529]" and the path
    if isinstance(strerror, str) and strerror.strip():
        text = strerror.strip()
        return text[0].lower() + text[1:]
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _soundfile_blocks(handle: sf.SoundFile, block_frames: int) -> Iterator[tuple[np.ndarray, int]]:
    while True:
        block = handle.read(block_frames, dtype="float32", always_2d=True)
        if len(block) == 0:
            return
        yield block.mean(axis=1), handle.samplerate


def _av_blocks(path: Path, declared: list[float | None]) -> Iterator[tuple[np.ndarray, int]]:
    import av

    container = _open_av(path)
    with container:
        stream = container.streams.audio[0]
        declared.append(_declared_seconds(container))
        resampler = None
        try:
            for frame in container.decode(stream):
                if resampler is None:
                    # swresample only converts to planar float (its "mono" downmix is a weighted
                    # matrix, not the channel mean); channels are averaged here, soxr does the rate.
                    resampler = av.AudioResampler(format="fltp", rate=frame.sample_rate)
                for planar in resampler.resample(frame):
                    yield planar.to_ndarray().mean(axis=0, dtype=np.float32), planar.sample_rate
            if resampler is not None:
                for planar in resampler.resample(None):
                    yield planar.to_ndarray().mean(axis=0, dtype=np.float32), planar.sample_rate
        except av.error.FFmpegError as error:
            raise TurnpointError(f"corrupt or truncated audio ({_short(error)})", path=path) from None


def iter_audio(
    path: str | Path,
    *,
    sample_rate: int = 16000,
    block_duration: float = DEFAULT_BLOCK_DURATION,
    warnings: list[str] | None = None,
) -> Iterator[np.ndarray]:
    """Stream a file as mono float32 blocks at ``sample_rate``.

    Blocks hold about ``block_duration`` seconds (the last one may be shorter); concatenated they
    equal :func:`load_audio`. Raises :class:`TurnpointError` for a missing, empty, corrupt or
    silent-by-NaN file. A file that decodes shorter than its header says (a truncated MP3, a cut
    download) is read as far as it goes: a warning naming the file is logged (once per file) and,
    when ``warnings`` is a list, its text is appended there at the end of the file.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(p, np.random.default_rng(0).normal(size=44100) * 0.1, 44100)
    >>> sum(len(b) for b in iter_audio(p, block_duration=0.25))
    16000
    """
    path = Path(path)
    _check_exists(path)
    if block_duration <= 0:
        raise ValueError("block_duration must be positive")
    handle = _open_soundfile(path)
    declared: list[float | None] = []  # the header's duration, once the file is open
    if handle is not None:
        source = _soundfile_blocks(handle, max(1, int(block_duration * handle.samplerate)))
        declared.append(handle.frames / handle.samplerate if handle.frames > 0 else None)
    else:
        source = _av_blocks(path, declared)

    block_samples = max(1, int(round(block_duration * sample_rate)))
    pending: list[np.ndarray] = []
    pending_len = 0
    total = 0
    resampler = None
    input_rate = None
    decoded = 0  # samples at the file's own rate
    try:
        for samples, rate in source:
            decoded += len(samples)
            if not np.all(np.isfinite(samples)):
                raise TurnpointError("audio contains NaN or infinite samples", path=path)
            if len(samples) and float(np.max(np.abs(samples))) > MAX_SAMPLE_MAGNITUDE:
                raise TurnpointError(
                    f"audio samples reach {float(np.max(np.abs(samples))):.3g}, far outside [-1, 1] (corrupt float audio?)",
                    path=path,
                )
            if input_rate is None:
                input_rate = rate
                if rate != sample_rate:
                    resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
            if resampler is not None:
                samples = resampler.resample_chunk(samples)
            if len(samples) == 0:
                continue
            pending.append(samples)
            pending_len += len(samples)
            while pending_len >= block_samples:
                joined = np.concatenate(pending)
                yield joined[:block_samples]
                total += block_samples
                rest = joined[block_samples:]
                pending, pending_len = ([rest], len(rest)) if len(rest) else ([], 0)
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                pending.append(tail)
                pending_len += len(tail)
        if pending_len:
            joined = np.concatenate(pending)
            for start in range(0, len(joined), block_samples):  # the flushed tail may exceed a block
                yield joined[start : start + block_samples]
            total += pending_len
    except sf.LibsndfileError as error:
        raise TurnpointError(f"corrupt or truncated audio ({_short(error)})", path=path) from None
    finally:
        if handle is not None:
            handle.close()
    if total == 0:
        raise TurnpointError("no audio samples in this file", path=path)
    _check_length(path, decoded / (input_rate or sample_rate), declared[0] if declared else None, warnings)


def load_audio(path: str | Path, *, sample_rate: int = 16000) -> np.ndarray:
    """Read a whole file as a mono float32 array at ``sample_rate``.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.flac")
    >>> sf.write(p, np.zeros((16000, 2)), 16000)
    >>> load_audio(p).shape
    (16000,)
    """
    return np.concatenate(list(iter_audio(path, sample_rate=sample_rate)))
