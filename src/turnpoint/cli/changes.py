"""The speaker change commands: ``detect``, ``summary``, ``evaluate``, ``tune``, ``baseline``, ``simulate``.

Each ``add_*_parser`` adds one subcommand; each ``run_*`` turns its options into one call of the
Python API (imported only when the command runs) and prints what it did. ``summary``, ``evaluate``
and ``tune`` also take ``--task events``; their options for that task are declared here, in the
command's one parser, and :mod:`turnpoint.cli.main` sends such a run to :mod:`turnpoint.cli.events`.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from turnpoint.cli.common import (
    check_device,
    comma_separated,
    finite_float,
    positive_int,
    positive_int_or_auto,
    print_batch_report,
)
from turnpoint.core.errors import TurnpointError

if TYPE_CHECKING:
    from turnpoint.core.batch import BatchReport

__all__ = [
    "add_baseline_parser",
    "add_detect_parser",
    "add_evaluate_parser",
    "add_simulate_parser",
    "add_summary_parser",
    "add_tune_parser",
    "run_baseline",
    "run_detect",
    "run_evaluate",
    "run_simulate",
    "run_summary",
    "run_tune",
]


def add_detect_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint detect AUDIO... [--out DIR]``."""
    p = sub.add_parser("detect", help="find speaker changes in audio/video files", description="Find speaker changes in audio or video files and write segments.")
    p.add_argument("audio", nargs="+", help="audio/video files, folders of them, or .txt/.lst lists of paths")
    p.add_argument("--model", default=None, help="model file (.safetensors) or bundled name (default: the bundled model)")
    p.add_argument("--encoder", choices=["ge2e", "compact"], default=None,
                   help="speaker encoder: without --model, the bundled model built for it (ge2e: default, compact: fast); "
                        "with --model, refused unless that model runs it")
    p.add_argument("--alpha", type=finite_float, default=None, help="peak threshold (default: the model's, chosen on validation)")
    p.add_argument("--alpha-scale", choices=["absolute", "percentile", "relative"], default=None, help="absolute (default) or the paper's per-file percentile scale")
    p.add_argument("--min-duration", type=finite_float, default=None, help="minimum time between changes in seconds (default: the model's)")
    p.add_argument("--out", default="turnpoint_out", help="output folder (default: %(default)s)")
    p.add_argument("--format", type=comma_separated, default=["rttm", "json", "csv"], help="comma-separated: rttm,json,csv (default: all)")
    p.add_argument("--scores", action="store_true", help="also write <uri>.scores.csv (per-frame scores)")
    p.add_argument("--plot", action="store_true", help="also write <uri>.png (score curve, threshold, changes)")
    p.add_argument("--report", action="store_true", help="also write <uri>.html: a self-contained page to zoom the timeline and play from any point")
    p.add_argument("--reference", default=None, help="reference RTTM (file or folder) drawn on the plots")
    p.add_argument("--batch-size", type=positive_int, default=64, help="windows per forward pass")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--jobs", type=positive_int_or_auto, default="auto",
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
    p.add_argument("--speaker-threshold", type=finite_float, default=None,
                   help="cosine cut of the per-file speaker clustering (default: the model's; larger: fewer speakers)")


