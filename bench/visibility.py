"""The visibility scenario: List/CountWorkflowExecutions latency over a large population of closed workflows.

Populating goes through raw gRPC with no SDK worker, because the SDK's per-workflow CPU would compete with
the server for the machine's two cores and the point is only to leave closed runs behind:

- completed and failed runs are started with `request_eager_execution`; the real server hands the first
  workflow task back in the start response, and the populator answers it at once with a
  CompleteWorkflowExecution or FailWorkflowExecution command. A server that does not start eagerly
  (Tempyral) queues the task instead, and raw pollers on the task queues answer it the same way;
- terminated runs are started with a one-hour start delay, so no workflow task is ever dispatched, and are
  terminated right after their start returns.

The runs vary in what the filters select (workflow type, task queue, status, custom Keyword and Int search
attributes, workflow id prefix, start time), and the plan is deterministic, so every query's answer is known
and checked: a wrong count, a short page or a row that does not match its filter fails the query instead of
flattering its latency. Measuring starts only once CountWorkflowExecutions reports every run closed (the real
server's visibility is eventually consistent).

Sizes: `--population` closed runs (100,000 by default, 200 with `--quick`), made with `--concurrency` starts
in flight within `--populate-timeout`; each query runs `--warmup` times unmeasured, then `--query-runs` times
with `--query-concurrency` in flight. On a two-core machine the real dev server closes 100 to 130 runs a
second (its SQLite writes are serialized), so the default population takes it about 15 minutes; the
database sits on tmpfs (see runner.TMPFS_DIR) for that reason.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import grpc
import psutil
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import command_type_pb2, task_queue_pb2, workflow_pb2
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1 import service_pb2_grpc

from tempyral.testing.servers import ServerProcess

from .monitor import ProcessTreeMonitor
from .runner import (
    BatchOutcome,
    QueryStats,
    RunConfig,
    ScenarioResult,
    percentile,
    record_usage,
    run_batch,
    summarise,
)
from .workloads import VISIBILITY_SEARCH_ATTRIBUTES, Scenario

NAMESPACE = "default"
IDENTITY = "bench-visibility"
PAGE_SIZE = 100
PAGES_WALKED = 5
WORKFLOW_TYPES = ("BenchOrder", "BenchPayment", "BenchShipment", "BenchRefund")
TASK_QUEUES = ("bench-vis-a", "bench-vis-b", "bench-vis-c")
# Share of each closing status in the population.
OUTCOMES = (("Completed", 60), ("Failed", 15), ("Terminated", 25))
TENANTS = 20
CUSTOMERS = 100
# The `StartTime >` filter takes the moment this share of the starts had been issued.
START_TIME_MARK = 0.8
# Terminated runs wait this long before their first workflow task, far longer than they live.
TERMINATED_START_DELAY = Duration(seconds=3600)
RPC_TIMEOUT_S = 30.0
POLL_TIMEOUT_S = 20.0
# Codes a busy server answers before doing anything, so the call is safe to repeat (starts reuse their
# request id, so even a start that did happen is not duplicated).
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
_ATTEMPTS = 5

_KEYWORD, _INT = VISIBILITY_SEARCH_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One workflow of the population and how it is to close."""

    workflow_id: str
    workflow_type: str
    task_queue: str
    outcome: str
    keyword: str
    number: int


def plan(population: int, seed: int = 7) -> list[PlannedRun]:
    """The population: attributes drawn independently, from a fixed seed so counts can be checked."""
    rng = random.Random(seed)
    names = [name for name, _ in OUTCOMES]
    weights = [weight for _, weight in OUTCOMES]
    return [
        PlannedRun(
            workflow_id=f"cust{rng.randrange(CUSTOMERS):02d}-{index:07d}",
            workflow_type=rng.choice(WORKFLOW_TYPES),
            task_queue=rng.choice(TASK_QUEUES),
            outcome=rng.choices(names, weights)[0],
            keyword=f"tenant-{rng.randrange(TENANTS):02d}",
            number=rng.randrange(100),
        )
        for index in range(population)
    ]


