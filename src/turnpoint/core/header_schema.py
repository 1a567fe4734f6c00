"""JSON schema of the model file's header, and a small validator for it (no dependency).

A model file's JSON header decides what gets built before any weight is read: a tampered header
with ``"lstm_hidden": [1000000]`` would make torch allocate terabytes, a string where a number
belongs would fail deep inside the model code. :func:`validate_model_header` checks the header
against :data:`MODEL_HEADER_SCHEMAS` first (types, required and unknown keys, bounds) and refuses
a bad one with a one-line :class:`~turnpoint.core.errors.TurnpointError` naming the file and the field::

    m.safetensors: invalid model header: architecture.lstm_hidden[0]: 1000000 is above the maximum 4096

The schemas are plain JSON Schema (draft 2020-12 keywords: ``type`` (one or a list), ``properties``, ``required``,
``additionalProperties``, ``items``, ``minItems``, ``maxItems``, ``minLength``, ``maxLength``,
``minimum``, ``maximum``, ``exclusiveMinimum``, ``enum``, ``const``), so any JSON Schema tool can
read them; the validator here implements exactly that subset. Two rules go beyond the keywords:
numbers must be finite (Python's ``json`` accepts ``NaN`` and ``Infinity``) and booleans are not
numbers. A few cross-field rules (``fmin < fmax <= sample_rate / 2``, step within the chunk,
``conv_kernel <= n_mfcc``) are checked after the schema.

Examples
--------
>>> header = {"format": "turnpoint-model", "format_version": 1, "architecture": {}}
>>> validate_model_header(header, "m.safetensors")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
turnpoint.core.errors.TurnpointError: m.safetensors: invalid model header: architecture: missing key 'input_dim'
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from turnpoint.core.errors import TurnpointError

__all__ = ["MODEL_HEADER_SCHEMAS", "SchemaError", "check", "model_header_schema", "validate_model_header"]

#: Largest nesting depth accepted anywhere in a header (the free-form ``training`` summary included).
MAX_DEPTH = 32

_SIZE = {"type": "integer", "minimum": 1, "maximum": 4096}
_SECONDS = {"type": "number", "minimum": 0, "maximum": 86400}
_LABEL = {"type": "string", "minLength": 1, "maxLength": 256}

_FEATURES = {
    "type": "object",
    "properties": {
        "sample_rate": {"type": "integer", "minimum": 1000, "maximum": 384000},
        "window_duration": {"type": "number", "minimum": 0.001, "maximum": 1.0},
        "step_duration": {"type": "number", "minimum": 0.001, "maximum": 1.0},
        "n_mels": {"type": "integer", "minimum": 1, "maximum": 512},
        "n_mfcc": {"type": "integer", "minimum": 1, "maximum": 512},
        "fmin": {"type": "number", "minimum": 0, "maximum": 192000},
        "fmax": {"type": "number", "exclusiveMinimum": 0, "maximum": 192000},
        "delta_width": {"type": "integer", "minimum": 3, "maximum": 101},
        "coefficients": {"enum": ["mfcc", "logmel", "pcen"]},
    },
    "required": ["sample_rate", "window_duration", "step_duration", "n_mels", "n_mfcc", "fmin", "fmax", "delta_width"],
    "additionalProperties": False,
}

_SPECIFICATIONS = {
    "type": "object",
    "properties": {
        "features": _FEATURES,
        "chunk_duration": {"type": "number", "minimum": 0.01, "maximum": 600},
        "step_duration": {"type": "number", "minimum": 0.001, "maximum": 600},
        "classes": {"type": "array", "items": _LABEL, "minItems": 1, "maxItems": 1000},
    },
    "required": ["features", "chunk_duration", "step_duration", "classes"],
    "additionalProperties": False,
}

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
        "encoder": {"enum": ["ge2e"]},
        "window": {"type": "number", "minimum": 0.1, "maximum": 30},
        "step": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
        "smoothing_radius": {"type": "integer", "minimum": 0, "maximum": 100},
        "smoothing_sharpness": {"type": "number", "minimum": 0, "maximum": 1000},
        "threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
        "relative_threshold": {"type": "number", "minimum": 0, "maximum": 10},
        "switch_penalty": {"type": "number", "minimum": 0, "maximum": 100},
        "vad_threshold": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "min_silence": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        "min_speech": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
    },
    "required": ["encoder", "window", "step", "smoothing_radius", "smoothing_sharpness", "threshold", "relative_threshold", "switch_penalty",
                 "vad_threshold", "min_silence", "min_speech"],
    "additionalProperties": False,
}

_TRAINING = {"type": "object"}  # free-form summary (counts, settings, validation curves)


def _top(task: str, architecture: dict, defaults: dict) -> dict:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"turnpoint model header ({task})",
        "type": "object",
        "properties": {
            "format": {"const": "turnpoint-model"},
            "format_version": {"type": "integer", "minimum": 1},  # the supported range is checked by turnpoint.core.modelfile
            "turnpoint_version": {"type": "string", "maxLength": 100},
            "task": {"enum": [task]},
            "name": {"type": "string", "maxLength": 1000},
            "architecture": architecture,
            "specifications": _SPECIFICATIONS,
            "defaults": defaults,
            "training": _TRAINING,
        },
        "required": ["format", "format_version", "architecture", "specifications", "defaults"],
        "additionalProperties": False,
    }


#: One JSON Schema per task, keyed by the header's ``task`` (absent means ``speaker_change``).
MODEL_HEADER_SCHEMAS: dict[str, dict] = {
    "speaker_change": _top(
        "speaker_change",
        architecture={
            "type": "object",
            "properties": {
                "input_dim": _SIZE,
                "lstm_hidden": {"type": "array", "items": _SIZE, "minItems": 1, "maxItems": 16},
                "bidirectional": {"type": "boolean"},
                "mlp_hidden": {"type": "array", "items": _SIZE, "minItems": 0, "maxItems": 16},
            },
            "required": ["input_dim", "lstm_hidden", "bidirectional", "mlp_hidden"],
            "additionalProperties": False,
        },
        defaults={
            "type": "object",
            "properties": {
                "alpha": {"type": "number", "minimum": -1e6, "maximum": 1e6},
                "min_duration": _SECONDS,
                "alpha_scale": {"enum": ["absolute", "percentile", "relative"]},
                "rescoring": _RESCORING,
                "speakers": _SPEAKERS,
            },
            "required": ["alpha", "min_duration", "alpha_scale"],
            "additionalProperties": False,
        },
    ),
    "sound_events": _top(
        "sound_events",
        architecture={
            "type": "object",
            "properties": {
                "n_mfcc": {"type": "integer", "minimum": 1, "maximum": 512},
                "conv_filters": _SIZE,
                "conv_kernel": {"type": "integer", "minimum": 1, "maximum": 512},
                "dropout": {"type": "number", "minimum": 0, "maximum": 0.99},
                "lstm_units": _SIZE,
                "bidirectional": {"type": "boolean"},
                "aux_units": _SIZE,
                "classes": {"type": "array", "items": _LABEL, "minItems": 1, "maxItems": 1000},
                "frames": {"type": "integer", "minimum": 1, "maximum": 100000},
                "conv_regions": {"type": "integer", "minimum": 1, "maximum": 512},
                "members": {"type": "integer", "minimum": 1, "maximum": 16},
                # the GMM baseline (turnpoint.events.gmm): "kind": "gmm" and its three sizes
                "kind": {"enum": ["gmm"]},
                "coefficients": {"type": "integer", "minimum": 1, "maximum": 512},
                "components": {"type": "integer", "minimum": 1, "maximum": 256},
                "context_frames": {"type": "integer", "minimum": 1, "maximum": 100000},
            },
            "required": ["n_mfcc", "classes"],
            "additionalProperties": False,
        },
        defaults={
            "type": "object",
            "properties": {
                "decode": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "onset": {"type": "number", "minimum": 0, "maximum": 1},
                            "offset": {"type": "number", "minimum": 0, "maximum": 1},
                            "min_duration": _SECONDS,
                            "min_gap": _SECONDS,
                            "start_ratio": {"type": "number", "minimum": 0, "maximum": 1},  # onset refinement (optional)
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
    ),
}


class SchemaError(ValueError):
    """A value does not match its schema; ``where`` is the dotted path of the offending field."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where or 'header'}: {problem}")


