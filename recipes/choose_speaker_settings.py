"""Choose the default detector's speaker settings on real conversations, with out-of-fold figures.

Embeds every file once, sweeps the clustering cuts, switch penalty and smoothing over those
embeddings, and scores speaker-change F1 (``turnpoint evaluate``'s definition) and DER
(pyannote.metrics). The criterion is the mean of the pooled F1 on the real set and on the
optional second set (simulated conversations of other voices, so that one domain's level does
not decide alone); settings within ``F1_TIE`` of the best count as tied, and the lowest mean DER
among them wins. Reports the setting best on all files (what ships) and the leave-one-file-out
figure on the real set: for each real file, the setting chosen without it, scored on it.

    python recipes/choose_speaker_settings.py REAL_DEV_DIR [--also SIM_DIR] --json results.json
    python recipes/choose_speaker_settings.py REAL_DEV_DIR --encoder compact --json compact.json

Each folder holds audio (.flac/.wav) with RTTM (and UEM) of the same stem.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path

from turnpoint.changes.annotations import Turn, read_rttm, read_uem
from turnpoint.core.audio import load_audio
from turnpoint.changes.change_definition import hypothesis_changes, speaker_changes
from turnpoint.changes.metrics import boundary_score
from turnpoint.changes.speakers import SpeakerSettings, turns_from_embeddings, window_embeddings
from turnpoint.changes.voice_activity import silent_regions

GRID = {
    "threshold": [0.2, 0.225, 0.25, 0.275, 0.3],
    "relative_threshold": [0.8, 0.85, 0.9, 0.95, 1.0],
    "switch_penalty": [0.1, 0.2, 0.3],
    "smoothing_radius": [0, 1],
}
#: mean-F1 differences below this are ties, broken by the lower DER
F1_TIE = 0.005
#: the compact encoder's cosine distances lie lower than GE2E's: its grid reaches lower cuts and penalties
COMPACT_GRID = {
    "threshold": [0.1, 0.15, 0.2],
    "relative_threshold": [0.4, 0.5, 0.6],
    "switch_penalty": [0.1, 0.2, 0.3],
    "smoothing_radius": [2, 3],
    "min_speaker_duration": [0.0, 0.5, 1.0, 2.0],
}


def diarization_error_rate(reference: list[Turn], segments, labels, *, uem) -> tuple[float, float]:
    """(error seconds, total reference seconds) of pyannote.metrics' DER (no collar, overlap scored)."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for turn in reference:
        ref[Segment(turn.start, turn.end), len(ref)] = turn.speaker
    for (start, end), label in zip(segments, labels):
        if label is not None and end > start:
            hyp[Segment(start, end)] = label
    detail = DiarizationErrorRate()(ref, hyp, uem=Timeline([Segment(s, e) for s, e in uem]), detailed=True)
    return detail["confusion"] + detail["missed detection"] + detail["false alarm"], detail["total"]


def score_files(files: list[dict], settings: SpeakerSettings, *, tolerance: float) -> dict[str, dict]:
    """Per file: change hits / reference / detections, DER error / total seconds, speakers found."""
    out = {}
    for item in files:
        result = turns_from_embeddings(item["times"], item["embeddings"], silences=item["silences"], duration=item["duration"], settings=settings)
        # the changes as `turnpoint evaluate` reads them from the written RTTM (a change across a pause is the pause)
        hypothesis = hypothesis_changes(result.segments, item["uem"], labels=result.segment_labels)
        counts = boundary_score(item["changes"], hypothesis, tolerance=tolerance)
        error, total = diarization_error_rate(item["turns"], result.segments, result.segment_labels, uem=item["uem"])
        out[item["uri"]] = {"hits": counts.hits, "reference": counts.n_reference, "detections": counts.n_hypothesis,
                            "der_error": error, "der_total": total, "speakers": result.n_speakers}
    return out