async def _call(method: Callable[..., Any], request: Any, timeout: float = RPC_TIMEOUT_S) -> Any:
    """One unary call, repeated with backoff while the server says it is too busy to take it.

    `method` is a stub method on a grpc.aio channel: it returns an awaitable, though the generated stubs are
    typed for synchronous channels.
    """
    for attempt in range(_ATTEMPTS):
        try:
            return await method(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            if err.code() not in _RETRYABLE or attempt == _ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def _task_queue(name: str) -> taskqueue_pb.TaskQueue:
    # The real server logs a warning for every request whose task queue kind is left unspecified.
    return taskqueue_pb.TaskQueue(name=name, kind=task_queue_pb2.TASK_QUEUE_KIND_NORMAL)


def _payload(value: object, type_name: str) -> common_pb.Payload:
    return common_pb.Payload(
        metadata={"encoding": b"json/plain", "type": type_name.encode()}, data=json.dumps(value).encode()
    )


def mark_index(population: int) -> int:
    """Index of the run whose start time marks the `StartTime >` filter."""
    return int(population * START_TIME_MARK)


_COMPLETE = command_pb.Command(
    command_type=command_type_pb2.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
    complete_workflow_execution_command_attributes=command_pb.CompleteWorkflowExecutionCommandAttributes(),
)
_FAIL = command_pb.Command(
    command_type=command_type_pb2.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
    fail_workflow_execution_command_attributes=command_pb.FailWorkflowExecutionCommandAttributes(
        failure=failure_pb.Failure(
            message="bench failure",
            application_failure_info=failure_pb.ApplicationFailureInfo(type="BenchError", non_retryable=True),
        )
    ),
)


class Populator:
    """Starts every planned run with `concurrency` starts in flight and closes it as planned."""

    def __init__(self, stub: service_pb2_grpc.WorkflowServiceStub, runs: list[PlannedRun], concurrency: int):
        self._stub = stub
        self._runs = runs
        self._concurrency = concurrency
        # Runs still waiting for their workflow task to be answered, by workflow id.
        self._open = {run.workflow_id: run for run in runs if run.outcome != "Terminated"}
        self._all_closed = asyncio.Event()
        self.mark_index = mark_index(len(runs))
        self.mark_ns = 0
        self.started = 0
        # Answers the server refused with NOT_FOUND because the workflow task had timed out meanwhile.
        self.stale_answers = 0

    async def run(self, timeout_s: float) -> None:
        """Returns once every run is started and every workflow task answered (terminations are inline).

        Raises TimeoutError if that takes more than `timeout_s` in all: a server that slows down as the
        population grows must end the run, not hold it for hours.
        """
        try:
            async with asyncio.timeout(timeout_s):
                await self._start_and_close()
        except TimeoutError as err:
            raise TimeoutError(
                f"populating took over {timeout_s:.0f}s: {self.started} of {len(self._runs)} runs started, "
                f"{len(self._open)} runs yet to complete or fail, {self.stale_answers} answers came too late"
            ) from err

    async def _start_and_close(self) -> None:
        if not self._open:
            self._all_closed.set()
        # Enough long polls to drain a server that queues every task instead of starting eagerly.
        per_queue = max(1, min(16, self._concurrency // 8))
        try:
            async with asyncio.TaskGroup() as group:
                pollers = [
                    group.create_task(self._poll(queue)) for queue in TASK_QUEUES for _ in range(per_queue)
                ]
                indices = iter(range(len(self._runs)))
                await asyncio.gather(*(self._start_lane(indices) for _ in range(self._concurrency)))
                await self._all_closed.wait()
                for poller in pollers:
                    poller.cancel()
        except ExceptionGroup as failed:
            # Report the call that failed, not the task group that wrapped it.
            raise failed.exceptions[0] from None

    async def _start_lane(self, indices: Iterator[int]) -> None:
        # Lanes share one iterator, so indices are taken in order: every run after the mark index is started
        # after the mark, which bounds what the `StartTime >` filter must list.
        for index in indices:
            run = self._runs[index]
            if index == self.mark_index:
                self.mark_ns = time.time_ns()
            terminated = run.outcome == "Terminated"
            request = wsr.StartWorkflowExecutionRequest(
                namespace=NAMESPACE,
                workflow_id=run.workflow_id,
                workflow_type=common_pb.WorkflowType(name=run.workflow_type),
                task_queue=_task_queue(run.task_queue),
                identity=IDENTITY,
                request_id=str(uuid.uuid4()),
                search_attributes=common_pb.SearchAttributes(
                    indexed_fields={
                        _KEYWORD: _payload(run.keyword, "Keyword"),
                        _INT: _payload(run.number, "Int"),
                    }
                ),
                request_eager_execution=not terminated,
                workflow_start_delay=TERMINATED_START_DELAY if terminated else None,
            )
            response = await _call(self._stub.StartWorkflowExecution, request)
            self.started += 1
            if terminated:
                await _call(
                    self._stub.TerminateWorkflowExecution,
                    wsr.TerminateWorkflowExecutionRequest(
                        namespace=NAMESPACE,
                        workflow_execution=common_pb.WorkflowExecution(workflow_id=run.workflow_id),
                        reason="bench",
                        identity=IDENTITY,
                    ),
                )
            elif response.HasField("eager_workflow_task"):
                await self._answer(response.eager_workflow_task.task_token, run)

    async def _poll(self, queue: str) -> None:
        request = wsr.PollWorkflowTaskQueueRequest(
            namespace=NAMESPACE, task_queue=_task_queue(queue), identity=IDENTITY
        )
        while True:
            try:
                task = await _call(self._stub.PollWorkflowTaskQueue, request, POLL_TIMEOUT_S)
            except grpc.aio.AioRpcError as err:
                # A long poll that outlives our deadline just ends empty; poll again.
                if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue
                raise
            run = self._open.get(task.workflow_execution.workflow_id) if task.task_token else None
            if run is not None:
                await self._answer(task.task_token, run)

    async def _answer(self, task_token: bytes, run: PlannedRun) -> None:
        """Closes the run by completing its first workflow task with the planned close command."""
        command = _COMPLETE if run.outcome == "Completed" else _FAIL
        try:
            await _call(
                self._stub.RespondWorkflowTaskCompleted,
                wsr.RespondWorkflowTaskCompletedRequest(
                    namespace=NAMESPACE, task_token=task_token, identity=IDENTITY, commands=[command]
                ),
            )
        except grpc.aio.AioRpcError as err:
            # The task timed out while the server was saturated (as workers see it too): its retry comes
            # back to a poller, which answers that one.
            if err.code() == grpc.StatusCode.NOT_FOUND:
                self.stale_answers += 1
                return
            raise
        if self._open.pop(run.workflow_id, None) is not None and not self._open:
            self._all_closed.set()


async def wait_until_visible(
    stub: service_pb2_grpc.WorkflowServiceStub, closed: int, timeout_s: float
) -> None:
    """Returns once CountWorkflowExecutions reports `closed` closed runs (visibility may lag behind)."""
    deadline = time.monotonic() + timeout_s
    request = wsr.CountWorkflowExecutionsRequest(namespace=NAMESPACE, query="ExecutionStatus != 'Running'")
    while True:
        seen = (await _call(stub.CountWorkflowExecutions, request)).count
        if seen >= closed:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"visibility shows {seen} of {closed} closed workflows after {timeout_s}s")
        await asyncio.sleep(0.25)


RowCheck = Callable[[workflow_pb.WorkflowExecutionInfo], bool]


@dataclass(frozen=True)
class QuerySpec:
    """One measured query and what its answer must be.

    A count must equal `expected` (and `groups`, for GROUP BY); a list's first `pages` pages must hold
    min(pages * PAGE_SIZE, expected) distinct runs (at least `expected`, when `at_least`), each passing `row`.
    """

    name: str
    kind: Literal["count", "list"]
    query: str
    expected: int
    groups: dict[str, int] = field(default_factory=dict)
    row: RowCheck | None = None
    pages: int = 1
    at_least: bool = False

    async def run(self, stub: service_pb2_grpc.WorkflowServiceStub) -> None:
        """Makes the query and raises ValueError if the answer is wrong."""
        if self.kind == "count":
            await self._count(stub)
        else:
            await self._list(stub)

    async def _count(self, stub: service_pb2_grpc.WorkflowServiceStub) -> None:
        response = await _call(
            stub.CountWorkflowExecutions,
            wsr.CountWorkflowExecutionsRequest(namespace=NAMESPACE, query=self.query),
        )
        if response.count != self.expected:
            raise ValueError(f"count {response.count}, expected {self.expected}")
        if self.groups:
            groups = {json.loads(g.group_values[0].data): g.count for g in response.groups}
            if groups != self.groups:
                raise ValueError(f"groups {groups}, expected {self.groups}")

    async def _list(self, stub: service_pb2_grpc.WorkflowServiceStub) -> None:
        run_ids: set[str] = set()
        token = b""
        for _ in range(self.pages):
            response = await _call(
                stub.ListWorkflowExecutions,
                wsr.ListWorkflowExecutionsRequest(
                    namespace=NAMESPACE, page_size=PAGE_SIZE, query=self.query, next_page_token=token
                ),
            )
            for info in response.executions:
                if self.row is not None and not self.row(info):
                    raise ValueError(f"{info.execution.workflow_id} does not match the filter")
                run_ids.add(info.execution.run_id)
            token = response.next_page_token
            if not token:
                break
        wanted = min(self.pages * PAGE_SIZE, self.expected)
        if len(run_ids) < wanted or (not self.at_least and len(run_ids) != wanted):
            raise ValueError(f"{len(run_ids)} distinct runs listed, expected {wanted}")


def _attribute(info: workflow_pb.WorkflowExecutionInfo, name: str) -> Any:
    payload = info.search_attributes.indexed_fields.get(name)
    return json.loads(payload.data) if payload is not None else None


def query_specs(runs: list[PlannedRun], mark_ns: int) -> list[QuerySpec]:
    """The typical filters of a visibility UI or script, with answers computed from the plan."""
    kind, queue, tenant, customer = WORKFLOW_TYPES[1], TASK_QUEUES[1], "tenant-07", "cust42-"
    statuses = Counter(run.outcome for run in runs)
    # Floored to the microsecond, so every run started after the mark is strictly later than it.
    mark_us = mark_ns // 1000
    mark = datetime.fromtimestamp(mark_us // 10**6, UTC).replace(microsecond=mark_us % 10**6)
    mark_text = mark.isoformat().replace("+00:00", "Z")
    terminated = workflow_pb2.WORKFLOW_EXECUTION_STATUS_TERMINATED
    return [
        QuerySpec("count all", "count", "", len(runs)),
        QuerySpec(
            "count group by status", "count", "GROUP BY ExecutionStatus", len(runs), groups=dict(statuses)
        ),
        QuerySpec(
            "count type+status",
            "count",
            f"WorkflowType = '{kind}' AND ExecutionStatus = 'Failed'",
            sum(1 for r in runs if r.workflow_type == kind and r.outcome == "Failed"),
        ),
        QuerySpec("list all", "list", "", len(runs)),
        QuerySpec(
            "list type",
            "list",
            f"WorkflowType = '{kind}'",
            sum(1 for r in runs if r.workflow_type == kind),
            row=lambda info: info.type.name == kind,
        ),
        QuerySpec(
            "list terminated",
            "list",
            "ExecutionStatus = 'Terminated'",
            statuses["Terminated"],
            row=lambda info: info.status == terminated,
        ),
        QuerySpec(
            "list started after",
            "list",
            f"StartTime > '{mark_text}'",
            # Runs issued after the mark surely match; those in flight at the mark may too.
            len(runs) - mark_index(len(runs)) - 1,
            row=lambda info: info.start_time.ToNanoseconds() > mark_us * 1000,
            at_least=True,
        ),
        QuerySpec(
            "list keyword+int",
            "list",
            f"{_KEYWORD} = '{tenant}' AND {_INT} > 10",
            sum(1 for r in runs if r.keyword == tenant and r.number > 10),
            row=lambda info: _attribute(info, _KEYWORD) == tenant and _attribute(info, _INT) > 10,
        ),
        QuerySpec(
            "list id prefix",
            "list",
            f"WorkflowId STARTS_WITH '{customer}'",
            sum(1 for r in runs if r.workflow_id.startswith(customer)),
            row=lambda info: info.execution.workflow_id.startswith(customer),
        ),
        QuerySpec(
            f"list {PAGES_WALKED} pages",
            "list",
            f"TaskQueue = '{queue}'",
            sum(1 for r in runs if r.task_queue == queue),
            row=lambda info: info.task_queue == queue,
            pages=PAGES_WALKED,
        ),
    ]


class QueryWorkload:
    """One measured operation is one run of a query spec (for a paging spec, the walk through its pages)."""

    def __init__(self, stub: service_pb2_grpc.WorkflowServiceStub, spec: QuerySpec, lanes: int) -> None:
        self.lanes = lanes
        self._stub = stub
        self._spec = spec

    async def operate(self, tag: str, index: int, lane: int, turn: int) -> None:
        await self._spec.run(self._stub)


def _stats(spec: QuerySpec, outcome: BatchOutcome, runs: int) -> QueryStats:
    latencies = sorted(outcome.latencies_s)
    return QueryStats(
        name=spec.name,
        query=spec.query,
        runs=runs,
        completed=len(latencies),
        failed=len(outcome.errors),
        throughput_s=len(latencies) / outcome.wall_s if outcome.wall_s > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p95_ms=percentile(latencies, 95) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        mean_ms=(sum(latencies) / len(latencies) * 1000) if latencies else 0.0,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
    )


async def measure_visibility(
    server: ServerProcess, scenario: Scenario, config: RunConfig, result: ScenarioResult
) -> None:
    """Populates the server, waits for visibility, then measures each query in turn (a `runner.Measure`)."""
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = service_pb2_grpc.WorkflowServiceStub(channel)
        specs = await _populate(server, stub, config, result)
        await _measure_queries(server, stub, specs, config, result)


async def _populate(
    server: ServerProcess,
    stub: service_pb2_grpc.WorkflowServiceStub,
    config: RunConfig,
    result: ScenarioResult,
) -> list[QuerySpec]:
    """Makes the closed population, timed until visibility lists it all; returns the queries to measure."""
    runs = plan(config.population)
    result.population = len(runs)
    monitor = ProcessTreeMonitor(server.pid).start()
    began = time.perf_counter()
    populator = Populator(stub, runs, config.concurrency)
    try:
        await populator.run(config.populate_timeout_s)
    finally:
        result.populate_stale_answers = populator.stale_answers
    populated = time.perf_counter()
    await wait_until_visible(stub, len(runs), config.workflow_timeout_s)
    result.catch_up_s = time.perf_counter() - populated
    result.populate_s = time.perf_counter() - began
    result.populate_server_cpu_s = monitor.stop().cpu_seconds
    return query_specs(runs, populator.mark_ns)


async def _measure_queries(
    server: ServerProcess,
    stub: service_pb2_grpc.WorkflowServiceStub,
    specs: list[QuerySpec],
    config: RunConfig,
    result: ScenarioResult,
) -> None:
    """Warms up and checks every query, then times `query_runs` runs of each, one query after the other."""
    result.workflows = len(specs) * config.query_runs
    result.concurrency = config.query_concurrency
    workloads = [QueryWorkload(stub, spec, config.query_concurrency) for spec in specs]
    for spec, workload in zip(specs, workloads, strict=True):
        # At least one unmeasured run, so every answer is checked before anything is timed.
        warm = await run_batch(workload, max(1, config.warmup), config, f"warm {spec.name}")
        if warm.errors:
            raise RuntimeError(f"query {spec.name!r} ({spec.query}) failed: {warm.errors[0]}")
    this_process = psutil.Process()
    bench_cpu_before = sum(this_process.cpu_times()[:2])
    monitor = ProcessTreeMonitor(server.pid).start()
    merged = BatchOutcome()
    for spec, workload in zip(specs, workloads, strict=True):
        # The queries share the budget, so one slow query cannot starve the others.
        outcome = await run_batch(
            workload, config.query_runs, config, spec.name, config.budget_s / len(specs)
        )
        result.queries.append(_stats(spec, outcome, config.query_runs))
        merged.latencies_s += outcome.latencies_s
        merged.errors += outcome.errors
        merged.not_started += outcome.not_started
        merged.wall_s += outcome.wall_s
    usage = monitor.stop()
    summarise(result, merged)
    record_usage(result, usage, sum(this_process.cpu_times()[:2]) - bench_cpu_before)
