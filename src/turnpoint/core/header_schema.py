"""JSON schema of the model file's header, and a small validator for it (no dependency).

A model file's JSON header decides what gets built before any weight is read: a tampered header
asking for a layer of a million units would make torch allocate terabytes, a string where a number
belongs would fail deep inside the model code. :func:`validate_model_header` checks the header
against its task's schema (:data:`MODEL_HEADER_SCHEMAS`) first (types, required and unknown keys,
bounds) and refuses a bad one with a one-line :class:`~turnpoint.core.errors.TurnpointError`
naming the file and the field::

    m.safetensors: invalid model header: architecture.lstm_hidden[0]: 1000000 is above the maximum 4096

The header's common part (format, version, task specifications with their feature settings, the
training summary) is defined here. Each task describes the rest, its ``architecture`` and
``defaults`` sections and its own cross-field rules, in a :class:`ModelKind` that its package
registers with :func:`register_kind`.

The schemas are plain JSON Schema (draft 2020-12 keywords: ``type`` (one or a list), ``properties``, ``required``,
``additionalProperties``, ``items``, ``minItems``, ``maxItems``, ``minLength``, ``maxLength``,
``minimum``, ``maximum``, ``exclusiveMinimum``, ``enum``, ``const``), so any JSON Schema tool can
read them; the validator here implements exactly that subset. Two rules go beyond the keywords:
numbers must be finite (Python's ``json`` accepts ``NaN`` and ``Infinity``) and booleans are not
numbers. Cross-field rules on the specifications (``fmin < fmax <= sample_rate / 2``,
``n_mfcc <= n_mels``, step within the chunk) are checked after the schema, then the task's.

Examples
--------
>>> validate_model_header([1, 2], "m.safetensors")
Traceback (most recent call last):
...
turnpoint.core.errors.TurnpointError: m.safetensors: invalid model header: header: must be a JSON object, got an array
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnpoint.core.errors import TurnpointError

__all__ = [
    "LABEL",
    "MODEL_HEADER_SCHEMAS",
    "SECONDS",
    "SIZE",
    "UNTAGGED_TASK",
    "ModelKind",
    "SchemaError",
    "check",
    "model_header_schema",
    "model_kind",
    "register_kind",
    "validate_model_header",
]

#: Largest nesting depth accepted anywhere in a header (the free-form ``training`` summary included).
MAX_DEPTH = 32
#: The task of a header without a ``task`` key: files written before the key existed.
UNTAGGED_TASK = "speaker_change"

#: Building blocks for the tasks' section schemas: a layer size, a duration, a class label.
SIZE = {"type": "integer", "minimum": 1, "maximum": 4096}
SECONDS = {"type": "number", "minimum": 0, "maximum": 86400}
LABEL = {"type": "string", "minLength": 1, "maxLength": 256}

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
        "classes": {"type": "array", "items": LABEL, "minItems": 1, "maxItems": 1000},
    },
    "required": ["features", "chunk_duration", "step_duration", "classes"],
    "additionalProperties": False,
}

_TRAINING = {"type": "object"}  # free-form summary (counts, settings, validation curves)


@dataclass(frozen=True)
class ModelKind:
    """What one task adds to the model file: its header sections, its rules and its name.

    Parameters
    ----------
    task : str
        The header's ``task`` value.
    description : str
        Names the task when its reader refuses a file of another task ("not speaker change detection").
    architecture, defaults : mapping
        JSON Schemas of the header's ``architecture`` and ``defaults`` sections.
    feature_checks : callable, optional
        Raises :class:`SchemaError` for feature settings the task cannot read; called with
        ``specifications.features`` once the common frequency rules hold.
    cross_checks : callable, optional
        Raises :class:`SchemaError` where the task's cross-field rules fail; called with the whole
        header after every common rule.
    refusal_hints : mapping
        By file task: text appended when this task's reader refuses a file of that task.
    """

    task: str
    description: str
    architecture: Mapping[str, Any]
    defaults: Mapping[str, Any]
    feature_checks: Callable[[Mapping[str, Any]], None] | None = None
    cross_checks: Callable[[Mapping[str, Any]], None] | None = None
    refusal_hints: Mapping[str, str] = field(default_factory=dict)


def _top(task: str, architecture: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict:
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
            "architecture": copy.deepcopy(dict(architecture)),
            "specifications": _SPECIFICATIONS,
            "defaults": copy.deepcopy(dict(defaults)),
            "training": _TRAINING,
        },
        "required": ["format", "format_version", "architecture", "specifications", "defaults"],
        "additionalProperties": False,
    }


#: One JSON Schema per registered task, keyed by the header's ``task`` (absent means :data:`UNTAGGED_TASK`).
MODEL_HEADER_SCHEMAS: dict[str, dict] = {}
_KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> None:
    """Make a task's model files known to :func:`validate_model_header` and the model-file reader.

    Each task registers itself when its model-file module is imported; registering a task again
    replaces its entry.
    """
    _KINDS[kind.task] = kind
    MODEL_HEADER_SCHEMAS[kind.task] = _top(kind.task, kind.architecture, kind.defaults)


def model_kind(task: str) -> ModelKind | None:
    """The registered :class:`ModelKind` of ``task``, or None."""
    return _KINDS.get(task)


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
    """A copy of the JSON Schema for a registered task's model header.

    Examples
    --------
    >>> model_header_schema("no such task")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: no model header schema for task 'no such task'; known: [...]
    """
    if task not in MODEL_HEADER_SCHEMAS:
        raise ValueError(f"no model header schema for task {task!r}; known: {sorted(MODEL_HEADER_SCHEMAS)}")
    return copy.deepcopy(MODEL_HEADER_SCHEMAS[task])


def _cross_checks(config: Mapping[str, Any], kind: ModelKind) -> None:
    specifications = config["specifications"]
    features = specifications["features"]
    if features["fmin"] >= features["fmax"]:
        raise SchemaError("specifications.features", f"fmin {features['fmin']} must be below fmax {features['fmax']}")
    if features["fmax"] > features["sample_rate"] / 2:
        raise SchemaError("specifications.features.fmax", f"{features['fmax']} is above the Nyquist frequency {features['sample_rate'] / 2:g}")
    if features["n_mfcc"] > features["n_mels"]:
        raise SchemaError("specifications.features.n_mfcc", f"{features['n_mfcc']} is more than n_mels {features['n_mels']}")
    if kind.feature_checks is not None:
        kind.feature_checks(features)
    if features["step_duration"] > features["window_duration"] * 4:
        raise SchemaError("specifications.features.step_duration", f"{features['step_duration']} s skips most of each {features['window_duration']} s window")
    if specifications["step_duration"] > specifications["chunk_duration"]:
        raise SchemaError("specifications.step_duration", "windows must overlap or touch (step above chunk_duration)")
    if specifications["chunk_duration"] / features["step_duration"] > 200_000:
        raise SchemaError("specifications.chunk_duration", "more than 200000 frames per window")
    if kind.cross_checks is not None:
        kind.cross_checks(config)


def validate_model_header(config: Any, path: str | Path | None = None) -> None:
    """Refuse a model header that does not match its task's schema, naming the field.

    Raises
    ------
    TurnpointError
        ``path: invalid model header: <field>: <problem>``.

    Examples
    --------
    >>> validate_model_header({"task": "weather"}, "m.safetensors")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    turnpoint.core.errors.TurnpointError: m.safetensors: invalid model header: task: must be one of ..., got 'weather'
    """
    try:
        if not isinstance(config, dict):
            raise SchemaError("", f"must be a JSON object, got {_kind(config)}")
        _check_depth(config, "")
        task = config.get("task", UNTAGGED_TASK)
        if task not in MODEL_HEADER_SCHEMAS:
            raise SchemaError("task", f"must be one of {', '.join(map(repr, MODEL_HEADER_SCHEMAS))}, got {_show(task)}")
        check(config, model_header_schema(task))
        _cross_checks(config, _KINDS[task])
    except SchemaError as error:
        raise TurnpointError(f"invalid model header: {error}", path=path) from None
