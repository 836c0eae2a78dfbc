"""The protocol's frozen records as plain JSON values and back, by their field names.

The store writes a job's result and options with these: a field added to a record (with a
default) is stored and read back without a change here, a value written before it existed reads
as its default, and a key the record no longer has is ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, TypeVar, get_args, get_origin

R = TypeVar("R")


def to_plain(value: Any) -> Any:
    """A record as dicts, lists and primitives, ready for json.dumps."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    return value


def from_plain(kind: type[R], plain: Any) -> R:
    """The record of type `kind` that to_plain turned into `plain`."""
    return typing.cast(R, _build(kind, plain))


def _build(kind: Any, plain: Any) -> Any:
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{name: _build(hints[name], value) for name, value in plain.items() if name in hints})
    origin = get_origin(kind)
    if origin is tuple:
        item = get_args(kind)[0]
        return tuple(_build(item, value) for value in plain)
    if origin in (types.UnionType, typing.Union):
        if plain is None:
            return None
        (inner,) = (arg for arg in get_args(kind) if arg is not type(None))
        return _build(inner, plain)
    if origin is typing.Literal:
        return plain
    return kind(plain)


@cache
def _hints(kind: type) -> dict[str, Any]:
    names = {field.name for field in dataclasses.fields(kind)}
    return {name: hint for name, hint in typing.get_type_hints(kind).items() if name in names}
