"""turnpoint's safetensors files: weights with a JSON header, read and written in one place.

Every file turnpoint ships or writes (detectors, speaker encoders) is a safetensors file whose
metadata key ``"turnpoint"`` holds a JSON header: the format's name and version, the
architecture and whatever else rebuilding the network takes. This module owns that format and
what every reader does: refuse pickles without unpickling them, parse and check the header,
check each tensor's name, shape, dtype and values against the network built from the header,
and write atomically. A :class:`FileFormat` says which kind of file a header must describe.

Model files (:data:`MODEL_FORMAT`) hold one detector for one task, named by the header's
``task``: each task registers what its headers hold (:class:`~turnpoint.core.header_schema.ModelKind`)
from its own package, and :func:`read_header` validates a header against its task's schema.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_bytes
from turnpoint.core.header_schema import UNTAGGED_TASK, model_kind, validate_model_header

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "MODEL_FORMAT",
    "FileFormat",
    "bundled_path",
    "looks_like_pickle",
    "read_file_header",
    "read_header",
    "read_weights",
    "resolve_path",
    "write_file",
]

FORMAT_NAME = "turnpoint-model"
FORMAT_VERSION = 3
METADATA_KEY = "turnpoint"
MAX_HEADER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FileFormat:
    """One kind of turnpoint file: the header's ``format`` and newest version, and the words of its errors.

    Parameters
    ----------
    name : str
        The header's ``format`` value.
    version : int
        The newest ``format_version`` this turnpoint reads (the oldest is 1).
    noun : str
        What the file holds, in messages: "no such speaker encoder file".
    sections : tuple of str
        Header keys that must hold JSON objects.
    header_word : str
        What messages call the JSON header: model files say "configuration" (kept in the
        safetensors header), other files "header".
    file_word : str
        What messages call a file of this kind that turnpoint can read.
    """

    name: str
    version: int
    noun: str
    sections: tuple[str, ...] = ("architecture",)
    header_word: str = "header"
    file_word: str = "safetensors file"

    def _in_header(self, article: str) -> str:
        # "turnpoint configuration in the header" for model files, plain "turnpoint header" otherwise
        return "" if self.header_word == "header" else f" in {article} header"


#: Detector files, one task each (format versions 2 and 3 added the speaker-change re-scoring and
#: speaker pipeline settings; files without them keep the version older readers accept).
MODEL_FORMAT = FileFormat(
    FORMAT_NAME, FORMAT_VERSION, "model", ("architecture", "specifications", "defaults"), "configuration", "safetensors model file"
)


def looks_like_pickle(path: str | Path) -> bool:
    """True for a pickle or torch.save (zip) file; such files are refused, never unpickled.

    A safetensors file starts with its header length (u64, little-endian) and then "{": its first
    byte may be 0x80 (a header of 128 + 256k bytes), so a file only looks like a pickle / zip
    checkpoint when the JSON brace is not where safetensors puts it.
    """
    with open(path, "rb") as handle:
        head = handle.read(9)
    return (head[:1] == b"\x80" or head[:2] == b"PK") and head[8:9] != b"{"


def bundled_path(filename: str) -> Path:
    """Path of a file shipped in the package's ``models`` folder."""
    return Path(str(resources.files("turnpoint") / "models" / filename))


def resolve_path(model: str | Path | None, bundled: Mapping[str, str]) -> Path:
    """A bundled name (a key of ``bundled``; None means ``"default"``) or a file path -> the file's path.

    Examples
    --------
    >>> resolve_path("default", {"default": "default.safetensors"}).name
    'default.safetensors'
    >>> str(resolve_path("mine.safetensors", {"default": "default.safetensors"}))
    'mine.safetensors'
    """
    if model is None or str(model) in bundled:
        return bundled_path(bundled[str(model or "default")])
    return Path(model)


def write_file(path: str | Path, header: dict, tensors: Mapping[str, torch.Tensor]) -> Path:
    """Write ``tensors`` with ``header`` (as JSON under :data:`METADATA_KEY`) atomically as safetensors.

    The tensors are stored as they are (on the CPU, contiguous): convert their dtype first.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> notes = FileFormat("turnpoint-notes", 1, "notes")
    >>> header = {"format": "turnpoint-notes", "format_version": 1, "architecture": {"size": 2}}
    >>> p = write_file(pathlib.Path(tempfile.mkdtemp()) / "n.safetensors", header, {"w": torch.zeros(2)})
    >>> read_file_header(p, notes)["architecture"]
    {'size': 2}
    """
    path = Path(path)
    stored = {key: value.detach().cpu().contiguous() for key, value in tensors.items()}
    atomic_write_bytes(path, save(stored, metadata={METADATA_KEY: json.dumps(header)}))
    return path


