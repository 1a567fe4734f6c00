"""The sound event commands: ``turnpoint events`` and ``summary``/``tune``/``evaluate --task events``.

:mod:`turnpoint.cli.main` adds the ``events`` parser and sends ``--task events`` runs of the
speaker change commands' parsers (:mod:`turnpoint.cli.changes`) here; ``train --task events`` is
:mod:`turnpoint.cli.train`'s. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from turnpoint.cli.common import class_list, print_batch_report
from turnpoint.core.errors import TurnpointError

__all__ = ["add_events_parser", "expand_audio", "per_class", "print_event_report", "run_evaluate", "run_events", "run_summary", "run_tune"]


def add_events_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint events AUDIO... --out DIR``."""
    p = sub.add_parser("events", help="detect sound events (TSV + PNG per file)",
                       description="Detect sound events with the CNN-LSTM detector; write <name>.tsv (DCASE: filename onset offset event_label) and <name>.png per file.")
    p.add_argument("audio", nargs="+", help="audio/video files, folders of them, or .txt/.lst lists of paths")
    p.add_argument("--model", default=None, help="event model file, or a bundled one: default (CNN-LSTM ensemble) or gmm (the classical baseline)")
    p.add_argument("--out", default="turnpoint_events", help="output folder (default: %(default)s)")
    p.add_argument("--onset", type=per_class, default=None,
                   help="onset threshold, for every class (0.6) or some (beep=0.4,phone=0.7); the others keep the model's tuned values")
    p.add_argument("--offset", type=per_class, default=None, help="offset threshold (hysteresis; default: = --onset), the same forms")
    p.add_argument("--min-duration", type=per_class, default=None, help="drop events shorter than this (s), the same forms")
    p.add_argument("--min-gap", type=per_class, default=None, help="join same-class events closer than this (s), the same forms")
    p.add_argument("--classes", default=None, help="write only these classes' events (comma-separated; default: all)")
    p.add_argument("--reference", default=None, help="reference TSV drawn on the plots")
    p.add_argument("--no-plot", action="store_true", help="TSV only")
    p.add_argument("--scores", action="store_true", help="also write scores/<name>.tsv: per-frame class scores (sed_scores_eval's format, for PSDS elsewhere)")
    p.add_argument("--format", type=class_list, default=["tsv"],
                   help="comma-separated: tsv (DCASE <name>.tsv), audacity (<name>.labels.txt, an Audacity label track) (default: tsv)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--jobs", type=int, default=1, help="processes working on files in parallel")
    p.add_argument("--overwrite", action="store_true", help="redo files whose outputs already exist (default: skip them, so an interrupted run resumes)")


def per_class(text: str) -> float | dict[str, float]:
    """``0.6`` -> 0.6 for every class; ``beep=0.4,phone=0.7`` -> those classes' values.

    Examples
    --------
    >>> per_class("0.6"), per_class("beep=0.4, phone=0.7")
    (0.6, {'beep': 0.4, 'phone': 0.7})
    """
    def number(value: str) -> float:
        result = float(value)
        if not math.isfinite(result):
            raise ValueError(value)
        return result

    try:
        return number(text)
    except ValueError:
        pass
    values = {}
    try:
        for item in filter(None, (part.strip() for part in text.split(","))):
            label, _, value = (side.strip() for side in item.partition("="))
            if not label:
                raise ValueError(item)
            values[label] = number(value)
    except ValueError:
        values = {}
    if not values:
        raise argparse.ArgumentTypeError(f"give a number or CLASS=NUMBER,... (not {text!r})")
    return values


def expand_audio(items: list[str]) -> list[Path]:
    """Files, folders (their audio files) and .txt/.lst lists -> audio paths."""
    from turnpoint.core.batch import expand_inputs

    paths = expand_inputs(items)
    if not paths:
        raise TurnpointError(f"no audio files in {' '.join(items)}")
    return paths


def run_events(args: argparse.Namespace) -> int:
    """``turnpoint events``: :func:`turnpoint.events.detect.detect_event_files`, one line per file."""
    from turnpoint.events.detect import detect_event_files

    report = detect_event_files(
        args.audio, out_dir=args.out, model=args.model, onset=args.onset, offset=args.offset, min_duration=args.min_duration,
        min_gap=args.min_gap, classes=class_list(args.classes), plot=not args.no_plot, scores=args.scores, reference=args.reference,
        device=args.device, jobs=args.jobs, overwrite=args.overwrite, show_progress=not args.quiet, formats=args.format or ["tsv"],
    )
    return print_batch_report(report, out=args.out, quiet=args.quiet,
                              describe=lambda r: f"{len(r.events)} events in {r.duration:.1f} s: {', '.join(f'{e.label} {e.onset:.2f}-{e.offset:.2f}' for e in r.events) or 'none'}")


