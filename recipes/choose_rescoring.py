#!/usr/bin/env python
"""Choose the GE2E re-scoring of the hybrid default model on validation data and write it.

For every validation file: the BiLSTM curve of the paper model, its loosest candidates (local
maxima 0.3 s apart above 0.003) and, for each context length, the cosine distance of the GE2E
embeddings on either side of every candidate (:func:`turnpoint.changes.context_embeddings.candidate_distances`).
Two families of re-scoring are then scored by boundary F1 at ±0.5 s (the definitions of
``turnpoint evaluate``) summed over all validation files:

* hand-set: mean distance + BiLSTM weight × BiLSTM score, a grid over context sets, BiLSTM
  weight, candidate spacing / floor, min_duration and threshold;
* with ``--learned`` also: a :class:`~turnpoint.changes.candidate_scorer.CandidateScorer` (logistic regression or
  a small MLP) over distances, BiLSTM score and candidate gaps, for each context set and hidden
  size; its F1 is measured out of fold (5 folds of files, 2 repetitions, F1 averaged), threshold
  and min_duration picked on those out-of-fold scores; the chosen scorer is then fitted on all
  files. Opt-in: it wins on validation (0.736 vs 0.709 out of fold) but the folds share speakers,
  and on the test split it scored 0.737 vs the hand-set 0.740 at 2.2x the GE2E cost (MODEL_CARD.md).

Of the settings within one standard error of the best F1, the cheapest (fewest mel frames through
the GE2E LSTM) is taken. It goes into a COPY of the model file as its default
re-scoring. Test data is never read.

With ``--clustering FOLDER...`` a second pass (:class:`~turnpoint.changes.segment_clustering.SegmentClustering`)
is then considered, chosen on the *real-voice* folders named (GE2E separates synthetic voices of
one engine far less than real people, so the synthetic folders cannot judge it). The first pass
keeps the chosen setting but takes a threshold from CLUSTER_FIRST_THRESHOLDS and min_duration 1 s
(the second pass removes what a looser first pass lets through); the segments between its changes
are embedded (cached) and clustered for every linkage × cut × keep_above. The best on the real
folders is adopted only if (1) its F1 on all validation files is at least the chosen single-pass
setting's minus one standard error, and (2) on the real folders it beats the best setting without
the second pass out of sample: chosen on a random half of the files and scored on the other half
(20 splits × both halves), the mean gain is positive and at least one standard deviation. Usage::

    python recipes/choose_rescoring.py DATA/sim/validation DATA/sim/dev2 DATA/sim/dev_real --model paper \\
        --out src/turnpoint/models/default.safetensors --cache DATA/choose_rescoring --clustering DATA/sim/dev_real
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from turnpoint.changes.annotations import read_rttm, read_uem
from turnpoint.changes.change_definition import hypothesis_changes, reference_changes
from turnpoint.core.windows import Scores
from turnpoint.changes.scoring import score_file
from turnpoint.changes.metrics import BoundaryScore, boundary_score
from turnpoint.changes.modelfile import Defaults, load_model, resolve_model_path, save_model
from turnpoint.changes.candidate_scorer import candidate_features, fit_candidate_scorer
from turnpoint.changes.context_embeddings import FRAMES_PER_SECOND, candidate_distances
from turnpoint.changes.peaks import segments_from_changes
from turnpoint.changes.rescoring import RescoringSettings, candidates, first_pass
from turnpoint.changes.segment_clustering import LINKAGES, SegmentClustering, cluster_changes, segment_embeddings

TOLERANCE = 0.5
CONTEXTS = (1.6, 2.4, 3.2)
CONTEXT_SETS = [(1.6,), (2.4,), (3.2,), (2.4, 3.2), (1.6, 2.4, 3.2)]
BILSTM_WEIGHTS = (0.0, 0.1, 0.2)
SPACINGS = (0.3, 0.5)
FLOORS = (0.003, 0.01, 0.05)
MIN_DURATIONS = (0.5, 0.75, 1.0, 1.5, 2.0)
THRESHOLDS = np.round(np.arange(0.20, 0.62, 0.02), 2)
LOOSEST = RescoringSettings(candidate_spacing=min(SPACINGS), candidate_floor=min(FLOORS))
HIDDEN = ((), (8,), (16, 16))  # learned scorer: logistic regression, one or two tanh layers
SCORER_THRESHOLDS = np.round(np.arange(0.20, 0.80, 0.025), 3)
FOLDS, REPETITIONS = 5, 2
CLUSTER_FIRST_THRESHOLDS = (0.26, 0.30, 0.34)
CLUSTER_MIN_DURATION = 1.0
CLUSTER_CUTS = np.round(np.arange(0.20, 0.62, 0.05), 2)
CLUSTER_KEEP_ABOVE = (0.5, 0.6, None)
SPLITS = 20


def prepare(audio: Path, loaded, cache: Path) -> dict:
    """BiLSTM curve, loosest candidates and per-context distances of one file (cached)."""
    target = cache / f"{audio.stem}.npz"
    if target.exists():
        return dict(np.load(target))
    scores = score_file(audio, model=loaded.model, specifications=loaded.specifications)
    frames = candidates(scores, settings=LOOSEST)
    times = frames * scores.frame_step
    data = {"scores": scores.values, "frame_step": np.array(scores.frame_step), "duration": np.array(scores.duration), "frames": frames}
    for context in CONTEXTS:
        distances = candidate_distances(audio, times, contexts=(context,)) if len(times) else np.zeros((0, 1), np.float32)
        data[f"d{context}"] = distances[:, 0]
    np.savez(target, **data)
    return data


def candidate_mask(item: dict, settings: RescoringSettings) -> np.ndarray:
    """Which of the loosest candidates these settings keep (cached per spacing / floor)."""
    key = ("mask", settings.candidate_spacing, settings.candidate_floor)
    if key not in item:
        curve = Scores(item["scores"], float(item["frame_step"]), float(item["duration"]))
        item[key] = np.isin(item["frames"], candidates(curve, settings=settings))
    return item[key]


def kept_changes(item: dict, frames: np.ndarray, values: np.ndarray, settings: RescoringSettings) -> tuple[np.ndarray, np.ndarray]:
    """Change times (s) kept by the first pass when ``values`` are the candidates' new scores, and their values."""
    step = float(item["frame_step"])
    return first_pass(Scores(item["scores"], step, float(item["duration"])), frames * step, values, settings=settings)


