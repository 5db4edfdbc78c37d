"""Translates a parsed visibility query into a parameterized SQLite condition over the `visibility` table.

System attributes are columns; everything else lives in the `search_attributes` JSON object (KeywordList as
JSON arrays, Datetime as epoch seconds). Times and durations are compared in seconds (REAL columns).
"""

from __future__ import annotations

import re

from temporalio.api.enums.v1 import WorkflowExecutionStatus

from tempyral.visibility.query.ast import (
    And,
    Bare,
    Between,
    Column,
    Comparison,
    Expr,
    In,
    IsNull,
    Not,
    Operand,
    Or,
    Query,
)
from tempyral.visibility.query.errors import invalid_expression, not_supported, unknown_attribute
from tempyral.visibility.query.values import STATUS_NAMES, convert, go_node_type

_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING

# System attribute -> (column, value type). ExecutionStatus/ExecutionDuration have their own value rules.
SYSTEM_COLUMNS: dict[str, tuple[str, str]] = {
    "WorkflowId": ("workflow_id", "Keyword"),
    "RunId": ("run_id", "Keyword"),
    "WorkflowType": ("workflow_type", "Keyword"),
    "ExecutionStatus": ("status", "ExecutionStatus"),
    "StartTime": ("start_time", "Datetime"),
    "CloseTime": ("close_time", "Datetime"),
    "ExecutionTime": ("execution_time", "Datetime"),
    "ExecutionDuration": ("execution_duration", "ExecutionDuration"),
    "TaskQueue": ("task_queue", "Keyword"),
    # The real server records these for closed runs only: NULL (listed as 0) while a run is open.
    "HistoryLength": (f"(CASE WHEN status = {_RUNNING} THEN NULL ELSE history_length END)", "Int"),
    "HistorySizeBytes": (f"(CASE WHEN status = {_RUNNING} THEN NULL ELSE history_size_bytes END)", "Int"),
    "ParentWorkflowId": ("parent_workflow_id", "Keyword"),
    "RootWorkflowId": ("root_workflow_id", "Keyword"),
    "ParentRunId": ("parent_run_id", "Keyword"),
    "RootRunId": ("root_run_id", "Keyword"),
    "StateTransitionCount": (
        f"(CASE WHEN status = {_RUNNING} THEN NULL ELSE state_transition_count END)",
        "Int",
    ),
}

# System attributes without a column: stored in the JSON like custom ones.
SYSTEM_JSON: dict[str, str] = {
    "TemporalChangeVersion": "KeywordList",
    "BinaryChecksums": "KeywordList",
    "BuildIds": "KeywordList",
    "TemporalScheduledStartTime": "Datetime",
    "TemporalScheduledById": "Keyword",
    "TemporalSchedulePaused": "Bool",
    "TemporalNamespaceDivision": "Keyword",
    "TemporalExternalPayloadCount": "Int",
    "TemporalExternalPayloadSizeBytes": "Int",
    "TemporalPauseInfo": "KeywordList",
    "TemporalReportedProblems": "KeywordList",
    "TemporalUsedWorkerDeploymentVersions": "KeywordList",
    "TemporalWorkerDeployment": "Keyword",
    "TemporalWorkerDeploymentVersion": "Keyword",
    "TemporalWorkflowVersioningBehavior": "Keyword",
}

_TYPES = {t.lower(): t for t in ("Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList")}

# Running executions first, then most recently closed, as the server lists them.
DEFAULT_ORDER_BY = "COALESCE(close_time, 9e18) DESC, start_time DESC, run_id"

# Text is matched by words, case-insensitively (any word of the value); these characters separate words.
# (Kept short: each one nests a replace() call and SQLite's parser stack is shallow.)
_TEXT_SEPARATORS = " \t\n\r.,;:!?()[]-_/'\""
_TEXT_WORD = re.compile(r"[^" + re.escape(_TEXT_SEPARATORS) + r"]+")

_RANGE_OPS = ("<", "<=", ">", ">=")
_PREFIX_OPS = ("STARTS_WITH", "NOT STARTS_WITH")
_LIKE_OPS = ("LIKE", "NOT LIKE")

Fragment = tuple[str, list[object]]


