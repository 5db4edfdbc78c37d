"""Runs one scenario against one freshly started server and measures it.

Each run gets its own server process on its own on-disk SQLite file, so runs never share state; the client
and worker live in this process, and only the server's process tree is charged for server CPU and memory.
A scenario's measured operation is either a whole workflow run or, for the entity scenarios, a signal round
trip or a query against long-running workflows (bench/entities.py); the visibility scenario brings its own
measurement (bench/visibility.py) and only borrows the server handling and batch runner from here.
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import psutil
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tempyral.testing.servers import ServerKind, ServerProcess

from .entities import EntityWorkload
from .monitor import ProcessTreeMonitor, ResourceUsage
from .workloads import ALL_ACTIVITIES, ALL_WORKFLOWS, Scenario


@dataclass(frozen=True)
class RunConfig:
    """Sizes of one scenario run."""

    workflows: int
    concurrency: int
    warmup: int
    # Entity scenarios: how many long-running workflows, and how many measured operations on them.
    entities: int
    operations: int
    workflow_timeout_s: float
    max_concurrent_tasks: int
    # Wall-clock budget of the measured batch: after it no new workflow starts, so a slow server still
    # ends the run in bounded time (with fewer completed workflows, reported as such).
    budget_s: float
    # Visibility scenario: closed workflows made before measuring, and how each query is measured.
    population: int = 0
    query_runs: int = 0
    query_concurrency: int = 1
    # Populating ends the run with an error after this long.
    populate_timeout_s: float = 3600.0


@dataclass
class QueryStats:
    """Latencies of one visibility query, run `runs` times (a paging query's run walks several pages)."""

    name: str
    query: str
    runs: int
    completed: int = 0
    failed: int = 0
    throughput_s: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    max_ms: float = 0.0


@dataclass
class BatchOutcome:
    """Raw per-operation numbers of one batch of operations (workflow runs, signal round trips, ...)."""

    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    not_started: int = 0


@dataclass
class ScenarioResult:
    """The measurements of one scenario on one server; `error` is set if the run itself broke.

    `workflows`, `completed`, `failed` and the per-wf figures count measured operations: whole workflow runs
    when `unit` is "wf", operations on `entities` long-running workflows when it is "op", and visibility
    queries over `population` closed workflows when it is "query" (all queries together; `queries` has
    each one's figures).
    """

    server: str
    scenario: str
    workflows: int
    concurrency: int
    unit: str = "wf"
    entities: int = 0
    completed: int = 0
    failed: int = 0
    not_started: int = 0
    wall_s: float = 0.0
    throughput_wf_s: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_mean_ms: float = 0.0
    latency_max_ms: float = 0.0
    server_cpu_s: float = 0.0
    server_cpu_ms_per_wf: float = 0.0
    server_peak_rss_mb: float = 0.0
    server_rss_before_mb: float = 0.0
    bench_cpu_ms_per_wf: float = 0.0
    server_startup_s: float = 0.0
    # Visibility scenario only: closed workflows made first, how long that took (until visibility reported
    # them all), the part of it spent waiting for visibility, the server CPU it cost, and each query.
    population: int = 0
    populate_s: float = 0.0
    catch_up_s: float = 0.0
    populate_server_cpu_s: float = 0.0
    # Workflow task answers refused as NOT_FOUND: the task had timed out, so the server was saturated.
    populate_stale_answers: int = 0
    queries: list[QueryStats] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


class Workload(Protocol):
    """How a scenario makes one measured operation; at most `lanes` operations are in flight at once."""

    lanes: int

    async def operate(self, tag: str, index: int, lane: int, turn: int) -> None:
        """Operation `index` of the batch tagged `tag`: the `turn`-th one of lane `lane`; raises if wrong."""
        ...


class WorkflowRuns:
    """One operation is one workflow of the scenario's type, timed from its start to its result."""

    def __init__(self, client: Client, scenario: Scenario, task_queue: str, lanes: int) -> None:
        self.lanes = lanes
        self._client = client
        self._scenario = scenario
        self._task_queue = task_queue

    async def operate(self, tag: str, index: int, lane: int, turn: int) -> None:
        handle = await self._client.start_workflow(
            self._scenario.workflow_type, id=f"{tag}-{index}", task_queue=self._task_queue
        )
        result = await handle.result()
        if result != self._scenario.expected_result:
            raise ValueError(f"unexpected result {result!r}")


async def run_batch(
    workload: Workload, count: int, config: RunConfig, tag: str, budget_s: float | None = None
) -> BatchOutcome:
    """Runs `count` operations with at most `workload.lanes` in flight, each timed on its own."""
    outcome = BatchOutcome()
    indices = iter(range(count))
    last_result = 0.0
    deadline = None if budget_s is None else time.perf_counter() + budget_s

    async def lane(number: int) -> None:
        nonlocal last_result
        # Lanes share one iterator, so each free lane takes the next operation: a closed-loop load.
        for turn, index in enumerate(indices):
            began = time.perf_counter()
            if deadline is not None and began > deadline:
                outcome.not_started += 1
                continue
            try:
                # The timeout covers every call of the operation, so a server that stops answering cannot
                # hang us.
                await asyncio.wait_for(workload.operate(tag, index, number, turn), config.workflow_timeout_s)
            except Exception as exc:
                outcome.errors.append(f"{tag}-{index}: {exc!r}")
                continue
            ended = time.perf_counter()
            outcome.latencies_s.append(ended - began)
            last_result = max(last_result, ended)

    first_start = time.perf_counter()
    await asyncio.gather(*(lane(number) for number in range(max(1, min(workload.lanes, count)))))
    outcome.wall_s = (last_result or time.perf_counter()) - first_start
    return outcome


def summarise(result: ScenarioResult, outcome: BatchOutcome) -> None:
    latencies = sorted(outcome.latencies_s)
    result.completed = len(latencies)
    result.failed = len(outcome.errors)
    result.not_started = outcome.not_started
    result.first_errors = outcome.errors[:5]
    result.wall_s = outcome.wall_s
    result.throughput_wf_s = result.completed / outcome.wall_s if outcome.wall_s > 0 else 0.0
    result.latency_p50_ms = percentile(latencies, 50) * 1000
    result.latency_p95_ms = percentile(latencies, 95) * 1000
    result.latency_p99_ms = percentile(latencies, 99) * 1000
    result.latency_mean_ms = (sum(latencies) / len(latencies) * 1000) if latencies else 0.0
    result.latency_max_ms = (latencies[-1] * 1000) if latencies else 0.0


# What measures a scenario on a started server, filling in the result.
Measure = Callable[[ServerProcess, Scenario, RunConfig, ScenarioResult], Awaitable[None]]

# The visibility scenario keeps its database here when the folder exists: on a plain disk, populating
# 100,000 workflows on the real dev server is bound by fsync (a third of the rate on tmpfs), and what it
# measures afterwards are reads, served from the page cache either way.
TMPFS_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None


async def run_scenario(
    kind: ServerKind, scenario: Scenario, config: RunConfig, measure: Measure | None = None
) -> ScenarioResult:
    """Starts a fresh server on a temporary SQLite file, warms up, measures, and kills the server.

    `measure` replaces the workflow and entity measurement of this module (the visibility scenario's).
    """
    on_entities = scenario.on_entities
    result = ScenarioResult(
        server=kind,
        scenario=scenario.name,
        workflows=config.operations if on_entities else config.workflows,
        # Entity scenarios run one lane per entity at most: an entity takes one operation at a time.
        concurrency=min(config.concurrency, config.entities) if on_entities else config.concurrency,
        unit=scenario.unit,
        entities=config.entities if on_entities else 0,
    )
    db_dir = TMPFS_DIR if scenario.operation == "visibility" else None
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-", dir=db_dir) as tmp:
        # Database and log both live in the temporary folder, so nothing outlives the run.
        server = ServerProcess(
            kind=kind,
            db_filename=os.path.join(tmp, f"{kind}.db"),
            log_path=os.path.join(tmp, "server.log"),
            extra_args=list(scenario.server_args),
        )
        try:
            began = time.perf_counter()
            await asyncio.to_thread(server.start)
            result.server_startup_s = time.perf_counter() - began
            await (measure or _measure)(server, scenario, config, result)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}\nserver log tail:\n{server.log_tail(20)}"
        finally:
            server.kill()
    return result


