"""Outbox rows with a due time (timers, timeouts, and hand-offs to other runs that are due at once):
route each to the operation that owns it."""

from __future__ import annotations

from temporalio.api.enums.v1 import RetryState, TimeoutType
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history

from tempyral.history.commands import timer_key
from tempyral.history.engine import HistoryEngine
from tempyral.history.ops.activity_task import on_activity_timer
from tempyral.history.ops.child_workflow import apply_parent_close_policy, notify_parent, start_child
from tempyral.history.ops.close_workflow import close_workflow, fail_in_flight_workflow_task
from tempyral.history.ops.external_workflow import deliver_cancel, deliver_signal
from tempyral.history.ops.new_run import next_cron_run, retry_failed_run
from tempyral.history.ops.workflow_task import on_workflow_task_timer
from tempyral.history.ops.workflow_task_schedule import request_workflow_task, schedule_workflow_task
from tempyral.matching.task_queue import TaskRef
from tempyral.persistence.records import TaskRow


async def fire_timer_task(engine: HistoryEngine, row: TaskRow) -> None:
    ref = TaskRef(row.namespace_id, row.workflow_id, row.run_id, row.key)
    kind = row.key.partition("/")[0]
    if kind == "timer":
        await _fire_user_timer(engine, ref, row.key.partition("/")[2])
    elif kind.startswith("act_"):
        await on_activity_timer(engine, row.key, ref)
    elif kind.startswith("wft_"):
        await on_workflow_task_timer(engine, row.key, ref)
    elif kind == "wf_backoff":
        await _first_workflow_task(engine, ref)
    elif kind == "wf_run_timeout":
        await _time_out_workflow(engine, ref)
    elif kind == "child_start":
        await start_child(engine, ref, int(row.key.partition("/")[2]))
    elif kind == "notify_parent":
        await notify_parent(engine, ref)
    elif kind == "parent_closed":
        await apply_parent_close_policy(engine, ref, int(row.key.partition("/")[2]))
    elif kind == "signal_external":
        await deliver_signal(engine, ref, int(row.key.partition("/")[2]))
    elif kind == "cancel_external":
        await deliver_cancel(engine, ref, int(row.key.partition("/")[2]))


async def _fire_user_timer(engine: HistoryEngine, ref: TaskRef, timer_id: str) -> None:
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        info = ctx.state.timers.get(timer_id)
        if not ctx.state.running or info is None:
            return
        del ctx.state.timers[timer_id]
        ctx.delete_task(timer_key(timer_id))
        ctx.append_or_buffer(
            ET.EVENT_TYPE_TIMER_FIRED,
            history.TimerFiredEventAttributes(timer_id=timer_id, started_event_id=info.started_event_id),
        )
        request_workflow_task(engine, ctx)


async def _first_workflow_task(engine: HistoryEngine, ref: TaskRef) -> None:
    """The start delay (or cron/retry backoff) is over: the workflow gets its first task."""
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        if not ctx.state.running:
            return
        ctx.delete_task("wf_backoff")
        schedule_workflow_task(engine, ctx)


async def _time_out_workflow(engine: HistoryEngine, ref: TaskRef) -> None:
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        if not ctx.state.running:
            return
        state = ctx.state
        fail_in_flight_workflow_task(ctx)
        ctx.flush_buffered_events()
        # Past the execution timeout no retry could run; otherwise the retry policy decides.
        expired = state.execution_expiration_time and ctx.now >= state.execution_expiration_time - 0.001
        retry_state: int = RetryState.RETRY_STATE_TIMEOUT
        next_run_id = ""
        if not expired:
            failure = failure_pb.Failure(
                message="workflow timeout",
                source="Server",
                timeout_failure_info=failure_pb.TimeoutFailureInfo(
                    timeout_type=TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
                ),
            )
            retry_state, next_run_id = retry_failed_run(engine, ctx, failure)
            next_run_id = next_run_id or next_cron_run(engine, ctx, None, failure)
        close_workflow(
            ctx,
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
            history.WorkflowExecutionTimedOutEventAttributes(
                retry_state=retry_state,  # type: ignore[arg-type]
                new_execution_run_id=next_run_id,
            ),
        )
