"""Sound event model files: the speaker change format (safetensors + JSON header), task "sound_events".

The header holds the architecture (:class:`SoundEventConfig`, or :class:`~turnpoint.events.gmm.GMMEventConfig`
for the GMM baseline, marked ``"kind": "gmm"``), the task specifications (features,
window, classes), per-class decoding settings tuned on validation data, and a training summary.
Loading goes through :func:`turnpoint.core.modelfile.read_header` (refuses pickles, checks the format
version) and checks every tensor's name, shape and finiteness.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.events.decode import DecodeParams
from turnpoint.events.gmm import GMM_KIND, GMMEventConfig, GMMEventDetector
from turnpoint.events.model import EventNetwork, SoundEventConfig, SoundEventDetector, build_event_network
from turnpoint.core.fileio import atomic_write_bytes
from turnpoint.core.modelfile import FORMAT_NAME, FORMAT_VERSION, METADATA_KEY, read_header
from turnpoint.core.task import Specifications

__all__ = ["BUNDLED_EVENT_MODELS", "LoadedEventModel", "TASK", "load_event_model", "save_event_model"]

TASK = "sound_events"
# "gmm": the classical baseline (turnpoint.events.gmm), fitted on the same training mixtures as the default
BUNDLED_EVENT_MODELS = {"default": "events_default.safetensors", "events": "events_default.safetensors", "gmm": "events_gmm.safetensors"}


@dataclass
class LoadedEventModel:
    """An event detector ready to run, with its specifications and per-class decoding settings."""

    model: EventNetwork
    specifications: Specifications
    decode: dict[str, DecodeParams]
    training: dict = field(default_factory=dict)
    name: str = ""
    path: str = ""

    @property
    def classes(self) -> tuple[str, ...]:
        return self.model.config.classes


def save_event_model(
    path: str | Path,
    *,
    model: EventNetwork,
    specifications: Specifications,
    decode: dict[str, DecodeParams] | None = None,
    training: dict | None = None,
    name: str = "",
) -> Path:
    """Write an event model atomically as a self-describing safetensors file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from turnpoint.events.features import event_specifications
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> _ = save_event_model(p, model=SoundEventDetector(SoundEventConfig()), specifications=event_specifications(classes=("event",)))
    >>> load_event_model(p).model.num_parameters()
    39044
    """
    path = Path(path)
    config = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "turnpoint_version": __version__,
        "task": TASK,
        "name": name or path.stem,
        "architecture": model.config.to_dict(),
        "specifications": specifications.to_dict(),
        "defaults": {"decode": {label: p.to_dict() for label, p in (decode or {}).items()}},
        "training": training or {},
    }
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(config)}))
    return path


def resolve_event_model_path(model: str | Path | None) -> Path:
    """A bundled name ("default") or a file path -> the file's path."""
    if model is None or str(model) in BUNDLED_EVENT_MODELS:
        return Path(str(resources.files("turnpoint") / "models" / BUNDLED_EVENT_MODELS[str(model or "default")]))
    return Path(model)


def load_event_model(model: str | Path | None = None, *, device: str | torch.device = "cpu") -> LoadedEventModel:
    """Load an event model file (or the bundled one), checking its configuration and tensors.

    Examples
    --------
    >>> load_event_model().specifications.frames_per_chunk
    100
    """
    path = resolve_event_model_path(model)
    config = read_header(path, task=TASK)
    try:
        architecture: SoundEventConfig | GMMEventConfig
        if config["architecture"].get("kind") == GMM_KIND:
            architecture = GMMEventConfig.from_dict(config["architecture"])
            network: EventNetwork = GMMEventDetector(architecture)
        else:
            architecture = SoundEventConfig.from_dict(config["architecture"])
            network = build_event_network(architecture)
        specifications = Specifications.from_dict(config["specifications"])
        decode = {label: DecodeParams(**p) for label, p in config["defaults"].get("decode", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise TurnpointError(f"invalid sound event model configuration ({error})", path=path) from None
    if isinstance(network, GMMEventDetector) and specifications.features.coefficients != "mfcc":
        raise TurnpointError(f"the GMM baseline reads MFCC, but the file's features are {specifications.features.coefficients}", path=path)
    if tuple(specifications.classes) != architecture.classes:
        raise TurnpointError("classes of the specifications and the architecture differ", path=path)
    if 2 * specifications.features.n_mfcc + 1 != architecture.input_dim:
        raise TurnpointError(f"architecture expects {architecture.input_dim}-dim input but the features have {2 * specifications.features.n_mfcc + 1}", path=path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise TurnpointError(f"corrupt safetensors data ({error})", path=path) from None
    expected = network.state_dict()
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise TurnpointError(f"weights do not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})", path=path)
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise TurnpointError(f"tensor {key} has shape {tuple(tensors[key].shape)}, the architecture needs {tuple(value.shape)}", path=path)
        if tensors[key].is_floating_point() and not torch.isfinite(tensors[key]).all():
            raise TurnpointError(f"tensor {key} holds NaN or infinite values", path=path)
    network.load_state_dict(tensors)
    network.eval().to(device)
    return LoadedEventModel(network, specifications, decode, config.get("training", {}), config.get("name", path.stem), str(path))