async def _measure(
    server: ServerProcess, scenario: Scenario, config: RunConfig, result: ScenarioResult
) -> None:
    client = await Client.connect(server.address, namespace="default")
    run_id = uuid.uuid4().hex[:8]
    task_queue = f"bench-{scenario.name}-{run_id}"
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        activities=ALL_ACTIVITIES,
        max_concurrent_workflow_tasks=config.max_concurrent_tasks,
        max_concurrent_activities=config.max_concurrent_tasks,
        # The sandbox costs worker CPU on the two cores the server also runs on, and these workflows
        # import nothing that needs isolating.
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    workload: Workload
    entities: EntityWorkload | None = None
    if scenario.on_entities:
        entities = EntityWorkload(
            client,
            scenario,
            task_queue,
            config.entities,
            config.concurrency,
            config.workflow_timeout_s,
            f"{scenario.name}-{run_id}",
        )
        workload = entities
    else:
        workload = WorkflowRuns(client, scenario, task_queue, config.concurrency)
    async with worker:
        if entities is not None:
            # Not measured: starting the entities is the scenario's fixture, not its operation.
            await entities.setup()
        if config.warmup:
            warm = await run_batch(workload, config.warmup, config, f"warm-{run_id}")
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.errors[0]}")
        this_process = psutil.Process()
        bench_cpu_before = sum(this_process.cpu_times()[:2])
        monitor = ProcessTreeMonitor(server.pid).start()
        outcome = await run_batch(workload, result.workflows, config, f"wf-{run_id}", config.budget_s)
        usage = monitor.stop()
        bench_cpu = sum(this_process.cpu_times()[:2]) - bench_cpu_before
        summarise(result, outcome)
        if entities is not None:
            # After the measurement: a lost or duplicated signal fails the whole run.
            await entities.teardown()
    record_usage(result, usage, bench_cpu)


def record_usage(result: ScenarioResult, usage: ResourceUsage, bench_cpu_s: float) -> None:
    """Server CPU and memory of the measured batch, and this process's CPU, per completed operation."""
    per_wf = 1000.0 / max(1, result.completed)
    result.server_cpu_s = usage.cpu_seconds
    result.server_cpu_ms_per_wf = usage.cpu_seconds * per_wf
    result.server_peak_rss_mb = usage.peak_rss_bytes / 1e6
    result.server_rss_before_mb = usage.idle_rss_bytes / 1e6
    result.bench_cpu_ms_per_wf = bench_cpu_s * per_wf
