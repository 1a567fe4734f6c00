"""The ``turnpoint`` command: thin wrappers over the Python API (no logic lives here)."""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from typing import TYPE_CHECKING

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnpoint.core.batch import BatchReport, FileResult

logger = logging.getLogger("turnpoint")


def _formats(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return number


def _jobs(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_int(value)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"must be a positive integer or auto, not {value}") from None


def _finite_float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {value}")
    return number


def _check_device(name: str) -> None:
    """Refuse an unknown or unavailable torch device with one line instead of a traceback."""
    if name == "auto":
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TurnpointError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TurnpointError(f"device {name!r} requested but CUDA is not available; use --device cpu")


def _add_detect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find speaker changes in audio/video files", description="Find speaker changes in audio or video files and write segments.")
    p.add_argument("audio", nargs="+", help="audio/video files, folders of them, or .txt/.lst lists of paths")
    p.add_argument("--model", default=None, help="model file (.safetensors) or bundled name (default: the bundled model)")
    p.add_argument("--alpha", type=_finite_float, default=None, help="peak threshold (default: the model's, chosen on validation)")
    p.add_argument("--alpha-scale", choices=["absolute", "percentile", "relative"], default=None, help="absolute (default) or the paper's per-file percentile scale")
    p.add_argument("--min-duration", type=_finite_float, default=None, help="minimum time between changes in seconds (default: the model's)")
    p.add_argument("--out", default="turnpoint_out", help="output folder (default: %(default)s)")
    p.add_argument("--format", type=_formats, default=["rttm", "json", "csv"], help="comma-separated: rttm,json,csv (default: all)")
    p.add_argument("--scores", action="store_true", help="also write <uri>.scores.csv (per-frame scores)")
    p.add_argument("--plot", action="store_true", help="also write <uri>.png (score curve, threshold, changes)")
    p.add_argument("--report", action="store_true", help="also write <uri>.html: a self-contained page to zoom the timeline and play from any point")
    p.add_argument("--reference", default=None, help="reference RTTM (file or folder) drawn on the plots")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="windows per forward pass")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--jobs", type=_jobs, default="auto",
                   help="processes working on files, this one included, or auto (default): once the batch has run longer "
                        "than a process takes to start, one more per core the machine leaves idle")
    p.add_argument("--overwrite", action="store_true", help="redo files whose outputs already exist (default: skip them)")
    p.add_argument("--dask", action="store_true", help="spread files over a Dask cluster (turnpoint[cluster]): a local one of --jobs workers, or --scheduler")
    p.add_argument("--scheduler", default=None, help="with --dask: address of a running Dask scheduler (tcp://host:8786)")
    p.add_argument("--rescore", action=argparse.BooleanOptionalAction, default=None,
                   help="re-score the BiLSTM's candidate changes with GE2E speaker embeddings (default: as the model ships; "
                        "the bundled default model does, --no-rescore or --model paper gives the paper's BiLSTM alone)")
    p.add_argument("--rescore-threshold", type=float, default=None, help="re-scored score a candidate needs (default: the model's, chosen on validation)")
    p.add_argument("--cluster", action=argparse.BooleanOptionalAction, default=None,
                   help="re-scoring's second pass: drop changes between segments of one speaker cluster (default: as the model ships)")
    p.add_argument("--speakers", action=argparse.BooleanOptionalAction, default=None,
                   help="decide changes from speaker embeddings grouped per file and label segments by speaker "
                        "(default: as the model ships; the bundled default does)")
    p.add_argument("--speaker-threshold", type=_finite_float, default=None,
                   help="cosine cut of the per-file speaker clustering (default: the model's; larger: fewer speakers)")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector on audio + RTTM (+ UEM)", description="Train the BiLSTM speaker change detector on your annotated audio.")
    p.add_argument("train", nargs="?", help="folder of audio + RTTM (+ UEM), or a list file of audio paths")
    p.add_argument("--protocol", nargs=2, metavar=("DATABASE_YML", "PROTOCOL"), default=None,
                   help="train on a pyannote.database protocol's train subset, validate on its development subset")
    p.add_argument("--validation", default=None, help="validation folder or list (default: hold out --validation-fraction of the files)")
    p.add_argument("--validation-fraction", type=float, default=0.1)
    p.add_argument("--rttm", default=None, help="RTTM file or folder (default: beside the audio)")
    p.add_argument("--uem", default=None, help="UEM file or folder (default: beside the audio, if any)")
    p.add_argument("--out", required=True, help="run folder (model.safetensors, checkpoint.safetensors, history.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--epochs", type=int, default=50, help="passes over the training chunks (default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, default=128, help="chunks per optimiser step (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate (default: %(default)s)")
    p.add_argument("--collar", type=float, default=0.05, help="frames within this many seconds of a turn boundary are positive")
    p.add_argument("--pos-weight", type=float, default=1.0, help="weight of positive frames in the loss")
    p.add_argument("--chunks-per-epoch", type=int, default=None)
    p.add_argument("--frame-step", type=float, default=0.016, help="0.016 (paper) or 0.010 (released code)")
    p.add_argument("--window", type=float, default=0.032, help="analysis window: 0.032 (paper) or 0.025 (released code)")
    p.add_argument("--min-duration", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="random seed of initialisation and chunk sampling (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice; 1 on a busy machine)")
    p.add_argument("--devices", type=_positive_int, default=None, help="train with Lightning DDP on this many devices (processes) per node (turnpoint[distributed])")
    p.add_argument("--num-nodes", type=_positive_int, default=None, help="with Lightning DDP: number of machines, each running this command (see docs/performance.md)")
    p.add_argument("--accelerator", choices=["cpu", "gpu", "auto"], default=None, help="with Lightning DDP: cpu, gpu or auto (default: auto)")
    p.add_argument("--task", choices=["changes", "events"], default="changes", help="changes: speaker change detection (default); events: sound event detection")
    events = p.add_argument_group("sound events (--task events)", "used only with --task events; refused for speaker changes")
    events.add_argument("--classes", default=None, help="events: comma-separated class names (default: every label of the training TSV)")
    events.add_argument("--bidirectional", action="store_true", help="events: a bidirectional LSTM instead of the seed's LSTM 64")
    events.add_argument("--conv-kernel", type=_positive_int, default=None,
                   help="events: width of the per-frame convolution over input A's 64 coefficients (default 16, the seed's; the bundled model uses 64)")
    events.add_argument("--conv-regions", type=_positive_int, default=None,
                   help="events: take the convolution's max over positions in this many frequency regions (default 1, the seed's)")
    events.add_argument("--features", choices=["mfcc", "logmel", "logmel128", "pcen"], default="mfcc",
                   help="events: input A, 64 MFCC (the seed's, default), 64 log-mel band energies, 128 from a 64 ms window, "
                        "or 64 PCEN mel bands (per-channel energy normalisation)")
    events.add_argument("--lr-decay-start", type=int, default=None, metavar="EPOCH",
                   help="events: keep the learning rate to this epoch, then lower it along a half cosine to near 0 at the last (also on --resume)")
    events.add_argument("--filter-augment", type=_finite_float, default=0.0, metavar="DB",
                   help="events: FilterAugment each training chunk, a random smooth filter with gains within +-DB dB (default 0: off)")
    events.add_argument("--mixup", type=_finite_float, default=0.0, metavar="SHARE",
                   help="events: mix this share of the training chunks with another chunk (log-mel input; default 0: off)")
    events.add_argument("--event-pos-weight", choices=["none", "sqrt"], default="none",
                   help="events: weight each class's positive frames by sqrt(negatives/positives), 1 to 10 (the bundled model: sqrt)")
    events.add_argument("--architecture", choices=["cnn-lstm", "gmm"], default="cnn-lstm",
                   help="events: the CNN-LSTM network (default) or the classical baseline, per-class event/background GMMs on "
                        "20 MFCC + delta (DCASE 2016 task 3's method; needs scikit-learn)")
    events.add_argument("--gmm-components", type=_positive_int, default=None, help="events, --architecture gmm: components per mixture (default 16)")
    events.add_argument("--gmm-context", type=_positive_int, default=None, metavar="FRAMES",
                   help="events, --architecture gmm: average the likelihood ratio over this many frames (default: chosen on validation "
                        "among 1, 5, 15, 50; the DCASE 2016 baseline's 1 s is 50)")


def _add_summary(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="print the network's layers and parameter counts")
    p.add_argument("--model", default=None, help="model file to describe (default: the paper's architecture)")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--task", choices=["changes", "events"], default="changes", help="changes: speaker change detection (default); events: sound event detection")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score hypothesis segments against reference turns", description="Speaker-change precision/recall/F1 (changes of the active speaker set, a change across a pause located in the pause; optimal one-to-one matching) and segmentation purity/coverage (pyannote.metrics), per file and overall.")
    p.add_argument("reference", help="reference RTTM file or folder of RTTM files")
    p.add_argument("hypothesis", help="hypothesis RTTM file or folder (e.g. the --out folder of turnpoint detect)")
    p.add_argument("--uem", default=None, help="UEM file or folder: the regions to score (default: 0 to the last end)")
    p.add_argument("--tolerance", type=_finite_float, default=0.5, help="change matching window in seconds (default: %(default)s)")
    p.add_argument("--boundaries", choices=["speaker", "segmentation"], default="speaker",
                   help="speaker: changes of the active speaker set (default); segmentation: every turn boundary, speech onsets and ends included, closer than 2 x tolerance merged (the older view)")
    p.add_argument("--fill-gaps", type=_finite_float, default=0.5, help="pyannote.metrics tolerance: a speaker's own pauses shorter than this are filled (default: %(default)s)")
    p.add_argument("--bridge", type=_finite_float, default=0.0, help="split silences shorter than this between the turns around them, so changes across pauses count in purity/coverage (default: off)")
    p.add_argument("--ignore-missing", action="store_true", help="score the files both sides have instead of refusing mismatched file sets")
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.add_argument("--csv", default=None, help="also write the per-file table as CSV here")
    p.add_argument("--task", choices=["changes", "events"], default="changes", help="changes: speaker change detection (default); events: sound event detection")
    p.add_argument("--model", default=None, help="events: model to run when HYPOTHESIS is audio (default: the bundled events model; gmm: the bundled GMM baseline)")
    p.add_argument("--durations", default=None, help="events: filename<TAB>duration file (default: the audio lengths)")


def _add_tune(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="choose alpha and min_duration on a development set", description="Sweep alpha and min_duration on cached score curves; write the chosen setting into a copy of the model (or a JSON for baselines) and a purity-coverage plot.")
    p.add_argument("dev", help="folder of audio + RTTM (+ UEM), or a list file of audio paths")
    p.add_argument("--out", required=True, help="output folder (tuned model/JSON, curves CSV, PNG, score cache)")
    p.add_argument("--systems", type=_formats, default=None,
                   help="comma-separated: speakers,hybrid,bilstm,bic,gaussian_divergence,glr,kernel_cpd,ge2e,ge2e_2.4s "
                        "(default: what the model runs: speakers (the clustering cut) for the bundled default, hybrid for --model hybrid, bilstm for a BiLSTM-only model; "
                        "a hybrid with a second pass has that pass's cut tuned, --min-durations do not apply to it)")
    p.add_argument("--model", default=None, help="model file to tune (default: the bundled model)")
    p.add_argument("--criterion", choices=["boundary_f1", "coverage", "f_measure"], default="boundary_f1", help="best speaker-change F1 (default), best coverage at --target-purity, or best F(purity, coverage)")
    p.add_argument("--target-purity", type=_finite_float, default=0.9)
    p.add_argument("--min-durations", type=_formats, default=["0.5", "1.0", "1.5", "2.0"], help="comma-separated seconds (default: 0.5,1.0,1.5,2.0)")
    p.add_argument("--alpha-scale", choices=["absolute", "percentile", "relative"], default=None, help="default: the model's (absolute for baselines)")
    p.add_argument("--tolerance", type=_finite_float, default=0.5)
    p.add_argument("--boundaries", choices=["speaker", "segmentation"], default="speaker", help="what a change is, as in turnpoint evaluate (default: %(default)s)")
    p.add_argument("--fill-gaps", type=_finite_float, default=0.5)
    p.add_argument("--bridge", type=_finite_float, default=0.0)
    p.add_argument("--rttm", default=None, help="RTTM file or folder (default: beside the audio)")
    p.add_argument("--uem", default=None, help="UEM file or folder (default: beside the audio, if any)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--task", choices=["changes", "events"], default="changes",
                   help="events: tune a sound event model's per-class decoding (onset/offset, min duration, gap, onset refinement) "
                        "on DEV (audio + event TSV); writes OUT/events_tuned.safetensors")
    p.add_argument("--ensemble", nargs="+", default=None, metavar="MODEL",
                   help="events: join these model files (one architecture, e.g. runs with other seeds) into one model whose "
                        "scores are their mean, tune its decoding on DEV; writes OUT/events_ensemble.safetensors")
    p.add_argument("--classes", type=_formats, default=None,
                   help="events: re-tune only these classes (comma-separated); the others keep the model's settings")


def _add_baseline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("baseline", help="detect changes with a baseline (BIC, Gaussian divergence, GLR, KernelCPD, GE2E)", description="Detect speaker changes with a baseline system; outputs as turnpoint detect writes them.")
    p.add_argument("audio", nargs="+", help="audio/video files, folders of them, or .txt/.lst lists of paths")
    p.add_argument("--settings", default=None, help="tuned JSON written by turnpoint tune (system, alpha, min_duration)")
    p.add_argument("--system", default=None, help="bic, gaussian_divergence, glr, kernel_cpd or ge2e (default: from --settings)")
    p.add_argument("--alpha", type=_finite_float, default=None, help="threshold in the system's score units (default: from --settings)")
    p.add_argument("--min-duration", type=_finite_float, default=None, help="default: from --settings, else 1.0")
    p.add_argument("--out", default="turnpoint_out", help="output folder (default: %(default)s)")
    p.add_argument("--format", type=_formats, default=["rttm", "json", "csv"], help="comma-separated: rttm,json,csv (default: all)")


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate conversations (wav + RTTM + UEM) from single-speaker voice pools",
                       description="Build conversations with exact references from folders of single-speaker clips (VOICES/<speaker>/*.wav).")
    p.add_argument("voices", help="folder with one sub-folder of clips per speaker (optional manifest.tsv)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--conversations", type=int, default=10)
    p.add_argument("--min-duration", type=float, default=60.0, help="seconds")
    p.add_argument("--max-duration", type=float, default=180.0, help="seconds")
    p.add_argument("--speakers", default=None, help="comma-separated speaker folders to use (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reverb", type=float, default=0.0, metavar="P", help="share of speakers placed in a synthetic room (default 0)")
    p.add_argument("--channel-variation", type=float, default=0.0, metavar="P",
                   help="share of speakers heard through a second channel (other EQ, gain, room) on half their clips: a non-change (default 0)")
    p.add_argument("--style", choices=["legacy", "real"], default="legacy",
                   help="real: turn lengths, pauses, overlaps and backchannels drawn from statistics of real meetings and broadcasts (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turnpoint", description="Find where audio turns: speaker change detection.")
    parser.add_argument("--version", action="version", version=f"turnpoint {__version__}")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_detect(sub)
    _add_train(sub)
    _add_summary(sub)
    _add_simulate(sub)
    _add_evaluate(sub)
    _add_tune(sub)
    _add_baseline(sub)
    from turnpoint.cli.events import add_events_parser

    add_events_parser(sub)
    for command in {id(parser): parser for parser in sub.choices.values()}.values():  # after the subcommand too (aliases: once)
        _add_global_options(command, suppress=True)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """-q and -v, before the subcommand (``suppress=False``) or after it: there they default to
    nothing (SUPPRESS), so that an option given before the subcommand is not reset by its parser."""
    default = argparse.SUPPRESS if suppress else False
    group = parser.add_argument_group("output") if suppress else parser
    group.add_argument("-q", "--quiet", action="store_true", default=default, help="no progress bars, warnings and errors only")
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")