def score_changes(item: dict, changes: np.ndarray) -> BoundaryScore:
    hypothesis = hypothesis_changes(segments_from_changes(np.asarray(changes), duration=float(item["duration"])), item["regions"])
    return boundary_score(item["reference"], hypothesis, tolerance=TOLERANCE)


def decode(item: dict, frames: np.ndarray, values: np.ndarray, settings: RescoringSettings) -> BoundaryScore:
    """Boundary score of one file when ``values`` are its candidates' new scores."""
    return score_changes(item, kept_changes(item, frames, values, settings)[0])


def distances_of(item: dict, contexts: tuple[float, ...], mask: np.ndarray) -> np.ndarray:
    return np.stack([item[f"d{c}"][mask] for c in contexts], axis=1) if mask.any() else np.zeros((0, len(contexts)))


def f1_of(items: list[dict], settings: RescoringSettings) -> BoundaryScore:
    """Hand-set re-scoring (no scorer) summed over the files."""
    total = BoundaryScore(0, 0, 0)
    for item in items:
        mask = candidate_mask(item, settings)
        frames = item["frames"][mask]
        values = settings.score(distances_of(item, settings.contexts, mask), item["scores"][frames], frames * float(item["frame_step"]),
                                duration=float(item["duration"]))
        total = total + decode(item, frames, values, settings)
    return total


