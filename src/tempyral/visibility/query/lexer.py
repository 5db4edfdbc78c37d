"""Splits a visibility query into tokens, keeping the offsets the server's syntax errors report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tempyral.visibility.query.errors import QueryError, malformed

TokenKind = Literal["ident", "keyword", "string", "number", "op", "eof"]

# Words the grammar (or plain SQL) reserves; like the server's MySQL-dialect parser, they are
# case-insensitive and echoed lowercased in "near '...'".
KEYWORDS = frozenset(
    {
        "and", "or", "not", "in", "between", "is", "null", "true", "false", "like", "starts_with",
        "order", "by", "group", "asc", "desc", "limit", "having", "select", "from", "where", "drop",
        "delete", "insert", "update", "union", "table", "offset", "regexp", "escape",
    }
)  # fmt: skip

_TWO_CHAR_OPS = frozenset({"<=", ">=", "<>", "!=", "&&", "||"})
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "0": "\0", "Z": "\x1a"}


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    value: str  # decoded text; keywords lowercased, operators as written
    start: int
    end: int  # exclusive offset in the query

    @property
    def near(self) -> str | None:
        """What the server quotes after "near": the token's text, none for operators and end of input."""
        return None if self.kind in ("op", "eof") else self.value


class Lexer:
    """Tokenizes `query`; `prefix` is the length of the SELECT the server wraps the query in."""

    def __init__(self, query: str, prefix: int) -> None:
        self.query = query
        self.prefix = prefix

    def error_at(self, end: int, near: str | None) -> QueryError:
        # The server's tokenizer reads one character ahead, so it reports the offset past the token, 1-based.
        return malformed(self.prefix + end + 1, near)

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        q, i, n = self.query, 0, len(self.query)
        while True:
            i = self._skip_space_and_comments(i)
            if i >= n:
                out.append(Token("eof", "", n, n))
                return out
            ch = q[i]
            if ch.isalpha() or ch == "_":
                j = i
                while j < n and (q[j].isalnum() or q[j] in "_$"):
                    j += 1
                word = q[i:j]
                if word.lower() in KEYWORDS:
                    out.append(Token("keyword", word.lower(), i, j))
                else:
                    out.append(Token("ident", word, i, j))
                i = j
            elif ch == "`":
                text, j = self._quoted(i, "`", escapes=False)
                out.append(Token("ident", text, i, j))
                i = j
            elif ch in "'\"":
                text, j = self._quoted(i, ch, escapes=True)
                out.append(Token("string", text, i, j))
                i = j
            elif ch.isdigit() or (ch == "." and i + 1 < n and q[i + 1].isdigit()):
                j = self._number_end(i)
                out.append(Token("number", q[i:j], i, j))
                i = j
            elif q[i : i + 2] in _TWO_CHAR_OPS:
                out.append(Token("op", q[i : i + 2], i, i + 2))
                i += 2
            else:
                out.append(Token("op", ch, i, i + 1))
                i += 1

    def _skip_space_and_comments(self, i: int) -> int:
        q, n = self.query, len(self.query)
        while i < n:
            if q[i].isspace():
                i += 1
            elif q.startswith("--", i) or q[i] == "#":
                newline = q.find("\n", i)
                i = n if newline < 0 else newline + 1
            elif q.startswith("/*", i):
                close = q.find("*/", i + 2)
                i = n if close < 0 else close + 2
            else:
                return i
        return i

    def _quoted(self, start: int, quote: str, *, escapes: bool) -> tuple[str, int]:
        """Decode a quoted string or backticked name; a doubled quote stands for itself."""
        q, n = self.query, len(self.query)
        chars: list[str] = []
        i = start + 1
        while i < n:
            ch = q[i]
            if ch == quote:
                if i + 1 < n and q[i + 1] == quote:
                    chars.append(quote)
                    i += 2
                    continue
                return "".join(chars), i + 1
            if escapes and ch == "\\" and i + 1 < n:
                chars.append(_ESCAPES.get(q[i + 1], q[i + 1]))
                i += 2
                continue
            chars.append(ch)
            i += 1
        raise self.error_at(n, "".join(chars))

    def _number_end(self, i: int) -> int:
        q, n = self.query, len(self.query)
        if q.startswith(("0x", "0X"), i):
            j = i + 2
            while j < n and q[j] in "0123456789abcdefABCDEF":
                j += 1
            return j
        j = i
        while j < n and q[j].isdigit():
            j += 1
        if j < n and q[j] == ".":
            j += 1
            while j < n and q[j].isdigit():
                j += 1
        if j < n and q[j] in "eE":
            k = j + 1
            if k < n and q[k] in "+-":
                k += 1
            if k < n and q[k].isdigit():
                while k < n and q[k].isdigit():
                    k += 1
                j = k
        return j
