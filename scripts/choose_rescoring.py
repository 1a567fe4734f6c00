#!/usr/bin/env python
"""Choose the GE2E re-scoring settings on validation data and write the hybrid default model.

For every validation file: the BiLSTM curve of the paper model, its loosest candidates (local
maxima 0.3 s apart above 0.003) and, for each context length, the cosine distance of the GE2E
embeddings on either side of every candidate (:func:`turnpoint.rescoring.embedding_distances`).
Then a grid over context sets, BiLSTM weight, candidate spacing / floor, min_duration and
threshold is scored by boundary F1 at ±0.5 s (the definitions of ``turnpoint evaluate``) summed
over all validation files. Of the settings within one standard error of the best F1, the cheapest
(fewest mel frames through the GE2E LSTM) goes into a COPY of the model file as its default
re-scoring. Test data is never read. Usage::

    python scripts/choose_rescoring.py DATA/sim/validation DATA/sim/dev2 --model paper \\
        --out src/turnpoint/models/default.safetensors --cache DATA/choose_rescoring
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from turnpoint.annotations import read_rttm, read_uem
from turnpoint.audio import iter_audio
from turnpoint.evaluation import hypothesis_changes, reference_changes
from turnpoint.inference import Scores, score_file
from turnpoint.metrics import BoundaryScore, boundary_score
from turnpoint.modelfile import Defaults, load_model, resolve_model_path, save_model
from turnpoint.peaks import find_peaks, segments_from_changes, strict_local_maxima
from turnpoint.rescoring import FRAMES_PER_SECOND, SAMPLE_RATE, RescoringSettings, candidates, embedding_distances, gather_segments

TOLERANCE = 0.5
CONTEXTS = (1.6, 2.4, 3.2)
CONTEXT_SETS = [(1.6,), (2.4,), (3.2,), (2.4, 3.2), (1.6, 2.4, 3.2)]
BILSTM_WEIGHTS = (0.0, 0.1, 0.2)
SPACINGS = (0.3, 0.5)
FLOORS = (0.003, 0.01, 0.05)
MIN_DURATIONS = (0.5, 0.75, 1.0, 1.5, 2.0)
THRESHOLDS = np.round(np.arange(0.20, 0.62, 0.02), 2)
LOOSEST = RescoringSettings(candidate_spacing=min(SPACINGS), candidate_floor=min(FLOORS))


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
        segments = gather_segments(iter_audio(audio, sample_rate=SAMPLE_RATE), times, context=context)
        offsets = [int(round(t * SAMPLE_RATE)) - max(0, int(round((t - context) * SAMPLE_RATE))) for t in times]
        data[f"d{context}"] = embedding_distances(segments, offsets, contexts=(context,)) if len(times) else np.zeros(0, np.float32)
    np.savez(target, **data)
    return data


def f1_of(items: list[dict], settings: RescoringSettings) -> BoundaryScore:
    total = BoundaryScore(0, 0, 0)
    for item in items:
        scores = Scores(item["scores"], float(item["frame_step"]), float(item["duration"]))
        step = scores.frame_step
        key = ("mask", settings.candidate_spacing, settings.candidate_floor)
        if key not in item:  # which of the loosest candidates these settings keep
            order = max(1, int(round(settings.candidate_spacing / step)))
            wanted = strict_local_maxima(scores.values, order=order)
            item[key] = np.isin(item["frames"], wanted[scores.values[wanted] > settings.candidate_floor])
        mask = item[key]
        distance = np.mean([item[f"d{c}"] for c in settings.contexts], axis=0) if len(item["frames"]) else np.zeros(0)
        value = distance + settings.bilstm_weight * scores.values[item["frames"]]
        sparse = np.zeros(len(scores.values))
        sparse[item["frames"][mask]] = value[mask]
        changes = find_peaks(sparse, frame_step=step, alpha=settings.threshold, min_duration=settings.min_duration) * step
        hypothesis = hypothesis_changes(segments_from_changes(changes, duration=scores.duration), item["regions"])
        total = total + boundary_score(item["reference"], hypothesis, tolerance=TOLERANCE)
    return total


def cost(items: list[dict], settings: RescoringSettings) -> float:
    """Mel frames the GE2E LSTM reads for these settings: candidates × (every left context + the longest right one)."""
    frames_per_candidate = FRAMES_PER_SECOND * (sum(settings.contexts) + max(settings.contexts))
    count = 0
    for item in items:
        key = ("mask", settings.candidate_spacing, settings.candidate_floor)
        count += int(item[key].sum()) if key in item else len(item["frames"])
    return count * frames_per_candidate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("validation", nargs="+", type=Path, help="folders of audio + RTTM + UEM (validation speakers only)")
    parser.add_argument("--model", default="paper", help="BiLSTM model file or bundled name (default: paper)")
    parser.add_argument("--out", type=Path, required=True, help="the hybrid model file to write (a copy; never the input)")
    parser.add_argument("--cache", type=Path, required=True, help="folder for per-file curves and distances")
    args = parser.parse_args()
    if args.out.exists() and args.out.resolve() == resolve_model_path(args.model).resolve():
        parser.error("--out must differ from --model")
    args.cache.mkdir(parents=True, exist_ok=True)
    loaded = load_model(args.model)
    items = []
    for folder in args.validation:
        for audio in sorted(folder.glob("*.wav")):
            item = prepare(audio, loaded, args.cache)
            uri = audio.stem
            regions = read_uem(folder / f"{uri}.uem")[uri]
            item["regions"] = regions
            item["reference"] = reference_changes(read_rttm(folder / f"{uri}.rttm")[uri], regions, tolerance=TOLERANCE)
            items.append(item)
    print(f"{len(items)} validation files, {sum(len(i['reference']) for i in items)} reference changes")
    results = []
    for contexts, weight, spacing, floor, min_duration in itertools.product(CONTEXT_SETS, BILSTM_WEIGHTS, SPACINGS, FLOORS, MIN_DURATIONS):
        for threshold in THRESHOLDS:
            settings = RescoringSettings(threshold=float(threshold), candidate_floor=floor, candidate_spacing=spacing,
                                         min_duration=min_duration, contexts=contexts, bilstm_weight=weight)
            results.append((f1_of(items, settings), settings))
    results.sort(key=lambda r: -r[0].f1)
    audio_seconds = sum(float(i["duration"]) for i in items)
    top = results[0][0]
    # One-standard-error rule (Breiman et al.): among the settings whose F1 is within one standard
    # error of the best, take the cheapest — the GE2E LSTM is nearly all of the hybrid's time.
    standard_error = float(np.sqrt(top.f1 * (1 - top.f1) / max(1, top.n_reference)))
    near = [r for r in results if r[0].f1 >= top.f1 - standard_error]
    near.sort(key=lambda r: (cost(items, r[1]) / audio_seconds, -r[0].f1))
    print(f"best F1 {top.f1:.3f}, one standard error {standard_error:.3f}: {len(near)} settings within it")
    print("| F1 | precision | recall | contexts | BiLSTM weight | spacing | floor | min_duration | threshold | LSTM frames per s of audio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for score, s in results[:10] + [("", "")] + near[:10]:
        if not s:
            print("| *within one standard error, cheapest first:* | | | | | | | | | |")
            continue
        print(f"| {score.f1:.3f} | {score.precision:.3f} | {score.recall:.3f} | {'/'.join(map(str, s.contexts))} | {s.bilstm_weight} | "
              f"{s.candidate_spacing} | {s.candidate_floor} | {s.min_duration} | {s.threshold} | {cost(items, s) / audio_seconds:.0f} |")
    best_score, best = near[0]
    source = resolve_model_path(args.model)
    training = dict(loaded.training, rescoring_selection={
        "validation": [str(f) for f in args.validation], "files": len(items), "f1": round(best_score.f1, 4), "best_f1": round(top.f1, 4), "rule": "cheapest within one standard error of the best F1",
        "precision": round(best_score.precision, 4), "recall": round(best_score.recall, 4), "source_model": source.name,
    })
    defaults = Defaults(alpha=loaded.defaults.alpha, min_duration=loaded.defaults.min_duration,
                        alpha_scale=loaded.defaults.alpha_scale, rescoring=best)
    save_model(args.out, model=loaded.model, specifications=loaded.specifications, defaults=defaults, training=training,
               name="default (BiLSTM + GE2E re-scoring)")
    print(f"wrote {args.out}: {json.dumps(best.to_dict())}")


if __name__ == "__main__":
    main()