def scorer_data(item: dict, settings: RescoringSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate frames, scorer features and labels (a reference change within the tolerance) of one file."""
    mask = candidate_mask(item, settings)
    frames = item["frames"][mask]
    times = frames * float(item["frame_step"])
    features = candidate_features(distances_of(item, settings.contexts, mask), item["scores"][frames], times, duration=float(item["duration"]))
    reference = np.asarray(item["reference"])
    labels = np.array([len(reference) > 0 and np.min(np.abs(reference - t)) <= TOLERANCE for t in times], dtype=np.float32)
    return frames, features, labels


def learned(items: list[dict], contexts: tuple[float, ...], hidden: tuple[int, ...]) -> list[tuple[BoundaryScore, RescoringSettings]]:
    """Out-of-fold F1 of a learned scorer at every threshold × min_duration (mean over repetitions)."""
    base = RescoringSettings(candidate_spacing=0.5, candidate_floor=0.003, contexts=contexts)  # the hand-set family's choice
    data = [scorer_data(item, base) for item in items]
    out_of_fold = []
    for repetition in range(REPETITIONS):
        fold = np.random.default_rng(repetition).integers(0, FOLDS, len(items))
        probabilities: list[np.ndarray] = [np.zeros(0, np.float32)] * len(items)
        for k in range(FOLDS):
            train = [d for d, f in zip(data, fold) if f != k and len(d[0])]
            scorer = fit_candidate_scorer(np.concatenate([d[1] for d in train]), np.concatenate([d[2] for d in train]), hidden=hidden, seed=repetition)
            for index in np.flatnonzero(fold == k):
                if len(data[index][0]):
                    probabilities[index] = scorer(data[index][1])
        out_of_fold.append(probabilities)
    results = []
    for min_duration, threshold in itertools.product(MIN_DURATIONS, SCORER_THRESHOLDS):
        settings = replace(base, threshold=float(threshold), min_duration=min_duration)
        totals = [sum((decode(item, d[0], p, settings) for item, d, p in zip(items, data, probabilities)), BoundaryScore(0, 0, 0))
                  for probabilities in out_of_fold]
        mean = BoundaryScore(*(int(round(np.mean([getattr(t, name) for t in totals]))) for name in ("hits", "n_reference", "n_hypothesis")))
        results.append((mean, settings, hidden))
    return results


def fit_final(items: list[dict], settings: RescoringSettings, hidden: tuple[int, ...]) -> RescoringSettings:
    data = [scorer_data(item, settings) for item in items]
    scorer = fit_candidate_scorer(np.concatenate([d[1] for d in data]), np.concatenate([d[2] for d in data]), hidden=hidden, seed=0)
    return replace(settings, scorer=scorer)


def cost(items: list[dict], settings: RescoringSettings) -> float:
    """Mel frames the GE2E LSTM reads for these settings: candidates × (every left context + the longest right one)."""
    frames_per_candidate = FRAMES_PER_SECOND * (sum(settings.contexts) + max(settings.contexts))
    return sum(int(candidate_mask(item, settings).sum()) for item in items) * frames_per_candidate


def single_pass(item: dict, settings: RescoringSettings) -> tuple[np.ndarray, np.ndarray]:
    """Changes and their values after the hand-set first pass alone (no learned scorer)."""
    mask = candidate_mask(item, settings)
    frames = item["frames"][mask]
    values = settings.score(distances_of(item, settings.contexts, mask), item["scores"][frames], frames * float(item["frame_step"]),
                            duration=float(item["duration"]))
    return kept_changes(item, frames, values, settings)


def clustered_segments(item: dict, settings: RescoringSettings, clustering: SegmentClustering, cache: Path) -> dict:
    """First-pass changes, their values and the segments' summed embeddings (cached per file and first pass)."""
    changes, values = single_pass(item, settings)
    target = cache / "segments" / f"{item['audio'].stem}_{settings.threshold}_{settings.min_duration}_{clustering.window}_{clustering.step}.npz"
    if target.exists():
        data = dict(np.load(target))
        if len(data["changes"]) == len(changes) and np.allclose(data["changes"], changes):
            return data
    sums, counts = segment_embeddings(item["audio"], changes, duration=float(item["duration"]), clustering=clustering)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {"changes": changes, "values": values, "sums": sums, "counts": counts}
    np.savez(target, **data)
    return data


def adopt_second_pass(all_f1: float, single_pass_f1: float, standard_error: float, held_out_gains: list[float]) -> bool:
    """The adoption rule: no worse than the single pass minus one standard error on all files, and a
    held-out gain on the real files that is positive and at least one standard deviation."""
    mean, spread = float(np.mean(held_out_gains)), float(np.std(held_out_gains))
    return bool(all_f1 >= single_pass_f1 - standard_error and mean > 0 and mean >= spread)


def choose_clustering(items: list[dict], chosen: RescoringSettings, real: set[int], cache: Path) -> tuple[RescoringSettings, dict]:
    """The second pass chosen on the real-voice files (indices ``real``) and its record; ``chosen`` if it is not adopted."""
    real_items = sorted(real)
    per_file: dict[tuple, list[BoundaryScore]] = {}  # setting -> one score per file
    without = [(("none", t, d), replace(chosen, threshold=float(t), min_duration=d))
               for t, d in itertools.product(THRESHOLDS, MIN_DURATIONS)]
    for key, settings in without:
        per_file[key] = [score_changes(item, single_pass(item, settings)[0]) for item in items]
    base = SegmentClustering()
    settings_of = dict(without)
    for threshold in CLUSTER_FIRST_THRESHOLDS:
        first = replace(chosen, threshold=threshold, min_duration=CLUSTER_MIN_DURATION)
        data = [clustered_segments(item, first, base, cache) for item in items]
        for linkage, cut, keep_above in itertools.product(LINKAGES[:2], CLUSTER_CUTS, CLUSTER_KEEP_ABOVE):
            clustering = replace(base, threshold=float(cut), linkage=linkage, keep_above=keep_above)
            key = ("clustering", threshold, linkage, float(cut), keep_above)
            settings_of[key] = replace(first, clustering=clustering)
            per_file[key] = [score_changes(item, cluster_changes(d["changes"], d["values"], d["sums"], d["counts"], clustering=clustering))
                             for item, d in zip(items, data)]

    def f1(key: tuple, files) -> float:
        return sum((per_file[key][i] for i in files), BoundaryScore(0, 0, 0)).f1

    def best(files, clustered: bool | None = None) -> tuple:
        keys = [k for k in per_file if clustered is None or (k[0] == "clustering") == clustered]
        return max(keys, key=lambda k: (f1(k, files), k[0] == "none"))  # ties: no second pass

    everything = range(len(items))
    winner = best(real_items, clustered=True)
    shipped = sum((decode_settings(item, chosen) for item in items), BoundaryScore(0, 0, 0))
    standard_error = float(np.sqrt(shipped.f1 * (1 - shipped.f1) / max(1, shipped.n_reference)))
    gains = []
    for split in range(SPLITS):
        order = np.random.default_rng(split).permutation(real_items)
        halves = (order[: len(order) // 2], order[len(order) // 2 :])
        for select, held_out in (halves, halves[::-1]):
            gains.append(f1(best(select), held_out) - f1(best(select, clustered=False), held_out))
    record = {
        "real_files": len(real_items), "setting": settings_of[winner].clustering.to_dict(), "first_threshold": settings_of[winner].threshold,
        "real_f1": round(f1(winner, real_items), 4), "real_f1_without": round(f1(best(real_items, clustered=False), real_items), 4),
        "all_f1": round(f1(winner, everything), 4), "all_f1_single_pass": round(shipped.f1, 4), "standard_error": round(standard_error, 4),
        "held_out_gain_mean": round(float(np.mean(gains)), 4), "held_out_gain_sd": round(float(np.std(gains)), 4),
    }
    adopted = adopt_second_pass(f1(winner, everything), shipped.f1, standard_error, gains)
    record["adopted"] = adopted
    return (settings_of[winner] if adopted else chosen), record


def decode_settings(item: dict, settings: RescoringSettings) -> BoundaryScore:
    return score_changes(item, single_pass(item, settings)[0])


def relative_names(folders: list[Path], root: Path | None) -> list[str]:
    """The folders as recorded in the model header: relative to ``root`` (else to their common
    parent's parent), so that no path of the machine that built the model ships inside it."""
    resolved = [f.resolve() for f in folders]
    if root is None:
        parent = Path(os.path.commonpath(resolved)) if len(resolved) > 1 else resolved[0].parent
        root = parent.parent
    root = root.resolve()
    return [f.relative_to(root).as_posix() if f.is_relative_to(root) else f.name for f in resolved]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("validation", nargs="+", type=Path, help="folders of audio + RTTM + UEM (validation speakers only)")
    parser.add_argument("--model", default="paper", help="BiLSTM model file or bundled name (default: paper)")
    parser.add_argument("--out", type=Path, required=True, help="the hybrid model file to write (a copy; never the input)")
    parser.add_argument("--cache", type=Path, required=True, help="folder for per-file curves and distances")
    parser.add_argument("--learned", action="store_true", help="also consider learned candidate scorers (out-of-fold F1)")
    parser.add_argument("--clustering", nargs="+", type=Path, default=None, metavar="REAL_FOLDER",
                        help="also consider the segment-clustering second pass, chosen on these real-voice folders (among the validation folders)")
    parser.add_argument("--data-root", type=Path, default=Path(os.environ["TURNPOINT_DATA"]) if os.environ.get("TURNPOINT_DATA") else None,
                        help="the validation folders are recorded relative to this (default: $TURNPOINT_DATA, else their common parent's parent)")
    args = parser.parse_args()
    if args.out.exists() and args.out.resolve() == resolve_model_path(args.model).resolve():
        parser.error("--out must differ from --model")
    args.cache.mkdir(parents=True, exist_ok=True)
    loaded = load_model(args.model)
    if args.clustering and not {f.resolve() for f in args.clustering} <= {f.resolve() for f in args.validation}:
        parser.error("--clustering folders must be among the validation folders")
    items = []
    real: set[int] = set()
    for folder in args.validation:
        for audio in sorted(folder.glob("*.wav")):
            item = prepare(audio, loaded, args.cache)
            item["audio"] = audio
            if args.clustering and folder.resolve() in {f.resolve() for f in args.clustering}:
                real.add(len(items))
            uri = audio.stem
            regions = read_uem(folder / f"{uri}.uem")[uri]
            item["regions"] = regions
            item["reference"] = reference_changes(read_rttm(folder / f"{uri}.rttm")[uri], regions, tolerance=TOLERANCE)
            items.append(item)
    print(f"{len(items)} validation files, {sum(len(i['reference']) for i in items)} reference changes")
    results = []  # (score, settings, hidden layers of a learned scorer or None)
    for contexts, weight, spacing, floor, min_duration in itertools.product(CONTEXT_SETS, BILSTM_WEIGHTS, SPACINGS, FLOORS, MIN_DURATIONS):
        for threshold in THRESHOLDS:
            settings = RescoringSettings(threshold=float(threshold), candidate_floor=floor, candidate_spacing=spacing,
                                         min_duration=min_duration, contexts=contexts, bilstm_weight=weight)
            results.append((f1_of(items, settings), settings, None))
    for contexts, hidden in itertools.product(CONTEXT_SETS, HIDDEN) if args.learned else ():
        results.extend(learned(items, contexts, hidden))
    results.sort(key=lambda r: -r[0].f1)
    audio_seconds = sum(float(i["duration"]) for i in items)
    top = results[0][0]
    # One-standard-error rule (Breiman et al.): among the settings whose F1 is within one standard
    # error of the best, take the cheapest — the GE2E LSTM is nearly all of the hybrid's time.
    standard_error = float(np.sqrt(top.f1 * (1 - top.f1) / max(1, top.n_reference)))
    near = [r for r in results if r[0].f1 >= top.f1 - standard_error]
    near.sort(key=lambda r: (cost(items, r[1]) / audio_seconds, -r[0].f1))
    print(f"best F1 {top.f1:.3f}, one standard error {standard_error:.3f}: {len(near)} settings within it")

    def row(score: BoundaryScore, s: RescoringSettings, hidden) -> str:
        how = "mean distance" if hidden is None else ("logistic" if hidden == () else "MLP " + "x".join(map(str, hidden)))
        return (f"| {score.f1:.3f} | {score.precision:.3f} | {score.recall:.3f} | {how} | {'/'.join(map(str, s.contexts))} | "
                f"{s.bilstm_weight if hidden is None else '-'} | {s.candidate_spacing} | {s.candidate_floor} | {s.min_duration} | {s.threshold} | "
                f"{cost(items, s) / audio_seconds:.0f} |")

    print("| F1 | precision | recall | score | contexts | BiLSTM weight | spacing | floor | min_duration | threshold | LSTM frames per s of audio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for score, s, hidden in results[:10]:
        print(row(score, s, hidden))
    print("| *within one standard error, cheapest first:* | | | | | | | | | | |")
    for score, s, hidden in near[:10]:
        print(row(score, s, hidden))
    print("| *best of each kind:* | | | | | | | | | | |")
    seen = set()
    for score, s, hidden in results:
        if (s.contexts, hidden) not in seen:
            seen.add((s.contexts, hidden))
            print(row(score, s, hidden))
    best_score, best, hidden = near[0]
    if hidden is not None:
        best = fit_final(items, best, hidden)
    second_pass = None
    if args.clustering and hidden is None:
        best, second_pass = choose_clustering(items, best, real, args.cache)
        print(f"second pass (segment clustering): {json.dumps(second_pass)}")
    source = resolve_model_path(args.model)
    training = dict(loaded.training, rescoring_selection={
        "validation": relative_names(args.validation, args.data_root), "files": len(items), "f1": round(best_score.f1, 4), "best_f1": round(top.f1, 4),
        "rule": "cheapest within one standard error of the best F1", "scorer": None if hidden is None else list(hidden),
        "precision": round(best_score.precision, 4), "recall": round(best_score.recall, 4), "source_model": source.name,
        **({"clustering_selection": second_pass} if second_pass else {}),
    })
    defaults = Defaults(alpha=loaded.defaults.alpha, min_duration=loaded.defaults.min_duration,
                        alpha_scale=loaded.defaults.alpha_scale, rescoring=best)
    save_model(args.out, model=loaded.model, specifications=loaded.specifications, defaults=defaults, training=training,
               name="default (BiLSTM + GE2E re-scoring)")
    shown = {key: value for key, value in best.to_dict().items() if key != "scorer"}
    print(f"wrote {args.out}: {json.dumps(shown)}" + (f" + a learned scorer {list(hidden)}" if hidden is not None else ""))


if __name__ == "__main__":
    main()