def _dask_workers(jobs: int | str) -> int:
    if jobs != "auto":
        return int(jobs)
    from turnpoint.core.windows import available_cpus

    return available_cpus()


def _detect_on_dask(args: argparse.Namespace):
    if (args.plot or args.report or args.reference or args.rescore is not None or args.rescore_threshold is not None or args.cluster is not None
            or args.speakers is not None or args.speaker_threshold is not None):
        raise TurnpointError("--plot, --report, --reference, --rescore/--no-rescore, --rescore-threshold, --cluster/--no-cluster and --speakers options are not available with --dask yet")
    try:
        from turnpoint.changes.dask_batch import detect_files_dask
    except ImportError:
        raise TurnpointError("--dask needs dask: pip install 'turnpoint[cluster]'") from None
    return detect_files_dask(
        args.audio, out_dir=args.out, model=args.model, scheduler=args.scheduler, workers=_dask_workers(args.jobs),
        alpha=args.alpha, min_duration=args.min_duration, alpha_scale=args.alpha_scale, formats=args.format,
        scores=args.scores, batch_size=args.batch_size, device=args.device, overwrite=args.overwrite,
        show_progress=not args.quiet,
    )


def _run_detect(args: argparse.Namespace) -> int:
    from turnpoint.changes.batch import detect_files

    _check_device(args.device)
    if args.dask or args.scheduler:
        report = _detect_on_dask(args)
    else:
        report = detect_files(
            args.audio,
            out_dir=args.out,
            model=args.model,
            alpha=args.alpha,
            min_duration=args.min_duration,
            alpha_scale=args.alpha_scale,
            formats=args.format,
            scores=args.scores,
            plot=args.plot,
            html_report=args.report,
            reference=args.reference,
            batch_size=args.batch_size,
            device=args.device,
            jobs=args.jobs,
            overwrite=args.overwrite,
            rescoring=args.rescore,
            rescore_threshold=args.rescore_threshold,
            clustering=args.cluster,
            speakers=args.speakers,
            speaker_threshold=args.speaker_threshold,
            show_progress=not args.quiet,
        )
    return print_batch_report(report, out=args.out, quiet=args.quiet,
                              describe=lambda r: f"{len(r.changes)} changes in {r.duration:.1f} s at {', '.join(f'{c:.2f}' for c in r.changes) or 'none'}")