def read_file_header(path: str | Path, file_format: FileFormat) -> dict:
    """Parse a file's turnpoint header without loading tensors, checking format, version and sections.

    Raises
    ------
    TurnpointError
        One line naming the file: missing, a directory, a pickle, not safetensors, no or bad
        header, another format, an unsupported version, a missing section.
    """
    path = Path(path)
    what = file_format.noun
    if not path.exists():
        raise TurnpointError(f"no such {what} file", path=path)
    if path.is_dir():
        raise TurnpointError(f"is a directory, expected a .safetensors {what} file", path=path)
    with open(path, "rb") as handle:
        head = handle.read(8)
        if looks_like_pickle(path):
            raise TurnpointError(
                f"refusing to load: this looks like a pickle / torch.save checkpoint; turnpoint only loads {file_format.file_word}s",
                path=path,
            )
        if len(head) < 8:
            raise TurnpointError(f"not a {file_format.file_word} (too short)", path=path)
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES or 8 + length > path.stat().st_size:
            raise TurnpointError(f"not a {file_format.file_word} (bad header length)", path=path)
        try:
            raw = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise TurnpointError(f"not a {file_format.file_word} (header is not JSON)", path=path) from None
    word = file_format.header_word
    metadata = raw.get("__metadata__") if isinstance(raw, dict) else None
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise TurnpointError(f"safetensors file without a turnpoint {word}{file_format._in_header('its')}", path=path)
    try:
        header = json.loads(metadata[METADATA_KEY])
    except (TypeError, json.JSONDecodeError, RecursionError):
        raise TurnpointError(f"turnpoint {word}{file_format._in_header('the')} is not valid JSON", path=path) from None
    if not isinstance(header, dict):
        raise TurnpointError(f"turnpoint {word} must be a JSON object", path=path)
    if header.get("format") != file_format.name:
        raise TurnpointError(f"not a turnpoint {what} (format {header.get('format')!r})", path=path)
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= file_format.version:
        raise TurnpointError(
            f"{what} format version {version!r} is not supported by turnpoint {__version__} (supports 1..{file_format.version})",
            path=path,
        )
    for key in file_format.sections:
        if not isinstance(header.get(key), dict):
            raise TurnpointError(f"{what} {word} lacks a valid {key!r} section", path=path)
    return header


def read_header(path: str | Path, *, task: str = UNTAGGED_TASK) -> dict:
    """Parse and validate a model file's header without loading tensors; return the configuration.

    ``task`` is the task the caller can run; a file made for another task is refused with a
    one-line message, and the header must match its task's registered schema.
    """
    path = Path(path)
    config = read_file_header(path, MODEL_FORMAT)
    found = config.get("task", UNTAGGED_TASK)
    if found != task:
        kind = model_kind(task)
        what = kind.description if kind is not None else task
        hint = kind.refusal_hints.get(found, "") if kind is not None and isinstance(found, str) else ""
        raise TurnpointError(f"model is for task {found!r}, not {what}{hint}", path=path)
    validate_model_header(config, path)
    return config


def _dtype_names(dtypes: tuple[torch.dtype, ...]) -> str:
    names = [str(dtype).removeprefix("torch.") for dtype in dtypes]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def read_weights(path: str | Path, module: nn.Module, *, dtypes: tuple[torch.dtype, ...] | None = None) -> dict[str, torch.Tensor]:
    """The file's tensors, checked against ``module`` (built from the file's header).

    Names and shapes must be exactly those of ``module.state_dict()``, floating-point values
    finite and, when ``dtypes`` is given, every dtype one of them. Loading them into ``module``
    is left to the caller (which may convert them first).

    Raises
    ------
    TurnpointError
        One line naming the file and the first tensor that does not fit.
    """
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise TurnpointError(f"corrupt safetensors data ({error})", path=path) from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise TurnpointError(f"weights do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})", path=path)
    for key, value in expected.items():
        tensor = tensors[key]
        if tuple(tensor.shape) != tuple(value.shape):
            raise TurnpointError(f"tensor {key} has shape {tuple(tensor.shape)}, the architecture needs {tuple(value.shape)}", path=path)
        if dtypes is not None and tensor.dtype not in dtypes:
            raise TurnpointError(f"tensor {key} has dtype {tensor.dtype}, expected {_dtype_names(dtypes)}", path=path)
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise TurnpointError(f"tensor {key} holds NaN or infinite values", path=path)
    return tensors
