"""Differential scenarios where workflows act on each other or on a task in flight: children that fail, are
cancelled, terminated or cannot start; signals and cancels sent to external workflows; a cron workflow's
first run; signals that land while a workflow task (or the completing one) is in flight.

Each is built so that every event's place is fixed: a child whose end must come after a parent's task runs
on its own task queue, whose worker starts only once the parent's task is done.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

from tests.differential.composition_workflows import (
    GATES,
    CancelExternal,
    ChildOutcome,
    ChildSpec,
    Gate,
    GatedSignals,
    SignalExternal,
)
from tests.differential.harness import Ctx, Scenario, outcome, wait_for_event
from tests.differential.normalize import normalize_history
from tests.differential.workflows import Interactive, Sleep

_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


def _child_queue(ctx: Ctx) -> str:
    return ctx.task_queue + "-child"


async def _start_parent(ctx: Ctx, spec: ChildSpec) -> WorkflowHandle[ChildOutcome, str]:
    return await ctx.client.start_workflow(ChildOutcome.run, spec, id=ctx.wf_id(), task_queue=ctx.task_queue)


async def child_fails(ctx: Ctx) -> None:
    spec = ChildSpec("Fail", ctx.wf_id("-child"), _child_queue(ctx))
    async with ctx.worker():
        parent = await _start_parent(ctx, spec)
        # The parent's task after CHILD_WORKFLOW_EXECUTION_STARTED is done before the child may run.
        await wait_for_event(parent, _COMPLETED, 2)
        async with ctx.worker(_child_queue(ctx)):
            ctx.note("outcome", await outcome(parent))
    ctx.track_handle(parent, "parent")
    ctx.track("child", spec.id, None)


async def child_cancelled(ctx: Ctx) -> None:
    spec = ChildSpec("Sleep", ctx.wf_id("-child"), _child_queue(ctx), args=[3600.0], cancel=True)
    async with ctx.worker():
        parent = await _start_parent(ctx, spec)
        # Task 3 follows EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED; only then may the child run and
        # act on the request (it has been waiting, unpolled, with the request in its history).
        await wait_for_event(parent, _COMPLETED, 3)
        async with ctx.worker(_child_queue(ctx)):
            ctx.note("outcome", await outcome(parent))
    ctx.track_handle(parent, "parent")
    ctx.track("child", spec.id, None)


async def child_terminated(ctx: Ctx) -> None:
    # Nobody polls the child's queue: it never runs, it is only terminated.
    spec = ChildSpec("Sleep", ctx.wf_id("-child"), _child_queue(ctx), args=[3600.0])
    async with ctx.worker():
        parent = await _start_parent(ctx, spec)
        await wait_for_event(parent, _COMPLETED, 2)
        await ctx.client.get_workflow_handle(spec.id).terminate("from outside", reason="stop the child")
        ctx.note("outcome", await outcome(parent))
    ctx.track_handle(parent, "parent")
    ctx.track("child", spec.id, None)


async def child_id_already_running(ctx: Ctx) -> None:
    busy = await ctx.client.start_workflow(
        Sleep.run, 3600.0, id=ctx.wf_id("-busy"), task_queue=_child_queue(ctx)
    )
    spec = ChildSpec("Sleep", busy.id, _child_queue(ctx), args=[3600.0])
    try:
        async with ctx.worker():
            parent = await _start_parent(ctx, spec)
            ctx.note("outcome", await outcome(parent))
    finally:
        await busy.terminate("scenario done")
    ctx.track_handle(parent, "parent")
    ctx.track_handle(busy, "busy")


def _backoff_marker(started: HistoryEvent) -> str:
    """The cron first-run backoff as a marker if it is what it should be, else its raw value."""
    backoff = started.workflow_execution_started_event_attributes.first_workflow_task_backoff
    start = int(started.event_time.ToDatetime().replace(tzinfo=UTC).timestamp())
    if backoff.nanos == 0 and 0 < backoff.seconds <= 60 and (start + backoff.seconds) % 60 == 0:
        return "<whole seconds from the start's second to the next minute>"
    return f"unexpected: {backoff.seconds}s {backoff.nanos}ns after start second {start}"


async def cron_first_run(ctx: Ctx) -> None:
    # Keep clear of a minute boundary, so the backoff cannot end (and a task be scheduled) before the
    # terminate; both servers share this clock.
    now = datetime.now(UTC)
    if now.second >= 50:
        await asyncio.sleep(61 - now.second - now.microsecond / 1e6)
    handle = await ctx.client.start_workflow(
        Sleep.run, 1.0, id=ctx.wf_id(), task_queue=ctx.task_queue, cron_schedule="* * * * *"
    )
    description = await handle.describe()
    info = description.raw_description.workflow_execution_info
    ctx.note("describe.status", description.status.name if description.status else None)
    ctx.note(
        "describe.has_pending_workflow_task", description.raw_description.HasField("pending_workflow_task")
    )
    events = list((await handle.fetch_history()).events)
    started = events[0]
    backoff = started.workflow_execution_started_event_attributes.first_workflow_task_backoff
    execution_gap = info.execution_time.ToDatetime() - info.start_time.ToDatetime()
    ctx.note("describe.execution_time_minus_start_time_is_backoff", execution_gap == backoff.ToTimedelta())
    await handle.terminate("seen the first run")
    events = list((await handle.fetch_history()).events)
    normalized = normalize_history(events, ctx.names)
    normalized[0]["attrs"]["first_workflow_task_backoff"] = _backoff_marker(events[0])
    # Noted rather than tracked: the backoff depends on the clock and is checked above, not compared.
    ctx.note("cron_run.history", normalized)


@contextlib.asynccontextmanager
async def _gate(ctx: Ctx) -> AsyncIterator[Gate]:
    gate = GATES[ctx.wf_id()] = Gate()
    try:
        yield gate
    finally:
        gate.release.set()
        del GATES[ctx.wf_id()]


async def _signal_during_task(ctx: Ctx, wait_for_signal: bool) -> None:
    async with _gate(ctx) as gate, ctx.worker():
        handle = await ctx.client.start_workflow(
            GatedSignals.run, wait_for_signal, id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        await asyncio.wait_for(gate.entered.wait(), 20)
        # Accepted while the first task is in flight: buffered until that task ends.
        await handle.signal(GatedSignals.add, "during the task")
        gate.release.set()
        ctx.note("outcome", await outcome(handle))
        ctx.note("local_activity_runs", gate.calls)
    ctx.track_handle(handle)


async def signal_during_task(ctx: Ctx) -> None:
    await _signal_during_task(ctx, wait_for_signal=True)


async def signal_during_completing_task(ctx: Ctx) -> None:
    await _signal_during_task(ctx, wait_for_signal=False)


async def signal_external(ctx: Ctx) -> None:
    async with ctx.worker():
        target = await ctx.client.start_workflow(
            Interactive.run, id=ctx.wf_id("-target"), task_queue=ctx.task_queue
        )
        # The target's first task is done, so the signal cannot land inside it.
        await wait_for_event(target, _COMPLETED)
        sender = await ctx.client.start_workflow(
            SignalExternal.run,
            args=[target.id, "add", "from sender"],
            id=ctx.wf_id(),
            task_queue=ctx.task_queue,
        )
        ctx.note("outcome", await outcome(sender))
        await wait_for_event(target, _COMPLETED, 2)
        await target.signal(Interactive.finish)
        ctx.note("target_outcome", await outcome(target))
    ctx.track_handle(sender, "sender")
    ctx.track_handle(target, "target")


async def signal_external_not_found(ctx: Ctx) -> None:
    async with ctx.worker():
        sender = await ctx.client.start_workflow(
            SignalExternal.run,
            args=[ctx.wf_id("-missing"), "add", "to nobody"],
            id=ctx.wf_id(),
            task_queue=ctx.task_queue,
        )
        ctx.note("outcome", await outcome(sender))
    ctx.track_handle(sender, "sender")


async def cancel_external(ctx: Ctx) -> None:
    async with ctx.worker():
        target = await ctx.client.start_workflow(
            Sleep.run, 3600.0, id=ctx.wf_id("-target"), task_queue=ctx.task_queue
        )
        await wait_for_event(target, EventType.EVENT_TYPE_TIMER_STARTED)
        sender = await ctx.client.start_workflow(
            CancelExternal.run, target.id, id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        ctx.note("outcome", await outcome(sender))
        ctx.note("target_outcome", await outcome(target))
    ctx.track_handle(sender, "sender")
    ctx.track_handle(target, "target")


COMPOSITION_SCENARIOS = [
    Scenario(
        "50_child_fails",
        "child raises ApplicationError; the parent catches ChildWorkflowError and returns",
        child_fails,
    ),
    Scenario(
        "51_child_cancelled",
        "parent cancels its child through the handle (WAIT_CANCELLATION_COMPLETED); the child is cancelled",
        child_cancelled,
    ),
    Scenario(
        "52_child_terminated",
        "a client terminates the child while the parent waits for it",
        child_terminated,
    ),
    Scenario(
        "53_child_id_already_running",
        "the child's workflow id belongs to a running workflow: START_CHILD_WORKFLOW_EXECUTION_FAILED",
        child_id_already_running,
    ),
    Scenario(
        "54_cron_first_run",
        "cron_schedule '* * * * *': the first run waits for the next minute; terminated during the backoff",
        cron_first_run,
    ),
    Scenario(
        "55_signal_during_task",
        "a signal lands while the first task is held open by a local activity; the next task delivers it",
        signal_during_task,
    ),
    Scenario(
        "56_signal_during_completing_task",
        "a signal lands while the task that completes the workflow is in flight: that completion is refused",
        signal_during_completing_task,
    ),
    Scenario("57_signal_external", "a workflow signals another running workflow by id", signal_external),
    Scenario(
        "58_signal_external_not_found",
        "a workflow signals a workflow id that does not exist",
        signal_external_not_found,
    ),
    Scenario(
        "59_cancel_external",
        "a workflow requests cancellation of another (sleeping) workflow by id",
        cancel_external,
    ),
]
