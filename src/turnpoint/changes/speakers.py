"""Who spoke when, and so where the speaker changes: dense speaker embeddings grouped per file.

The default detector represents the whole file by speaker embeddings of short windows (1 s
every 0.2 s, the bundled GE2E encoder), smooths them along time without blurring across a change
(a bilateral filter: neighbours count by how similar they are), groups them into speakers per
file (average-linkage agglomerative clustering with one cosine cut, so the number of speakers
follows the file), and re-assigns every window to the nearest speaker with a Viterbi pass that
charges a penalty for each switch (short turns stay findable, one stray window does not make two
changes). Speaker changes are the points where the label changes; a change across a pause is
placed in the pause. Non-speech (Silero VAD) is reported as non-speech segments, never as a
change, and is left out of the clustering.

The decision adapts to each file (the clustering is per file); its few settings
(:class:`SpeakerSettings`) ship in the model file and were chosen on real meetings with
out-of-fold reporting (MODEL_CARD.md).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from turnpoint.changes.voice_activity import SpeechStream, regions_from_probabilities, silent_regions
from turnpoint.core.spool import RowSpool
from turnpoint.core.windows import torch_threads

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MEL_RATE = 100  # GE2E mel frames per second (hop 160 samples)
#: most windows clustered directly; longer files cluster an evenly strided subset (memory is quadratic)
MAX_CLUSTERED_WINDOWS = 3000
ROWS_AT_ONCE = 4096  # embeddings smoothed per block (memory of the float64 work arrays)
#: "ge2e": the bundled GE2E on each window; "compact": the compact encoder distilled from it, one
#: streaming pass over the file (~1 s windows every 96 ms; turnpoint.changes.compact_encoder)
ENCODERS = ("ge2e", "compact")
COMPACT_HOP = 0.096  # the compact encoder's hop (CompactEncoderConfig().hop): its steps are multiples of it


@dataclass(frozen=True)
class SpeakerSettings:
    """Settings of the dense speaker pipeline (shipped in a model file's ``defaults.speakers``).

    Attributes
    ----------
    encoder : speaker encoder that embeds the windows (:data:`ENCODERS`)
    window, step : embedded window length and hop (s); the compact encoder's window is its own
        (about 1 s: ``window`` must be 1.0) and its step a whole multiple of 96 ms
    smoothing_radius : neighbours on each side averaged by the bilateral filter (0: off)
    smoothing_sharpness : how fast a neighbour's weight falls with its cosine distance
    threshold : cosine-distance cut of the average-linkage clustering (larger: fewer speakers)
    relative_threshold : the cut is at least this times the file's median pairwise distance, so
        that files whose windows differ a lot anyway (clean, varied speech) are not split into
        dozens of speakers while noisy far-field files keep the absolute cut
    switch_penalty : Viterbi cost of a speaker switch, in cosine-similarity units
    min_speaker_duration : clusters holding fewer seconds of windows than this are not speakers:
        their windows go to the nearest remaining one in re-segmentation (0: keep every cluster)
    vad_threshold : speech probability above which Silero VAD marks speech
    min_silence : shortest pause that splits speech (s)
    min_speech : shortest speech region kept (s)
    """

    encoder: str = "ge2e"
    window: float = 1.0
    step: float = 0.2
    smoothing_radius: int = 1
    smoothing_sharpness: float = 10.0
    threshold: float = 0.25
    relative_threshold: float = 0.9
    switch_penalty: float = 0.3
    min_speaker_duration: float = 0.0
    vad_threshold: float = 0.2
    min_silence: float = 0.1
    min_speech: float = 0.25

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown speaker encoder {self.encoder!r}; choose from {list(ENCODERS)}")
        if self.encoder == "compact":
            multiple = self.step / COMPACT_HOP
            if self.window != 1.0 or abs(multiple - round(multiple)) > 1e-6 or round(multiple) < 1:
                raise ValueError(f"the compact encoder embeds ~1 s windows every multiple of {COMPACT_HOP} s: "
                                 f"window must be 1.0 and step a multiple of {COMPACT_HOP}, not {self.window} and {self.step}")
        for name in ("window", "step", "min_silence", "min_speech"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"speakers.{name} must be a positive number of seconds, not {value}")
        if not (0 <= self.relative_threshold <= 10):
            raise ValueError(f"speakers.relative_threshold must be in [0, 10], not {self.relative_threshold}")
        if not (0 < self.threshold <= 2):
            raise ValueError(f"speakers.threshold must be in (0, 2], not {self.threshold}")
        if not (math.isfinite(self.min_speaker_duration) and self.min_speaker_duration >= 0):
            raise ValueError(f"speakers.min_speaker_duration must be >= 0 seconds, not {self.min_speaker_duration}")
        if self.smoothing_radius < 0 or self.switch_penalty < 0 or not (0 < self.vad_threshold < 1):
            raise ValueError("speakers.smoothing_radius and switch_penalty must be >= 0, vad_threshold in (0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SpeakerSettings:
        return cls(**data)

    def with_overrides(self, **changes) -> SpeakerSettings:
        """A copy with the given (non-None) fields replaced."""
        values = self.to_dict()
        values.update({key: value for key, value in changes.items() if value is not None})
        return SpeakerSettings(**values)

    def with_encoder(self, encoder: str) -> SpeakerSettings:
        """A copy that embeds with ``encoder``; for the compact encoder the step becomes the nearest
        whole multiple of its 96 ms hop (0.2 s -> 0.192 s) and the window its own 1 s.

        Examples
        --------
        >>> SpeakerSettings().with_encoder("compact").step
        0.192
        """
        if encoder not in ENCODERS:
            raise ValueError(f"unknown speaker encoder {encoder!r}; choose from {list(ENCODERS)}")
        if encoder == "compact":
            step = round(max(1, round(self.step / COMPACT_HOP)) * COMPACT_HOP, 6)
            return self.with_overrides(encoder=encoder, step=step, window=1.0)
        return self.with_overrides(encoder=encoder)


@dataclass
class SpeakerTurns:
    """The pipeline's result for one file.

    Attributes
    ----------
    times : (windows,) window centres (s)
    embeddings : (windows, dim) smoothed, L2-normalised embeddings (None where the caller did not
        keep them: :func:`speaker_turns_streamed`)
    labels : (windows,) speaker index of each window after re-segmentation
    distance : (windows,) cosine distance between the windows one window-length before and after
        each centre (the speaker-change evidence curve; 0 at the ends)
    changes : change times (s)
    segments : (start, end) covering the file
    segment_labels : speaker label per segment ("SPEAKER_00"...), None for non-speech
    n_speakers : number of speakers found
    """

    times: np.ndarray
    embeddings: np.ndarray | None
    labels: np.ndarray
    distance: np.ndarray
    changes: np.ndarray
    segments: list[tuple[float, float]]
    segment_labels: list[str | None]
    n_speakers: int


def window_embeddings(samples: np.ndarray, *, settings: SpeakerSettings, device: str = "cpu", batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Speaker embeddings of ``settings.window``-long windows every ``settings.step`` seconds.

    Returns (times, embeddings): window centres (s) and L2-normalised embeddings (windows, 256).
    GE2E (``settings.encoder == "ge2e"``) embeds each window, a file shorter than one window whole;
    the compact encoder embeds the file in one streaming pass, its windows centred at
    ``0, step, 2 step, ...``.

    Examples
    --------
    >>> import numpy as np
    >>> t, e = window_embeddings(np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32), settings=SpeakerSettings())
    >>> e.shape, float(t[0])
    ((11, 256), 0.5)
    """
    from turnpoint.core import progress

    if settings.encoder == "compact":
        from turnpoint.changes.streaming_embeddings import embed_stream

        times, embeddings = embed_stream(np.asarray(samples, dtype=np.float32), hop=settings.step)
        progress.advance(len(samples) / SAMPLE_RATE)
        return times, embeddings
    from turnpoint.changes.speaker_encoder import volume_gain

    samples = np.asarray(samples, dtype=np.float32)
    gain = volume_gain(signal_rms([samples]))
    times_parts, parts = [], []
    for part_times, part in iter_ge2e_embeddings([samples], settings=settings, gain=gain, device=device, batch_size=batch_size):
        times_parts.append(part_times)
        parts.append(part)
        progress.advance(len(part) * settings.step)
    return np.concatenate(times_parts), np.concatenate(parts)


def iter_ge2e_embeddings(
    blocks: Iterable[np.ndarray], *, settings: SpeakerSettings, gain: float | None, device: str = "cpu",
    batch_size: int = 128, chunk: int = 512,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """GE2E embeddings of ``settings.window``-long windows every ``settings.step`` seconds over a
    stream of 16 kHz blocks: (times, embeddings) parts, together equal to
    :func:`window_embeddings` on the whole signal, whatever the blocks.

    ``gain``: the factor that normalises the whole signal's volume
    (:func:`turnpoint.changes.speaker_encoder.volume_gain` of its RMS, known from a first pass;
    None leaves it as is). Memory holds a block and one window of mel frames; ``chunk`` windows
    at most go to the encoder at once.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32)
    >>> parts = list(iter_ge2e_embeddings([x[:10000], x[10000:]], settings=SpeakerSettings(), gain=None))
    >>> bool(np.allclose(np.concatenate([e for _, e in parts]), window_embeddings(x, settings=SpeakerSettings())[1], atol=1e-5))
    True
    """
    from turnpoint.changes.speaker_encoder import MelStream, embed_segments, load_speaker_encoder

    if settings.encoder != "ge2e":
        raise ValueError(f"iter_ge2e_embeddings embeds with GE2E, not the {settings.encoder!r} encoder")
    encoder = load_speaker_encoder(device)
    width = max(1, int(round(settings.window * MEL_RATE)))
    hop = max(1, int(round(settings.step * MEL_RATE)))
    mels = MelStream()
    frames = np.zeros((0, encoder.config.mel_channels), dtype=np.float32)
    offset = 0  # frame index of frames[0]
    next_start = 0  # first frame of the next window

    def ready() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        nonlocal frames, offset, next_start
        available = offset + len(frames)
        while next_start + width <= available:
            starts = np.arange(next_start, min(available - width, next_start + (chunk - 1) * hop) + 1, hop)
            windows = [frames[start - offset : start - offset + width] for start in starts]
            yield (starts + width / 2) / MEL_RATE, embed_segments(windows, encoder=encoder, batch_size=batch_size)
            next_start = int(starts[-1]) + hop
        keep = min(next_start, available) - offset  # frames before the next window are done with
        frames, offset = frames[keep:], offset + keep

    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        frames = np.concatenate([frames, mels.push(block if gain is None else block * gain)])
        yield from ready()
    frames = np.concatenate([frames, mels.finish()])
    if next_start == 0 and 0 < len(frames) < width:  # a file shorter than one window: embedded whole
        yield np.array([len(frames) / 2 / MEL_RATE]), embed_segments([frames], encoder=encoder, batch_size=batch_size)
        return
    yield from ready()


def smooth_embeddings(embeddings: np.ndarray | RowSpool, *, radius: int, sharpness: float, out: RowSpool | None = None) -> np.ndarray | RowSpool:
    """Bilateral smoothing along time: each embedding averaged with its ``radius`` neighbours on
    each side, weighted by ``exp(sharpness * (cos - 1))``, so a neighbour across a speaker change
    (low cosine) barely counts. Returns L2-normalised rows (float32).

    Rows are smoothed ``ROWS_AT_ONCE`` at a time (each with its neighbours), so the float64 work
    arrays stay small on hours of audio; every row's arithmetic is the same as in one block.
    ``embeddings`` may be a :class:`~turnpoint.core.spool.RowSpool` and ``out`` one to write the
    rows to (returned), so that neither copy is held in memory.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> bool(np.allclose(smooth_embeddings(e, radius=1, sharpness=10.0)[1], [1.0, 0.0], atol=1e-3))
    True
    """
    n = len(embeddings)
    if out is None:
        out = np.empty((n, embeddings.shape[1] if embeddings.ndim == 2 else 0), dtype=np.float32)
    for first in range(0, n, ROWS_AT_ONCE):
        last = min(n, first + ROWS_AT_ONCE)
        low, high = max(0, first - radius), min(n, last + radius)  # the block and its neighbours
        out[first:last] = _smooth_rows(embeddings[low:high], radius=radius, sharpness=sharpness, n_total=n, offset=low)[first - low : last - low]
    return out


def _smooth_rows(block: np.ndarray, *, radius: int, sharpness: float, n_total: int, offset: int) -> np.ndarray:
    """:func:`smooth_embeddings` of the rows of ``block`` (rows ``offset ..`` of ``n_total``); rows
    whose neighbours lie outside the block come out wrong and are not used by the caller."""
    e = np.asarray(block, dtype=np.float64)
    if radius <= 0 or n_total < 2:
        return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)
    index = offset + np.arange(len(e))  # rows' places in the whole sequence
    total = e.copy()
    for shift in range(1, radius + 1):
        for direction in (1, -1):
            neighbour = np.roll(e, direction * shift, axis=0)
            valid = index >= shift if direction == 1 else index < n_total - shift
            weight = np.exp(sharpness * (np.sum(e * neighbour, axis=1) - 1.0)) * valid
            total += weight[:, None] * neighbour
    return (total / np.linalg.norm(total, axis=1, keepdims=True)).astype(np.float32)


def cluster_centroids(
    embeddings: np.ndarray, *, threshold: float, relative_threshold: float = 0.0, min_windows: float = 0.0
) -> np.ndarray:
    """Speaker centroids (k, dim) of average-linkage clustering cut at ``threshold`` (cosine), or
    at ``relative_threshold`` times the median pairwise cosine distance where that is larger.

    Clusters of fewer than ``min_windows`` of the file's windows are dropped (the largest always
    stays): a few stray windows are not a speaker. Files with more than ``MAX_CLUSTERED_WINDOWS``
    windows cluster an evenly strided subset, whose clusters count for the windows they stand for.
    ``embeddings``: an array or a :class:`~turnpoint.core.spool.RowSpool`.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.array([[1.0, 0.0], [0.99, 0.14], [0.0, 1.0], [0.14, 0.99]])
    >>> cluster_centroids(e, threshold=0.3).shape
    (2, 2)
    >>> cluster_centroids(e[:3], threshold=0.3, min_windows=2).shape  # one stray window: one speaker
    (1, 2)
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    windows_per_row = max(1.0, len(embeddings) / MAX_CLUSTERED_WINDOWS)
    if len(embeddings) > MAX_CLUSTERED_WINDOWS:  # the subset first: no float64 copy of every window
        embeddings = embeddings[np.linspace(0, len(embeddings) - 1, MAX_CLUSTERED_WINDOWS).round().astype(int)]
    e = np.asarray(embeddings[0 : len(embeddings)], dtype=np.float64)  # (a slice also reads a RowSpool)
    if len(e) < 2:
        return e / np.linalg.norm(e, axis=1, keepdims=True)
    distances = cosine_distances(e)
    cut = max(threshold, relative_threshold * _median(distances))
    labels = fcluster(linkage(distances, method="average"), t=cut, criterion="distance")
    names, counts = np.unique(labels, return_counts=True)
    kept = names[(counts * windows_per_row >= min_windows) | (counts == counts.max())]
    centroids = np.stack([e[labels == label].mean(axis=0) for label in kept])
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    """Condensed pairwise cosine distances (as ``scipy.spatial.distance.pdist(e, "cosine")``, to
    ~1e-15) through one matrix product, ~3x faster than pdist on 3,000 windows.

    Examples
    --------
    >>> import numpy as np
    >>> cosine_distances(np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])).round(6).tolist()
    [1.0, 2.0, 1.0]
    """
    from scipy.spatial.distance import squareform

    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    distances = e @ e.T
    np.subtract(1.0, distances, out=distances)
    np.clip(distances, 0.0, 2.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    return squareform(distances, checks=False)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-d array by partial sorts of one copy (np.median's two-point partition
    is several times slower on millions of distances)."""
    n = len(values)
    part = np.partition(values, n // 2)
    upper = float(part[n // 2])
    return upper if n % 2 else 0.5 * (float(part[: n // 2].max()) + upper)


def viterbi_labels(
    similarity: np.ndarray, *, switch_penalty: float | np.ndarray, centroids: np.ndarray | None = None
) -> np.ndarray:
    """Speaker index per window maximising total similarity minus ``switch_penalty`` per switch.

    ``similarity`` is (windows, speakers); or, with ``centroids`` (speakers, dim) given, the
    (windows, dim) embeddings, whose similarities to the centroids are then taken ``ROWS_AT_ONCE``
    windows at a time (memory: no windows x speakers float array on hours of audio).
    ``switch_penalty`` may be an array (windows,): the cost of switching into window ``i``.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.array([[1, 0], [0.4, 0.6], [1, 0], [0, 1], [0, 1]], dtype=float)
    >>> viterbi_labels(s, switch_penalty=0.5).tolist()  # the one ambiguous window does not switch
    [0, 0, 0, 1, 1]
    >>> viterbi_labels(s, switch_penalty=0.5, centroids=np.eye(2)).tolist()
    [0, 0, 0, 1, 1]
    """
    n = len(similarity)
    k = similarity.shape[1] if centroids is None else len(centroids)
    if k == 1 or n == 0:
        return np.zeros(n, dtype=int)
    # back-pointers as "stayed" flags and the best previous state of each window: a state either
    # stays or switches from the previous window's best
    stayed = np.zeros((n, k), dtype=bool)
    best = np.zeros(n, dtype=np.min_scalar_type(k - 1))  # uint8 up to 256 speakers
    penalties = np.broadcast_to(np.asarray(switch_penalty, dtype=np.float64), (n,))
    score = None
    for first in range(0, n, ROWS_AT_ONCE):
        rows = similarity[first : first + ROWS_AT_ONCE]
        rows = np.asarray(rows if centroids is None else rows @ centroids.T, dtype=np.float64)
        for offset, row in enumerate(rows):
            i = first + offset
            if score is None:
                score = row.copy()
                continue
            top = score.argmax()
            switch = score[top] - penalties[i]
            np.greater_equal(score, switch, out=stayed[i])
            best[i] = top
            np.maximum(score, switch, out=score)
            score += row
    path = np.empty(n, dtype=int)
    path[-1] = int(np.argmax(score))
    for i in range(n - 1, 0, -1):
        path[i - 1] = path[i] if stayed[i, path[i]] else best[i]
    return path


def turns_from_labels(
    times: np.ndarray, labels: np.ndarray, *, duration: float, silences: list[tuple[float, float]]
) -> tuple[np.ndarray, list[tuple[float, float]], list[str | None]]:
    """Changes, segments and segment labels from per-window speaker labels and silences.

    Window labels switch at the midpoint between two window centres; silences cut the speech
    into segments labelled None; a change across a silence is placed at the silence's middle.

    Examples
    --------
    >>> import numpy as np
    >>> c, s, l = turns_from_labels(np.array([0.5, 1.5, 2.5, 3.5]), np.array([0, 0, 1, 1]), duration=4.0, silences=[])
    >>> c.tolist(), l
    ([2.0], ['SPEAKER_00', 'SPEAKER_01'])
    """
    # speaker runs over the whole file, then silences carved out
    names: dict[int, str] = {}
    labels = np.asarray(labels)
    times = np.asarray(times, dtype=np.float64)
    firsts = np.flatnonzero(labels[1:] != labels[:-1]) + 1  # the first window of each run but the first
    run_starts = [0.0] + (0.5 * (times[firsts - 1] + times[firsts])).tolist()
    run_ends = run_starts[1:] + [duration]
    run_labels = labels[np.concatenate([[0], firsts]).astype(int)].tolist() if len(labels) else []
    runs = [[start, end, None if label < 0 else int(label)] for start, end, label in zip(run_starts, run_ends, run_labels)]  # [start, end, label]
    pieces: list[tuple[float, float, int | None]] = []
    silence_ends = [s_end for _, s_end in silences]  # sorted, non-overlapping: find a run's first by bisection
    for start, end, label in runs:
        if label is None:
            pieces.append((start, end, None))
            continue
        cursor = start
        for index in range(bisect.bisect_right(silence_ends, cursor), len(silences)):
            s_start, s_end = silences[index]
            if s_start >= end:
                break
            if s_start > cursor:
                pieces.append((cursor, s_start, label))
            pieces.append((max(s_start, cursor), min(s_end, end), None))
            cursor = min(s_end, end)
        if cursor < end:
            pieces.append((cursor, end, label))
    merged: list[list] = []
    for start, end, label in pieces:
        if end - start <= 1e-9:
            continue
        if merged and merged[-1][2] == label:
            merged[-1][1] = end
        else:
            merged.append([start, end, label])
    if not merged:
        merged = [[0.0, duration, None]]
    changes, previous = [], None  # previous speech piece: (end, label)
    pending_gap: tuple[float, float] | None = None
    for start, end, label in merged:
        if label is None:
            pending_gap = (start, end)
            continue
        if previous is not None and previous[1] != label:
            changes.append(0.5 * (pending_gap[0] + pending_gap[1]) if pending_gap and pending_gap[0] >= previous[0] - 1e-9 else start)
        previous, pending_gap = (end, label), None
    for _, _, label in merged:
        if label is not None and label not in names:
            names[label] = f"SPEAKER_{len(names):02d}"
    segments = [(round(float(s), 6), round(float(e), 6)) for s, e, _ in merged]
    segment_labels = [None if label is None else names[label] for _, _, label in merged]
    return np.asarray(changes, dtype=np.float64), segments, segment_labels


def change_distance(embeddings: np.ndarray, *, settings: SpeakerSettings) -> np.ndarray:
    """Cosine distance between the embeddings one window-length before and after each window."""
    offset = max(1, int(round(0.5 * settings.window / settings.step)))
    distance = np.zeros(len(embeddings), dtype=np.float32)
    for first in range(0, max(0, len(embeddings) - 2 * offset), ROWS_AT_ONCE):  # in blocks: no product array of every window
        last = min(len(embeddings) - 2 * offset, first + ROWS_AT_ONCE)
        before, after = embeddings[first:last], embeddings[first + 2 * offset : last + 2 * offset]
        distance[first + offset : last + offset] = 1.0 - np.sum(before * after, axis=1)
    return distance


def speaker_turns(samples: np.ndarray, *, settings: SpeakerSettings | None = None, device: str = "cpu") -> SpeakerTurns:
    """Run the dense speaker pipeline on 16 kHz mono samples.

    Examples
    --------
    >>> import numpy as np
    >>> result = speaker_turns(np.zeros(16000 * 3, dtype=np.float32))
    >>> result.segment_labels, result.changes.tolist()
    ([None], [])
    """
    settings = settings or SpeakerSettings()
    samples = np.asarray(samples, dtype=np.float32)
    duration = len(samples) / SAMPLE_RATE
    from turnpoint.core import progress

    with progress.stage("voice activity", total=duration):
        silences = silent_regions(samples, vad_threshold=settings.vad_threshold, min_silence=settings.min_silence, min_speech=settings.min_speech)
        progress.advance(duration)
    silent_total = sum(end - start for start, end in silences)
    if duration <= 0 or silent_total >= duration - 1e-6:
        return _no_speech(duration)
    with progress.stage("speaker embeddings", total=duration):
        times, embeddings = window_embeddings(samples, settings=settings, device=device)
    return turns_from_embeddings(times, embeddings, silences=silences, duration=duration, settings=settings)


def speaker_turns_streamed(
    blocks: Iterable[np.ndarray], *, settings: SpeakerSettings, total: float | None = None, keep_embeddings: bool = True,
    rms: float | None = None, device: str = "cpu",
) -> SpeakerTurns:
    """:func:`speaker_turns` over a stream of 16 kHz blocks, in one pass.

    The voice activity detector and the encoder read each block as it comes; the embeddings and
    their smoothed copy go to temporary files (:class:`~turnpoint.core.spool.RowSpool`) and are
    read back a block at a time, so memory holds one block, never the audio nor the file's
    embeddings, and stays flat from minutes to tens of hours. The result is the same as
    :func:`speaker_turns` on the whole signal. ``total``: the seconds expected (progress);
    ``keep_embeddings=False`` leaves ``embeddings`` None in the result (what detection needs).
    GE2E normalises the file's volume first, so it needs ``rms``, the whole signal's RMS
    (:func:`signal_rms` of a first pass over the file); the compact encoder ignores it.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(0, 0.05, 48000).astype(np.float32)
    >>> settings = SpeakerSettings().with_encoder("compact")
    >>> streamed = speaker_turns_streamed([x[:20000], x[20000:]], settings=settings)
    >>> bool(np.allclose(streamed.embeddings, speaker_turns(x, settings=settings).embeddings, atol=1e-5))
    True
    """
    from turnpoint.changes.compact_encoder import load_compact_encoder
    from turnpoint.changes.speaker_encoder import load_speaker_encoder, volume_gain
    from turnpoint.changes.streaming_embeddings import iter_embeddings
    from turnpoint.core import progress

    if settings.encoder == "ge2e" and rms is None:
        raise ValueError("GE2E normalises the whole file's volume: pass rms, the signal's RMS (signal_rms of a first pass)")
    speech = SpeechStream()
    # the VAD reads each block on a second thread while the encoder embeds it (both release the
    # GIL); at most two blocks wait for it, so memory stays bounded when it falls behind. One torch
    # and one BLAS thread: the VAD thread and the encoder's one thread fill two cores, and more
    # threads only contend (1 h of the compact encoder on 2 cores: 3.4 s with one torch thread,
    # 5.3 s with two)
    with torch_threads(1), ThreadPoolExecutor(max_workers=1, thread_name_prefix="turnpoint-vad") as vad:
        waiting: list[Future] = []

        def heard() -> Iterator[np.ndarray]:
            for block in blocks:
                waiting.append(vad.submit(speech.push, block))
                if len(waiting) > 2:
                    waiting.pop(0).result()
                progress.advance(len(block) / SAMPLE_RATE)
                yield block

        if settings.encoder == "ge2e":
            embedded = iter_ge2e_embeddings(heard(), settings=settings, gain=volume_gain(rms), device=device)
            width = load_speaker_encoder(device).config.embedding_size
        else:
            embedded = iter_embeddings(heard(), hop=settings.step)
            width = load_compact_encoder().config.embedding_size
        with progress.stage("speaker embeddings", total=total), RowSpool(width) as raw, RowSpool(width) as smoothed:
            times_parts = []
            for part_times, part_embeddings in embedded:
                times_parts.append(part_times)
                raw.append(part_embeddings)
            for done in waiting:
                done.result()
            duration = speech.n_samples / SAMPLE_RATE
            silences = regions_from_probabilities(speech.finish(), n_samples=speech.n_samples, vad_threshold=settings.vad_threshold,
                                                  min_silence=settings.min_silence, min_speech=settings.min_speech)
            if duration <= 0 or sum(end - start for start, end in silences) >= duration - 1e-6:
                return _no_speech(duration)
            result = turns_from_embeddings(np.concatenate(times_parts), raw, silences=silences, duration=duration,
                                           settings=settings, smoothed=smoothed)
            result.embeddings = smoothed[0 : len(smoothed)] if keep_embeddings else None
    return result


def signal_rms(blocks: Iterable[np.ndarray]) -> float:
    """Root mean square of the concatenated blocks (0.0 when there are none), in float64.

    Examples
    --------
    >>> signal_rms([np.full(3, 0.5, np.float32), np.full(1, -0.5, np.float32)])
    0.5
    """
    squares, count = 0.0, 0
    for block in blocks:
        squares += float(np.sum(np.square(np.asarray(block, dtype=np.float32), dtype=np.float64)))
        count += len(block)
    return math.sqrt(squares / count) if count else 0.0


def _no_speech(duration: float) -> SpeakerTurns:
    return SpeakerTurns(np.zeros(0), np.zeros((0, 0), np.float32), np.zeros(0, int), np.zeros(0, np.float32),
                        np.zeros(0), [(0.0, duration)], [None], 0)


def turns_from_embeddings(
    times: np.ndarray, embeddings: np.ndarray | RowSpool, *, silences: list[tuple[float, float]], duration: float,
    settings: SpeakerSettings, smoothed: RowSpool | None = None,
) -> SpeakerTurns:
    """The pipeline after embedding: smoothing, clustering, re-segmentation, turns.

    Separate from :func:`speaker_turns` so that settings can be swept over embeddings computed
    once (``recipes/choose_speaker_settings.py``). ``embeddings`` may be a
    :class:`~turnpoint.core.spool.RowSpool`, and ``smoothed`` one that receives the smoothed rows
    (the result's ``embeddings`` is then that spool): every step reads them a block at a time.
    """
    embeddings = smooth_embeddings(embeddings, radius=settings.smoothing_radius, sharpness=settings.smoothing_sharpness, out=smoothed)
    # every window is clustered, pauses and noise included: they form groups of their own, so a
    # switch into or out of them is never forced onto a speaker; the VAD's silences are then carved
    # out of the turns, and a change across a silence is one change in the pause
    centroids = cluster_centroids(embeddings, threshold=settings.threshold, relative_threshold=settings.relative_threshold,
                                  min_windows=settings.min_speaker_duration / settings.step)
    labels = viterbi_labels(embeddings, centroids=centroids, switch_penalty=settings.switch_penalty)
    changes, segments, segment_labels = turns_from_labels(times, labels, duration=duration, silences=silences)
    return SpeakerTurns(
        times=times,
        embeddings=embeddings,
        labels=labels,
        distance=change_distance(embeddings, settings=settings),
        changes=changes,
        segments=segments,
        segment_labels=segment_labels,
        n_speakers=len({label for label in segment_labels if label is not None}),
    )
