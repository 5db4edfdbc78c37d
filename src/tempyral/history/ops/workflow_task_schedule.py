"""Scheduling the next workflow task: on the sticky queue while its worker is alive, else the normal one."""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue

from tempyral.durations import to_duration
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState, WorkflowTaskInfo

NORMAL = TaskQueueKind.TASK_QUEUE_KIND_NORMAL
STICKY = TaskQueueKind.TASK_QUEUE_KIND_STICKY


def task_key(seq: int) -> str:
    return f"wft/{seq}"


def retry_delay(engine: HistoryEngine, attempt: int) -> float:
    """Back off a task that keeps failing, so a broken workflow does not spin a worker."""
    first = engine.dynamic.get_int("history.workflowTaskRetryBackoffFromAttempt")
    if attempt <= first:
        return 0.0
    cap = engine.dynamic.get_seconds("history.workflowTaskRetryMaxInterval")
    return float(min(2 ** (attempt - first - 1), cap))


def schedule_workflow_task(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    attempt: int = 1,
    transient: bool = False,
    delay: float = 0.0,
    speculative: bool = False,
) -> None:
    """Schedule the next workflow task unless one is already pending or the run is closed."""
    state = ctx.state
    if state.workflow_task is not None or not state.running:
        return
    state.workflow_task_seq += 1
    sticky = bool(state.sticky_task_queue)
    task = WorkflowTaskInfo(
        seq=state.workflow_task_seq,
        attempt=attempt,
        task_queue=state.sticky_task_queue if sticky else state.task_queue,
        sticky=sticky,
        scheduled_time=ctx.now,
        start_to_close_timeout=state.task_timeout,
        # A speculative task is written to history, like a transient one, only if it completes with events.
        transient=transient or speculative,
        dispatch_at=ctx.now + delay if delay > 0 else 0.0,
        speculative=speculative,
    )
    state.workflow_task = task
    ctx.touch()
    if delay > 0:
        ctx.add_timer(f"wft_dispatch/{task.seq}", task.dispatch_at)
        return
    dispatch(engine, ctx, task)


def dispatch(engine: HistoryEngine, ctx: ExecutionContext, task: WorkflowTaskInfo) -> None:
    """Write the SCHEDULED event (unless transient) and hand the task to matching.

    A task meant for a sticky worker that has not polled lately still names the sticky queue, as on the
    real server, but goes to the normal queue at once rather than waiting out the sticky timeout.
    """
    state = ctx.state
    if not task.transient:
        event = ctx.append(ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, scheduled_attributes(state, task))
        task.scheduled_event_id = event.event_id
    task.scheduled_time = ctx.now
    sticky_alive = task.sticky and engine.matching.sticky_worker_alive(state.namespace_id, task.task_queue)
    ctx.add_matching_task(task_key(task.seq), task.task_queue if sticky_alive else state.task_queue)
    if sticky_alive and state.sticky_schedule_to_start_timeout > 0:
        ctx.add_timer(f"wft_sticky/{task.seq}", ctx.now + state.sticky_schedule_to_start_timeout)


def scheduled_attributes(
    state: ExecutionState, task: WorkflowTaskInfo
) -> history.WorkflowTaskScheduledEventAttributes:
    return history.WorkflowTaskScheduledEventAttributes(
        task_queue=taskqueue.TaskQueue(
            name=task.task_queue,
            kind=STICKY if task.sticky else NORMAL,
            normal_name=state.task_queue if task.sticky else "",
        ),
        start_to_close_timeout=to_duration(task.start_to_close_timeout),
        attempt=task.attempt,
    )


def request_workflow_task(engine: HistoryEngine, ctx: ExecutionContext) -> None:
    """Something new happened that the workflow must see: make sure a task will deliver it."""
    if ctx.state.workflow_task is None:
        schedule_workflow_task(engine, ctx)
