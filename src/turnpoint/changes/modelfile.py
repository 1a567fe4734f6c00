"""Speaker-change model files: the BiLSTM detector with its settings, in turnpoint's model format.

One file carries everything needed to rebuild and run a detector: architecture, feature settings,
task specifications, default peak-picking settings (and, for the bundled "hybrid" and "default"
models, GE2E re-scoring and dense speaker pipeline settings) and a summary of the training data.
Reading and writing go through :mod:`turnpoint.core.modelfile` (no pickles, checked header,
tensors checked against the architecture); this module registers what a speaker-change header
holds (task ``"speaker_change"``) and builds the detector from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from turnpoint import __version__
from turnpoint.changes.model import SpeakerChangeConfig, SpeakerChangeDetector
from turnpoint.changes.rescoring import RescoringSettings
from turnpoint.changes.speakers import ENCODERS, SpeakerSettings
from turnpoint.core.errors import TurnpointError
from turnpoint.core.header_schema import SECONDS, SIZE, ModelKind, SchemaError, register_kind
from turnpoint.core.modelfile import FORMAT_NAME, read_header, read_weights, resolve_path, write_file
from turnpoint.core.task import Specifications

__all__ = [
    "BUNDLED_MODELS",
    "ENCODER_MODELS",
    "TASK",
    "Defaults",
    "LoadedModel",
    "check_encoder",
    "load_model",
    "model_config_dict",
    "read_header",
    "resolve_model_path",
    "save_model",
]

TASK = "speaker_change"
#: Bundled models by name: "default" decides changes from dense speaker embeddings grouped per
#: file (turnpoint.changes.speakers), "hybrid" the BiLSTM's candidates re-scored by GE2E embeddings, and
#: "paper" the same BiLSTM alone, exactly as Yin et al. (2017)
BUNDLED_MODELS = {"default": "default.safetensors", "fast": "fast.safetensors", "hybrid": "hybrid.safetensors", "paper": "paper.safetensors"}
#: the bundled model whose speaker pipeline (and settings, chosen for that encoder) each encoder runs
ENCODER_MODELS = {"ge2e": "default", "compact": "fast"}

# ---------------------------------------------------------------------------------------------
# the header's task-specific sections

#: GE2E re-scoring of the BiLSTM's candidates (turnpoint.changes.rescoring), shipped with a hybrid model
_RESCORING = {
    "type": "object",
    "properties": {
        "method": {"const": "ge2e"},
        "threshold": {"type": "number", "minimum": -2, "maximum": 2},
        "candidate_floor": {"type": "number", "minimum": 0, "maximum": 1},
        "candidate_spacing": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        "min_duration": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
        "contexts": {"type": "array", "items": {"type": "number", "minimum": 0.4, "maximum": 30}, "minItems": 1, "maxItems": 8},
        "bilstm_weight": {"type": "number", "minimum": -100, "maximum": 100},
        "scorer": {  # learned candidate scorer (turnpoint.changes.rescoring.CandidateScorer); shapes checked on load
            "type": "object",
            "properties": {
                "mean": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 64},
                "scale": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}, "minItems": 1, "maxItems": 64},
                "weights": {"type": "array", "minItems": 1, "maxItems": 8, "items": {"type": "array", "minItems": 1, "maxItems": 256,
                            "items": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 256}}},
                "biases": {"type": "array", "minItems": 1, "maxItems": 8, "items": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 256}},
            },
            "required": ["mean", "scale", "weights", "biases"],
            "additionalProperties": False,
        },
        "clustering": {  # second pass (turnpoint.changes.rescoring.SegmentClustering)
            "type": "object",
            "properties": {
                "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
                "linkage": {"enum": ["average", "complete", "single"]},
                "keep_above": {"type": ["number", "null"], "minimum": -2, "maximum": 2},
                "window": {"type": "number", "minimum": 0.4, "maximum": 30},
                "step": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
            },
            "required": ["threshold", "linkage", "keep_above", "window", "step"],
            "additionalProperties": False,
        },
    },
    "required": ["method", "threshold", "candidate_floor", "candidate_spacing", "min_duration", "contexts", "bilstm_weight"],
    "additionalProperties": False,
}

#: the dense speaker pipeline (turnpoint.changes.speakers.SpeakerSettings), shipped with the default model
_SPEAKERS = {
    "type": "object",
    "properties": {
        "encoder": {"enum": list(ENCODERS)},
        "window": {"type": "number", "minimum": 0.1, "maximum": 30},
        "step": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
        "smoothing_radius": {"type": "integer", "minimum": 0, "maximum": 100},
        "smoothing_sharpness": {"type": "number", "minimum": 0, "maximum": 1000},
        "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
        "relative_threshold": {"type": "number", "minimum": 0, "maximum": 10},
        "switch_penalty": {"type": "number", "minimum": 0, "maximum": 100},
        "min_speaker_duration": {"type": "number", "minimum": 0, "maximum": 3600},  # optional: older files lack it (0)
        "vad_threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "min_silence": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        "min_speech": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
    },
    "required": ["encoder", "window", "step", "smoothing_radius", "smoothing_sharpness", "threshold", "relative_threshold", "switch_penalty",
                 "vad_threshold", "min_silence", "min_speech"],
    "additionalProperties": False,
}

_ARCHITECTURE = {
    "type": "object",
    "properties": {
        "input_dim": SIZE,
        "lstm_hidden": {"type": "array", "items": SIZE, "minItems": 1, "maxItems": 16},
        "bidirectional": {"type": "boolean"},
        "mlp_hidden": {"type": "array", "items": SIZE, "minItems": 0, "maxItems": 16},
    },
    "required": ["input_dim", "lstm_hidden", "bidirectional", "mlp_hidden"],
    "additionalProperties": False,
}

_DEFAULTS = {
    "type": "object",
    "properties": {
        "alpha": {"type": "number", "minimum": -1e6, "maximum": 1e6},
        "min_duration": SECONDS,
        "alpha_scale": {"enum": ["absolute", "percentile", "relative"]},
        "rescoring": _RESCORING,
        "speakers": _SPEAKERS,
    },
    "required": ["alpha", "min_duration", "alpha_scale"],
    "additionalProperties": False,
}


def _feature_checks(features: Mapping[str, Any]) -> None:
    # the BiLSTM reads MFCC; log-mel and PCEN bands are the sound event networks' inputs
    if features.get("coefficients") in ("logmel", "pcen"):
        name = {"logmel": "log-mel", "pcen": "PCEN"}[features["coefficients"]]
        raise SchemaError("specifications.features.coefficients", f"{name} inputs are for sound event models with n_mfcc equal to n_mels")


register_kind(
    ModelKind(
        task=TASK,
        description="speaker change detection",
        architecture=_ARCHITECTURE,
        defaults=_DEFAULTS,
        feature_checks=_feature_checks,
        refusal_hints={"sound_events": " (use turnpoint events / --task events)"},
    )
)

# ---------------------------------------------------------------------------------------------
# settings and loaded models


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


# ---------------------------------------------------------------------------------------------
# files


def model_config_dict(model: SpeakerChangeDetector, specifications: Specifications, *, defaults: Defaults, training: dict | None, name: str) -> dict:
    """The JSON header :func:`save_model` writes."""
    return {
        "format": FORMAT_NAME,
        # version 2 added re-scoring settings, 3 the speaker pipeline; files without them stay
        # readable by older readers
        "format_version": 3 if defaults.speakers is not None else 2 if defaults.rescoring is not None else 1,
        "turnpoint_version": __version__,
        "task": TASK,
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
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.safetensors"
    >>> _ = save_model(p, model=SpeakerChangeDetector(SpeakerChangeConfig()), specifications=Specifications())
    >>> load_model(p).model.num_parameters()
    33485
    """
    path = Path(path)
    config = model_config_dict(model, specifications, defaults=defaults or Defaults(), training=training, name=name or path.stem)
    return write_file(path, config, model.state_dict())


