"""The comparator itself: it must report a changed attribute readably and excuse only listed paths."""

from __future__ import annotations

from typing import Any

from tests.differential import compare
from tests.differential.harness import ScenarioResult


def _result(retry_state: str = "RETRY_STATE_TIMEOUT", version: str = "1.32.0") -> ScenarioResult:
    events: list[dict[str, Any]] = [
        {"id": 1, "type": "WORKFLOW_EXECUTION_STARTED", "attrs": {"attempt": 1}},
        {"id": 2, "type": "WORKFLOW_EXECUTION_TIMED_OUT", "attrs": {"retry_state": retry_state}},
    ]
    return ScenarioResult(histories={"main": events}, notes={"info": {"ok": {"server_version": version}}})


def test_equal_results_have_no_mismatch() -> None:
    assert compare.mismatches("x", _result(), _result()) == []


def test_changed_attribute_is_shown_as_a_diff_of_that_event() -> None:
    problems = compare.mismatches("x", _result(), _result(retry_state="NOT_SET"))
    assert len(problems) == 1
    assert '-  2 WORKFLOW_EXECUTION_TIMED_OUT  {"retry_state": "RETRY_STATE_TIMEOUT"}' in problems[0]
    assert '+  2 WORKFLOW_EXECUTION_TIMED_OUT  {"retry_state": "NOT_SET"}' in problems[0]


def test_known_difference_excuses_exactly_its_path(monkeypatch: Any) -> None:
    monkeypatch.setattr(compare, "KNOWN_DIFFERENCES", {"x/notes/info/ok/server_version": "own version"})
    assert compare.mismatches("x", _result(), _result(version="0.1.0")) == []
    # Another scenario, or another field in the same scenario, is still compared.
    assert compare.mismatches("y", _result(), _result(version="0.1.0")) != []
    assert compare.mismatches("x", _result(), _result(retry_state="OTHER", version="0.1.0")) != []


def test_missing_history_is_reported() -> None:
    actual = _result()
    actual.histories.clear()
    assert compare.mismatches("x", _result(), actual) == ["history 'main': missing on tempyral"]


def test_known_difference_covers_a_field_only_one_side_sets(monkeypatch: Any) -> None:
    monkeypatch.setattr(compare, "KNOWN_DIFFERENCES", {"x/notes/info/ok/server_version": "own version"})
    actual = _result()
    del actual.notes["info"]["ok"]["server_version"]
    assert compare.mismatches("x", _result(), actual) == []