def pooled(per_file: dict[str, dict], uris) -> dict:
    """Pooled precision, recall, F1 and DER over ``uris``."""
    total = {key: sum(per_file[u][key] for u in uris) for key in ("hits", "reference", "detections", "der_error", "der_total")}
    precision = total["hits"] / total["detections"] if total["detections"] else 0.0
    recall = total["hits"] / total["reference"] if total["reference"] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "hits": total["hits"], "reference": total["reference"],
            "detections": total["detections"], "der": total["der_error"] / total["der_total"] if total["der_total"] else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dev", help="folder of audio + RTTM (+ UEM)")
    parser.add_argument("--also", default=None, help="a second selection folder (simulated conversations of other voices)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--tolerance", type=float, default=0.5)
    parser.add_argument("--encoder", choices=["ge2e", "compact"], default="ge2e", help="the speaker encoder embedding the windows")
    parser.add_argument("--step", type=float, default=None, help="seconds between windows (default: the settings' 0.2; compact: 0.192)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    step = args.step if args.step is not None else 0.192 if args.encoder == "compact" else SpeakerSettings().step
    base = SpeakerSettings(encoder=args.encoder, step=step)
    files = load_files(args.dev, base)
    extra = load_files(args.also, base) if args.also else []
    axes = COMPACT_GRID if args.encoder == "compact" else GRID
    grid = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    uris = [item["uri"] for item in files]
    extra_uris = [item["uri"] for item in extra]
    per_point = [score_files(files + extra, base.with_overrides(**point), tolerance=args.tolerance) for point in grid]

    def criterion(index: int, real_uris) -> tuple[float, float]:
        """(mean F1, mean DER) over the real files and the second set."""
        real = pooled(per_point[index], real_uris)
        if not extra_uris:
            return real["f1"], real["der"]
        extra_scores = pooled(per_point[index], extra_uris)
        return 0.5 * (real["f1"] + extra_scores["f1"]), 0.5 * (real["der"] + extra_scores["der"])

    def choose(real_uris) -> int:
        """The best mean F1; settings within ``F1_TIE`` of it count as tied and the lowest DER wins
        (fewer spurious speakers at no real cost in changes)."""
        scores = [criterion(i, real_uris) for i in range(len(grid))]
        top = max(f1 for f1, _ in scores)
        return min((i for i, (f1, _) in enumerate(scores) if f1 >= top - F1_TIE), key=lambda i: (scores[i][1], -scores[i][0]))

    best_index = choose(uris)
    best_point, best = grid[best_index], pooled(per_point[best_index], uris)
    logging.info("best on all files: %s  real F1 %.3f (P %.3f R %.3f)  DER %.3f", best_point, best["f1"], best["precision"], best["recall"], best["der"])
    also = pooled(per_point[best_index], extra_uris) if extra_uris else None
    if also:
        logging.info("  on %s: F1 %.3f (P %.3f R %.3f) DER %.3f", args.also, also["f1"], also["precision"], also["recall"], also["der"])
    # leave one real file out: the setting best without it, scored on it
    held_out, chosen = {}, {}
    for uri in uris:
        index = choose([u for u in uris if u != uri])
        chosen[uri] = grid[index]
        held_out[uri] = per_point[index][uri]
    oof = {**pooled(held_out, uris), "chosen": chosen}
    logging.info("leave-one-file-out: F1 %.3f (P %.3f R %.3f), %d detections, DER %.3f", oof["f1"], oof["precision"], oof["recall"], oof["detections"], oof["der"])
    report = {"tolerance": args.tolerance, "base": base.to_dict(), "grid": axes, "f1_tie": F1_TIE,
              "best": {"settings": best_point, **best, "files": {u: per_point[best_index][u] for u in uris}},
              "second_set": also, "leave_one_file_out": oof,
              "sweep": [{"settings": p, **{k: v for k, v in pooled(r, uris).items() if k in ("f1", "der")},
                         **({"second_f1": pooled(r, extra_uris)["f1"]} if extra_uris else {})} for p, r in zip(grid, per_point)]}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def load_files(folder: str, base: SpeakerSettings) -> list[dict]:
    """Every annotated file of ``folder``, embedded once."""
    files = []
    for audio in sorted(p for p in Path(folder).iterdir() if p.suffix in {".flac", ".wav"}):
        uri = audio.stem
        turns = read_rttm(audio.with_suffix(".rttm"))[uri]
        samples = load_audio(audio)
        duration = len(samples) / 16000
        uem_path = audio.with_suffix(".uem")
        uem = read_uem(uem_path)[uri] if uem_path.exists() else [(0.0, duration)]
        times, embeddings = window_embeddings(samples, settings=base)
        files.append({
            "uri": uri, "turns": turns, "uem": uem, "duration": duration, "times": times, "embeddings": embeddings,
            "silences": silent_regions(samples, vad_threshold=base.vad_threshold, min_silence=base.min_silence, min_speech=base.min_speech),
            "changes": speaker_changes(turns, uem),
        })
        logging.info("%s: %d windows, %d reference changes", uri, len(times), len(files[-1]["changes"]))
    return files


if __name__ == "__main__":
    raise SystemExit(main())
