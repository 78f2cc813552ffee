"""Typed TOML: turn a parsed recipe table into a frozen dataclass, or say
exactly which file and key is wrong.

A dataclass field's annotation is the schema: str, int, bool, tuple[X, ...]
(a TOML array), dict[str, X] (a table with free keys), another dataclass
(a table with fixed keys), or X | None. A key the dataclass does not have
is an error naming the file and the key, so a typo never passes silently.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache

from .errors import RecipeError


@cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def fields_of(cls) -> dict[str, dataclasses.Field]:
    """The fields a recipe may set (not those the loader fills in)."""
    return {f.name: f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")}


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def check_keys(cls, data: dict, where: str, path: str = "") -> None:
    """Every key of `data` (and of its nested fixed-key tables) is one `cls` knows."""
    known = fields_of(cls)
    for key, value in data.items():
        if key not in known:
            raise RecipeError(f"{where}: unknown key {path + key!r} (known here: {', '.join(sorted(known))})")
        inner = _dataclass_in(_hints(cls)[key])
        if inner is None:
            continue
        if isinstance(value, dict):
            check_keys(inner, value, where, f"{path}{key}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    check_keys(inner, item, where, f"{path}{key}[{i}].")


def _dataclass_in(annotation):
    """The dataclass a field holds (directly, or as the items of a tuple), if any."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) is tuple:
        item = typing.get_args(annotation)[0]
        return item if dataclasses.is_dataclass(item) else None
    return None


def build(cls, data: dict, where: str, path: str = ""):
    """An instance of `cls` from `data`, every value checked against its annotation."""
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: {path.rstrip('.') or 'the file'} must be a table")
    check_keys(cls, data, where, path)
    values = {}
    for name, field in fields_of(cls).items():
        if name in data:
            values[name] = _convert(_hints(cls)[name], data[name], where, path + name)
        elif _required(field):
            raise RecipeError(f"{where}: missing key {path + name!r}")
    return cls(**values)


def _convert(annotation, value, where: str, path: str):
    def wrong(expected: str):
        raise RecipeError(f"{where}: {path} must be {expected}, not {type(value).__name__} {value!r:.60}")

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _convert(options[0], value, where, path)
    if dataclasses.is_dataclass(annotation):
        return build(annotation, value, where, path + ".")
    if origin is tuple:
        if not isinstance(value, list):
            wrong("an array")
        item = typing.get_args(annotation)[0]
        return tuple(_convert(item, v, where, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            wrong("a table")
        item = typing.get_args(annotation)[1]
        return {k: _convert(item, v, where, f"{path}.{k}") for k, v in value.items()}
    if annotation is dict:
        return value if isinstance(value, dict) else wrong("a table")
    if annotation is bool:
        return value if isinstance(value, bool) else wrong("true or false")
    if annotation is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else wrong("an integer")
    if annotation is str:
        return value if isinstance(value, str) else wrong("a string")
    if annotation is typing.Any:
        return value
    raise TypeError(f"schema: unsupported annotation {annotation!r} for {path}")
