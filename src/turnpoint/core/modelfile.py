"""Model files: safetensors weights with the JSON configuration in the safetensors header.

One file carries everything needed to rebuild and run a detector: architecture, feature settings,
task specifications, default peak-picking settings and a summary of the training data. Loading
never unpickles anything: the file must be a well-formed safetensors file whose tensors match the
architecture exactly.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.core.fileio import atomic_write_bytes
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.rescoring import RescoringSettings
from turnpoint.changes.speakers import SpeakerSettings
from turnpoint.core.task import Specifications

FORMAT_NAME = "turnpoint-model"
FORMAT_VERSION = 3
METADATA_KEY = "turnpoint"
MAX_HEADER_BYTES = 16 * 1024 * 1024
#: Bundled models by name: "default" decides changes from dense speaker embeddings grouped per
#: file (turnpoint.changes.speakers), "hybrid" the BiLSTM's candidates re-scored by GE2E embeddings, and
#: "paper" the same BiLSTM alone, exactly as Yin et al. (2017)
BUNDLED_MODELS = {"default": "default.safetensors", "hybrid": "hybrid.safetensors", "paper": "paper.safetensors"}


@dataclass(frozen=True)
class Defaults:
    """Settings that ship with a model (chosen on validation data).

    ``alpha`` / ``min_duration`` / ``alpha_scale`` pick the BiLSTM curve's peaks; a hybrid model
    also carries ``rescoring``: its peaks become candidates re-scored by GE2E speaker embeddings.
    """

    alpha: float = 0.5
    min_duration: float = 1.0
    alpha_scale: str = "absolute"
    rescoring: RescoringSettings | None = None
    speakers: SpeakerSettings | None = None  # the dense speaker pipeline decides the changes (turnpoint.changes.speakers)

    def to_dict(self) -> dict:
        data = {"alpha": self.alpha, "min_duration": self.min_duration, "alpha_scale": self.alpha_scale}
        if self.rescoring is not None:
            data["rescoring"] = self.rescoring.to_dict()
        if self.speakers is not None:
            data["speakers"] = self.speakers.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Defaults:
        data = dict(data)
        rescoring = data.pop("rescoring", None)
        if rescoring is not None:
            rescoring = RescoringSettings.from_dict(rescoring)
        speakers = data.pop("speakers", None)
        if speakers is not None:
            speakers = SpeakerSettings.from_dict(speakers)
        return cls(**data, rescoring=rescoring, speakers=speakers)


@dataclass
class LoadedModel:
    """A detector ready to run, with everything its file said about it."""

    model: SpeakerChangeDetector
    specifications: Specifications
    defaults: Defaults
    training: dict = field(default_factory=dict)
    name: str = ""
    path: str = ""

    def describe(self) -> dict:
        """JSON-ready description used in outputs ("which model produced this")."""
        return {
            "name": self.name,
            "path": self.path,
            "architecture": self.model.config.to_dict(),
            "specifications": self.specifications.to_dict(),
            "defaults": self.defaults.to_dict(),
        }


def model_config_dict(model: SpeakerChangeDetector, specifications: Specifications, *, defaults: Defaults, training: dict | None, name: str) -> dict:
    return {
        "format": FORMAT_NAME,
        # version 2 added re-scoring settings, 3 the speaker pipeline; files without them stay
        # readable by older readers
        "format_version": 3 if defaults.speakers is not None else 2 if defaults.rescoring is not None else 1,
        "turnpoint_version": __version__,
        "task": "speaker_change",
        "name": name,
        "architecture": model.config.to_dict(),
        "specifications": specifications.to_dict(),
        "defaults": defaults.to_dict(),
        "training": training or {},
    }


def save_model(
    path: str | Path,
    *,
    model: SpeakerChangeDetector,
    specifications: Specifications,
    defaults: Defaults | None = None,
    training: dict | None = None,
    name: str = "",
) -> Path:
    """Write ``model`` atomically as a self-describing safetensors file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> _ = save_model(p, model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())
    >>> load_model(p).model.num_parameters()
    33485
    """
    path = Path(path)
    config = model_config_dict(model, specifications, defaults=defaults or Defaults(), training=training, name=name or path.stem)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(config)}))
    return path


def looks_like_pickle(path: str | Path) -> bool:
    """True for a pickle or torch.save (zip) file; such files are refused, never unpickled.

    A safetensors file starts with its header length (u64, little-endian) and then "{": its first
    byte may be 0x80 (a header of 128 + 256k bytes), so a file only looks like a pickle / zip
    checkpoint when the JSON brace is not where safetensors puts it.
    """
    with open(path, "rb") as handle:
        head = handle.read(9)
    return (head[:1] == b"\x80" or head[:2] == b"PK") and head[8:9] != b"{"


def read_header(path: str | Path, *, task: str = "speaker_change") -> dict:
    """Parse and validate the safetensors header without loading tensors; return the turnpoint config.

    ``task`` is the task the caller can run ("speaker_change" or "sound_events"); a file made for
    another task is refused with a one-line message.
    """
    path = Path(path)
    if not path.exists():
        raise TurnpointError("no such model file", path=path)
    if path.is_dir():
        raise TurnpointError("is a directory, expected a .safetensors model file", path=path)
    with open(path, "rb") as handle:
        head = handle.read(8)
        if looks_like_pickle(path):
            raise TurnpointError(
                "refusing to load: this looks like a pickle / torch.save checkpoint; turnpoint only loads safetensors model files",
                path=path,
            )
        if len(head) < 8:
            raise TurnpointError("not a safetensors model file (too short)", path=path)
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER_BYTES or 8 + length > path.stat().st_size:
            raise TurnpointError("not a safetensors model file (bad header length)", path=path)
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise TurnpointError("not a safetensors model file (header is not JSON)", path=path) from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise TurnpointError("safetensors file without a turnpoint configuration in its header", path=path)
    try:
        config = json.loads(metadata[METADATA_KEY])
    except (TypeError, json.JSONDecodeError, RecursionError):
        raise TurnpointError("turnpoint configuration in the header is not valid JSON", path=path) from None
    _validate_config(config, path, task=task)
    return config


def _validate_config(config: object, path: Path, *, task: str = "speaker_change") -> None:
    if not isinstance(config, dict):
        raise TurnpointError("turnpoint configuration must be a JSON object", path=path)
    if config.get("format") != FORMAT_NAME:
        raise TurnpointError(f"not a turnpoint model (format {config.get('format')!r})", path=path)
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise TurnpointError(
            f"model format version {version!r} is not supported by turnpoint {__version__} (supports 1..{FORMAT_VERSION})",
            path=path,
        )
    for key, kind in (("architecture", dict), ("specifications", dict), ("defaults", dict)):
        if not isinstance(config.get(key), kind):
            raise TurnpointError(f"model configuration lacks a valid {key!r} section", path=path)
    if config.get("task", "speaker_change") != task:
        what = {"speaker_change": "speaker change detection", "sound_events": "sound event detection"}.get(task, task)
        hint = " (use turnpoint events / --task events)" if config.get("task") == "sound_events" else ""
        raise TurnpointError(f"model is for task {config.get('task', 'speaker_change')!r}, not {what}{hint}", path=path)
    from turnpoint.core.header_schema import validate_model_header

    validate_model_header(config, path)


def resolve_model_path(model: str | Path | None) -> Path:
    """A bundled model name ("default") or a file path -> the file's path."""
    if model is None or str(model) in BUNDLED_MODELS:
        filename = BUNDLED_MODELS[str(model or "default")]
        return Path(str(resources.files("turnpoint") / "models" / filename))
    return Path(model)