def to_sql(
    query: Query, custom: dict[str, str], *, allow_order_by: bool = False
) -> tuple[str, list[object], str]:
    """(WHERE condition, its parameters, ORDER BY clause) for `query`.

    `custom` maps the namespace's custom search attribute names to their type names. The condition is
    always a valid boolean expression ("1" when the query has none). The real server on SQLite refuses
    ORDER BY; pass allow_order_by=True to translate it anyway. GROUP BY is validated here; the caller
    groups by `status` when `query.group_by` is set.
    """
    translator = _Translator({name: _TYPES[t.lower()] for name, t in custom.items()})
    where, params = translator.expr(query.where) if query.where is not None else ("1", [])
    if len(query.group_by) > 1:
        raise not_supported("'GROUP BY' clause supports only a single field")
    for column in query.group_by:
        translator.lookup(column)
        if column.name != "ExecutionStatus":
            raise not_supported(f"'GROUP BY' clause is not supported for search attribute {column.name}")
    order_by = DEFAULT_ORDER_BY
    if query.order_by:
        terms: list[str] = []
        for term in query.order_by:
            column_sql, type_name, path_params = translator.lookup(term.column)
            if type_name in ("Text", "KeywordList"):
                raise not_supported(f"unable to sort by search attribute type {type_name}")
            if not allow_order_by:
                raise not_supported("'ORDER BY' clause")
            if path_params:  # custom attributes: the JSON path is a trusted, quoted literal here
                column_sql = f"json_extract(search_attributes, '{_sql_quote(str(path_params[0]))}')"
            terms.append(f"{column_sql} {'DESC' if term.descending else 'ASC'}")
        order_by = ", ".join([*terms, "run_id"])
    if query.limit is not None:
        raise not_supported("'LIMIT' clause")
    return where, params, order_by


def is_group_by_status(query: Query) -> bool:
    """Whether a CountWorkflowExecutions query asks for counts per ExecutionStatus."""
    return any(column.name == "ExecutionStatus" for column in query.group_by)


def _sql_quote(text: str) -> str:
    return text.replace("'", "''")


