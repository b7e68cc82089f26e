"""Typed config trees (nested dataclasses) to and from JSON, with partial overrides.

Every model's config is one dataclass tree (model, matcher, loss, data, optim); checkpoints store it as
JSON and ``vsearch train --config FILE`` overrides parts of it. Unknown keys are errors, so a typo in a
config file never silently trains the default.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or dict does not fit the config tree (message names the offending key)."""


def to_dict(config: Any) -> dict[str, Any]:
    """Dataclass tree -> plain JSON-able dict (tuples become lists)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"expected a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected an object, got {value!r}")
        return from_dict(annotation, value, where=where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item_type = args[0] if args else Any
        return tuple(_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], *, base: T | None = None, where: str = "config") -> T:
    """Build ``cls`` from ``data``; keys missing from ``data`` keep the value of ``base`` (or the default).

    Raises:
        ConfigError: an unknown key or a value of the wrong type (message names the dotted key).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    for name in fields:
        current = getattr(base, name) if base is not None else None
        if name in data:
            annotation = hints[name]
            if dataclasses.is_dataclass(annotation) and isinstance(data[name], Mapping):
                values[name] = from_dict(annotation, data[name], base=current, where=f"{where}.{name}")
            else:
                values[name] = _coerce(data[name], annotation, f"{where}.{name}")
        elif base is not None:
            values[name] = current
    return cls(**values)


def override(config: T, data: Mapping[str, Any], *, where: str = "config") -> T:
    """A copy of ``config`` with the (partial, nested) values of ``data`` applied."""
    return from_dict(type(config), data, base=config, where=where)


def load_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``; a clear :class:`ConfigError` for a missing or malformed file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return data
