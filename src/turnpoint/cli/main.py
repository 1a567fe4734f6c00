"""The ``turnpoint`` command: the top-level parser, the global options, logging and dispatch.

Each command family adds its own subcommands and handlers: :mod:`turnpoint.cli.changes` (speaker
changes), :mod:`turnpoint.cli.train` and :mod:`turnpoint.cli.events` (sound events). Here: which
handler runs a parsed command line, how the CLI's log lines look, and how an error becomes an
exit status. Building the parser imports no heavy library (the handlers import the API they call).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from turnpoint import __version__
from turnpoint.cli import changes, events, train
from turnpoint.core.errors import TurnpointError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["MessageFormatter", "build_parser", "main"]

# The handler of each subcommand; a command that also takes --task events has its events handler
# in EVENT_TASK_HANDLERS (train takes both tasks in one handler, as the trainers' options overlap).
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "detect": changes.run_detect,
    "train": train.run_train,
    "summary": changes.run_summary,
    "evaluate": changes.run_evaluate,
    "tune": changes.run_tune,
    "baseline": changes.run_baseline,
    "events": events.run_events,
    "simulate": changes.run_simulate,
}
EVENT_TASK_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "summary": events.run_summary,
    "evaluate": events.run_evaluate,
    "tune": events.run_tune,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``turnpoint`` parser: ``--version``, ``-q``/``-v`` (before or after the subcommand) and every subcommand."""
    parser = argparse.ArgumentParser(prog="turnpoint", description="Find where audio turns: speaker change detection.")
    parser.add_argument("--version", action="version", version=f"turnpoint {__version__}")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands: Sequence[Callable[[argparse._SubParsersAction], None]] = (  # in the order --help lists them
        changes.add_detect_parser,
        train.add_train_parser,
        changes.add_summary_parser,
        changes.add_simulate_parser,
        changes.add_evaluate_parser,
        changes.add_tune_parser,
        changes.add_baseline_parser,
        events.add_events_parser,
    )
    for add_subcommand in add_subcommands:
        add_subcommand(sub)
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


def _command_handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    """The function that runs the parsed command (``--task events`` picks the events one)."""
    if getattr(args, "task", "changes") == "events" and args.command in EVENT_TASK_HANDLERS:
        return EVENT_TASK_HANDLERS[args.command]
    return HANDLERS[args.command]


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
    """Run ``turnpoint ARGV`` (default: ``sys.argv[1:]``); return the exit status.

    Parameters
    ----------
    argv
        The command line after the program name.

    Returns
    -------
    int
        0 on success, 1 on an error (one ``turnpoint: error:`` line on stderr, no traceback) or
        when a file of a batch failed, 130 when interrupted. A usage error exits 2 (argparse).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(MessageFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    try:
        return _command_handler(args)(args)
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
