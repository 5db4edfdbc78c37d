"""Encode mutable-state dataclasses to JSON and back, guided by their type hints (bytes travel as base64)."""

from __future__ import annotations

import base64
import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


_SCALARS = (str, int, float, bool, type(None))


def to_jsonable(value: Any) -> Any:
    # Runs on every commit: dispatch on the exact type, scalars first, and read dataclass fields from
    # __dict__ rather than dataclasses.fields().
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is bytes:
        return base64.b64encode(value).decode()
    if kind is list or kind is tuple:
        return [to_jsonable(v) for v in value]
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if hasattr(kind, "__dataclass_fields__"):
        return {name: to_jsonable(item) for name, item in value.__dict__.items()}
    raise TypeError(f"cannot snapshot a {kind.__name__}")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return from_jsonable(inner[0], value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [from_jsonable(item, v) for v in value]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        return {key_tp(k): from_jsonable(val_tp, v) for k, v in value.items()}
    if tp is bytes:
        return base64.b64decode(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        known = {f.name for f in dataclasses.fields(tp)}
        return tp(**{k: from_jsonable(hints[k], v) for k, v in value.items() if k in known})
    if tp is float:
        return float(value)
    return value


def dumps(value: Any) -> bytes:
    return json.dumps(to_jsonable(value), separators=(",", ":")).encode()


def loads(cls: type[T], raw: bytes) -> T:
    result: T = from_jsonable(cls, json.loads(raw))
    return result