def _json_path(name: str) -> str:
    return '$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Translator:
    def __init__(self, custom: dict[str, str]) -> None:
        self.custom = custom

    def lookup(self, column: Column) -> tuple[str, str, list[object]]:
        """(SQL expression, type name, its parameters) of a search attribute."""
        name = column.name
        if name in SYSTEM_COLUMNS:
            sql_column, type_name = SYSTEM_COLUMNS[name]
            return sql_column, type_name, []
        json_type = SYSTEM_JSON.get(name) or self.custom.get(name)
        if json_type is None:
            raise unknown_attribute(name)
        return "json_extract(search_attributes, ?)", json_type, [_json_path(name)]

    def attribute(self, operand: Operand) -> tuple[str, str, str, list[object]]:
        if not isinstance(operand, Column):
            raise invalid_expression(f"must be a column name but was {go_node_type(operand)}")
        sql, type_name, params = self.lookup(operand)
        return operand.name, sql, type_name, params

    def expr(self, node: Expr) -> Fragment:
        if isinstance(node, And | Or):
            left, left_params = self.expr(node.left)
            right, right_params = self.expr(node.right)
            word = "AND" if isinstance(node, And) else "OR"
            return f"({left} {word} {right})", left_params + right_params
        if isinstance(node, Not):
            inner, params = self.expr(node.operand)
            return f"NOT {inner}" if inner.startswith("(") else f"NOT ({inner})", params
        if isinstance(node, Bare):
            raise invalid_expression("incomplete expression")
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, In):
            return self.in_list(node)
        if isinstance(node, Between):
            return self.between(node)
        return self.is_null(node)

    def comparison(self, node: Comparison) -> Fragment:
        name, col, type_name, col_params = self.attribute(node.left)
        value = convert(name, type_name, node.right)
        op = node.op
        if type_name == "ExecutionStatus" and op in _PREFIX_OPS:
            got = STATUS_NAMES.get(value, value) if isinstance(value, int) else value
            raise invalid_expression(
                f'right-hand side of "starts_with" operator must be a literal string (got: {got})'
            )
        unsupported = (
            op in _LIKE_OPS
            or (type_name in ("Text", "KeywordList") and op in _RANGE_OPS + _PREFIX_OPS)
            or (type_name not in ("Keyword",) and op in _PREFIX_OPS)
        )
        if unsupported:
            raise not_supported(
                f"operator '{op}' not supported for {_shown(type_name)} type search attribute '{name}'"
            )
        if type_name == "KeywordList":
            return _contains(col_params, [value], negated=op == "!=")
        if type_name == "Text":
            return _text_match(col, col_params, str(value), negated=op == "!=")
        if op in _PREFIX_OPS:
            # SQLite visibility uses LIKE for prefixes, so the match is ASCII case-insensitive there too.
            pattern = re.sub(r"([!%_])", r"!\1", str(value)) + "%"
            sql = f"{col} LIKE ? ESCAPE '!'"
            return (f"NOT ({sql})" if op.startswith("NOT") else sql), [*col_params, pattern]
        return f"{col} {op} ?", [*col_params, value]

    def in_list(self, node: In) -> Fragment:
        name, col, type_name, col_params = self.attribute(node.left)
        values = [convert(name, type_name, operand) for operand in node.values]
        if type_name == "Text":
            op = "NOT IN" if node.negated else "IN"
            raise not_supported(f"operator '{op}' not supported for Text type search attribute '{name}'")
        if type_name == "KeywordList":
            return _contains(col_params, values, negated=node.negated)
        marks = ", ".join("?" for _ in values)
        return f"{col} {'NOT IN' if node.negated else 'IN'} ({marks})", [*col_params, *values]

    def between(self, node: Between) -> Fragment:
        name, col, type_name, col_params = self.attribute(node.left)
        low = convert(name, type_name, node.low)
        high = convert(name, type_name, node.high)
        if type_name in ("Text", "KeywordList"):
            raise invalid_expression(
                f"cannot do range condition on search attribute '{name}' of type {type_name}"
            )
        word = "NOT BETWEEN" if node.negated else "BETWEEN"
        return f"{col} {word} ? AND ?", [*col_params, low, high]

    def is_null(self, node: IsNull) -> Fragment:
        _, col, _, col_params = self.attribute(node.left)
        return f"{col} IS {'NOT ' if node.negated else ''}NULL", col_params


def _shown(type_name: str) -> str:
    # The server names these system attributes by their declared types in operator errors.
    return {"ExecutionStatus": "Keyword", "ExecutionDuration": "Int"}.get(type_name, type_name)


def _contains(path_params: list[object], values: list[object], *, negated: bool) -> Fragment:
    """KeywordList membership: `=`/IN mean "contains any", ignoring case as the real server's SQLite
    visibility does; a missing list does not contain anything."""
    marks = ", ".join("?" for _ in values)
    condition = "lower(value) = ?" if len(values) == 1 else f"lower(value) IN ({marks})"
    sql = f"EXISTS (SELECT 1 FROM json_each(search_attributes, ?) WHERE {condition})"
    return (f"NOT {sql}" if negated else sql), [*path_params, *(str(value).lower() for value in values)]


def _text_match(col: str, col_params: list[object], value: str, *, negated: bool) -> Fragment:
    """Text `=` matches when any term of the value (terms are separated by spaces) is in the attribute,
    case-insensitively; a term of several words ("quick-silver") must appear as that phrase. `!=` and
    NOT are its complement and, as on the real server, also match executions without the attribute."""
    phrases = [
        " ".join(words) for words in (_TEXT_WORD.findall(term) for term in value.lower().split()) if words
    ]
    normalized = f"lower({col})"
    for separator in _TEXT_SEPARATORS:
        if separator != " ":
            normalized = f"replace({normalized}, '{_sql_quote(separator)}', ' ')"
    haystack = f"(' ' || {normalized} || ' ')"
    # The column expression (and its parameters) repeats once per term.
    checks = [f"instr({haystack}, ?) > 0" for _ in phrases]
    params: list[object] = []
    for phrase in phrases:
        params += [*col_params, f" {phrase} "]
    # Never NULL: a run without the attribute does not match, so NOT of a match includes it.
    sql = "COALESCE((" + " OR ".join(checks) + "), 0)" if checks else "0"
    return (f"NOT {sql}" if negated else sql), params
