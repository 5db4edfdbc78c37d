"""Formats scenario results as side-by-side text tables and writes them as JSON."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .runner import ScenarioResult


@dataclass(frozen=True)
class Metric:
    """One table row: how to read the value and which direction is better (None: neither).

    `label` may name the measured unit as {unit} ("wf" or "op") or {units} ("workflows" or "operations").
    """

    label: str
    value: Callable[[ScenarioResult], float]
    fmt: str
    better: str | None


METRICS: list[Metric] = [
    Metric("completed {units}", lambda r: r.completed, "{:.0f}", "higher"),
    Metric("failed {units}", lambda r: r.failed, "{:.0f}", "lower"),
    Metric("not started (over --budget)", lambda r: r.not_started, "{:.0f}", "lower"),
    Metric("wall time (s)", lambda r: r.wall_s, "{:.2f}", "lower"),
    Metric("throughput ({unit}/s)", lambda r: r.throughput_wf_s, "{:.1f}", "higher"),
    Metric("latency p50 (ms)", lambda r: r.latency_p50_ms, "{:.1f}", "lower"),
    Metric("latency p95 (ms)", lambda r: r.latency_p95_ms, "{:.1f}", "lower"),
    Metric("latency p99 (ms)", lambda r: r.latency_p99_ms, "{:.1f}", "lower"),
    Metric("latency mean (ms)", lambda r: r.latency_mean_ms, "{:.1f}", "lower"),
    Metric("server CPU per {unit} (ms)", lambda r: r.server_cpu_ms_per_wf, "{:.2f}", "lower"),
    Metric("server CPU total (s)", lambda r: r.server_cpu_s, "{:.2f}", "lower"),
    Metric("server peak RSS (MB)", lambda r: r.server_peak_rss_mb, "{:.1f}", "lower"),
    Metric("server RSS before run (MB)", lambda r: r.server_rss_before_mb, "{:.1f}", "lower"),
    Metric("server startup (s)", lambda r: r.server_startup_s, "{:.2f}", "lower"),
    Metric("bench client+worker CPU per {unit} (ms)", lambda r: r.bench_cpu_ms_per_wf, "{:.2f}", None),
]

# Rows only the visibility scenario has: how its population was made, then each query's latencies.
POPULATION_METRICS: list[Metric] = [
    Metric("populate time (s)", lambda r: r.populate_s, "{:.1f}", "lower"),
    Metric(
        "populate rate (wf/s)",
        lambda r: r.population / r.populate_s if r.populate_s else 0.0,
        "{:.1f}",
        "higher",
    ),
    Metric("  of which visibility catch-up (s)", lambda r: r.catch_up_s, "{:.2f}", "lower"),
    Metric("workflow tasks answered too late", lambda r: r.populate_stale_answers, "{:.0f}", "lower"),
    Metric(
        "populate server CPU per wf (ms)",
        lambda r: r.populate_server_cpu_s * 1000 / max(1, r.population),
        "{:.2f}",
        "lower",
    ),
]

_RATIO_HEADER = "tempyral/temporal"
_UNITS = {"wf": "workflows", "op": "operations", "query": "queries"}


def _query_metrics(results: Sequence[ScenarioResult]) -> list[Metric]:
    """p50/p95/p99 and throughput rows of every query any of the results measured, in measured order."""
    names = list(dict.fromkeys(query.name for result in results for query in result.queries))

    def field(name: str, attribute: str) -> Callable[[ScenarioResult], float]:
        def value(result: ScenarioResult) -> float:
            found = [query for query in result.queries if query.name == name]
            return float(getattr(found[0], attribute)) if found else 0.0

        return value

    metrics: list[Metric] = []
    for name in names:
        metrics += [
            Metric(f"{name}: p50 (ms)", field(name, "p50_ms"), "{:.1f}", "lower"),
            Metric(f"{name}: p95 (ms)", field(name, "p95_ms"), "{:.1f}", "lower"),
            Metric(f"{name}: p99 (ms)", field(name, "p99_ms"), "{:.1f}", "lower"),
            Metric(f"{name}: queries/s", field(name, "throughput_s"), "{:.1f}", "higher"),
        ]
    return metrics


def _ratio(results: dict[str, ScenarioResult], metric: Metric) -> str:
    temporal, tempyral = results.get("temporal"), results.get("tempyral")
    if temporal is None or tempyral is None or temporal.error or tempyral.error:
        return "-"
    base = metric.value(temporal)
    if base == 0:
        return "-"
    return f"{metric.value(tempyral) / base:.2f}x"


def format_table(scenario: str, results: dict[str, ScenarioResult], servers: Sequence[str]) -> str:
    """One scenario's table: a column per server and, when both ran, the tempyral/temporal ratio."""
    both = "temporal" in results and "tempyral" in results
    header = ["metric", *servers, *([_RATIO_HEADER] if both else []), "better"]
    first = next(iter(results.values()), None)
    unit = first.unit if first else "wf"
    metrics = METRICS
    if unit == "query":
        metrics = [*METRICS, *POPULATION_METRICS, *_query_metrics(list(results.values()))]
    rows: list[list[str]] = []
    for metric in metrics:
        row = [metric.label.format(unit=unit, units=_UNITS.get(unit, unit))]
        for server in servers:
            run = results.get(server)
            row.append("error" if run is None or run.error else metric.fmt.format(metric.value(run)))
        if both:
            row.append(_ratio(results, metric))
        row.append(metric.better or "")
        rows.append(row)
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    sizes = ""
    if first and first.unit == "query":
        sizes = (
            f"{first.population} closed workflows, {first.workflows} queries, concurrency {first.concurrency}"
        )
    elif first and first.entities:
        sizes = f"{first.workflows} operations on {first.entities} workflows, concurrency {first.concurrency}"
    elif first:
        sizes = f"{first.workflows} workflows, concurrency {first.concurrency}"
    out = [f"== {scenario} ({sizes})", line(header), line(["-" * w for w in widths])]
    out += [line(row) for row in rows]
    for server in servers:
        run = results.get(server)
        if run is not None and run.error:
            out.append(f"  {server} run error: {run.error}")
        if run is not None and run.first_errors:
            out.append(f"  {server} first workflow errors: {run.first_errors}")
    if both:
        out.append("  (ratio > 1 is good for tempyral where better=higher, < 1 where better=lower)")
    return "\n".join(out)


def write_json(path: Path, config: dict[str, Any], results: list[ScenarioResult]) -> Path:
    """Writes the config, the machine and every result to `path`, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "config": config,
        "results": [result.to_json() for result in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
