"""Runs one scenario against one freshly started server and measures it.

Each run gets its own server process on its own on-disk SQLite file, so runs never share state; the client
and worker live in this process, and only the server's process tree is charged for server CPU and memory.
A scenario's measured operation is either a whole workflow run or, for the entity scenarios, a signal round
trip or a query against long-running workflows (bench/entities.py).
"""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import psutil
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tempyral.testing.servers import ServerKind, ServerProcess

from .entities import EntityWorkload
from .monitor import ProcessTreeMonitor
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
    when `unit` is "wf", operations on `entities` long-running workflows when it is "op".
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
    latency_p99_ms: float = 0.0
    latency_mean_ms: float = 0.0
    latency_max_ms: float = 0.0
    server_cpu_s: float = 0.0
    server_cpu_ms_per_wf: float = 0.0
    server_peak_rss_mb: float = 0.0
    server_rss_before_mb: float = 0.0
    bench_cpu_ms_per_wf: float = 0.0
    server_startup_s: float = 0.0
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


async def _run_batch(
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


def _summarise(result: ScenarioResult, outcome: BatchOutcome) -> None:
    latencies = sorted(outcome.latencies_s)
    result.completed = len(latencies)
    result.failed = len(outcome.errors)
    result.not_started = outcome.not_started
    result.first_errors = outcome.errors[:5]
    result.wall_s = outcome.wall_s
    result.throughput_wf_s = result.completed / outcome.wall_s if outcome.wall_s > 0 else 0.0
    result.latency_p50_ms = percentile(latencies, 50) * 1000
    result.latency_p99_ms = percentile(latencies, 99) * 1000
    result.latency_mean_ms = (sum(latencies) / len(latencies) * 1000) if latencies else 0.0
    result.latency_max_ms = (latencies[-1] * 1000) if latencies else 0.0


async def run_scenario(kind: ServerKind, scenario: Scenario, config: RunConfig) -> ScenarioResult:
    """Starts a fresh server on a temporary SQLite file, warms up, measures, and kills the server."""
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
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        # Database and log both live in the temporary folder, so nothing outlives the run.
        server = ServerProcess(
            kind=kind, db_filename=os.path.join(tmp, f"{kind}.db"), log_path=os.path.join(tmp, "server.log")
        )
        try:
            began = time.perf_counter()
            await asyncio.to_thread(server.start)
            result.server_startup_s = time.perf_counter() - began
            await _measure(server, scenario, config, result)
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
            warm = await _run_batch(workload, config.warmup, config, f"warm-{run_id}")
            if warm.errors:
                raise RuntimeError(f"warm-up failed: {warm.errors[0]}")
        this_process = psutil.Process()
        bench_cpu_before = sum(this_process.cpu_times()[:2])
        monitor = ProcessTreeMonitor(server.pid).start()
        outcome = await _run_batch(workload, result.workflows, config, f"wf-{run_id}", config.budget_s)
        usage = monitor.stop()
        bench_cpu = sum(this_process.cpu_times()[:2]) - bench_cpu_before
        _summarise(result, outcome)
        if entities is not None:
            # After the measurement: a lost or duplicated signal fails the whole run.
            await entities.teardown()
    per_wf = 1000.0 / max(1, result.completed)
    result.server_cpu_s = usage.cpu_seconds
    result.server_cpu_ms_per_wf = usage.cpu_seconds * per_wf
    result.server_peak_rss_mb = usage.peak_rss_bytes / 1e6
    result.server_rss_before_mb = usage.idle_rss_bytes / 1e6
    result.bench_cpu_ms_per_wf = bench_cpu * per_wf
