"""Training-time augmentation of sound event feature chunks.

:func:`filter_augment` is FilterAugment (Nam, Kim, Ko & Park, "FilterAugment: an acoustic
environmental data augmentation method", ICASSP 2022; the "linear" type of the DESED_task
baseline's ``filt_aug``): each chunk gets a random smooth filter, constant in time, so that the
network cannot lean on the exact spectral balance of the few training recordings and channels.
It acts on the features, not the audio: a gain of g dB in a mel band adds g·ln(10)/10 to that
band's natural-log energy (and, through the DCT, a fixed offset to the MFCC), and leaves the Δ
columns unchanged, since a constant's regression over time is zero. The zero-crossing rate is
kept as it is (a real filter would move it a little).
"""

from __future__ import annotations

import math

import numpy as np

from turnpoint.core.features import _analysis_matrices, _delta_edge
from turnpoint.core.task import FeatureConfig

#: DESED_task's defaults: 3 to 5 bands, each at least 6 mel bins wide.
FILTER_BANDS = (3, 5)
FILTER_MIN_WIDTH = 6


def check_filter_augment(db_range: float, *, config: FeatureConfig) -> None:
    """Raise ValueError unless ``db_range`` is a usable FilterAugment range for these features (0: off)."""
    if db_range < 0 or not math.isfinite(db_range):
        raise ValueError(f"the filter augmentation range must be a finite number of dB >= 0, not {db_range}")
    if db_range and config.coefficients == "pcen":
        raise ValueError("filter augmentation does nothing to PCEN features (each band is divided by its own recent level)")


