"""The typed syntax tree of a visibility list filter, as `parser.parse` produces it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as Lit

LiteralValue = str | int | float | bool | None


@dataclass(frozen=True)
class Column:
    """A search attribute name, bare or backticked (names are case-sensitive)."""

    name: str


@dataclass(frozen=True)
class Literal:
    """A constant. `kind` keeps the lexical kind; `text` is the source spelling, used in error messages."""

    value: LiteralValue
    kind: Lit["string", "int", "float", "bool", "null", "hex"]
    text: str


@dataclass(frozen=True)
class Unary:
    """A sign applied to something that is not a number (e.g. `-'a'`); the server refuses it."""

    op: str
    operand: Operand


Operand = Column | Literal | Unary


@dataclass(frozen=True)
class Comparison:
    """`left op right`; op is one of = != < <= > >= STARTS_WITH, NOT STARTS_WITH, LIKE, NOT LIKE."""

    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True)
class In:
    left: Operand
    values: tuple[Operand, ...]
    negated: bool


@dataclass(frozen=True)
class Between:
    left: Operand
    low: Operand
    high: Operand
    negated: bool


@dataclass(frozen=True)
class IsNull:
    left: Operand
    negated: bool


@dataclass(frozen=True)
class Bare:
    """An operand standing alone as a condition (`WorkflowId`); the server calls it incomplete."""

    operand: Operand


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


Expr = Comparison | In | Between | IsNull | Bare | And | Or | Not


@dataclass(frozen=True)
class OrderBy:
    column: Column
    descending: bool


@dataclass(frozen=True)
class Query:
    """A whole filter: optional condition, GROUP BY columns, ORDER BY terms and LIMIT."""

    where: Expr | None
    group_by: tuple[Column, ...] = ()
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