def print_batch_report(report: BatchReport, *, out: str, quiet: bool, describe: Callable[[FileResult], str]) -> int:
    """Print a batch's files (``describe``), its failures (stderr, always) and a summary; the exit status."""
    if not quiet:
        for result in report.done:
            print(f"{result.uri}: {describe(result)}")
    for _, message in report.failures:
        print(f"turnpoint: error: {message}", file=sys.stderr)
    if not quiet:
        skipped = f", {len(report.skipped)} already done" if report.skipped else ""
        warned = sum(1 for result in report.done if result.warnings)
        warnings = f", {warned} with warnings" if warned else ""
        print(f"outputs in {os.path.join(out, '')} ({len(report.done)} files done{warnings}{skipped}, {len(report.failures)} failed)")
    return 1 if report.failures else 0


def _run_train(args: argparse.Namespace) -> int:
    distributed = args.devices is not None or args.num_nodes is not None or args.accelerator is not None
    if args.task == "events":
        if distributed:
            raise TurnpointError("--devices, --num-nodes and --accelerator are for --task changes")
        from turnpoint.cli.events import run_train

        return run_train(args)
    events_only = {"--classes": args.classes is not None, "--bidirectional": args.bidirectional, "--conv-kernel": args.conv_kernel is not None,
                   "--conv-regions": args.conv_regions is not None, "--features": args.features != "mfcc",
                   "--lr-decay-start": args.lr_decay_start is not None, "--filter-augment": args.filter_augment != 0.0, "--mixup": args.mixup != 0.0,
                   "--event-pos-weight": args.event_pos_weight != "none", "--architecture": args.architecture != "cnn-lstm",
                   "--gmm-components": args.gmm_components is not None, "--gmm-context": args.gmm_context is not None}
    given = [flag for flag, set_ in events_only.items() if set_]
    if given:
        raise TurnpointError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --task events")
    from turnpoint.changes.training import TrainingConfig, train

    if distributed and args.device != "auto":
        raise TurnpointError("--device is for the single-process trainer; with --devices/--num-nodes choose --accelerator cpu or gpu")
    _check_device(args.device)
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        collar=args.collar,
        pos_weight=args.pos_weight,
        chunks_per_epoch=args.chunks_per_epoch,
        seed=args.seed,
        min_duration=args.min_duration,
        frame_step=args.frame_step,
        window_duration=args.window,
    )
    if args.protocol:
        from turnpoint.changes.training import collect_protocol

        database, protocol = args.protocol
        train_source = collect_protocol(database, protocol, "train")
        validation = collect_protocol(database, protocol, "development")
    elif not args.train:
        raise TurnpointError("give a training folder or list file, or --protocol DATABASE_YML PROTOCOL")
    elif args.rttm or args.uem:
        from turnpoint.changes.training import collect_files

        train_source = collect_files(args.train, rttm=args.rttm, uem=args.uem)
        validation = collect_files(args.validation, rttm=args.rttm, uem=args.uem) if args.validation else None
    else:
        train_source, validation = args.train, args.validation
    if distributed:
        from turnpoint.core.distributed import is_global_zero, train_distributed

        path = train_distributed(
            train_source, out_dir=args.out, validation_source=validation, validation_fraction=args.validation_fraction,
            config=config, resume=args.resume, accelerator=args.accelerator or "auto", devices=args.devices or 1,
            num_nodes=args.num_nodes or 1, show_progress=not args.quiet, num_threads=args.threads,
        )
        if is_global_zero():
            print(f"best model: {path}")
        return 0
    path = train(
        train_source,
        out_dir=args.out,
        validation_source=validation,
        validation_fraction=args.validation_fraction,
        config=config,
        resume=args.resume,
        device=args.device,
        show_progress=not args.quiet,
        num_threads=args.threads,
    )
    print(f"best model: {path}")
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    from turnpoint.changes.simulate import SimulationConfig, simulate_voice_conversations

    for name, value in (("--reverb", args.reverb), ("--channel-variation", args.channel_variation)):
        if not 0.0 <= value <= 1.0:
            raise TurnpointError(f"{name} is a probability between 0 and 1, not {value}")
    infos = simulate_voice_conversations(
        args.voices,
        args.out,
        n_conversations=args.conversations,
        duration_s=(args.min_duration, args.max_duration),
        speakers=args.speakers.split(",") if args.speakers else None,
        seed=args.seed,
        config=SimulationConfig(reverb_p=args.reverb, channel_variation_p=args.channel_variation, style=args.style),
    )
    if not args.quiet:
        hours = sum(info["duration_s"] for info in infos) / 3600
        print(f"{len(infos)} conversations ({hours:.2f} h) in {args.out}/")
    return 0