def check_mixup(probability: float, *, config: FeatureConfig) -> None:
    """Raise ValueError unless ``probability`` is a usable mixup share for these features (0: off)."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"the mixup share must be in [0, 1], not {probability}")
    if probability and config.coefficients != "logmel":
        raise ValueError(f"mixup needs log-mel features (--features logmel or logmel128), not {config.coefficients!r}")


def filter_gains(n_bins: int, *, db_range: float, rng: np.random.Generator, bands: tuple[int, int] = FILTER_BANDS,
                 min_width: int = FILTER_MIN_WIDTH) -> np.ndarray:
    """One random "linear" FilterAugment response over ``n_bins`` mel bins, in dB.

    The bins are cut into ``bands`` (drawn from the inclusive range) contiguous bands at least
    ``min_width`` wide; a gain uniform in [-db_range, +db_range] is drawn at every band edge and the
    response runs linearly between a band's two edge gains.

    Examples
    --------
    >>> g = filter_gains(64, db_range=6.0, rng=np.random.default_rng(0))
    >>> g.shape, bool(np.abs(g).max() <= 6.0)
    ((64,), True)
    """
    n_bands = int(rng.integers(bands[0], bands[1] + 1))
    width = min(min_width, n_bins // n_bands)
    inner = np.sort(rng.integers(0, n_bins - n_bands * width + 1, size=n_bands - 1)) + np.arange(1, n_bands) * width
    edges = np.concatenate([[0], inner, [n_bins]])
    edge_gains = rng.uniform(-db_range, db_range, size=n_bands + 1)
    gains = np.empty(n_bins)
    for band in range(n_bands):
        lo, hi = edges[band], edges[band + 1]
        gains[lo:hi] = np.linspace(edge_gains[band], edge_gains[band + 1], hi - lo)
    return gains


def filter_augment(chunks: np.ndarray, *, config: FeatureConfig, db_range: float, rng: np.random.Generator) -> np.ndarray:
    """Apply one random filter per chunk to event feature chunks (batch, frame, feature), in place.

    Parameters
    ----------
    chunks : float32 (batch, frame, 2 * n_mfcc + 1), columns as :func:`turnpoint.core.features.event_features`
    config : the features' configuration ("mfcc", "logmel" or "logmel128"; PCEN is refused: it
        divides each band by its own recent level, so a filter constant in time would vanish)
    db_range : gains are drawn in [-db_range, +db_range] dB; 0 returns the chunks unchanged
    rng : the only source of randomness

    Returns
    -------
    ``chunks``, modified.

    Examples
    --------
    >>> from turnpoint.events.features import EVENT_LOGMEL_FEATURES
    >>> x = np.zeros((2, 10, 129), dtype=np.float32)
    >>> y = filter_augment(x.copy(), config=EVENT_LOGMEL_FEATURES, db_range=6.0, rng=np.random.default_rng(0))
    >>> bool(np.abs(y[:, :, :64]).max() > 0), bool(np.all(y[:, :, 64:] == 0)), bool(np.all(y[:, 0] == y[:, 9]))
    (True, True, True)
    """
    check_filter_augment(db_range, config=config)
    if db_range == 0:
        return chunks
    n_static = chunks.shape[-1] // 2
    offsets = np.stack([filter_gains(config.n_mels, db_range=db_range, rng=rng) for _ in range(len(chunks))]) * (math.log(10.0) / 10.0)
    if config.coefficients != "logmel":
        offsets = offsets @ _analysis_matrices(config)[2][:, :n_static]  # the MFCC are the DCT of the log-mel energies
    chunks[..., :n_static] += offsets[:, None, :].astype(chunks.dtype)
    return chunks


def mixup(chunks: np.ndarray, targets: np.ndarray, *, config: FeatureConfig, probability: float, rng: np.random.Generator,
          gain_db: tuple[float, float] = (-6.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """Mix a share of the chunks with another chunk of the batch, as if their audio had been added.

    Chunk ``i`` is chosen with ``probability`` and mixed with a random other chunk ``j`` of the same
    batch, lowered by a gain drawn in ``gain_db``: the log-mel energies add as powers (exact in
    expectation for uncorrelated sounds: log(e^a + g·e^b)), the Δ columns are recomputed from the
    mixed energies (±``delta_width // 2`` frames, edges repeated) and the zero-crossing rate is the
    two chunks' rates weighted by their frame energies. The targets are the union of the two
    chunks' (both sounds are present). Log-mel features only: MFCC keep 64 of 96 cepstra, so their
    energies cannot be recovered and added.

    Parameters
    ----------
    chunks : float32 (batch, frame, 2 * n_mels + 1), log-mel event features
    targets : float32 (batch, frame, classes), 0/1
    config : the features' configuration (``coefficients == "logmel"``)
    probability : the share of chunks mixed, 0 to 1; 0 returns the inputs unchanged
    rng : the only source of randomness
    gain_db : range of the partner chunk's gain in dB

    Returns
    -------
    (chunks, targets), new arrays where any chunk was mixed.

    Examples
    --------
    >>> from turnpoint.events.features import EVENT_LOGMEL_FEATURES
    >>> x = np.zeros((4, 20, 129), dtype=np.float32); y = np.zeros((4, 20, 2), dtype=np.float32); y[0, :, 1] = 1
    >>> mx, my = mixup(x, y, config=EVENT_LOGMEL_FEATURES, probability=1.0, rng=np.random.default_rng(0))
    >>> bool((mx[:, :, :64] > 0).all()), int(my[:, 0, 1].sum()) >= 2   # energies add up; the event is now in two chunks or more
    (True, True)
    """
    check_mixup(probability, config=config)
    if probability == 0.0 or len(chunks) < 2:
        return chunks, targets
    n = len(chunks)
    chosen = np.flatnonzero(rng.random(n) < probability)
    partners = (chosen + rng.integers(1, n, size=len(chosen))) % n  # never the chunk itself
    gains = rng.uniform(gain_db[0], gain_db[1], size=len(chosen)) * (math.log(10.0) / 10.0)
    bands = config.n_mels
    own, other = chunks[chosen, :, :bands].astype(np.float64), chunks[partners, :, :bands].astype(np.float64) + gains[:, None, None]
    mixed = np.logaddexp(own, other)
    own_energy, other_energy = np.exp(own).sum(axis=-1), np.exp(other).sum(axis=-1)  # (chosen, frame)
    weight = own_energy / (own_energy + other_energy)
    chunks, targets = chunks.copy(), targets.copy()
    chunks[chosen, :, -1] = weight * chunks[chosen, :, -1] + (1 - weight) * chunks[partners, :, -1]
    chunks[chosen, :, :bands] = mixed
    chunks[chosen, :, bands : 2 * bands] = _delta_edge(mixed, config.delta_width)
    targets[chosen] = np.maximum(targets[chosen], targets[partners])
    return chunks, targets
