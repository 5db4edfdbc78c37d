"""The one error a bad visibility query raises, worded as the real server words it."""

from __future__ import annotations

from tempyral.errors import InvalidArgument


class QueryError(InvalidArgument):
    """INVALID_ARGUMENT whose message is `invalid query: <kind>: <detail>`, like the real server's."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"invalid query: {kind}: {detail}")
        self.kind = kind
        self.reason = detail  # (not `detail`: ServiceError.detail is the gRPC failure detail)


def malformed(position: int, near: str | None) -> QueryError:
    """A syntax error; `position` counts as the server does (see lexer.Token.position)."""
    suffix = f" near '{near}'" if near else ""
    return QueryError("malformed SQL query", f"syntax error at position {position}{suffix}")


def invalid_expression(detail: str) -> QueryError:
    return QueryError("invalid expression", detail)


def not_supported(detail: str) -> QueryError:
    return QueryError("operation is not supported", detail)


def unknown_attribute(name: str) -> QueryError:
    return QueryError("invalid search attribute", name)