def add_summary_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint summary [--model M] [--task events]``."""
    p = sub.add_parser("summary", help="print the network's layers and parameter counts")
    p.add_argument("--model", default=None, help="model file to describe (default: the paper's architecture)")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--task", choices=["changes", "events"], default="changes", help="changes: speaker change detection (default); events: sound event detection")


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint evaluate REFERENCE HYPOTHESIS``, with the options of ``--task events`` too."""
    p = sub.add_parser("evaluate", help="score hypothesis segments against reference turns", description="Speaker-change precision/recall/F1 (changes of the active speaker set, a change across a pause located in the pause; optimal one-to-one matching) and segmentation purity/coverage (pyannote.metrics), per file and overall.")
    p.add_argument("reference", help="reference RTTM file or folder of RTTM files")
    p.add_argument("hypothesis", help="hypothesis RTTM file or folder (e.g. the --out folder of turnpoint detect)")
    p.add_argument("--uem", default=None, help="UEM file or folder: the regions to score (default: 0 to the last end)")
    p.add_argument("--tolerance", type=finite_float, default=0.5, help="change matching window in seconds (default: %(default)s)")
    p.add_argument("--boundaries", choices=["speaker", "segmentation"], default="speaker",
                   help="speaker: changes of the active speaker set (default); segmentation: every turn boundary, speech onsets and ends included, closer than 2 x tolerance merged (the older view)")
    p.add_argument("--fill-gaps", type=finite_float, default=0.5, help="pyannote.metrics tolerance: a speaker's own pauses shorter than this are filled (default: %(default)s)")
    p.add_argument("--bridge", type=finite_float, default=0.0, help="split silences shorter than this between the turns around them, so changes across pauses count in purity/coverage (default: off)")
    p.add_argument("--ignore-missing", action="store_true", help="score the files both sides have instead of refusing mismatched file sets")
    p.add_argument("--json", default=None, help="also write the report as JSON here")
    p.add_argument("--csv", default=None, help="also write the per-file table as CSV here")
    p.add_argument("--task", choices=["changes", "events"], default="changes", help="changes: speaker change detection (default); events: sound event detection")
    p.add_argument("--model", default=None, help="events: model to run when HYPOTHESIS is audio (default: the bundled events model; gmm: the bundled GMM baseline)")
    p.add_argument("--durations", default=None, help="events: filename<TAB>duration file (default: the audio lengths)")


def add_tune_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint tune DEV --out DIR``, with the options of ``--task events`` too."""
    p = sub.add_parser("tune", help="choose alpha and min_duration on a development set", description="Sweep alpha and min_duration on cached score curves; write the chosen setting into a copy of the model (or a JSON for baselines) and a purity-coverage plot.")
    p.add_argument("dev", help="folder of audio + RTTM (+ UEM), or a list file of audio paths")
    p.add_argument("--out", required=True, help="output folder (tuned model/JSON, curves CSV, PNG, score cache)")
    p.add_argument("--systems", type=comma_separated, default=None,
                   help="comma-separated: speakers,hybrid,bilstm,bic,gaussian_divergence,glr,kernel_cpd,ge2e,ge2e_2.4s "
                        "(default: what the model runs: speakers (the clustering cut) for the bundled default, hybrid for --model hybrid, bilstm for a BiLSTM-only model; "
                        "a hybrid with a second pass has that pass's cut tuned, --min-durations do not apply to it)")
    p.add_argument("--model", default=None, help="model file to tune (default: the bundled model)")
    p.add_argument("--criterion", choices=["boundary_f1", "coverage", "f_measure"], default="boundary_f1", help="best speaker-change F1 (default), best coverage at --target-purity, or best F(purity, coverage)")
    p.add_argument("--target-purity", type=finite_float, default=0.9)
    p.add_argument("--min-durations", type=comma_separated, default=["0.5", "1.0", "1.5", "2.0"], help="comma-separated seconds (default: 0.5,1.0,1.5,2.0)")
    p.add_argument("--alpha-scale", choices=["absolute", "percentile", "relative"], default=None, help="default: the model's (absolute for baselines)")
    p.add_argument("--tolerance", type=finite_float, default=0.5)
    p.add_argument("--boundaries", choices=["speaker", "segmentation"], default="speaker", help="what a change is, as in turnpoint evaluate (default: %(default)s)")
    p.add_argument("--fill-gaps", type=finite_float, default=0.5)
    p.add_argument("--bridge", type=finite_float, default=0.0)
    p.add_argument("--rttm", default=None, help="RTTM file or folder (default: beside the audio)")
    p.add_argument("--uem", default=None, help="UEM file or folder (default: beside the audio, if any)")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--task", choices=["changes", "events"], default="changes",
                   help="events: tune a sound event model's per-class decoding (onset/offset, min duration, gap, onset refinement) "
                        "on DEV (audio + event TSV); writes OUT/events_tuned.safetensors")
    p.add_argument("--ensemble", nargs="+", default=None, metavar="MODEL",
                   help="events: join these model files (one architecture, e.g. runs with other seeds) into one model whose "
                        "scores are their mean, tune its decoding on DEV; writes OUT/events_ensemble.safetensors")
    p.add_argument("--classes", type=comma_separated, default=None,
                   help="events: re-tune only these classes (comma-separated); the others keep the model's settings")


def add_baseline_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint baseline AUDIO... (--settings JSON | --system S --alpha A)``."""
    p = sub.add_parser("baseline", help="detect changes with a baseline (BIC, Gaussian divergence, GLR, KernelCPD, GE2E)", description="Detect speaker changes with a baseline system; outputs as turnpoint detect writes them.")
    p.add_argument("audio", nargs="+", help="audio/video files, folders of them, or .txt/.lst lists of paths")
    p.add_argument("--settings", default=None, help="tuned JSON written by turnpoint tune (system, alpha, min_duration)")
    p.add_argument("--system", default=None, help="bic, gaussian_divergence, glr, kernel_cpd or ge2e (default: from --settings)")
    p.add_argument("--alpha", type=finite_float, default=None, help="threshold in the system's score units (default: from --settings)")
    p.add_argument("--min-duration", type=finite_float, default=None, help="default: from --settings, else 1.0")
    p.add_argument("--out", default="turnpoint_out", help="output folder (default: %(default)s)")
    p.add_argument("--format", type=comma_separated, default=["rttm", "json", "csv"], help="comma-separated: rttm,json,csv (default: all)")


