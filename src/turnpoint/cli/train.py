"""``turnpoint train``: train a speaker change detector (one process or Lightning DDP) or a sound event model.

The handlers turn the options into the trainers' configs (:mod:`turnpoint.changes.training`,
:mod:`turnpoint.core.distributed`, :mod:`turnpoint.events.training`, :mod:`turnpoint.events.gmm`),
imported only when the command runs.
"""

from __future__ import annotations

import argparse

from turnpoint.cli.common import check_device, class_list, finite_float, positive_int
from turnpoint.core.errors import TurnpointError

__all__ = ["add_train_parser", "run_train"]


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """``turnpoint train``: the options of both tasks, the sound event ones in a group of their own."""
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
    p.add_argument("--batch-size", type=positive_int, default=128, help="chunks per optimiser step (default: %(default)s)")
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
    p.add_argument("--devices", type=positive_int, default=None, help="train with Lightning DDP on this many devices (processes) per node (turnpoint[distributed])")
    p.add_argument("--num-nodes", type=positive_int, default=None, help="with Lightning DDP: number of machines, each running this command (see docs/performance.md)")
    p.add_argument("--accelerator", choices=["cpu", "gpu", "auto"], default=None, help="with Lightning DDP: cpu, gpu or auto (default: auto)")
    p.add_argument("--task", choices=["changes", "events"], default="changes", help="changes: speaker change detection (default); events: sound event detection")
    events = p.add_argument_group("sound events (--task events)", "used only with --task events; refused for speaker changes")
    events.add_argument("--classes", default=None, help="events: comma-separated class names (default: every label of the training TSV)")
    events.add_argument("--bidirectional", action="store_true", help="events: a bidirectional LSTM instead of the seed's LSTM 64")
    events.add_argument("--conv-kernel", type=positive_int, default=None,
                   help="events: width of the per-frame convolution over input A's 64 coefficients (default 16, the seed's; the bundled model uses 64)")
    events.add_argument("--conv-regions", type=positive_int, default=None,
                   help="events: take the convolution's max over positions in this many frequency regions (default 1, the seed's)")
    events.add_argument("--features", choices=["mfcc", "logmel", "logmel128", "pcen"], default="mfcc",
                   help="events: input A, 64 MFCC (the seed's, default), 64 log-mel band energies, 128 from a 64 ms window, "
                        "or 64 PCEN mel bands (per-channel energy normalisation)")
    events.add_argument("--lr-decay-start", type=int, default=None, metavar="EPOCH",
                   help="events: keep the learning rate to this epoch, then lower it along a half cosine to near 0 at the last (also on --resume)")
    events.add_argument("--filter-augment", type=finite_float, default=0.0, metavar="DB",
                   help="events: FilterAugment each training chunk, a random smooth filter with gains within +-DB dB (default 0: off)")
    events.add_argument("--mixup", type=finite_float, default=0.0, metavar="SHARE",
                   help="events: mix this share of the training chunks with another chunk (log-mel input; default 0: off)")
    events.add_argument("--event-pos-weight", choices=["none", "sqrt"], default="none",
                   help="events: weight each class's positive frames by sqrt(negatives/positives), 1 to 10 (the bundled model: sqrt)")
    events.add_argument("--architecture", choices=["cnn-lstm", "gmm"], default="cnn-lstm",
                   help="events: the CNN-LSTM network (default) or the classical baseline, per-class event/background GMMs on "
                        "20 MFCC + delta (DCASE 2016 task 3's method; needs scikit-learn)")
    events.add_argument("--gmm-components", type=positive_int, default=None, help="events, --architecture gmm: components per mixture (default 16)")
    events.add_argument("--gmm-context", type=positive_int, default=None, metavar="FRAMES",
                   help="events, --architecture gmm: average the likelihood ratio over this many frames (default: chosen on validation "
                        "among 1, 5, 15, 50; the DCASE 2016 baseline's 1 s is 50)")
    # the options refused for speaker changes are this group's, found from the group itself
    p.set_defaults(events_only_options=[(action.option_strings[0], action.dest, action.default) for action in events._group_actions])