def _run_summary(args: argparse.Namespace) -> int:
    if args.task == "events":
        from turnpoint.cli.events import run_summary

        return run_summary(args)
    from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector

    if args.model:
        from turnpoint.changes.modelfile import load_model

        loaded = load_model(args.model)
        print(f"model: {loaded.path}")
        print(f"defaults: {loaded.defaults.to_dict()}")
        print(loaded.model.summary(frames=args.frames))
    else:
        print(SpeakerChangeDetector(SpeakerChangeConfig()).summary(frames=args.frames))
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    if args.task == "events":
        from turnpoint.cli.events import run_evaluate

        return run_evaluate(args)
    from turnpoint.changes.evaluation import evaluate

    report = evaluate(
        args.reference, args.hypothesis, uem=args.uem, tolerance=args.tolerance, fill_gaps=args.fill_gaps,
        bridge=args.bridge, ignore_missing=args.ignore_missing, boundaries=args.boundaries,
    )
    print(report.format_table())
    for path in (args.json, args.csv):
        if path:
            print(f"written: {report.write(path)}")
    return 0


def _run_tune(args: argparse.Namespace) -> int:
    if args.task == "events":
        from turnpoint.cli.events import run_tune

        return run_tune(args)
    if args.ensemble:
        raise TurnpointError("--ensemble is for --task events")
    from turnpoint.changes.training import collect_files
    from turnpoint.changes.tuning import tune

    try:
        min_durations = [float(v) for v in args.min_durations]
    except ValueError:
        raise TurnpointError(f"--min-durations must be numbers, not {args.min_durations}") from None
    result = tune(
        collect_files(args.dev, rttm=args.rttm, uem=args.uem), systems=args.systems, model=args.model, out_dir=args.out,
        criterion=args.criterion, target_purity=args.target_purity, min_durations=min_durations, alpha_scale=args.alpha_scale,
        tolerance=args.tolerance, fill_gaps=args.fill_gaps, bridge=args.bridge, plot=not args.no_plot, boundaries=args.boundaries,
    )
    for system, point in result.chosen.items():
        print(
            f"{system}: {result.swept.get(system, 'alpha')} {point.alpha:.4g}, min_duration {point.min_duration:g} -> purity {100 * point.purity:.1f}, "
            f"coverage {100 * point.coverage:.1f}, {'speaker-change' if args.boundaries == 'speaker' else 'boundary'} F1 {100 * point.f1:.1f} ({point.n_changes} changes); "
            f"written {result.written[system]}"
        )
    if "plot" in result.written:
        print(f"plot: {result.written['plot']}")
    return 0


