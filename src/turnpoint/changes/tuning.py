"""``turnpoint tune``: score a development set once, sweep each system's settings, choose and write them.

Curves come from :mod:`turnpoint.changes.score_curves` (cached), the sweep and the choice from
:mod:`turnpoint.changes.sweep`; this module writes the chosen setting (a copy of the model file
with new defaults, or a small JSON) and tunes the speaker pipeline's clustering cut over
embeddings computed once per file.

Examples
--------
>>> # result = tune(collect_files("corpus/dev/"), out_dir="tuned/")
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_text
from turnpoint.changes.score_curves import MODEL_SYSTEMS, _second_pass, score_files
from turnpoint.changes.sweep import CRITERIA, CUT_RANGE, MIN_DURATIONS, Sweep, SweepPoint, degenerate, plot_curves, select, sweep
from turnpoint.changes.training_data import AnnotatedFile


def write_tuned(
    point: SweepPoint,
    out_path: str | Path,
    *,
    system: str = "bilstm",
    model: str | Path | None = None,
    alpha_scale: str = "absolute",
    criterion: str = "",
    target_purity: float | None = None,
    settings: Mapping | None = None,
) -> Path:
    """Store a chosen setting: a COPY of the model file with new defaults (BiLSTM) or a small JSON.

    The input model is never modified; writing over it is refused.

    Examples
    --------
    >>> import tempfile
    >>> p = write_tuned(SweepPoint(3.0, 1.5, 0.9, 0.8, 0.85, 0.7, 0.6, 0.65, 12), Path(tempfile.mkdtemp()) / "bic.json", system="bic")
    >>> json.loads(p.read_text())["alpha"]
    3.0
    """
    out_path = Path(out_path)
    tuning = {
        "criterion": criterion,
        "target_purity": target_purity,
        "point": asdict(point),
        **({"settings": dict(settings)} if settings else {}),
    }
    if system not in MODEL_SYSTEMS:
        data = {"system": system, "alpha": point.alpha, "min_duration": point.min_duration, "alpha_scale": alpha_scale, "tuning": tuning}
        atomic_write_text(out_path, json.dumps(data, indent=2) + "\n")
        return out_path
    from turnpoint.changes.modelfile import Defaults, load_model, resolve_model_path, save_model

    source = resolve_model_path(model)
    if out_path.resolve() == source.resolve():
        raise TurnpointError("refusing to overwrite the model being tuned; write the tuned copy elsewhere", path=out_path)
    loaded = load_model(model)
    training = dict(loaded.training, tuning=dict(tuning, source_model=str(source)))
    if system == "hybrid":  # the re-scoring is tuned; the BiLSTM's peak picking is kept
        from dataclasses import replace

        from turnpoint.changes.rescoring import RescoringSettings

        shipped = loaded.defaults.rescoring or RescoringSettings()
        if shipped.clustering is None:  # the swept threshold and min_duration are the re-scoring's
            rescoring = shipped.with_overrides(threshold=float(point.alpha), min_duration=float(point.min_duration))
        else:  # the swept threshold is the second pass's cut (a cosine distance in (0, 2]); the first pass is kept
            cut = float(point.alpha)
            if not 0 < cut <= CUT_RANGE[1]:  # never save a setting other than the one reported
                raise TurnpointError(f"a second-pass cut must be in (0, {CUT_RANGE[1]:g}], not {cut:.6g} (sweep with alpha_range=CUT_RANGE)")
            rescoring = replace(shipped, clustering=replace(shipped.clustering, threshold=cut))
        defaults = Defaults(alpha=loaded.defaults.alpha, min_duration=loaded.defaults.min_duration,
                            alpha_scale=loaded.defaults.alpha_scale, rescoring=rescoring)
        return save_model(out_path, model=loaded.model, specifications=loaded.specifications, defaults=defaults,
                          training=training, name=f"{loaded.name}-tuned")
    return save_model(
        out_path,
        model=loaded.model,
        specifications=loaded.specifications,
        # the BiLSTM's peak picking is tuned; a hybrid model keeps its re-scoring settings
        defaults=Defaults(alpha=float(point.alpha), min_duration=float(point.min_duration), alpha_scale=alpha_scale, rescoring=loaded.defaults.rescoring),
        training=training,
        name=f"{loaded.name}-tuned",
    )


def read_tuned(path: str | Path) -> dict:
    """Read a baseline setting written by :func:`write_tuned` (``system``, ``alpha``, ``min_duration``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TurnpointError("no such file", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TurnpointError(f"not a tuned-setting JSON file ({error})", path=path) from None
    if not isinstance(data, dict) or not all(k in data for k in ("system", "alpha", "min_duration")):
        raise TurnpointError("tuned-setting file needs 'system', 'alpha' and 'min_duration'", path=path)
    if not (isinstance(data["alpha"], (int, float)) and math.isfinite(data["alpha"])):
        raise TurnpointError(f"alpha must be a finite number, not {data['alpha']!r}", path=path)
    duration = data["min_duration"]
    if isinstance(duration, bool) or not (isinstance(duration, (int, float)) and math.isfinite(duration) and duration > 0):
        raise TurnpointError(f"min_duration must be a positive number of seconds, not {duration!r}", path=path)
    return data


@dataclass
class TuneResult:
    """What ``turnpoint tune`` did for each system."""

    sweeps: list[Sweep]
    chosen: dict[str, SweepPoint]
    written: dict[str, Path]
    seconds: dict[str, float]
    swept: dict[str, str] = field(default_factory=dict)  # what a point's alpha is, per system
    degenerate: dict[str, str] = field(default_factory=dict)  # why a system's choice is degenerate, if it is


def tune(
    files: Sequence[AnnotatedFile],
    *,
    systems: Sequence[str] | None = None,
    model: str | Path | None = None,
    out_dir: str | Path,
    criterion: str = "boundary_f1",
    target_purity: float = 0.9,
    min_durations: Sequence[float] = MIN_DURATIONS,
    alpha_scale: str | None = None,
    tolerance: float = 0.5,
    fill_gaps: float = 0.5,
    bridge: float = 0.0,
    plot: bool = True,
    device: str = "cpu",
    boundaries: str = "speaker",
) -> TuneResult:
    """Score, sweep, choose and write the setting of each system; curves as CSV and PNG in ``out_dir``.

    Writes ``<system>.curve.csv``, the tuned ``hybrid.safetensors`` / ``bilstm.safetensors`` (a
    copy of the model with new defaults) or ``<system>.json``, and ``purity_coverage.png``. Scores
    are cached in ``out_dir/cache``. ``systems`` defaults to what the model runs: ``hybrid`` for a
    model that ships re-scoring (its re-scoring threshold and min_duration, or, when it has a
    segment-clustering second pass, that pass's cut), ``bilstm`` (alpha and min_duration) otherwise.
    The default criterion is speaker-change F1 (:func:`select`); the written file reproduces the
    chosen point exactly: detecting with it and scoring with ``turnpoint evaluate`` (same
    tolerance and ``boundaries``) gives the point's F1.
    """
    if systems is None:
        from turnpoint.changes.modelfile import load_model

        loaded_defaults = load_model(model).defaults
        systems = ["speakers"] if loaded_defaults.speakers is not None else ["hybrid"] if loaded_defaults.rescoring is not None else ["bilstm"]
    if criterion not in CRITERIA:
        raise TurnpointError(f"criterion must be one of {', '.join(CRITERIA)}, not {criterion!r}")
    if not 0 < target_purity <= 1:
        raise TurnpointError(f"target purity must be in (0, 1], not {target_purity}")
    out_dir = Path(out_dir)
    result = TuneResult([], {}, {}, {})
    for system in systems:
        if system == "speakers":
            _tune_speakers(files, model=model, out_dir=out_dir, result=result, criterion=criterion, target_purity=target_purity,
                           tolerance=tolerance, fill_gaps=fill_gaps, bridge=bridge, boundaries=boundaries, device=device)
            continue
        scale = alpha_scale
        if scale is None:
            scale = "absolute"
            if system == "bilstm":
                from turnpoint.changes.modelfile import load_model

                scale = load_model(model).defaults.alpha_scale
        scores, seconds = score_files(files, system=system, model=model, cache_dir=out_dir / "cache", device=device)
        durations = min_durations
        alpha_range = None
        result.swept[system] = "re-scoring threshold" if system == "hybrid" else "alpha"
        if system == "hybrid" and _second_pass(model) is not None:
            durations = (0.0,)  # the cut is swept over the first pass's changes, already spaced by its min_duration
            alpha_range = CUT_RANGE
            result.swept[system] = "second-pass cut"
        curve = sweep(
            files, scores, system=system, min_durations=durations, alpha_scale=scale,
            tolerance=tolerance, fill_gaps=fill_gaps, bridge=bridge, boundaries=boundaries, alpha_range=alpha_range,
        )
        chosen = select(curve, criterion=criterion, target_purity=target_purity)
        reason = degenerate(curve, chosen, criterion=criterion)
        if reason is not None:
            result.degenerate[system] = reason
        atomic_write_text(out_dir / f"{system}.curve.csv", curve.to_csv())
        target = out_dir / (f"{system}.safetensors" if system in MODEL_SYSTEMS else f"{system}.json")
        result.written[system] = write_tuned(
            chosen, target, system=system, model=model, alpha_scale=scale, criterion=criterion,
            target_purity=target_purity if criterion == "coverage" else None, settings=curve.settings,
        )
        result.sweeps.append(curve)
        result.chosen[system] = chosen
        result.seconds[system] = seconds
    if plot:
        result.written["plot"] = plot_curves(result.sweeps, out_dir / "purity_coverage.png", title=f"{len(files)} files")
    return result


#: clustering cuts swept for the speaker pipeline (its relative cut stays the model's)
SPEAKER_CUTS = tuple(round(0.1 + 0.025 * i, 3) for i in range(21))


def _tune_speakers(
    files: Sequence[AnnotatedFile], *, model: str | Path | None, out_dir: Path, result: TuneResult, criterion: str,
    target_purity: float, tolerance: float, fill_gaps: float, bridge: float, boundaries: str, device: str,
) -> None:
    """Sweep the speaker pipeline's clustering cut over embeddings computed once per file and write
    ``speakers.safetensors``: the model with the chosen cut, which reproduces the point exactly
    (detection runs the same :func:`turnpoint.changes.speakers.turns_from_embeddings`)."""
    from turnpoint.changes.annotations import Turn
    from turnpoint.core.audio import load_audio
    from turnpoint.changes.evaluation import score_file
    from turnpoint.changes.modelfile import Defaults, load_model, save_model
    from turnpoint.changes.speakers import turns_from_embeddings, window_embeddings
    from turnpoint.changes.voice_activity import silent_regions

    loaded = load_model(model)
    base = loaded.defaults.speakers
    if base is None:
        raise TurnpointError("system 'speakers' needs a model with the speaker pipeline (the bundled default)")
    started = time.perf_counter()
    prepared = []
    for item in files:
        samples = load_audio(item.audio)
        duration = len(samples) / 16000
        times, embeddings = window_embeddings(samples, settings=base, device=device)
        silences = silent_regions(samples, vad_threshold=base.vad_threshold, min_silence=base.min_silence, min_speech=base.min_speech)
        prepared.append((item, duration, times, embeddings, silences))
    points = []
    for cut in SPEAKER_CUTS:
        settings = base.with_overrides(threshold=cut)
        scores = []
        for item, duration, times, embeddings, silences in prepared:
            turns = turns_from_embeddings(times, embeddings, silences=silences, duration=duration, settings=settings)
            hypothesis = [Turn(start=s, end=e, speaker=label) for (s, e), label in zip(turns.segments, turns.segment_labels) if label is not None]
            regions = list(item.annotated) if item.annotated else [(0.0, duration)]
            scores.append(score_file(item.turns, hypothesis, uri=item.uri, regions=regions, tolerance=tolerance,
                                     fill_gaps=fill_gaps, bridge=bridge, boundaries=boundaries))
        segmentation = sum((f.segmentation for f in scores[1:]), scores[0].segmentation)
        boundary = sum((f.boundary for f in scores[1:]), scores[0].boundary)
        points.append(SweepPoint(alpha=cut, min_duration=0.0, purity=segmentation.purity, coverage=segmentation.coverage,
                                 f_measure=segmentation.f_measure, precision=boundary.precision, recall=boundary.recall,
                                 f1=boundary.f1, n_changes=boundary.n_hypothesis))
    curve = Sweep("speakers", points, settings={"relative_threshold": base.relative_threshold})
    chosen = select(curve, criterion=criterion, target_purity=target_purity)
    reason = degenerate(curve, chosen, criterion=criterion)
    if reason is not None:
        result.degenerate["speakers"] = reason
    atomic_write_text(out_dir / "speakers.curve.csv", curve.to_csv())
    defaults = Defaults(alpha=loaded.defaults.alpha, min_duration=loaded.defaults.min_duration, alpha_scale=loaded.defaults.alpha_scale,
                        rescoring=loaded.defaults.rescoring, speakers=base.with_overrides(threshold=chosen.alpha))
    training = {**loaded.training, "tuned": {"system": "speakers", "criterion": criterion, "threshold": chosen.alpha, "f1": round(chosen.f1, 6)}}
    result.written["speakers"] = save_model(out_dir / "speakers.safetensors", model=loaded.model, specifications=loaded.specifications,
                                            defaults=defaults, training=training, name=f"{loaded.name} (tuned)")
    result.swept["speakers"] = "speaker cut"
    result.sweeps.append(curve)
    result.chosen["speakers"] = chosen
    result.seconds["speakers"] = time.perf_counter() - started


__all__ = ["TuneResult", "read_tuned", "tune", "write_tuned"]