_TYPES = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
          "null": "null"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _has_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    raise ValueError(f"unsupported schema type {kind!r}")


def _join(where: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _check_depth(value: Any, where: str) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SchemaError(where, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def check(value: Any, schema: Mapping[str, Any], where: str = "") -> None:
    """Raise :class:`SchemaError` unless ``value`` (parsed JSON) matches ``schema``.

    Examples
    --------
    >>> check([1, 2], {"type": "array", "items": {"type": "integer", "maximum": 1}})
    Traceback (most recent call last):
    ...
    turnpoint.core.header_schema.SchemaError: [1]: 2 is above the maximum 1
    """
    if "const" in schema and value != schema["const"]:
        raise SchemaError(where, f"must be {schema['const']!r}, got {_show(value)}")
    if "enum" in schema and not any(value == option and type(value) is type(option) for option in schema["enum"]):
        raise SchemaError(where, f"must be one of {', '.join(map(repr, schema['enum']))}, got {_show(value)}")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]  # a list: any of these types
        if not any(_has_type(value, kind) for kind in kinds):
            raise SchemaError(where, f"must be {' or '.join(_TYPES[kind] for kind in kinds)}, got {_kind(value)} {_show(value)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isfinite(value):
            raise SchemaError(where, f"must be a finite number, got {_show(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(where, f"{_show(value)} is below the minimum {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            raise SchemaError(where, f"{_show(value)} must be above {schema['exclusiveMinimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(where, f"{_show(value)} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaError(where, f"must not be shorter than {schema['minLength']} characters, got {_show(value)}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(where, f"must not be longer than {schema['maxLength']} characters")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError(where, f"needs at least {schema['minItems']} item(s), got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(where, f"holds {len(value)} items, at most {schema['maxItems']} allowed")
        if "items" in schema:
            for index, item in enumerate(value):
                check(item, schema["items"], _join(where, index))
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                raise SchemaError(where, f"missing key {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                check(item, properties[key], _join(where, key))
            elif extra is False:
                known = ", ".join(properties) or "none"
                raise SchemaError(_join(where, key), f"unknown key (known: {known})")
            elif isinstance(extra, Mapping):
                check(item, extra, _join(where, key))


def model_header_schema(task: str) -> dict:
    """A copy of the JSON Schema for a task's model header (``speaker_change`` or ``sound_events``).

    Examples
    --------
    >>> model_header_schema("speaker_change")["properties"]["format"]
    {'const': 'turnpoint-model'}
    """
    if task not in MODEL_HEADER_SCHEMAS:
        raise ValueError(f"no model header schema for task {task!r}; known: {sorted(MODEL_HEADER_SCHEMAS)}")
    schema = copy.deepcopy(MODEL_HEADER_SCHEMAS[task])
    if task == "sound_events":
        # keys the event architecture gains later are accepted as they are (its from_dict checks them)
        from dataclasses import fields

        from turnpoint.events.model import SoundEventConfig

        architecture = schema["properties"]["architecture"]["properties"]
        for item in fields(SoundEventConfig):
            architecture.setdefault(item.name, {})
    return schema


def _cross_checks(config: Mapping[str, Any], task: str) -> None:
    specifications = config["specifications"]
    features = specifications["features"]
    if features["fmin"] >= features["fmax"]:
        raise SchemaError("specifications.features", f"fmin {features['fmin']} must be below fmax {features['fmax']}")
    if features["fmax"] > features["sample_rate"] / 2:
        raise SchemaError("specifications.features.fmax", f"{features['fmax']} is above the Nyquist frequency {features['sample_rate'] / 2:g}")
    if features["n_mfcc"] > features["n_mels"]:
        raise SchemaError("specifications.features.n_mfcc", f"{features['n_mfcc']} is more than n_mels {features['n_mels']}")
    if features.get("coefficients") in ("logmel", "pcen") and (task != "sound_events" or features["n_mfcc"] != features["n_mels"]):
        name = {"logmel": "log-mel", "pcen": "PCEN"}[features["coefficients"]]
        raise SchemaError("specifications.features.coefficients", f"{name} inputs are for sound event models with n_mfcc equal to n_mels")
    if features["step_duration"] > features["window_duration"] * 4:
        raise SchemaError("specifications.features.step_duration", f"{features['step_duration']} s skips most of each {features['window_duration']} s window")
    if specifications["step_duration"] > specifications["chunk_duration"]:
        raise SchemaError("specifications.step_duration", "windows must overlap or touch (step above chunk_duration)")
    if specifications["chunk_duration"] / features["step_duration"] > 200_000:
        raise SchemaError("specifications.chunk_duration", "more than 200000 frames per window")
    architecture = config["architecture"]
    if task == "sound_events":
        n_mfcc, kernel = architecture.get("n_mfcc"), architecture.get("conv_kernel")
        if isinstance(kernel, int) and isinstance(n_mfcc, int) and kernel > n_mfcc:
            raise SchemaError("architecture.conv_kernel", f"{kernel} is more than n_mfcc {n_mfcc}")
        regions = architecture.get("conv_regions", 1)
        if isinstance(kernel, int) and isinstance(n_mfcc, int) and isinstance(regions, int) and regions > n_mfcc - kernel + 1:
            raise SchemaError("architecture.conv_regions", f"{regions} is more than the convolution's {n_mfcc - kernel + 1} positions")
        for label, params in config["defaults"].get("decode", {}).items():
            if params.get("offset", 0.5) > params.get("onset", 0.5):
                raise SchemaError(f"defaults.decode.{label}", "offset must not be above onset")


def validate_model_header(config: Any, path: str | Path | None = None) -> None:
    """Refuse a model header that does not match its task's schema, naming the field.

    Raises
    ------
    TurnpointError
        ``path: invalid model header: <field>: <problem>``.

    Examples
    --------
    >>> validate_model_header({"format": "turnpoint-model"}, "m.safetensors")
    Traceback (most recent call last):
    ...
    turnpoint.core.errors.TurnpointError: m.safetensors: invalid model header: header: missing key 'format_version'
    """
    try:
        if not isinstance(config, dict):
            raise SchemaError("", f"must be a JSON object, got {_kind(config)}")
        _check_depth(config, "")
        task = config.get("task", "speaker_change")
        if task not in MODEL_HEADER_SCHEMAS:
            raise SchemaError("task", f"must be one of {', '.join(map(repr, MODEL_HEADER_SCHEMAS))}, got {_show(task)}")
        check(config, model_header_schema(task))
        _cross_checks(config, task)
    except SchemaError as error:
        raise TurnpointError(f"invalid model header: {error}", path=path) from None