def _run_baseline(args: argparse.Namespace) -> int:
    from turnpoint.changes.batch import detect_baseline_files
    from turnpoint.changes.tuning import read_tuned

    settings = read_tuned(args.settings) if args.settings else {}
    system = args.system or settings.get("system")
    alpha = args.alpha if args.alpha is not None else settings.get("alpha")
    if system is None or alpha is None:
        raise TurnpointError("give --settings (from turnpoint tune) or both --system and --alpha")
    min_duration = args.min_duration if args.min_duration is not None else settings.get("min_duration", 1.0)
    report = detect_baseline_files(args.audio, out_dir=args.out, system=system, alpha=float(alpha), min_duration=float(min_duration),
                                   formats=args.format)
    if not args.quiet:
        for result in report.results:
            print(f"{result.uri}: {len(result.changes)} changes in {result.duration:.1f} s")
    for _, message in report.failures:
        print(f"turnpoint: error: {message}", file=sys.stderr)
    return 1 if report.failures else 0


def _run_events(args: argparse.Namespace) -> int:
    from turnpoint.cli.events import run_events

    return run_events(args)


class MessageFormatter(logging.Formatter):
    """Log records as the CLI's own lines: ``turnpoint: x.wav: ...``, ``turnpoint: warning: ...``.

    Other libraries' records name their logger; ``-v`` (debug) names every logger.

    Examples
    --------
    >>> record = logging.LogRecord("turnpoint.core.batch", logging.WARNING, "", 0, "x.mp3: truncated", None, None)
    >>> MessageFormatter().format(record)
    'turnpoint: warning: x.mp3: truncated'
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        ours = record.name == "turnpoint" or record.name.startswith("turnpoint.")
        if record.levelno < logging.INFO or not ours:
            message = f"{record.name}: {message}"
        kind = {logging.DEBUG: "debug: ", logging.WARNING: "warning: ", logging.ERROR: "error: ", logging.CRITICAL: "error: "}.get(record.levelno, "")
        return f"turnpoint: {kind}{message}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(MessageFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    runners = {"detect": _run_detect, "train": _run_train, "summary": _run_summary, "evaluate": _run_evaluate, "tune": _run_tune, "baseline": _run_baseline, "events": _run_events, "simulate": _run_simulate}
    try:
        return runners[args.command](args)
    except TurnpointError as error:
        print(f"turnpoint: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("turnpoint: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as error:
        print(f"turnpoint: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
