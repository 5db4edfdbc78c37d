"""Typing of query literals per search attribute type, with the real server's refusal messages."""

from __future__ import annotations

import calendar
import json
import re
from datetime import datetime

from tempyral.visibility.query.ast import Column, Literal, Operand, Unary
from tempyral.visibility.query.errors import QueryError, invalid_expression, not_supported

# WorkflowExecutionStatus enum names as the query language spells them (case-sensitive).
EXECUTION_STATUS = {
    "Running": 1,
    "Completed": 2,
    "Failed": 3,
    "Canceled": 4,
    "Terminated": 5,
    "ContinuedAsNew": 6,
    "TimedOut": 7,
}
STATUS_NAMES = {number: name for name, number in EXECUTION_STATUS.items()}

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_CLOCK_DURATION = re.compile(r"(\d+):(\d{2}):(\d{2})(?:\.(\d+))?")


def go_value(value: object) -> str:
    """Render a value as the server's Go formatting does in 'invalid value type' errors."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def go_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    return "string"


def render(operand: Operand) -> str:
    """Source-like text of an operand, as the server echoes it."""
    if isinstance(operand, Column):
        return operand.name
    if isinstance(operand, Unary):
        return f"{operand.op}{render(operand.operand)}"
    if operand.kind == "string":
        return "'" + str(operand.value).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return operand.text


def go_node_type(operand: Operand) -> str:
    """The server's parser node type name, quoted when a value stands where a column name must."""
    if isinstance(operand, Unary):
        return "*sqlparser.UnaryExpr"
    if isinstance(operand, Literal) and operand.kind == "bool":
        return "sqlparser.BoolVal"
    if isinstance(operand, Literal) and operand.kind == "null":
        return "*sqlparser.NullVal"
    return "*sqlparser.SQLVal"


def raw_value(name: str, operand: Operand) -> str | int | float | bool:
    """The literal's Python value, refusing what is not a literal at all."""
    if isinstance(operand, Column):
        raise not_supported(
            "column name on the right side of comparison expression "
            f'(did you forget to quote "{operand.name}"?)'
        )
    if isinstance(operand, Unary):
        raise invalid_expression(f'unary operator not supported in "{render(operand)}"')
    if operand.kind == "null":
        raise invalid_expression("unexpected value type *sqlparser.NullVal")
    if operand.kind == "hex":
        raise invalid_expression(f'unable to parse value "{operand.text}"')
    assert operand.value is not None
    return operand.value


def type_error(name: str, type_name: str, value: object) -> QueryError:
    return invalid_expression(
        f"invalid value type for search attribute {name} of type {type_name}: "
        f"{go_value(value)} (type: {go_type(value)})"
    )


def convert(name: str, type_name: str, operand: Operand) -> object:
    """The SQL parameter for `operand` compared with attribute `name` of `type_name`."""
    value = raw_value(name, operand)
    if type_name == "ExecutionStatus":
        return _status(name, value)
    if type_name == "ExecutionDuration":
        return _duration(name, value)
    if type_name in ("Keyword", "Text", "KeywordList"):
        if not isinstance(value, str):
            raise type_error(name, type_name, value)
        return value
    if type_name in ("Int", "Double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise type_error(name, type_name, value)
        return value
    if type_name == "Bool":
        if not isinstance(value, bool):
            raise type_error(name, type_name, value)
        return int(value)  # SQLite's json_extract yields 1/0 for JSON true/false
    if type_name == "Datetime":
        if isinstance(value, bool):
            raise type_error(name, type_name, value)
        if isinstance(value, int | float):
            return value / 1e9  # the server reads numbers as Unix nanoseconds
        return parse_datetime(value)
    raise AssertionError(f"unknown search attribute type {type_name}")


def parse_datetime(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp (nanosecond fractions kept to float precision)."""
    match = _RFC3339.fullmatch(text)
    if not match:
        raise invalid_expression(f"unable to parse datetime '{text}'")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    try:
        datetime(year, month, day, hour, minute, second)  # validates the calendar fields
    except ValueError:
        raise invalid_expression(f"unable to parse datetime '{text}'") from None
    seconds = float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    if match.group(7):
        seconds += int(match.group(7)) / 10 ** len(match.group(7))
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        seconds -= offset if match.group(9) == "+" else -offset
    return seconds


def _status(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise type_error(name, "Keyword", value)
    if isinstance(value, float):
        raise invalid_expression(f"unexpected value type float64 for search attribute {name}")
    if isinstance(value, int):
        return value
    assert isinstance(value, str)
    if value not in EXECUTION_STATUS:
        raise invalid_expression(f"invalid ExecutionStatus value '{value}'")
    return EXECUTION_STATUS[value]


def _duration(name: str, value: object) -> float:
    """Seconds; numbers (and numeric strings) are nanoseconds, strings may be Go durations or hh:mm:ss."""
    if isinstance(value, bool):
        raise type_error(name, "Int", value)
    if isinstance(value, int | float):
        return value / 1e9
    assert isinstance(value, str)
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        return int(text) / 1e9
    clock = _CLOCK_DURATION.fullmatch(text)
    if clock:
        fraction = float(f"0.{clock.group(4)}") if clock.group(4) else 0.0
        return int(clock.group(1)) * 3600 + int(clock.group(2)) * 60 + int(clock.group(3)) + fraction
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    parts = _GO_DURATION_PART.findall(body)
    if not body or "".join(number + unit for number, unit in parts) != body:
        raise invalid_expression(f"invalid duration value for search attribute {name}: {value}")
    return sign * sum(float(number) * _GO_DURATION_UNITS[unit] for number, unit in parts)