def load_model(model: str | Path | None = None, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model file (or the bundled ``"default"``), checking its config, names and shapes.

    Examples
    --------
    >>> loaded = load_model("default")
    >>> loaded.specifications.frames_per_chunk
    200
    """
    path = resolve_model_path(model)
    config = read_header(path)
    try:
        architecture = SpeakerChangeConfig.from_dict(config["architecture"])
        specifications = Specifications.from_dict(config["specifications"])
        defaults = Defaults.from_dict(config["defaults"])
        network = SpeakerChangeDetector(architecture)
    except (KeyError, TypeError, ValueError) as error:
        raise TurnpointError(f"invalid model configuration ({error})", path=path) from None
    if architecture.input_dim != specifications.features.dimension:
        raise TurnpointError(
            f"architecture expects {architecture.input_dim}-dim input but the features have {specifications.features.dimension}",
            path=path,
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise TurnpointError(f"corrupt safetensors data ({error})", path=path) from None
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise TurnpointError(f"weights do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})", path=path)
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise TurnpointError(
                f"tensor {key} has shape {tuple(tensors[key].shape)}, the architecture needs {tuple(value.shape)}",
                path=path,
            )
        if not torch.isfinite(tensors[key]).all():
            raise TurnpointError(f"tensor {key} holds NaN or infinite values", path=path)
    network.load_state_dict(tensors)
    network.eval().to(device)
    return LoadedModel(
        model=network,
        specifications=specifications,
        defaults=defaults,
        training=config.get("training", {}),
        name=config.get("name", path.stem),
        path=str(path),
    )
