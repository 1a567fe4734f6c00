"""Sound event model files: turnpoint's model format (safetensors + JSON header), task "sound_events".

The header holds the architecture (:class:`SoundEventConfig`, or :class:`~turnpoint.events.gmm.GMMEventConfig`
for the GMM baseline, marked ``"kind": "gmm"``), the task specifications (features,
window, classes), per-class decoding settings tuned on validation data, and a training summary.
Reading and writing go through :mod:`turnpoint.core.modelfile` (refuses pickles, checks the format
version and every tensor's name, shape and finiteness); this module registers what a sound event
header holds and builds the detector from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from turnpoint import __version__
from turnpoint.core.errors import TurnpointError
from turnpoint.core.header_schema import LABEL, SECONDS, SIZE, ModelKind, SchemaError, register_kind
from turnpoint.core.modelfile import FORMAT_NAME, FORMAT_VERSION, read_header, read_weights, resolve_path, write_file
from turnpoint.core.task import Specifications
from turnpoint.events.decode import DecodeParams
from turnpoint.events.gmm import GMM_KIND, GMMEventConfig, GMMEventDetector
from turnpoint.events.model import EventNetwork, SoundEventConfig, build_event_network

__all__ = ["BUNDLED_EVENT_MODELS", "LoadedEventModel", "TASK", "load_event_model", "resolve_event_model_path", "save_event_model"]

TASK = "sound_events"
# "gmm": the classical baseline (turnpoint.events.gmm), fitted on the same training mixtures as the default
BUNDLED_EVENT_MODELS = {"default": "events_default.safetensors", "events": "events_default.safetensors", "gmm": "events_gmm.safetensors"}

# ---------------------------------------------------------------------------------------------
# the header's task-specific sections

_ARCHITECTURE_PROPERTIES = {
    "n_mfcc": {"type": "integer", "minimum": 1, "maximum": 512},
    "conv_filters": SIZE,
    "conv_kernel": {"type": "integer", "minimum": 1, "maximum": 512},
    "dropout": {"type": "number", "minimum": 0, "maximum": 0.99},
    "lstm_units": SIZE,
    "bidirectional": {"type": "boolean"},
    "aux_units": SIZE,
    "classes": {"type": "array", "items": LABEL, "minItems": 1, "maxItems": 1000},
    "frames": {"type": "integer", "minimum": 1, "maximum": 100000},
    "conv_regions": {"type": "integer", "minimum": 1, "maximum": 512},
    "members": {"type": "integer", "minimum": 1, "maximum": 16},
    # the GMM baseline (turnpoint.events.gmm): "kind": "gmm" and its three sizes
    "kind": {"enum": ["gmm"]},
    "coefficients": {"type": "integer", "minimum": 1, "maximum": 512},
    "components": {"type": "integer", "minimum": 1, "maximum": 256},
    "context_frames": {"type": "integer", "minimum": 1, "maximum": 100000},
}

_ARCHITECTURE = {
    "type": "object",
    # keys the event architecture gains later are accepted as they are (its from_dict checks them)
    "properties": {**_ARCHITECTURE_PROPERTIES, **{item.name: {} for item in fields(SoundEventConfig) if item.name not in _ARCHITECTURE_PROPERTIES}},
    "required": ["n_mfcc", "classes"],
    "additionalProperties": False,
}

_DEFAULTS = {
    "type": "object",
    "properties": {
        "decode": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "onset": {"type": "number", "minimum": 0, "maximum": 1},
                    "offset": {"type": "number", "minimum": 0, "maximum": 1},
                    "min_duration": SECONDS,
                    "min_gap": SECONDS,
                    "start_ratio": {"type": "number", "minimum": 0, "maximum": 1},  # onset refinement (optional)
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def _feature_checks(features: Mapping[str, Any]) -> None:
    # log-mel and PCEN inputs are the bands themselves: one input per band
    if features.get("coefficients") in ("logmel", "pcen") and features["n_mfcc"] != features["n_mels"]:
        name = {"logmel": "log-mel", "pcen": "PCEN"}[features["coefficients"]]
        raise SchemaError("specifications.features.coefficients", f"{name} inputs are for sound event models with n_mfcc equal to n_mels")


def _cross_checks(config: Mapping[str, Any]) -> None:
    architecture = config["architecture"]
    n_mfcc, kernel = architecture.get("n_mfcc"), architecture.get("conv_kernel")
    if isinstance(kernel, int) and isinstance(n_mfcc, int) and kernel > n_mfcc:
        raise SchemaError("architecture.conv_kernel", f"{kernel} is more than n_mfcc {n_mfcc}")
    regions = architecture.get("conv_regions", 1)
    if isinstance(kernel, int) and isinstance(n_mfcc, int) and isinstance(regions, int) and regions > n_mfcc - kernel + 1:
        raise SchemaError("architecture.conv_regions", f"{regions} is more than the convolution's {n_mfcc - kernel + 1} positions")
    for label, params in config["defaults"].get("decode", {}).items():
        if params.get("offset", 0.5) > params.get("onset", 0.5):
            raise SchemaError(f"defaults.decode.{label}", "offset must not be above onset")


register_kind(
    ModelKind(
        task=TASK,
        description="sound event detection",
        architecture=_ARCHITECTURE,
        defaults=_DEFAULTS,
        feature_checks=_feature_checks,
        cross_checks=_cross_checks,
    )
)

# ---------------------------------------------------------------------------------------------
# loaded models and files


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
    >>> from turnpoint.events.model import SoundEventDetector
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
    return write_file(path, config, model.state_dict())


def resolve_event_model_path(model: str | Path | None) -> Path:
    """A bundled name ("default") or a file path -> the file's path."""
    return resolve_path(model, BUNDLED_EVENT_MODELS)


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
    network.load_state_dict(read_weights(path, network))
    network.eval().to(device)
    return LoadedEventModel(network, specifications, decode, config.get("training", {}), config.get("name", path.stem), str(path))
