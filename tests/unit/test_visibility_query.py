"""The visibility query language: accepted queries select what the real server selects, refused ones carry
the real server's INVALID_ARGUMENT wording (recorded from `temporal server start-dev`, CLI 1.x / SDK 1.35)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from tempyral.visibility.query import QueryError, is_group_by_status, parse, to_sql
from tempyral.visibility.query.ast import And, Column, Comparison, Literal, Not, Or

CUSTOM = {
    "CustomKeyword": "Keyword",
    "CustomText": "Text",
    "CustomInt": "Int",
    "CustomDouble": "Double",
    "CustomBool": "Bool",
    "CustomDatetime": "Datetime",
    "CustomKL": "KeywordList",
}

SCHEMA = """CREATE TABLE visibility(namespace_id TEXT, workflow_id TEXT, run_id TEXT, workflow_type TEXT,
    status INTEGER, start_time REAL, close_time REAL, execution_time REAL, execution_duration REAL,
    task_queue TEXT, history_length INTEGER, history_size_bytes INTEGER, parent_workflow_id TEXT,
    root_workflow_id TEXT, search_attributes TEXT)"""

# w1 and w2 mirror what was observed on the real server: w1 started with search attributes and was
# terminated at once, w2 is running with none. w3/w4 add values the real-server run did not cover.
ROWS: list[tuple[object, ...]] = [
    ("ns", "w1", "r1", "Wf", 5, 1_700_000_000.0, 1_700_000_000.5, 1_700_000_000.0, 0.5, "tq", 5, 900,
     None, "w1", json.dumps({"CustomKeyword": "abc", "CustomText": "hello world", "CustomInt": 5,
                             "CustomKL": ["a", "b"]})),
    ("ns", "w2", "r2", "Wf", 1, 1_700_000_100.0, None, 1_700_000_100.0, None, "tq", 0, 0, None, "w2", "{}"),
    ("ns", "w3", "r3", "Other", 2, 1_600_000_000.0, 1_600_007_200.0, 1_600_000_000.0, 7200.0, "q2", 11,
     5000, "w1", "w1", json.dumps({"CustomDouble": 2.5, "CustomBool": True, "CustomDatetime": 1_650_000_000,
                                   "CustomKeyword": "it's 100%", "BuildIds": ["v1"]})),
    ("ns", "w4", "r4", "Other", 3, 1_600_000_000.0, 1_600_000_060.0, 1_600_000_000.0, 60.0, "q2", 7, 70,
     None, "w4", json.dumps({"CustomBool": False, "CustomText": "Hello, Tempyral!", "CustomInt": -3})),
]  # fmt: skip


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute(SCHEMA)
    conn.executemany(f"INSERT INTO visibility VALUES ({', '.join('?' * 15)})", ROWS)
    yield conn
    conn.close()


def select(conn: sqlite3.Connection, query: str) -> list[str]:
    where, params, order_by = to_sql(parse(query), CUSTOM)
    sql = f"SELECT workflow_id FROM visibility WHERE namespace_id = ? AND ({where}) ORDER BY {order_by}"
    return sorted(row[0] for row in conn.execute(sql, ["ns", *params]))


SELECTS = [
    # Observed on the real server for w1/w2.
    ("StartTime > 1800000000", ["w1", "w2", "w3", "w4"]),  # integers are Unix nanoseconds
    ("StartTime > 1800000000000000000", []),
    ("ExecutionDuration > 1000", ["w1", "w3", "w4"]),  # nanoseconds; running rows have no duration
    ("ExecutionDuration > '1000'", ["w1", "w3", "w4"]),
    ("ExecutionDuration < '1h'", ["w1", "w4"]),
    ("CustomKeyword != 'zzz'", ["w1", "w3"]),  # a missing attribute is not "not equal"...
    ("CustomKL != 'zzz'", ["w1", "w2", "w3", "w4"]),  # ...but a missing list does not contain it
    ("CustomKL NOT IN ('zzz')", ["w1", "w2", "w3", "w4"]),
    ("CustomKL = 'a'", ["w1"]),
    ("CustomKL != 'a'", ["w2", "w3", "w4"]),
    ("CustomKL IN ('b','q')", ["w1"]),
    ("ExecutionStatus > 'Running'", ["w1", "w3", "w4"]),
    ("ExecutionStatus = 'Terminated'", ["w1"]),
    ("ExecutionStatus = 5", ["w1"]),
    ("CustomText = 'hello'", ["w1", "w4"]),  # Text matches words, case-insensitively
    ("CustomText = 'world hello'", ["w1", "w4"]),
    ("CustomText = 'hel'", []),
    ("CustomText = 'HELLO'", ["w1", "w4"]),
    ("CustomText != 'hello'", ["w2", "w3"]),
    ("CustomText = 'hello there'", ["w1", "w4"]),  # any word suffices
    ("CustomInt = 5.5", []),
    ("CustomInt > 4.5", ["w1"]),
    ("CustomInt = 5", ["w1"]),
    ("HistoryLength = 2.5", []),
    ("CustomKeyword IS NULL", ["w2", "w4"]),
    ("CustomKeyword STARTS_WITH 'ab'", ["w1"]),
    ("CustomKeyword STARTS_WITH 'AB'", ["w1"]),  # LIKE on SQLite: ASCII case-insensitive
    ("CloseTime IS NULL", ["w2"]),
    ("CloseTime IS NOT NULL", ["w1", "w3", "w4"]),
    ("ParentWorkflowId IS NULL", ["w1", "w2", "w4"]),
    ("RootWorkflowId = 'w1'", ["w1", "w3"]),
    ("WorkflowId = 'w1';", ["w1"]),
    ("WorkflowId = 'w1' || WorkflowId = 'w2'", ["w1", "w2"]),
    ("NOT NOT WorkflowId = 'w1'", ["w1"]),
    # Grammar coverage on the local rows.
    ("", ["w1", "w2", "w3", "w4"]),
    ('`WorkflowId` = "w3"', ["w3"]),
    ("WorkflowId = 'x' or WorkflowType = 'Other'", ["w3", "w4"]),
    ("WorkflowId <> 'w1' AnD TaskQueue = 'tq'", ["w2"]),
    ("WorkflowId not in ('w1', 'w2')", ["w3", "w4"]),
    ("WorkflowId BETWEEN 'w2' AND 'w3'", ["w2", "w3"]),
    ("WorkflowId NOT BETWEEN 'w2' AND 'w3'", ["w1", "w4"]),
    ("WorkflowId NOT STARTS_WITH 'w1'", ["w2", "w3", "w4"]),
    ("(WorkflowId = 'w1' OR WorkflowId = 'w3') AND NOT (HistoryLength >= 11)", ["w1"]),
    ("WorkflowId = 'w1' OR WorkflowId = 'w3' AND HistoryLength >= 11", ["w1", "w3"]),  # AND binds tighter
    ("NOT WorkflowId = 'w1' AND NOT WorkflowId = 'w2'", ["w3", "w4"]),
    ("ExecutionStatus IN ('Completed', 'Failed')", ["w3", "w4"]),
    ("StartTime < '2020-09-13T12:26:41Z'", ["w3", "w4"]),
    ("StartTime = '2020-09-13T14:26:40.000000000+02:00'", ["w3", "w4"]),
    ("StartTime BETWEEN '2023-01-01T00:00:00Z' AND '2024-01-01T00:00:00Z'", ["w1", "w2"]),
    ("ExecutionDuration >= '2h'", ["w3"]),
    ("ExecutionDuration = '01:00:00' OR ExecutionDuration = '1m'", ["w4"]),
    ("ExecutionDuration > '1h30m'", ["w3"]),
    ("HistorySizeBytes > 100 AND HistorySizeBytes < 1000", ["w1"]),
    ("CustomInt < -2", ["w4"]),
    ("CustomInt = +5", ["w1"]),
    ("CustomInt IN (1, 5, -3)", ["w1", "w4"]),
    ("CustomDouble > 2 AND CustomDouble <= 2.5e0", ["w3"]),
    ("CustomBool = true", ["w3"]),
    ("CustomBool = FALSE", ["w4"]),
    ("CustomDatetime > '2022-01-01T00:00:00Z'", ["w3"]),
    ("CustomKeyword = 'it''s 100%'", ["w3"]),
    ("CustomKeyword = 'it\\'s 100%'", ["w3"]),
    ("CustomKeyword STARTS_WITH 'it''s 1'", ["w3"]),
    ("CustomKeyword STARTS_WITH '%'", []),  # LIKE wildcards are escaped
    ("CustomText = 'tempyral'", ["w4"]),  # punctuation separates words
    ("BuildIds = 'v1'", ["w3"]),
    ("CustomKL IS NOT NULL", ["w1"]),
    ("WorkflowId = 'w1' -- a comment", ["w1"]),
    ("WorkflowType = 'Wf' GROUP BY ExecutionStatus", ["w1", "w2"]),
]


@pytest.mark.parametrize(("query", "expected"), SELECTS)
def test_selects_the_same_executions_as_the_real_server(
    db: sqlite3.Connection, query: str, expected: list[str]
) -> None:
    assert select(db, query) == expected


# (query, message) exactly as the real dev server answered, each prefixed by "invalid query: ".
ERRORS = [
    ("workflowid = 'a'", "invalid search attribute: workflowid"),
    ("`Foo` = 'a'", "invalid search attribute: Foo"),
    ("`Custom Keyword` = 'a'", "invalid search attribute: Custom Keyword"),
    ("NamespaceId = 'x'", "invalid search attribute: NamespaceId"),
    ("WorkflowId == 'a'", "malformed SQL query: syntax error at position 41"),
    ("WorkflowId = 'a", "malformed SQL query: syntax error at position 43 near 'a'"),
    ('WorkflowId = "a', "malformed SQL query: syntax error at position 43 near 'a'"),
    ("WorkflowId =", "malformed SQL query: syntax error at position 40"),
    ("= 'a'", "malformed SQL query: syntax error at position 29"),
    ("SELECT * FROM x", "malformed SQL query: syntax error at position 34 near 'select'"),
    ("WorkflowId = 'a' AND", "malformed SQL query: syntax error at position 48"),
    ("(WorkflowId = 'a'", "malformed SQL query: syntax error at position 45"),
    ("WorkflowId = 'a')", "malformed SQL query: syntax error at position 45"),
    ("WorkflowId IN ()", "malformed SQL query: syntax error at position 44"),
    ("WorkflowId = 'a' AND AND", "malformed SQL query: syntax error at position 52 near 'and'"),
    ("WorkflowId = 'a' foo", "malformed SQL query: syntax error at position 48 near 'foo'"),
    ("WorkflowId BETWEEN 'a'", "malformed SQL query: syntax error at position 50"),
    ("WorkflowId IS 'a'", "malformed SQL query: syntax error at position 45 near 'a'"),
    ("WorkflowId IS NOT 'a'", "malformed SQL query: syntax error at position 49 near 'a'"),
    ("NOT", "malformed SQL query: syntax error at position 31"),
    ("WorkflowId = 'a' ; DROP TABLE x", "malformed SQL query: syntax error at position 51 near 'drop'"),
    ("GROUP BY ExecutionStatus =", "malformed SQL query: syntax error at position 48"),
    ("ORDER BY =", "malformed SQL query: syntax error at position 32"),
    ("WorkflowId", "invalid expression: incomplete expression"),
    ("(WorkflowId)", "invalid expression: incomplete expression"),
    ("'a' = WorkflowId", "invalid expression: must be a column name but was *sqlparser.SQLVal"),
    (
        "WorkflowId = WorkflowType",
        "operation is not supported: column name on the right side of comparison expression "
        '(did you forget to quote "WorkflowType"?)',
    ),
    ("WorkflowId = -'a'", "invalid expression: unary operator not supported in \"-'a'\""),
    ("WorkflowId = null", "invalid expression: unexpected value type *sqlparser.NullVal"),
    ("HistoryLength = 0x10", 'invalid expression: unable to parse value "0x10"'),
    (
        "WorkflowId = 1",
        "invalid expression: invalid value type for search attribute WorkflowId of type Keyword: 1 "
        "(type: int64)",
    ),
    (
        "WorkflowId = 1.5",
        "invalid expression: invalid value type for search attribute WorkflowId of type Keyword: 1.5 "
        "(type: float64)",
    ),
    (
        "WorkflowId IN ('a', 1)",
        "invalid expression: invalid value type for search attribute WorkflowId of type Keyword: 1 "
        "(type: int64)",
    ),
    (
        "HistoryLength > '5'",
        'invalid expression: invalid value type for search attribute HistoryLength of type Int: "5" '
        "(type: string)",
    ),
    (
        "CustomDouble > '1.5'",
        'invalid expression: invalid value type for search attribute CustomDouble of type Double: "1.5" '
        "(type: string)",
    ),
    (
        "CustomBool = 1",
        "invalid expression: invalid value type for search attribute CustomBool of type Bool: 1 "
        "(type: int64)",
    ),
    (
        "CustomInt BETWEEN 'a' AND 'b'",
        'invalid expression: invalid value type for search attribute CustomInt of type Int: "a" '
        "(type: string)",
    ),
    ("StartTime > '2024-01-01'", "invalid expression: unable to parse datetime '2024-01-01'"),
    ("CustomDatetime STARTS_WITH 'x'", "invalid expression: unable to parse datetime 'x'"),
    ("StartTime = 'x' AND CustomInt = 'y'", "invalid expression: unable to parse datetime 'x'"),
    (
        "ExecutionDuration > 'abc'",
        "invalid expression: invalid duration value for search attribute ExecutionDuration: abc",
    ),
    ("ExecutionStatus = 'running'", "invalid expression: invalid ExecutionStatus value 'running'"),
    ("ExecutionStatus IN ('Terminated', 'Foo')", "invalid expression: invalid ExecutionStatus value 'Foo'"),
    (
        "ExecutionStatus = 1.5",
        "invalid expression: unexpected value type float64 for search attribute ExecutionStatus",
    ),
    (
        "ExecutionStatus = true",
        "invalid expression: invalid value type for search attribute ExecutionStatus of type Keyword: true "
        "(type: bool)",
    ),
    (
        "ExecutionStatus STARTS_WITH 'Terminated'",
        'invalid expression: right-hand side of "starts_with" operator must be a literal string '
        "(got: Terminated)",
    ),
    (
        "WorkflowId LIKE 'a%'",
        "operation is not supported: operator 'LIKE' not supported for Keyword type search attribute "
        "'WorkflowId'",
    ),
    (
        "CustomKL > 'a'",
        "operation is not supported: operator '>' not supported for KeywordList type search attribute "
        "'CustomKL'",
    ),
    (
        "TemporalChangeVersion > 'x'",
        "operation is not supported: operator '>' not supported for KeywordList type search attribute "
        "'TemporalChangeVersion'",
    ),
    (
        "CustomText STARTS_WITH 'h'",
        "operation is not supported: operator 'STARTS_WITH' not supported for Text type search attribute "
        "'CustomText'",
    ),
    (
        "CustomText IN ('x')",
        "operation is not supported: operator 'IN' not supported for Text type search attribute 'CustomText'",
    ),
    (
        "CustomInt STARTS_WITH 5",
        "operation is not supported: operator 'STARTS_WITH' not supported for Int type search attribute "
        "'CustomInt'",
    ),
    (
        "CustomKL BETWEEN 'a' AND 'b'",
        "invalid expression: cannot do range condition on search attribute 'CustomKL' of type KeywordList",
    ),
    (
        "CustomText BETWEEN 'a' AND 'b'",
        "invalid expression: cannot do range condition on search attribute 'CustomText' of type Text",
    ),
    ("ORDER BY StartTime", "operation is not supported: 'ORDER BY' clause"),
    ("WorkflowId = 'a' ORDER BY StartTime DESC, RunId", "operation is not supported: 'ORDER BY' clause"),
    ("ORDER BY Foo", "invalid search attribute: Foo"),
    ("ORDER BY CustomText", "operation is not supported: unable to sort by search attribute type Text"),
    ("WorkflowId = 'a' LIMIT 5", "operation is not supported: 'LIMIT' clause"),
    ("group by executionstatus", "invalid search attribute: executionstatus"),
    (
        "GROUP BY WorkflowType",
        "operation is not supported: 'GROUP BY' clause is not supported for search attribute WorkflowType",
    ),
    (
        "WorkflowId = 'a' GROUP BY ExecutionStatus, WorkflowType",
        "operation is not supported: 'GROUP BY' clause supports only a single field",
    ),
]


@pytest.mark.parametrize(("query", "message"), ERRORS)
def test_refuses_with_the_real_servers_message(query: str, message: str) -> None:
    with pytest.raises(QueryError) as caught:
        to_sql(parse(query), CUSTOM)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert caught.value.message == f"invalid query: {message}"


def test_parse_builds_a_typed_tree_with_sql_precedence() -> None:
    tree = parse("a = 1 OR NOT b != 'x' AND `c d` >= 2.5").where
    assert tree == Or(
        Comparison(Column("a"), "=", Literal(1, "int", "1")),
        And(
            Not(Comparison(Column("b"), "!=", Literal("x", "string", "x"))),
            Comparison(Column("c d"), ">=", Literal(2.5, "float", "2.5")),
        ),
    )


def test_group_by_execution_status_is_reported_for_count() -> None:
    assert is_group_by_status(parse("GROUP BY ExecutionStatus"))
    assert is_group_by_status(parse("WorkflowType = 'T' GROUP BY ExecutionStatus"))
    assert not is_group_by_status(parse("WorkflowType = 'T'"))
    where, params, _ = to_sql(parse("GROUP BY ExecutionStatus"), CUSTOM)
    assert (where, params) == ("1", [])


def test_values_are_parameters_not_sql_text() -> None:
    where, params, _ = to_sql(parse("CustomKeyword = 'x''); DROP TABLE visibility; --'"), CUSTOM)
    assert "DROP" not in where
    assert params == ['$."CustomKeyword"', "x'); DROP TABLE visibility; --"]


def test_order_by_translates_when_allowed(db: sqlite3.Connection) -> None:
    _, _, order_by = to_sql(parse("ORDER BY HistoryLength DESC"), CUSTOM, allow_order_by=True)
    # Open runs have no history length in visibility (w2 sorts last).
    assert order_by == "(CASE WHEN status = 1 THEN NULL ELSE history_length END) DESC, run_id"
    rows = db.execute(f"SELECT workflow_id FROM visibility ORDER BY {order_by}").fetchall()
    assert [row[0] for row in rows] == ["w3", "w4", "w1", "w2"]
