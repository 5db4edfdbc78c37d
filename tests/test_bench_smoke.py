"""Keeps the benchmark working: runs `python -m bench --quick` end to end and checks its JSON and tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import format_table
from bench.runner import QueryStats, ScenarioResult, percentile
from bench.visibility import plan, query_specs
from bench.workloads import SCENARIOS

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("server", ["temporal", "tempyral"])
def test_quick_bench_runs_every_scenario(server: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--servers", server, "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    results = json.loads(out.read_text())["results"]
    assert [r["scenario"] for r in results] == list(SCENARIOS)
    for result in results:
        assert result["server"] == server
        assert result["unit"] == SCENARIOS[result["scenario"]].unit
        assert result["error"] is None
        assert result["failed"] == 0
        assert result["completed"] == result["workflows"] > 0
        assert result["throughput_wf_s"] > 0
        assert 0 < result["latency_p50_ms"] <= result["latency_p95_ms"] <= result["latency_p99_ms"]
        assert result["latency_p99_ms"] <= result["latency_max_ms"]
        assert result["server_cpu_s"] > 0
        assert result["server_peak_rss_mb"] >= result["server_rss_before_mb"] > 0
    by_name = {r["scenario"]: r for r in results}
    # The timer scenario sleeps one durable second, so no workflow of it can finish sooner.
    assert by_name["timer"]["latency_p50_ms"] >= 1000
    # Entity scenarios measure operations on --quick's 4 long-running workflows, one lane per workflow.
    for name in ("signal_roundtrip", "query"):
        assert by_name[name]["unit"] == "op"
        assert by_name[name]["entities"] == by_name[name]["concurrency"] == 4
    for scenario in SCENARIOS:
        assert f"== {scenario} " in run.stdout
    assert "throughput (wf/s)" in run.stdout
    assert "throughput (op/s)" in run.stdout
    assert "== query (16 operations on 4 workflows, concurrency 4)" in run.stdout
    # Visibility: --quick lists and counts 200 closed workflows, each query 5 times (plus checked warm-ups).
    visibility = by_name["visibility"]
    assert visibility["unit"] == "query"
    assert visibility["population"] == 200
    assert visibility["populate_s"] >= visibility["catch_up_s"] >= 0
    assert visibility["populate_server_cpu_s"] > 0
    # No workflow task of 200 workflows may time out before its answer arrives.
    assert visibility["populate_stale_answers"] == 0
    queries = visibility["queries"]
    assert len(queries) * 5 == visibility["workflows"]
    for query in queries:
        assert query["completed"] == query["runs"] == 5, query
        assert 0 < query["p50_ms"] <= query["p95_ms"] <= query["p99_ms"] <= query["max_ms"], query
    assert "== visibility (200 closed workflows, 50 queries, concurrency 1)" in run.stdout
    assert "count group by status: p95 (ms)" in run.stdout
    assert "populate rate (wf/s)" in run.stdout


def _result(server: str, throughput: float, p50: float) -> ScenarioResult:
    return ScenarioResult(
        server=server,
        scenario="one_activity",
        workflows=10,
        concurrency=2,
        completed=10,
        throughput_wf_s=throughput,
        latency_p50_ms=p50,
    )


def test_table_shows_tempyral_over_temporal_ratio() -> None:
    results = {"temporal": _result("temporal", 20.0, 100.0), "tempyral": _result("tempyral", 10.0, 300.0)}
    table = format_table("one_activity", results, ["temporal", "tempyral"])
    rows = {line.split("  ")[0].strip(): line.split() for line in table.splitlines()}
    assert "tempyral/temporal" in table
    assert rows["throughput (wf/s)"][-3:] == ["10.0", "0.50x", "higher"]
    assert rows["latency p50 (ms)"][-3:] == ["300.0", "3.00x", "lower"]


def test_entity_table_counts_operations() -> None:
    result = ScenarioResult(
        server="temporal", scenario="query", workflows=300, concurrency=20, unit="op", entities=20
    )
    table = format_table("query", {"temporal": result}, ["temporal"])
    assert table.splitlines()[0] == "== query (300 operations on 20 workflows, concurrency 20)"
    assert "completed operations" in table
    assert "server CPU per op (ms)" in table
    assert "workflows " not in table.split("\n", 1)[1]


def test_visibility_table_has_a_row_per_query_and_percentile() -> None:
    def result(server: str, p95: float) -> ScenarioResult:
        query = QueryStats("list type", "WorkflowType = 'X'", runs=10, completed=10, p50_ms=1, p95_ms=p95)
        return ScenarioResult(
            server=server,
            scenario="visibility",
            workflows=10,
            concurrency=1,
            unit="query",
            population=1000,
            populate_s=4.0,
            queries=[query],
        )

    results = {"temporal": result("temporal", 8.0), "tempyral": result("tempyral", 2.0)}
    table = format_table("visibility", results, ["temporal", "tempyral"])
    rows = {line.split("  ")[0].strip(): line.split() for line in table.splitlines()}
    assert table.splitlines()[0] == "== visibility (1000 closed workflows, 10 queries, concurrency 1)"
    assert rows["list type: p95 (ms)"][-4:] == ["8.0", "2.0", "0.25x", "lower"]
    assert rows["populate rate (wf/s)"][-4:] == ["250.0", "250.0", "1.00x", "higher"]
    assert "completed queries" in table


def test_visibility_answers_follow_from_the_plan() -> None:
    runs = plan(2000)
    assert runs == plan(2000)
    specs = {spec.name: spec for spec in query_specs(runs, mark_ns=0)}
    assert specs["count all"].expected == 2000
    groups = specs["count group by status"].groups
    assert set(groups) == {"Completed", "Failed", "Terminated"}
    assert sum(groups.values()) == 2000
    # Every filter selects a real but partial share, so its page is neither empty nor the whole population.
    for name in ("list type", "list terminated", "list keyword+int", "list id prefix", "list 5 pages"):
        assert 0 < specs[name].expected < 2000, name


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0