def add_simulate_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint simulate VOICES --out DIR``."""
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


def _detect_on_dask(args: argparse.Namespace) -> BatchReport:
    """``turnpoint detect --dask``: :func:`turnpoint.changes.dask_batch.detect_files_dask`.

    The Dask batch takes no options of plots, reports, re-scoring or speaker clustering yet: given
    ones are refused before any work (a check of the flags only; ``--jobs`` sizes a local cluster).
    """
    if (args.plot or args.report or args.reference or args.rescore is not None or args.rescore_threshold is not None or args.cluster is not None
            or args.speakers is not None or args.speaker_threshold is not None):
        raise TurnpointError("--plot, --report, --reference, --rescore/--no-rescore, --rescore-threshold, --cluster/--no-cluster and --speakers options are not available with --dask yet")
    try:
        from turnpoint.changes.dask_batch import detect_files_dask
    except ImportError:
        raise TurnpointError("--dask needs dask: pip install 'turnpoint[cluster]'") from None
    from turnpoint.changes.modelfile import load_model

    model = args.model if args.encoder is None else load_model(args.model, encoder=args.encoder).path
    return detect_files_dask(
        args.audio, out_dir=args.out, model=model, scheduler=args.scheduler, workers=args.jobs,
        alpha=args.alpha, min_duration=args.min_duration, alpha_scale=args.alpha_scale, formats=args.format,
        scores=args.scores, batch_size=args.batch_size, device=args.device, overwrite=args.overwrite,
        show_progress=not args.quiet,
    )


def run_detect(args: argparse.Namespace) -> int:
    """``turnpoint detect``: :func:`turnpoint.changes.batch.detect_files`, or its Dask twin with ``--dask``/``--scheduler``."""
    from turnpoint.changes.batch import detect_files

    check_device(args.device)
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
            encoder=args.encoder,
            show_progress=not args.quiet,
        )
    return print_batch_report(report, out=args.out, quiet=args.quiet,
                              describe=lambda r: f"{len(r.changes)} changes in {r.duration:.1f} s at {', '.join(f'{c:.2f}' for c in r.changes) or 'none'}")


def run_summary(args: argparse.Namespace) -> int:
    """``turnpoint summary``: a speaker change model's defaults and layers (the paper's architecture without ``--model``)."""
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


def run_evaluate(args: argparse.Namespace) -> int:
    """``turnpoint evaluate``: print :func:`turnpoint.changes.evaluation.evaluate`'s table, write ``--json``/``--csv``."""
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


def run_tune(args: argparse.Namespace) -> int:
    """``turnpoint tune``: :func:`turnpoint.changes.tuning.tune` on DEV, one line per system."""
    if args.ensemble:
        raise TurnpointError("--ensemble is for --task events")
    from turnpoint.changes.training_data import collect_files
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


def run_baseline(args: argparse.Namespace) -> int:
    """``turnpoint baseline``: :func:`turnpoint.changes.batch.detect_baseline_files`, settings from ``--settings`` unless given."""
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


def run_simulate(args: argparse.Namespace) -> int:
    """``turnpoint simulate``: :func:`turnpoint.changes.simulate.simulate_voice_conversations`."""
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
