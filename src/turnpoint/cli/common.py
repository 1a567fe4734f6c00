"""What the command families share: argument types, the device check and the batch report lines.

Imports nothing heavy at module level, so that building the parser stays fast (torch is imported by
:func:`check_device` only when a command runs).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING, Literal

from turnpoint.core.errors import TurnpointError

if TYPE_CHECKING:
    from collections.abc import Callable

    from turnpoint.core.batch import BatchReport, FileResult

__all__ = ["check_device", "class_list", "comma_separated", "finite_float", "positive_int", "positive_int_or_auto", "print_batch_report"]


def comma_separated(value: str) -> list[str]:
    """Argument type: ``"rttm, json,"`` -> ``["rttm", "json"]`` (blank items dropped).

    Examples
    --------
    >>> comma_separated("rttm, json,")
    ['rttm', 'json']
    """
    return [item.strip() for item in value.split(",") if item.strip()]


def positive_int(value: str) -> int:
    """Argument type: an integer of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return number


def positive_int_or_auto(value: str) -> int | Literal["auto"]:
    """Argument type of ``--jobs``: a positive integer, or ``"auto"`` (any case).

    Examples
    --------
    >>> positive_int_or_auto("AUTO"), positive_int_or_auto("3")
    ('auto', 3)
    """
    if value.strip().lower() == "auto":
        return "auto"
    try:
        return positive_int(value)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"must be a positive integer or auto, not {value}") from None


def finite_float(value: str) -> float:
    """Argument type: a number that is neither infinite nor NaN."""
    number = float(value)
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {value}")
    return number


def class_list(text: str | None) -> list[str] | None:
    """``"beep, phone"`` -> ["beep", "phone"]; None or blank -> None (every class).

    Examples
    --------
    >>> class_list("beep, phone"), class_list(" ")
    (['beep', 'phone'], None)
    """
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    return names or None


def check_device(name: str) -> None:
    """Refuse an unknown or unavailable torch device with one line instead of a traceback.

    Parameters
    ----------
    name
        The ``--device`` value: ``auto`` (always accepted), ``cpu``, ``cuda``, ``cuda:1``, ...

    Raises
    ------
    TurnpointError
        If torch does not know the device, or it is a CUDA device and CUDA is not available.
    """
    if name == "auto":
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TurnpointError(f"unknown device {name!r}; use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TurnpointError(f"device {name!r} requested but CUDA is not available; use --device cpu")


def print_batch_report(report: BatchReport, *, out: str, quiet: bool, describe: Callable[[FileResult], str]) -> int:
    """Print a batch's files, its failures and a summary line; return the exit status.

    Parameters
    ----------
    report
        What the batch did (:func:`turnpoint.core.batch.run_batch` and the task batches built on it).
    out
        The output folder as the user gave it, named in the summary line.
    quiet
        Print only the failures (on stderr, always printed).
    describe
        One file's line after ``<uri>: ``.

    Returns
    -------
    int
        1 if any file failed, else 0.
    """
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
