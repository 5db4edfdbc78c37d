"""Differential scenarios for ResetWorkflowExecution: the new run's history (kept prefix, the RESET_WORKFLOW
task failure, reapplied signals, what follows) and the termination of the run it replaced."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType, ResetReapplyExcludeType
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tests.differential.harness import NAMESPACE, Ctx, Scenario, execution, outcome, wait_for_event
from tests.differential.workflows import Interactive, Sleep

_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


async def _reset(ctx: Ctx, event_id: int, **extra: object) -> str:
    response = await ctx.stub.ResetWorkflowExecution(
        wsr.ResetWorkflowExecutionRequest(
            namespace=NAMESPACE,
            workflow_execution=execution(ctx.wf_id()),
            reason="differential reset",
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
            identity="differential",
            **extra,  # type: ignore[arg-type]
        )
    )
    run_id: str = response.run_id
    return run_id


async def _first_completed_task(ctx: Ctx, run_id: str) -> int:
    history = await ctx.client.get_workflow_handle(ctx.wf_id(), run_id=run_id).fetch_history()
    return next(e.event_id for e in history.events if e.event_type == _COMPLETED)


async def reset_reapplies_signals(ctx: Ctx) -> None:
    async with ctx.worker():
        started = await ctx.client.start_workflow(Interactive.run, id=ctx.wf_id(), task_queue=ctx.task_queue)
        base = ctx.client.get_workflow_handle(ctx.wf_id(), run_id=started.result_run_id)
        await wait_for_event(base, _COMPLETED)
        await base.signal(Interactive.add, "a")
        await wait_for_event(base, _COMPLETED, 2)
        await base.signal(Interactive.add, "b")
        await wait_for_event(base, _COMPLETED, 3)
        assert base.run_id is not None
        new_run_id = await _reset(ctx, await _first_completed_task(ctx, base.run_id))
        new = ctx.client.get_workflow_handle(ctx.wf_id(), run_id=new_run_id)
        # The kept history ends before the first completed task: this one ran on the reapplied signals.
        await wait_for_event(new, _COMPLETED)
        await new.signal(Interactive.finish)
        ctx.note("outcome", await outcome(new))
    ctx.track_handle(base, "base")
    ctx.track_handle(new, "new")


async def reset_without_signals_keeps_pending_timer(ctx: Ctx) -> None:
    async with ctx.worker():
        started = await ctx.client.start_workflow(
            Sleep.run, 3600.0, id=ctx.wf_id(), task_queue=ctx.task_queue
        )
        base = ctx.client.get_workflow_handle(ctx.wf_id(), run_id=started.result_run_id)
        await wait_for_event(base, EventType.EVENT_TYPE_TIMER_STARTED)
        # Reset to the WORKFLOW_TASK_STARTED event (3): the server starts and fails that task itself.
        new_run_id = await _reset(
            ctx, 3, reset_reapply_exclude_types=[ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL]
        )
        new = ctx.client.get_workflow_handle(ctx.wf_id(), run_id=new_run_id)
        await wait_for_event(new, EventType.EVENT_TYPE_TIMER_STARTED)
        await new.terminate(reason="done")
    ctx.track_handle(base, "base")
    ctx.track_handle(new, "new")


RESET_SCENARIOS = [
    Scenario(
        "42_reset_reapplies_signals",
        "reset a running workflow to its first task; two later signals are applied again; then it finishes",
        reset_reapplies_signals,
    ),
    Scenario(
        "43_reset_to_task_started",
        "reset a sleeping workflow to its first WORKFLOW_TASK_STARTED, signals excluded",
        reset_without_signals_keeps_pending_timer,
    ),
]