def run_train(args: argparse.Namespace) -> int:
    """``turnpoint train``: refuse the other task's options, then train a speaker change or sound event model."""
    distributed = args.devices is not None or args.num_nodes is not None or args.accelerator is not None
    if args.task == "events":
        if distributed:
            raise TurnpointError("--devices, --num-nodes and --accelerator are for --task changes")
        return _run_train_events(args)
    given = [flag for flag, dest, default in args.events_only_options if getattr(args, dest) != default]
    if given:
        raise TurnpointError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --task events")
    from turnpoint.changes.training import TrainingConfig, train

    if distributed and args.device != "auto":
        raise TurnpointError("--device is for the single-process trainer; with --devices/--num-nodes choose --accelerator cpu or gpu")
    check_device(args.device)
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
    from turnpoint.changes.training_data import training_sources

    database, protocol = args.protocol or (None, None)
    train_source, validation = training_sources(args.train, args.validation, rttm=args.rttm, uem=args.uem, database=database, protocol=protocol)
    if distributed:
        from turnpoint.changes.distributed import is_global_zero, train_distributed

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


def _run_train_events(args: argparse.Namespace) -> int:
    from turnpoint.events.training import EventTrainingConfig, train_events

    if not args.train:
        raise TurnpointError("give a training folder (audio + event TSV) or a list file")
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    classes = class_list(getattr(args, "classes", None))
    if getattr(args, "architecture", "cnn-lstm") == "gmm":
        return _run_train_gmm(args, classes)
    gmm_only = [flag for flag, name in (("--gmm-components", "gmm_components"), ("--gmm-context", "gmm_context")) if getattr(args, name, None) is not None]
    if gmm_only:
        raise TurnpointError(f"{', '.join(gmm_only)} {'is' if len(gmm_only) == 1 else 'are'} for --architecture gmm")
    config = EventTrainingConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                 chunks_per_epoch=args.chunks_per_epoch, seed=args.seed,
                                 frames=getattr(args, "event_frames", 100) or 100,
                                 bidirectional=bool(getattr(args, "bidirectional", False)),
                                 conv_kernel=getattr(args, "conv_kernel", None) or 16,
                                 conv_regions=getattr(args, "conv_regions", None) or 1,
                                 features=getattr(args, "features", "mfcc"), pos_weight=getattr(args, "event_pos_weight", "none"),
                                 lr_decay_start=getattr(args, "lr_decay_start", None),
                                 filter_augment=getattr(args, "filter_augment", 0.0) or 0.0, mixup=getattr(args, "mixup", 0.0) or 0.0)
    path = train_events(args.train, out_dir=args.out, validation_source=args.validation, classes=classes, config=config,
                        resume=args.resume, device=args.device, show_progress=not args.quiet)
    print(f"best model: {path}")
    return 0


def _run_train_gmm(args: argparse.Namespace, classes: list[str] | None) -> int:
    from turnpoint.events.gmm_training import GMMTrainingConfig, train_gmm_baseline

    network_only = {"--resume": args.resume, "--bidirectional": args.bidirectional, "--conv-kernel": args.conv_kernel is not None,
                    "--conv-regions": args.conv_regions is not None, "--lr-decay-start": args.lr_decay_start is not None,
                    "--filter-augment": bool(args.filter_augment), "--mixup": bool(args.mixup), "--event-pos-weight": args.event_pos_weight != "none"}
    given = [flag for flag, set_ in network_only.items() if set_]
    if given:
        raise TurnpointError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for the CNN-LSTM (not --architecture gmm)")
    config = GMMTrainingConfig(components=args.gmm_components or GMMTrainingConfig.components, context_frames=args.gmm_context, seed=args.seed)
    path = train_gmm_baseline(args.train, out_dir=args.out, validation_source=args.validation, classes=classes, config=config,
                              features=args.features, show_progress=not args.quiet)
    print(f"GMM baseline: {path}")
    return 0