def run_summary(args: argparse.Namespace) -> int:
    """``turnpoint summary --task events``: an event model's decoding and layers (the default architecture's without ``--model``)."""
    from turnpoint.events.model import SoundEventConfig, SoundEventDetector

    frames = args.frames if args.frames != 200 else None  # 200 is the speaker-change default
    if args.model:
        from turnpoint.events.modelfile import load_event_model

        loaded = load_event_model(args.model)
        print(f"model: {loaded.path}")
        print("decoding: " + json.dumps({k: v.to_dict() for k, v in loaded.decode.items()}))
        input_names = {"mfcc": "MFCC", "logmel": "log-mel", "pcen": "PCEN"}
        print(loaded.model.summary(frames=frames, input_name=input_names[loaded.specifications.features.coefficients]))
    else:
        print(SoundEventDetector(SoundEventConfig()).summary(frames=frames))
    return 0


def run_tune(args: argparse.Namespace) -> int:
    """``turnpoint tune --task events DEV --out OUT [--model M | --ensemble M1 M2 ...]``: per-class decoding tuned on DEV."""
    from turnpoint.events.modelfile import load_event_model, resolve_event_model_path
    from turnpoint.events.training import ensemble_event_models, tune_event_model

    if args.systems:
        raise TurnpointError("--systems is for speaker change tuning; --task events tunes the event model's decoding")
    if args.ensemble and args.classes:
        raise TurnpointError("--classes re-tunes part of one model's decoding; an ensemble is tuned for all classes")
    if args.ensemble:
        if args.model:
            raise TurnpointError("give the ensemble's members with --ensemble only (not --model)")
        target = Path(args.out) / "events_ensemble.safetensors"
        sources = [resolve_event_model_path(path) for path in args.ensemble]  # loaded (and checked) once, when joined
    else:
        target = Path(args.out) / "events_tuned.safetensors"
        sources = [resolve_event_model_path(args.model)]
    if any(target.resolve() == Path(source).resolve() for source in sources):
        raise TurnpointError("the output would overwrite an input model; choose another --out", path=target)
    if args.ensemble:
        written = ensemble_event_models(sources, args.dev, out_path=target, show_progress=not args.quiet)
    else:
        written = tune_event_model(sources[0], args.dev, out_path=target, show_progress=not args.quiet, classes=args.classes)
    tuned = load_event_model(written)
    if args.ensemble:
        print(f"ensemble of {tuned.model.config.members} networks from {len(sources)} files")
    for label, params in tuned.decode.items():
        print(f"{label}: onset {params.onset:g}, offset {params.offset:g}, min_duration {params.min_duration:g}, "
              f"min_gap {params.min_gap:g}, start_ratio {params.start_ratio:g}")
    scores = tuned.training.get("validation_tuned", {})
    print(f"on {args.dev}: event F1 {scores.get('event_f1', float('nan')):.3f}, segment F1 {scores.get('segment_f1', float('nan')):.3f}; "
          f"written {target}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """``turnpoint evaluate --task events REFERENCE.tsv AUDIO | DETECTIONS.tsv | SCORES_FOLDER``."""
    from turnpoint.core.fileio import atomic_write_text
    from turnpoint.events.detect import evaluate_event_lists, evaluate_event_scores, evaluate_events, is_score_folder

    hypothesis = Path(args.hypothesis)
    if hypothesis.is_file() and hypothesis.suffix.lower() in (".tsv", ".csv", ".txt", ".ann"):
        report = evaluate_event_lists(args.reference, hypothesis, ignore_missing=args.ignore_missing)
    elif is_score_folder(hypothesis):
        report = evaluate_event_scores(args.reference, hypothesis, durations_path=getattr(args, "durations", None), ignore_missing=args.ignore_missing)
    else:
        report = evaluate_events(expand_audio([args.hypothesis]), args.reference, model=getattr(args, "model", None),
                                 durations_path=getattr(args, "durations", None))
    print_event_report(report)
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"written: {args.json}")
    return 0


def print_event_report(report: dict) -> None:
    """The lines of ``turnpoint evaluate --task events`` for a report of :mod:`turnpoint.events.detect`."""
    print(f"files: {report['files']}")
    if "event_based" not in report:
        print(f"PSDS1 {report['psds1']:.3f}   PSDS2 {report['psds2']:.3f}   ({report['note']})")
        return
    event, segment = report["event_based"], report["segment_based"]
    print(f"event-based (collar 0.2 s, offset 50 %): F1 {event['f1']:.3f} (class average {event['macro_f1']:.3f}), "
          f"P {event['precision']:.3f}, R {event['recall']:.3f}, ER {event['error_rate']:.3f}")
    print(f"segment-based (1 s): F1 {segment['f1']:.3f} (class average {segment['macro_f1']:.3f}), ER {segment['error_rate']:.3f}")
    if "psds1" in report:
        print(f"PSDS1 {report['psds1']:.3f}   PSDS2 {report['psds2']:.3f}")
    for label, values in event["class_wise"].items():
        f1 = values["f1"]
        print(f"  {label:<16} event F1 {'n/a' if f1 is None else f'{f1:.3f}'}  (ref {int(values['n_ref'])}, sys {int(values['n_sys'])})")
