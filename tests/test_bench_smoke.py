"""Keeps the benchmark working: runs `python -m bench --quick` end to end and checks its JSON and tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import format_table
from bench.runner import ScenarioResult, percentile
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
        assert result["error"] is None
        assert result["failed"] == 0
        assert result["completed"] == result["workflows"] > 0
        assert result["throughput_wf_s"] > 0
        assert 0 < result["latency_p50_ms"] <= result["latency_p99_ms"] <= result["latency_max_ms"]
        assert result["server_cpu_s"] > 0
        assert result["server_peak_rss_mb"] >= result["server_rss_before_mb"] > 0
    # The timer scenario sleeps one durable second, so no workflow of it can finish sooner.
    assert results[-1]["latency_p50_ms"] >= 1000
    for scenario in SCENARIOS:
        assert f"== {scenario} " in run.stdout
    assert "throughput (wf/s)" in run.stdout


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


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0
