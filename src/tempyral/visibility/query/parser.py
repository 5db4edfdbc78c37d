"""Recursive-descent parser of the visibility filter language into the `ast` types.

Grammar (keywords case-insensitive, MySQL-like precedence NOT > AND > OR):
  query     := [expr] [GROUP BY name {, name}] [ORDER BY name [ASC|DESC] {, ...}] [LIMIT int] [;]
  expr      := and {(OR | ||) and};  and := not {(AND | &&) not};  not := NOT not | predicate
  predicate := ( expr ) | operand [cmp operand | [NOT] IN (operand {, operand}) | [NOT] BETWEEN operand
               AND operand | [NOT] STARTS_WITH operand | [NOT] LIKE operand | IS [NOT] NULL]
  operand   := name | `name` | 'str' | "str" | number | TRUE | FALSE | NULL | (+|-) operand
"""

from __future__ import annotations

from tempyral.visibility.query.ast import (
    And,
    Bare,
    Between,
    Column,
    Comparison,
    Expr,
    In,
    IsNull,
    Literal,
    Not,
    Operand,
    Or,
    OrderBy,
    Query,
    Unary,
)
from tempyral.visibility.query.errors import QueryError
from tempyral.visibility.query.lexer import Lexer, Token

_COMPARISONS = {"=": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# The server parses `select * from table1 where <query>` (no `where` when the query starts with a clause),
# and its syntax error positions count from the start of that statement.
_WHERE_PREFIX = len("select * from table1 where ")
_CLAUSE_PREFIX = len("select * from table1 ")


def parse(query: str) -> Query:
    """Parse a List/CountWorkflowExecutions query; raises QueryError (INVALID_ARGUMENT) when malformed."""
    if not query.strip():
        return Query(where=None)
    head = " ".join(query.split()[:2]).lower()
    starts_with_clause = head in ("order by", "group by")
    lexer = Lexer(query, _CLAUSE_PREFIX if starts_with_clause else _WHERE_PREFIX)
    return _Parser(lexer, lexer.tokens()).query(with_where=not starts_with_clause)


class _Parser:
    def __init__(self, lexer: Lexer, tokens: list[Token]) -> None:
        self.lexer = lexer
        self.tokens = tokens
        self.pos = 0

    # -- token helpers --------------------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def is_kw(self, *words: str, ahead: int = 0) -> bool:
        token = self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]
        return token.kind == "keyword" and token.value in words

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def error(self, token: Token | None = None) -> QueryError:
        token = token or self.tok
        return self.lexer.error_at(token.end, token.near)

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise self.error()
        self.advance()

    def expect_op(self, op: str) -> None:
        if not self.is_op(op):
            raise self.error()
        self.advance()

    # -- clauses --------------------------------------------------------------------------------------

    def query(self, *, with_where: bool) -> Query:
        where = self.expr() if with_where else None
        group_by: tuple[Column, ...] = ()
        order_by: tuple[OrderBy, ...] = ()
        limit: int | None = None
        if self.is_kw("group"):
            self.advance()
            self.expect_kw("by")
            group_by = (self.column(),)
            while self.is_op(","):
                self.advance()
                group_by += (self.column(),)
        if self.is_kw("order"):
            self.advance()
            self.expect_kw("by")
            order_by = (self.order_term(),)
            while self.is_op(","):
                self.advance()
                order_by += (self.order_term(),)
        if self.is_kw("limit"):
            self.advance()
            if self.tok.kind != "number" or not self.tok.value.isdigit():
                raise self.error()
            limit = int(self.advance().value)
        if self.is_op(";"):
            self.advance()
        if self.tok.kind != "eof":
            raise self.error()
        return Query(where=where, group_by=group_by, order_by=order_by, limit=limit)

    def column(self) -> Column:
        if self.tok.kind != "ident":
            raise self.error()
        return Column(self.advance().value)

    def order_term(self) -> OrderBy:
        column = self.column()
        descending = False
        if self.is_kw("asc", "desc"):
            descending = self.advance().value == "desc"
        return OrderBy(column, descending)

    # -- conditions -----------------------------------------------------------------------------------

    def expr(self) -> Expr:
        left = self.and_expr()
        while self.is_kw("or") or self.is_op("||"):
            self.advance()
            left = Or(left, self.and_expr())
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.is_kw("and") or self.is_op("&&"):
            self.advance()
            left = And(left, self.not_expr())
        return left

    def not_expr(self) -> Expr:
        if self.is_kw("not"):
            self.advance()
            return Not(self.not_expr())
        return self.predicate()

    def predicate(self) -> Expr:
        if self.is_op("("):
            self.advance()
            inner = self.expr()
            self.expect_op(")")
            return inner
        left = self.operand()
        if self.tok.kind == "op" and self.tok.value in _COMPARISONS:
            op = _COMPARISONS[self.advance().value]
            return Comparison(left, op, self.operand())
        negated = False
        if self.is_kw("not") and self.is_kw("in", "between", "starts_with", "like", ahead=1):
            self.advance()
            negated = True
        if self.is_kw("starts_with", "like"):
            word = self.advance().value.upper()
            return Comparison(left, f"NOT {word}" if negated else word, self.operand())
        if self.is_kw("in"):
            self.advance()
            self.expect_op("(")
            values = [self.operand()]
            while self.is_op(","):
                self.advance()
                values.append(self.operand())
            self.expect_op(")")
            return In(left, tuple(values), negated)
        if self.is_kw("between"):
            self.advance()
            low = self.operand()
            self.expect_kw("and")
            return Between(left, low, self.operand(), negated)
        if self.is_kw("is"):
            self.advance()
            is_not = self.is_kw("not")
            if is_not:
                self.advance()
            self.expect_kw("null")
            return IsNull(left, is_not)
        return Bare(left)

    def operand(self) -> Operand:
        token = self.tok
        if token.kind == "ident":
            self.advance()
            return Column(token.value)
        if token.kind == "string":
            self.advance()
            return Literal(token.value, "string", token.value)
        if token.kind == "number":
            self.advance()
            return _number(token.value)
        if token.kind == "keyword" and token.value in ("true", "false"):
            self.advance()
            return Literal(token.value == "true", "bool", token.value)
        if token.kind == "keyword" and token.value == "null":
            self.advance()
            return Literal(None, "null", "null")
        if token.kind == "op" and token.value in ("-", "+"):
            self.advance()
            inner = self.operand()
            if isinstance(inner, Literal) and inner.kind in ("int", "float"):
                assert isinstance(inner.value, int | float)
                value = -inner.value if token.value == "-" else inner.value
                text = inner.text if token.value == "+" else f"-{inner.text}"
                return Literal(value, inner.kind, text)
            return Unary(token.value, inner)
        raise self.error(token)


def _number(text: str) -> Literal:
    if text[:2].lower() == "0x":
        return Literal(None, "hex", text)
    if any(c in text for c in ".eE"):
        return Literal(float(text), "float", text)
    return Literal(int(text), "int", text)
