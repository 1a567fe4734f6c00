"""The paper's baselines and two modern ones, each giving a score curve like the BiLSTM's.

Every system maps 16 kHz mono audio to a :class:`~turnpoint.core.windows.Scores` curve whose peaks are
change candidates, so the same peak picking (``alpha`` = threshold in the system's own units,
``min_duration``), :mod:`turnpoint.changes.evaluation` and :mod:`turnpoint.changes.sweep` apply to all of them.

MFCC baselines (Yin et al. 2017, Sec. 4.2): 11 static MFCC (c1–c11, no derivatives, no c0; the
BiLSTM's 32 ms / 16 ms framing) on two adjacent 2 s windows, one score per frame ``t`` comparing
frames ``[t - w, t)`` and ``[t, t + w)``. Window means and covariances come from cumulative sums,
so a whole file is a handful of array operations. Frames closer than ``w`` to either end get the
curve's minimum (no change can be found there).

* ``bic`` — ΔBIC with full covariances: ``N/2 log|Σ| − N1/2 log|Σ1| − N2/2 log|Σ2| − λ P``,
  ``P = ½ (d + d(d+1)/2) log N``. With equal fixed windows the penalty is a constant, so ΔBIC and
  the full-covariance GLR have the same peaks; the threshold absorbs λ.
* ``gaussian_divergence`` — ``Σ_k (μ1k − μ2k)² / (σ1k σ2k)`` with diagonal covariances
  (Barras et al. 2006), as in pyannote's ``GaussianDivergence``.
* ``glr`` — the generalised likelihood ratio with *diagonal* covariances (the "GLR variant"):
  ``Σ_k N/2 log σ²_k − N1/2 log σ1²_k − N2/2 log σ2²_k``.

Others:

* ``kernel_cpd`` — ``ruptures.KernelCPD`` (RBF kernel, PELT) on the same MFCC averaged over
  0.096 s blocks and standardised per file, run for a geometric grid of penalties; each change
  point's score is the largest penalty at which it is still found, so thresholding the curve
  reproduces the penalty sweep.
* ``ge2e`` — cosine distance between GE2E speaker embeddings (Resemblyzer's pretrained encoder,
  bundled as :mod:`turnpoint.changes.speaker_encoder`) of the 1.6 s before and after each point, every 0.1 s;
  ``ge2e_2.4s`` the same with 2.4 s windows (the default hybrid's re-scoring context).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> audio = np.concatenate([rng.normal(0, 0.1, 80000), np.sin(np.arange(80000) * 0.3) * 0.1]).astype(np.float32)
>>> scores = score_audio(audio, system="gaussian_divergence")
>>> round(float(scores.times[np.argmax(scores.values)]), 1)
5.0
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turnpoint.core.audio import load_audio
from turnpoint.changes.detect import changes_from_scores
from turnpoint.changes.detection import Detection
from turnpoint.core.errors import TurnpointError
from turnpoint.core.features import static_cepstra
from turnpoint.core.windows import Scores
from turnpoint.changes.peaks import segments_from_changes
from turnpoint.core.task import FeatureConfig

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
WINDOW = 2.0  # seconds per side (the paper's baselines)
BLOCK_FRAMES = 20000  # output frames computed at a time (bounds memory of the covariance sums)


def mfcc_static(samples: np.ndarray, *, config: FeatureConfig | None = None) -> np.ndarray:
    """c1..c11 per frame, no derivatives: (frames, 11) float64.

    Examples
    --------
    >>> mfcc_static(np.zeros(16000, dtype=np.float32)).shape
    (63, 11)
    """
    config = config or FeatureConfig()
    return static_cepstra(np.asarray(samples, dtype=np.float32), config)[:, 1:].astype(np.float64)


def _cumulative(x: np.ndarray, *, full: bool) -> tuple[np.ndarray, np.ndarray]:
    """Zero-prefixed cumulative sums of x and of x xᵀ (full) or x² (diagonal)."""
    s1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    second = np.einsum("ti,tj->tij", x, x) if full else x * x
    s2 = np.concatenate([np.zeros((1, *second.shape[1:])), np.cumsum(second, axis=0)])
    return s1, s2


def _window_moments(x: np.ndarray, *, w: int, full: bool) -> dict[str, np.ndarray]:
    """Means and (co)variances of ``[t-w, t)``, ``[t, t+w)`` and ``[t-w, t+w)`` for ``t = w .. T-w``.

    Returns arrays indexed by ``t - w`` (shape ``(T - 2w + 1, d)`` or ``(..., d, d)``), computed from
    cumulative sums block by block (a block of output frames needs only its ±w neighbourhood).
    """
    T, d = x.shape
    count = T - 2 * w + 1
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("mean_left", "mean_right", "cov_left", "cov_right", "cov_both")}
    for first in range(0, count, BLOCK_FRAMES):
        last = min(count, first + BLOCK_FRAMES)  # t - w in [first, last)
        chunk = x[first : last - 1 + 2 * w]
        centre = chunk.mean(axis=0)  # centring keeps the sums well conditioned
        s1, s2 = _cumulative(chunk - centre, full=full)
        t = np.arange(last - first) + w  # positions inside the chunk
        stats = {}
        for name, (a, b) in {"left": (t - w, t), "right": (t, t + w), "both": (t - w, t + w)}.items():
            n = (b - a).astype(np.float64)
            mean = (s1[b] - s1[a]) / n[:, None]
            if full:
                cov = (s2[b] - s2[a]) / n[:, None, None] - np.einsum("ti,tj->tij", mean, mean)
            else:
                cov = (s2[b] - s2[a]) / n[:, None] - mean * mean
            stats[name] = (mean + centre, cov)
        out["mean_left"].append(stats["left"][0])
        out["mean_right"].append(stats["right"][0])
        out["cov_left"].append(stats["left"][1])
        out["cov_right"].append(stats["right"][1])
        out["cov_both"].append(stats["both"][1])
    return {k: np.concatenate(v) for k, v in out.items()}


def _place(values: np.ndarray, *, n_frames: int, w: int) -> np.ndarray:
    """Put scores of frames ``w .. n_frames - w`` on the full frame axis; the edges get the minimum."""
    curve = np.full(n_frames, np.nan)
    curve[w : w + len(values)] = values
    floor = np.nanmin(values) if len(values) else 0.0
    return np.nan_to_num(curve, nan=floor).astype(np.float32)


def _mfcc_curve(samples: np.ndarray, kind: str, *, window: float = WINDOW, penalty: float = 1.0) -> Scores:
    config = FeatureConfig()
    x = mfcc_static(samples, config=config)
    w = max(2, int(round(window / config.frame_step)))
    duration = len(samples) / SAMPLE_RATE
    if len(x) < 2 * w + 1:
        return Scores(np.zeros(len(x), dtype=np.float32), config.frame_step, duration)
    full = kind == "bic"
    m = _window_moments(x, w=w, full=full)
    floor = 1e-6
    if kind == "gaussian_divergence":
        var_l = np.maximum(m["cov_left"], floor)
        var_r = np.maximum(m["cov_right"], floor)
        values = np.sum((m["mean_left"] - m["mean_right"]) ** 2 / np.sqrt(var_l * var_r), axis=1)
    elif kind == "glr":
        log_l = np.log(np.maximum(m["cov_left"], floor)).sum(axis=1)
        log_r = np.log(np.maximum(m["cov_right"], floor)).sum(axis=1)
        log_b = np.log(np.maximum(m["cov_both"], floor)).sum(axis=1)
        values = w * log_b - w / 2 * log_l - w / 2 * log_r
    elif kind == "bic":
        d = x.shape[1]
        ridge = floor * np.eye(d)
        log_l = np.linalg.slogdet(m["cov_left"] + ridge)[1]
        log_r = np.linalg.slogdet(m["cov_right"] + ridge)[1]
        log_b = np.linalg.slogdet(m["cov_both"] + ridge)[1]
        n = 2 * w
        values = n / 2 * log_b - w / 2 * log_l - w / 2 * log_r - penalty * 0.5 * (d + d * (d + 1) / 2) * math.log(n)
    else:  # pragma: no cover - guarded by SYSTEMS
        raise ValueError(kind)
    return Scores(_place(values, n_frames=len(x), w=w), config.frame_step, duration)


def bic_scores(samples: np.ndarray, *, window: float = WINDOW, penalty: float = 1.0) -> Scores:
    """ΔBIC between two adjacent ``window``-second windows at every frame (full covariances)."""
    return _mfcc_curve(samples, "bic", window=window, penalty=penalty)


def gaussian_divergence_scores(samples: np.ndarray, *, window: float = WINDOW) -> Scores:
    """Gaussian divergence (diagonal covariances) between two adjacent windows at every frame."""
    return _mfcc_curve(samples, "gaussian_divergence", window=window)


def glr_scores(samples: np.ndarray, *, window: float = WINDOW) -> Scores:
    """Generalised likelihood ratio (diagonal covariances) between two adjacent windows."""
    return _mfcc_curve(samples, "glr", window=window)


def kernel_cpd_scores(
    samples: np.ndarray,
    *,
    block: int = 6,
    penalties: tuple[float, ...] = tuple(np.geomspace(0.2, 20.0, 25)),
    min_size: int = 3,
) -> Scores:
    """ruptures KernelCPD (RBF, PELT) over a penalty grid; score = largest penalty keeping each change."""
    try:
        import ruptures
    except ImportError:
        raise TurnpointError("the kernel_cpd baseline needs ruptures: pip install 'turnpoint[baselines]'") from None
    config = FeatureConfig()
    x = mfcc_static(samples, config=config)
    step = block * config.frame_step
    n = len(x) // block
    duration = len(samples) / SAMPLE_RATE
    values = np.zeros(max(n, 1), dtype=np.float64)
    if n < 2 * min_size + 1:
        return Scores(values.astype(np.float32), step, duration)
    signal = x[: n * block].reshape(n, block, -1).mean(axis=1)
    signal = (signal - signal.mean(axis=0)) / np.maximum(signal.std(axis=0), 1e-6)
    algo = ruptures.KernelCPD(kernel="rbf", min_size=min_size).fit(signal)
    for pen in sorted(penalties, reverse=True):
        for bkp in algo.predict(pen=float(pen))[:-1]:
            near = values[max(0, bkp - 1) : bkp + 2]
            if not near.any():
                values[bkp] = pen
    # a tiny ramp breaks ties so equal-penalty neighbours still give one strict local maximum
    values = np.where(values > 0, values + 1e-6 * np.arange(n) / n, 0.0)
    return Scores(values.astype(np.float32), step, duration)


def ge2e_scores(samples: np.ndarray, *, hop: float = 0.1, window: float = 1.6, batch_size: int = 32, device: str = "cpu") -> Scores:
    """Cosine distance of GE2E embeddings of the ``window`` s before and after each point (every ``hop`` s).

    The encoder is :mod:`turnpoint.changes.speaker_encoder` (Resemblyzer's pretrained weights, bundled).
    """
    from turnpoint.changes.speaker_encoder import embed_segments, load_speaker_encoder, mel_frames, normalize_volume

    mel = mel_frames(normalize_volume(np.asarray(samples, dtype=np.float32)))  # (frames, 40), 10 ms step
    duration = len(samples) / SAMPLE_RATE
    stride = max(1, int(round(hop / 0.01)))
    span = int(round(window * 100))
    n_points = int(duration / (stride * 0.01)) + 1
    values = np.zeros(n_points, dtype=np.float32)
    if len(mel) < 2 * span:
        return Scores(values, stride * 0.01, duration)
    windows = np.lib.stride_tricks.sliding_window_view(mel, span, axis=0)[::stride]  # (n, 40, span)
    windows = windows.transpose(0, 2, 1)  # (window, frame, feature)
    e = embed_segments(list(windows), encoder=load_speaker_encoder(device), batch_size=batch_size)  # e[k]: window at k * hop
    lag = span // stride  # window k - lag ends where window k starts
    distance = 1.0 - np.sum(e[:-lag] * e[lag:], axis=1)  # at time (k + lag) * hop
    values[lag : lag + len(distance)] = distance[: max(0, n_points - lag)]
    floor = float(distance.min())
    values[:lag] = floor
    values[lag + len(distance) :] = floor
    return Scores(values, stride * 0.01, duration)


@dataclass(frozen=True)
class System:
    """A change detector that maps 16 kHz mono audio to a score curve."""

    name: str
    description: str
    score: Callable[..., Scores]
    needs: str = ""


SYSTEMS: dict[str, System] = {
    "bic": System("bic", "ΔBIC, full covariance, 2 s + 2 s MFCC windows", bic_scores),
    "gaussian_divergence": System("gaussian_divergence", "Gaussian divergence, diagonal covariance, 2 s + 2 s MFCC windows", gaussian_divergence_scores),
    "glr": System("glr", "GLR, diagonal covariance, 2 s + 2 s MFCC windows", glr_scores),
    "kernel_cpd": System("kernel_cpd", "ruptures KernelCPD (RBF, PELT) on MFCC, penalty sweep", kernel_cpd_scores, needs="ruptures"),
    "ge2e": System("ge2e", "cosine distance of GE2E speaker embeddings (Resemblyzer's weights), 1.6 s + 1.6 s", ge2e_scores),
    # the re-scoring context of the default hybrid, so that the comparison with it is like for like
    "ge2e_2.4s": System("ge2e_2.4s", "cosine distance of GE2E speaker embeddings, 2.4 s + 2.4 s", functools.partial(ge2e_scores, window=2.4)),
}


def _system(name: str) -> System:
    if name not in SYSTEMS:
        raise TurnpointError(f"unknown baseline {name!r}; choose from {', '.join(SYSTEMS)}")
    return SYSTEMS[name]


def score_audio(audio: str | Path | np.ndarray, *, system: str, **options) -> Scores:
    """Score curve of a file (any format turnpoint reads) or a 16 kHz mono array with a baseline.

    Examples
    --------
    >>> score_audio(np.zeros(16000 * 6, dtype=np.float32), system="bic").values.shape
    (376,)
    """
    chosen = _system(system)
    samples = audio if isinstance(audio, np.ndarray) else load_audio(audio, sample_rate=SAMPLE_RATE)
    return chosen.score(np.asarray(samples, dtype=np.float32), **options)


def detect_with_baseline(
    audio: str | Path | np.ndarray,
    *,
    system: str,
    alpha: float,
    min_duration: float = 1.0,
    uri: str | None = None,
) -> Detection:
    """Changes found by a baseline, as a :class:`~turnpoint.changes.detect.Detection` (same outputs as ``detect``).

    ``alpha`` is a threshold in the system's own score units (see ``turnpoint tune``).

    Examples
    --------
    >>> d = detect_with_baseline(np.zeros(16000 * 6, dtype=np.float32), system="glr", alpha=1e9)
    >>> d.segments
    [(0.0, 6.0)]
    """
    if not (math.isfinite(alpha) and math.isfinite(min_duration) and min_duration > 0):
        raise TurnpointError(f"alpha must be finite and min_duration positive (got {alpha}, {min_duration})")
    scores = score_audio(audio, system=system)
    changes = changes_from_scores(scores, alpha=alpha, min_duration=min_duration)
    path = "" if isinstance(audio, np.ndarray) else str(audio)
    name = uri or (Path(audio).stem if path else "waveform")
    return Detection(
        uri=name,
        path=path,
        scores=scores,
        changes=changes,
        segments=segments_from_changes(changes, duration=scores.duration),
        settings={"alpha": float(alpha), "min_duration": float(min_duration), "alpha_scale": "absolute"},
        model={"name": system, "description": SYSTEMS[system].description},
    )


__all__ = [
    "SYSTEMS", "System", "bic_scores", "detect_with_baseline", "gaussian_divergence_scores", "ge2e_scores", "glr_scores",
    "kernel_cpd_scores", "mfcc_static", "score_audio",
]
