"""Closing a run: the close event, status, and dropping everything still pending (its outbox rows go too)."""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.enums.v1 import workflow_pb2 as WS  # plain ints: faster than the enum wrapper

from tempyral.history.execution import ExecutionContext

CLOSE_STATUS: dict[int, int] = {
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: WS.WORKFLOW_EXECUTION_STATUS_COMPLETED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: WS.WORKFLOW_EXECUTION_STATUS_FAILED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: WS.WORKFLOW_EXECUTION_STATUS_CANCELED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: WS.WORKFLOW_EXECUTION_STATUS_TERMINATED,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: WS.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: WS.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW,
}


def close_workflow(ctx: ExecutionContext, event_type: int, attributes: Message) -> None:
    state = ctx.state
    event = ctx.append(event_type, attributes)
    state.status = CLOSE_STATUS[event_type]
    state.close_time = ctx.now
    state.close_event_id = event.event_id
    state.workflow_task = None
    state.activities.clear()
    state.timers.clear()
    state.buffered_events.clear()
    ctx.closed = True
