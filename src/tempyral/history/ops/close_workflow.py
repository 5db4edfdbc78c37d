"""Closing a run: the close event, status, and dropping everything still pending (its outbox rows go too)."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import ParentClosePolicy, WorkflowTaskFailedCause
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.enums.v1 import workflow_pb2 as WS  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history

from tempyral.history.execution import ExecutionContext

_ACTING_CLOSE_POLICIES = {
    ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE,
    ParentClosePolicy.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
}

# The identity the real server writes on events it makes itself.
SERVER_IDENTITY = "history-service"

CLOSE_STATUS: dict[int, int] = {
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: WS.WORKFLOW_EXECUTION_STATUS_COMPLETED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: WS.WORKFLOW_EXECUTION_STATUS_FAILED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: WS.WORKFLOW_EXECUTION_STATUS_CANCELED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: WS.WORKFLOW_EXECUTION_STATUS_TERMINATED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: WS.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: WS.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW,
}


def close_workflow(
    ctx: ExecutionContext,
    event_type: int,
    attributes: Message,
    links: Sequence[common.Link] = (),
    children_handed_over: bool = False,
) -> None:
    """Close the run. `children_handed_over`: a run that replaces it in the same change (a reset) keeps
    its children, so no parent close policy applies to them."""
    state = ctx.state
    event = ctx.append(event_type, attributes, links)
    state.status = CLOSE_STATUS[event_type]
    state.close_time = ctx.now
    state.close_event_id = event.event_id
    state.workflow_task = None
    state.activities.clear()
    state.timers.clear()
    state.buffered_events.clear()
    # Every outbox row of the run goes with it; rows added from here on (notifying a parent, applying
    # parent close policies) are written after that clean-up, in the same transaction.
    ctx.upsert_tasks.clear()
    ctx.delete_task_keys.clear()
    ctx.closed = True
    if state.parent is not None and ctx.next_run is None:
        ctx.add_timer("notify_parent", ctx.now)
    if children_handed_over:
        return
    for child in state.children.values():
        if child.parent_close_policy in _ACTING_CLOSE_POLICIES:
            ctx.add_timer(f"parent_closed/{child.initiated_event_id}", ctx.now)


def fail_in_flight_workflow_task(ctx: ExecutionContext) -> None:
    """The run is being closed from outside: a workflow task in flight can no longer complete, and (unless
    transient) is recorded as failed by the forced close, as the real server does."""
    task = ctx.state.workflow_task
    if task is not None and task.started and not task.transient:
        ctx.append(
            ET.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            history.WorkflowTaskFailedEventAttributes(
                scheduled_event_id=task.scheduled_event_id,
                started_event_id=task.started_event_id,
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
                identity=SERVER_IDENTITY,
            ),
        )
    ctx.state.workflow_task = None


def terminate_in_context(
    ctx: ExecutionContext,
    reason: str,
    details: common.Payloads | None,
    identity: str,
    links: Sequence[common.Link] = (),
    children_handed_over: bool = False,
) -> None:
    """Terminate the run within the current change: force-close any task in flight, flush, close."""
    fail_in_flight_workflow_task(ctx)
    ctx.flush_buffered_events()
    close_workflow(
        ctx,
        ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        history.WorkflowExecutionTerminatedEventAttributes(reason=reason, details=details, identity=identity),
        links,
        children_handed_over,
    )