def resolve_model_path(model: str | Path | None) -> Path:
    """A bundled model name ("default") or a file path -> the file's path."""
    return resolve_path(model, BUNDLED_MODELS)


def check_encoder(loaded: LoadedModel, encoder: str | None) -> LoadedModel:
    """Refuse a model whose speaker pipeline runs another encoder than ``encoder`` (None: any).

    A model's speaker settings (clustering cut, smoothing) were chosen for the encoder its header
    records, so an encoder is never swapped under them: another encoder needs another model.
    """
    if encoder is None:
        return loaded
    if encoder not in ENCODER_MODELS:
        raise TurnpointError(f"unknown speaker encoder {encoder!r}; choose from {list(ENCODER_MODELS)}")
    speakers = loaded.defaults.speakers
    if speakers is None or speakers.encoder != encoder:
        problem = (f"the model has no speaker pipeline to run the {encoder} encoder" if speakers is None else
                   f"the model runs the {speakers.encoder} encoder, not {encoder}: its speaker settings were chosen for that one")
        raise TurnpointError(f"{problem} (the bundled model for {encoder} is --model {ENCODER_MODELS[encoder]})", path=loaded.path)
    return loaded


def load_model(model: str | Path | None = None, *, device: str | torch.device = "cpu", encoder: str | None = None) -> LoadedModel:
    """Load a model file (or the bundled ``"default"``), checking its config, names and shapes.

    ``encoder`` ("ge2e" or "compact"): without ``model``, the bundled model built for that speaker
    encoder (:data:`ENCODER_MODELS`); with one, a check that it runs that encoder.

    Examples
    --------
    >>> loaded = load_model("default")
    >>> loaded.specifications.frames_per_chunk
    200
    >>> load_model(encoder="compact").name
    'fast'
    """
    if model is None:
        model = ENCODER_MODELS.get(encoder)  # an unknown encoder is refused after loading, by check_encoder
    path = resolve_model_path(model)
    config = read_header(path, task=TASK)
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
    network.load_state_dict(read_weights(path, network))
    network.eval().to(device)
    loaded = LoadedModel(
        model=network,
        specifications=specifications,
        defaults=defaults,
        training=config.get("training", {}),
        name=config.get("name", path.stem),
        path=str(path),
    )
    return check_encoder(loaded, encoder)
