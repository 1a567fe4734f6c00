"""Each system's score curve of a file, computed once and cached: what ``turnpoint tune`` sweeps.

``system`` is ``"bilstm"`` (the model's BiLSTM curve), ``"hybrid"`` (the GE2E re-scoring as a
sparse curve whose peaks above its threshold are what detection keeps:
:meth:`turnpoint.changes.rescoring.HybridEvidence.curve`) or a baseline of
:data:`turnpoint.changes.baselines.SYSTEMS`. Curves are cached as ``.npz`` keyed by the audio's
path, size and time, the system and the model file.

Examples
--------
>>> score_files([], system="bic")
({}, 0.0)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_open
from turnpoint.core.windows import Scores
from turnpoint.changes.training_data import AnnotatedFile


#: Systems tuned into a copy of the model file (the others into a small JSON)
MODEL_SYSTEMS = ("hybrid", "bilstm")
CURVES_VERSION = "2"  # in the cache key: 2 = a hybrid with a second pass is cached as separation scores


def _cache_key(audio: Path, system: str, model: str | Path | None) -> str:
    stat = audio.stat()
    parts = [str(audio.resolve()), str(stat.st_size), str(stat.st_mtime_ns), system, CURVES_VERSION]
    if system in MODEL_SYSTEMS:
        from turnpoint.changes.modelfile import resolve_model_path

        model_path = resolve_model_path(model)
        parts += [str(model_path.resolve()), str(model_path.stat().st_mtime_ns) if model_path.exists() else ""]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def score_files(
    files: Sequence[AnnotatedFile],
    *,
    system: str = "bilstm",
    model: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
) -> tuple[dict[str, Scores], float]:
    """Score curves of every file with one system, and the seconds spent computing them.

    ``system`` is ``"bilstm"`` (``model``: a model file or the bundled default) or a name from
    :data:`turnpoint.changes.baselines.SYSTEMS`. With ``cache_dir``, curves are stored as
    ``<cache_dir>/<system>/<uri>.<key>.npz`` and reused while audio and model are unchanged (the
    compute time is stored with them).

    Examples
    --------
    >>> score_files([], system="bic")
    ({}, 0.0)
    """
    scorer = None
    out: dict[str, Scores] = {}
    seconds = 0.0
    for item in files:
        cached = None
        if cache_dir is not None:
            cached = Path(cache_dir) / system / f"{item.uri}.{_cache_key(Path(item.audio), system, model)}.npz"
            if cached.exists():
                data = np.load(cached)
                out[item.uri] = Scores(data["values"], float(data["frame_step"]), float(data["duration"]))
                seconds += float(data["seconds"])
                continue
        if scorer is None:
            scorer = _scorer(system, model, device)
        started = time.perf_counter()
        scores = scorer(item.audio)
        elapsed = time.perf_counter() - started
        seconds += elapsed
        out[item.uri] = scores
        if cached is not None:
            with atomic_open(cached, mode="wb") as handle:
                np.savez(handle, values=scores.values, frame_step=scores.frame_step, duration=scores.duration, seconds=elapsed)
    return out, seconds


def _second_pass(model: str | Path | None):
    """The segment-clustering second pass the model ships, if any (then ``tune`` sweeps its cut)."""
    from turnpoint.changes.modelfile import load_model

    rescoring = load_model(model).defaults.rescoring
    return None if rescoring is None else rescoring.clustering


def _hybrid_scorer(model: str | Path | None, device: str):
    """The hybrid as a sparse curve whose peaks above a threshold are exactly what detection keeps.

    Without a second pass: the re-scored candidates (the threshold is the re-scoring threshold).
    With one: the first pass's changes, each valued by how far apart the clustering puts its two
    sides (the threshold is the clustering cut): :meth:`turnpoint.changes.rescoring.HybridEvidence.curve`.
    """
    from turnpoint.changes.scoring import score_file
    from turnpoint.changes.modelfile import load_model
    from turnpoint.changes.rescoring import RescoringSettings, rescore

    loaded = load_model(model, device=device)
    shipped = loaded.defaults.rescoring or RescoringSettings()

    def score(audio: str | Path) -> Scores:
        scores = score_file(audio, model=loaded.model, specifications=loaded.specifications)
        return rescore(audio, scores, settings=shipped, device=device).curve(scores)

    return score


def _scorer(system: str, model: str | Path | None, device: str):
    if system == "hybrid":
        return _hybrid_scorer(model, device)
    if system == "bilstm":
        from turnpoint.changes.scoring import score_file
        from turnpoint.changes.modelfile import load_model

        loaded = load_model(model, device=device)
        return lambda audio: score_file(audio, model=loaded.model, specifications=loaded.specifications)
    from turnpoint.changes.baselines import SYSTEMS, score_audio

    if system not in SYSTEMS:
        raise TurnpointError(f"unknown system {system!r}; choose from hybrid, bilstm, {', '.join(SYSTEMS)}")
    return lambda audio: score_audio(audio, system=system)
