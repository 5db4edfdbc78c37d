"""Whether a search attribute value fits its type, and how the real server prints one that does not.

A workflow's upserted (or started-with) search attribute values are payloads; the real server decodes them
with its data converter and, for a value of the wrong type, names it in the failure message the way Go's %v
prints the decoded value (or prototext prints the undecodable payload). Matching that text is the point of
the Go-style formatting below (`go_quote` also serves other messages that quote a string as Go does).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import IndexedValueType

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_UNDECODABLE = object()


def _is_datetime(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value[:19])
    except ValueError:
        return False
    return True


# Which decoded JSON values each attribute type takes (JSON numbers with a fraction or exponent are not Ints).
_ACCEPTS: dict[int, Callable[[Any], bool]] = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: lambda value: isinstance(value, str),
    IndexedValueType.INDEXED_VALUE_TYPE_TEXT: lambda value: isinstance(value, str),
    IndexedValueType.INDEXED_VALUE_TYPE_INT: lambda value: type(value) is int and -(2**63) <= value < 2**63,
    IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE: lambda value: type(value) in (int, float),
    IndexedValueType.INDEXED_VALUE_TYPE_BOOL: lambda value: isinstance(value, bool),
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: _is_datetime,
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: lambda value: (
        isinstance(value, list) and all(isinstance(item, str) for item in value)
    ),
}


def _decoded(payload: common.Payload) -> Any:
    """The payload's value as the real server's data converter reads it, or _UNDECODABLE."""
    encoding = payload.metadata.get("encoding")
    if encoding == b"binary/plain":
        return bytes(payload.data)
    if encoding != b"json/plain":
        return _UNDECODABLE

    def refuse(constant: str) -> None:
        raise ValueError(constant)  # NaN and Infinity are not JSON

    try:
        value = json.loads(payload.data, parse_constant=refuse)
    except ValueError:
        return _UNDECODABLE
    return _UNDECODABLE if isinstance(value, float) and math.isinf(value) else value


def invalid_value(payload: common.Payload, value_type: int) -> str | None:
    """None if the payload is a value of the type (null clears an attribute), else what the real server's
    message shows: the decoded value as Go prints it, or the payload itself if it does not decode."""
    if payload.metadata.get("encoding") == b"binary/null" or not (payload.data or payload.metadata):
        return None
    value = _decoded(payload)
    if value is _UNDECODABLE:
        return f"value from <{_go_payload(payload)}>"
    if value is None or _ACCEPTS.get(value_type, lambda _: True)(value):
        return None
    return _go_value(value)


def _go_value(value: Any) -> str:
    """A decoded JSON value as Go's %v prints it (numbers are float64, maps sorted by key)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, bytes):
        return "[" + " ".join(str(byte) for byte in value) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{key}:{_go_value(value[key])}" for key in sorted(value)) + "]"
    return str(value)


def _go_float(number: float) -> str:
    """Go's %v of a float64: the shortest digits, in exponent form below 1e-4 and from 1e+06 on."""
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    exact = Decimal(repr(abs(number))).normalize()
    digits = "".join(str(digit) for digit in exact.as_tuple().digits)
    power = exact.adjusted()
    sign = "-" if number < 0 else ""
    if -4 <= power < 6:
        return sign + format(exact, "f")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


def _go_payload(payload: common.Payload) -> str:
    """A payload as Go's prototext prints it (map entries sorted by key, fields two spaces apart)."""
    parts = [
        f"metadata:{{key:{go_quote(key.encode())}  value:{go_quote(payload.metadata[key])}}}"
        for key in sorted(payload.metadata)
    ]
    if payload.data:
        parts.append(f"data:{go_quote(payload.data)}")
    return "  ".join(parts)


_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def go_quote(data: bytes) -> str:
    """A quoted prototext string: the usual escapes, other control characters and non-UTF-8 bytes as \\xNN."""
    out = []
    for char in data.decode(errors="surrogateescape"):
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
