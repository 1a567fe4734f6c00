"""pyannote.database protocols: the files, references and annotated regions a ``database.yml`` names.

Reads the same configuration pyannote.database does (``Databases`` templates, ``Protocols`` with
``SpeakerDiarization`` subsets listing ``uri``, ``annotation`` and ``annotated`` files, ``scope``),
without installing it; every problem is one line naming the file.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnpoint.changes.annotations import Turn, read_rttm, read_uem
from turnpoint.core.errors import TurnpointError
from turnpoint.core.textfiles import read_list

__all__ = ["ProtocolFile", "load_protocol"]

_SCOPES = ("file", "database", "global")


@dataclass(frozen=True)
class ProtocolFile:
    """One file of a pyannote-style protocol subset (see :func:`load_protocol`).

    Attributes
    ----------
    uri : str
        File identifier, exactly as written in the list file.
    audio : Path or None
        Audio path built from the ``Databases`` template (None when the database has no entry).
    turns : list of Turn or None
        Reference speech turns, sorted (None when the subset has no ``annotation`` key).
    annotated : list of (start, end) or None
        Sorted, merged annotated regions (None when the subset has no ``annotated`` key).
    scope : str
        Scope of speaker labels from the protocol's ``scope`` key: ``"file"`` (default; labels are only
        meaningful within one file), ``"database"`` or ``"global"``.

    Examples
    --------
    >>> ProtocolFile(uri="ES2011a", audio=None, turns=[], annotated=[(0.0, 10.0)]).scope
    'file'
    """

    uri: str
    audio: Path | None
    turns: list[Turn] | None
    annotated: list[tuple[float, float]] | None
    scope: str = "file"




def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # local import: only protocol loading needs it

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TurnpointError("no such file", path=path) from None
    except IsADirectoryError:
        raise TurnpointError("is a directory, expected a database.yml file", path=path) from None
    except OSError as exc:
        raise TurnpointError(f"cannot read file: {exc.strerror or exc}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TurnpointError("not valid UTF-8; re-save the file as UTF-8", path=path, line=line) from None
    try:
        config = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise TurnpointError(f"invalid YAML: {problem}", path=path, line=line) from None
    except yaml.YAMLError as exc:  # e.g. ReaderError (a control character): its message spans lines
        position = getattr(exc, "position", None)
        line = text[:position].count("\n") + 1 if isinstance(position, int) else None
        raise TurnpointError(f"invalid YAML: {' '.join(str(exc).split())}", path=path, line=line) from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TurnpointError("expected a mapping with 'Protocols' (and optionally 'Databases')", path=path)
    return config


def _all_protocols(protocols: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for db, tasks in protocols.items():
        if not isinstance(tasks, Mapping):
            continue
        for task, protos in tasks.items():
            if not isinstance(protos, Mapping):
                continue
            names.extend(f"{db}.{task}.{name}" for name in protos)
    return names


def _subsets_of(entries: Mapping[str, Any]) -> list[str]:
    return [key for key in entries if key != "scope" and isinstance(entries[key], Mapping)]


def _resolve(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _expand(template: str, *, fields: Mapping[str, str], yml: Path, key: str) -> str:
    try:
        return template.format_map(fields)
    except (KeyError, IndexError, ValueError) as exc:
        known = ", ".join("{" + k + "}" for k in fields)
        raise TurnpointError(
            f"cannot expand {key!r} template {template!r} ({exc!r}); known placeholders: {known}", path=yml
        ) from None


def _find_audio(templates: Any, *, fields: Mapping[str, str], yml: Path, database: str) -> Path | None:
    if templates is None:
        return None
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        raise TurnpointError(
            f"Databases.{database} must be a path template or a list of templates, got {templates!r}", path=yml
        )
    candidates = [_resolve(_expand(t, fields=fields, yml=yml, key=f"Databases.{database}"), yml.parent)
                  for t in templates]
    for candidate in candidates:
        text = str(candidate)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text))
            if matches:
                return Path(matches[0])
        elif candidate.is_file():
            return candidate
    return candidates[0]


class _AnnotationCache:
    """Load each RTTM / UEM file once per :func:`load_protocol` call."""

    def __init__(self) -> None:
        self.rttm: dict[Path, dict[str, list[Turn]]] = {}
        self.uem: dict[Path, dict[str, list[tuple[float, float]]]] = {}

    def turns(self, path: Path) -> dict[str, list[Turn]]:
        if path not in self.rttm:
            self.rttm[path] = read_rttm(path)
        return self.rttm[path]

    def regions(self, path: Path) -> dict[str, list[tuple[float, float]]]:
        if path not in self.uem:
            self.uem[path] = read_uem(path)
        return self.uem[path]


def _load_subset(
    *,
    yml: Path,
    config: Mapping[str, Any],
    database: str,
    task: str,
    name: str,
    subset: str,
    entries: Mapping[str, Any],
    scope: str,
    cache: _AnnotationCache,
) -> list[ProtocolFile]:
    full = f"{database}.{task}.{name}.{subset}"
    uri_key = "uri" if "uri" in entries else "uris" if "uris" in entries else None
    if uri_key is None:
        raise TurnpointError(f"{full} has no 'uri' entry (a list file of URIs)", path=yml)
    for key in (uri_key, "annotation", "annotated"):
        if key in entries and not isinstance(entries[key], str):
            raise TurnpointError(f"{full}.{key} must be a path, got {entries[key]!r}", path=yml)
    list_path = _resolve(entries[uri_key], yml.parent)
    uris = read_list(list_path)

    databases = config.get("Databases") or {}
    if not isinstance(databases, Mapping):
        raise TurnpointError("'Databases' must be a mapping of database name to path template(s)", path=yml)
    audio_templates = databases.get(database)

    files: list[ProtocolFile] = []
    missing: dict[str, list[str]] = {}
    for uri in uris:
        fields = {"uri": uri, "database": database, "subset": subset}
        audio = _find_audio(audio_templates, fields=fields, yml=yml, database=database)

        turns: list[Turn] | None = None
        if "annotation" in entries:
            template = entries["annotation"]
            path = _resolve(_expand(template, fields=fields, yml=yml, key=f"{full}.annotation"), yml.parent)
            if not path.is_file():
                raise TurnpointError(f"no such file (annotation of {uri!r} in {full}, from {yml})", path=path)
            loaded = cache.turns(path)
            if uri not in loaded:
                missing.setdefault(str(path), []).append(uri)
            turns = list(loaded.get(uri, []))

        annotated: list[tuple[float, float]] | None = None
        if "annotated" in entries:
            template = entries["annotated"]
            path = _resolve(_expand(template, fields=fields, yml=yml, key=f"{full}.annotated"), yml.parent)
            if not path.is_file():
                raise TurnpointError(f"no such file (annotated regions of {uri!r} in {full}, from {yml})", path=path)
            loaded_regions = cache.regions(path)
            if uri not in loaded_regions:
                missing.setdefault(str(path), []).append(uri)
            annotated = list(loaded_regions.get(uri, []))

        files.append(ProtocolFile(uri=uri, audio=audio, turns=turns, annotated=annotated, scope=scope))

    for path, absent in missing.items():
        shown = ", ".join(repr(u) for u in absent[:5]) + (" ..." if len(absent) > 5 else "")
        warnings.warn(
            f"{yml}: {full}: {len(absent)} URI(s) from {list_path} do not appear in {path} "
            f"(treated as empty): {shown}",
            stacklevel=3,
        )
    return files


def _load(
    yml: Path, config: Mapping[str, Any], protocol: str, subset: str, cache: _AnnotationCache, stack: tuple[str, ...]
) -> list[ProtocolFile]:
    protocols = config.get("Protocols")
    if not isinstance(protocols, Mapping):
        raise TurnpointError("no 'Protocols' section", path=yml)
    available = _all_protocols(protocols)
    parts = protocol.split(".")
    if len(parts) != 3 or not all(parts):
        raise TurnpointError(
            f"protocol must look like 'Database.Task.Protocol', got {protocol!r}; "
            f"defined here: {', '.join(available) or 'none'}",
            path=yml,
        )
    database, task, name = parts
    try:
        entries = protocols[database][task][name]
    except (KeyError, TypeError):
        raise TurnpointError(
            f"protocol {protocol!r} is not defined; defined here: {', '.join(available) or 'none'}", path=yml
        ) from None
    if protocol in stack:
        raise TurnpointError(f"meta-protocol cycle: {' -> '.join(stack + (protocol,))}", path=yml)
    if not isinstance(entries, Mapping):
        raise TurnpointError(f"protocol {protocol!r} must be a mapping of subsets", path=yml)

    if task == "Collection" and "uri" in entries:  # a collection is a single, unnamed subset
        entries = {"files": entries}

    scope = entries.get("scope", "file")
    if scope is None:
        scope = "file"
    if scope not in _SCOPES:
        raise TurnpointError(
            f"{protocol}.scope must be one of {', '.join(_SCOPES)}, got {scope!r}", path=yml
        )

    subsets = _subsets_of(entries)
    if subset not in subsets:
        raise TurnpointError(
            f"protocol {protocol!r} has no {subset!r} subset; it has: {', '.join(subsets) or 'none'}", path=yml
        )
    subset_entries = entries[subset]

    if database == "X":  # meta-protocol: {"Db.Task.Proto": [subsets]}
        files: list[ProtocolFile] = []
        for sub_protocol, sub_subsets in subset_entries.items():
            if isinstance(sub_subsets, str):
                sub_subsets = [sub_subsets]
            if not isinstance(sub_subsets, list) or not all(isinstance(s, str) for s in sub_subsets):
                raise TurnpointError(
                    f"{protocol}.{subset}.{sub_protocol} must be a list of subsets, got {sub_subsets!r}", path=yml
                )
            for sub_subset in sub_subsets:
                files.extend(_load(yml, config, str(sub_protocol), sub_subset, cache, stack + (protocol,)))
        return files

    return _load_subset(
        yml=yml,
        config=config,
        database=database,
        task=task,
        name=name,
        subset=subset,
        entries=subset_entries,
        scope=scope,
        cache=cache,
    )


def load_protocol(database_yml: str | Path, protocol: str, subset: str) -> list[ProtocolFile]:
    """Load one subset of a protocol defined in a pyannote.database ``database.yml``.

    The YAML is read directly (pyannote.database is not needed). Supported layout::

        Databases:
          AMI: amicorpus/{uri}/audio/{uri}.Mix-Headset.wav     # or a list of templates
        Protocols:
          AMI:
            SpeakerDiarization:
              only_words:
                scope: file                                     # optional: file | database | global
                development:
                  uri: ../lists/dev.meetings.txt                # list file (mandatory)
                  annotation: ../only_words/rttms/dev/{uri}.rttm  # RTTM, per URI or one for all
                  annotated: ../uems/dev/{uri}.uem              # UEM, per URI or one for all
          X:                                                    # meta-protocols
            SpeakerDiarization:
              Mixed:
                train:
                  AMI.SpeakerDiarization.only_words: [train, development]

    Relative paths are relative to the yml's directory; templates may use ``{uri}``, ``{database}`` and
    ``{subset}``. Audio is the first ``Databases`` template that names an existing file (glob patterns
    allowed), else the first template expanded, or None when the database has no entry. A meta-protocol
    concatenates its parts in order (a URI listed by two parts appears twice, as in pyannote.database).
    A URI missing from a shared (non-templated) RTTM / UEM gets empty turns / regions and a warning;
    a missing per-URI file is an error.

    Parameters
    ----------
    database_yml : str or Path
        The configuration file.
    protocol : str
        ``Database.Task.Protocol``, e.g. ``"AMI.SpeakerDiarization.only_words"`` or ``"X.SpeakerDiarization.Mixed"``.
    subset : str
        ``"train"``, ``"development"`` or ``"test"``.

    Returns
    -------
    list of ProtocolFile
        Files in list order.

    Raises
    ------
    TurnpointError
        Unreadable yml, unknown protocol or subset (the message lists what exists), missing list / RTTM /
        UEM file, or any error in those files.

    Examples
    --------
    >>> files = load_protocol("pyannote/database.yml", "AMI.SpeakerDiarization.only_words",
    ...                       "development")  # doctest: +SKIP
    >>> files[0].uri, len(files[0].turns), files[0].annotated  # doctest: +SKIP
    ('ES2011a', 203, [(0.0, 1113.845375)])
    """
    yml = Path(database_yml).expanduser()
    config = _read_yaml(yml)
    return _load(yml, config, protocol, subset, _AnnotationCache(), ())
