"""QueryWorkflow: a query-only workflow task handed to a worker, answered by RespondQueryTaskCompleted.

Queries change nothing, so nothing about them is persisted: a query lives in memory for as long as its
caller waits. A query waits until no workflow task is pending, so the worker answers from a workflow
that has seen every event written before the query arrived.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import (
    QueryRejectCondition,
    QueryResultType,
    TaskQueueKind,
    WorkflowExecutionStatus,
)
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.query.v1 import message_pb2 as query_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import InvalidArgument, NotFound, ServiceError
from tempyral.history.engine import CachedExecution, HistoryEngine
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.ops.workflow_task import frame_events
from tempyral.matching.task_queue import TaskRef
from tempyral.tokens import TaskToken

# How often a query waiting for a workflow task to finish looks again.
_RECHECK_SECONDS = 0.2


class QueryFailed(ServiceError):
    code = "INVALID_ARGUMENT"


class QueryTimedOut(ServiceError):
    code = "DEADLINE_EXCEEDED"


@dataclass
class PendingQuery:
    namespace_id: str
    workflow_id: str
    run_id: str
    query: query_pb.WorkflowQuery
    answer: asyncio.Future[wsr.RespondQueryTaskCompletedRequest] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class QueryRegistry:
    """Queries waiting for a worker's answer, by id."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingQuery] = {}


def _rejected(state_status: int, condition: int) -> bool:
    if condition == QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_OPEN:
        return state_status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING
    if condition == QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY:
        return state_status not in (
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
            WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED,
        )
    return False


async def query_workflow(
    engine: HistoryEngine,
    registry: QueryRegistry,
    namespace_id: str,
    request: wsr.QueryWorkflowRequest,
    max_wait: float,
) -> wsr.QueryWorkflowResponse:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    execution = request.execution
    run_id = await engine.resolve_run_id(namespace_id, execution.workflow_id, execution.run_id)
    entry = await engine.load(namespace_id, execution.workflow_id, run_id)
    state = entry.state
    if _rejected(state.status, request.query_reject_condition):
        return wsr.QueryWorkflowResponse(
            query_rejected=query_pb.QueryRejected(status=state.status)  # type: ignore[arg-type]
        )
    # A run still waiting for its first task (start delay, continue-as-new backoff) is waited for too.
    while state.running and _task_pending_or_first_to_come(state):
        if loop.time() >= deadline:
            raise QueryTimedOut("query timed out before a worker could answer it")
        entry = await engine.wait_for_events(
            namespace_id, execution.workflow_id, run_id, len(entry.events), _RECHECK_SECONDS
        )
        state = entry.state
    query_id = str(uuid.uuid4())
    pending = PendingQuery(namespace_id, execution.workflow_id, run_id, request.query)
    registry.pending[query_id] = pending
    try:
        queue = _query_task_queue(engine, entry)
        engine.matching.add_task(
            "workflow", queue, TaskRef(namespace_id, execution.workflow_id, run_id, f"query/{query_id}")
        )
        remaining = deadline - loop.time()
        done, _ = await asyncio.wait((pending.answer,), timeout=max(remaining, 0.0))
        if not done:
            raise QueryTimedOut("query timed out before a worker could answer it")
        answer = pending.answer.result()
    finally:
        registry.pending.pop(query_id, None)
    if answer.completed_type == QueryResultType.QUERY_RESULT_TYPE_FAILED:
        failure = answer.failure if answer.HasField("failure") else None
        raise QueryFailed(answer.error_message, details.QueryFailedFailure(failure=failure))
    return wsr.QueryWorkflowResponse(query_result=answer.query_result)


def _task_pending_or_first_to_come(state: ExecutionState) -> bool:
    return state.workflow_task is not None or not state.last_completed_workflow_task_event_id


def _query_task_queue(engine: HistoryEngine, entry: CachedExecution) -> str:
    """The sticky worker has the workflow cached and answers fastest; anyone on the normal queue can too."""
    state = entry.state
    if (
        state.running
        and state.sticky_task_queue
        and engine.matching.sticky_worker_alive(state.namespace_id, state.sticky_task_queue)
    ):
        return state.sticky_task_queue
    return state.task_queue


async def query_task_response(
    engine: HistoryEngine, registry: QueryRegistry, ref: TaskRef, sticky_poll: bool
) -> wsr.PollWorkflowTaskQueueResponse | None:
    """The poll response carrying a query; None if its caller stopped waiting."""
    query_id = ref.key.partition("/")[2]
    pending = registry.pending.get(query_id)
    if pending is None or pending.answer.done():
        return None
    try:
        entry = await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)
    except NotFound:
        return None
    state = entry.state
    # A sticky worker has the workflow cached up to its last task; anyone else replays all of it.
    first_event = state.previous_started_event_id + 1 if sticky_poll and state.running else 1
    response = wsr.PollWorkflowTaskQueueResponse(
        task_token=TaskToken(
            namespace_id=state.namespace_id,
            workflow_id=state.workflow_id,
            run_id=state.run_id,
            scheduled_event_id=0,
            attempt=0,
            activity_id=query_id,
            kind="query",
        ).encode(),
        workflow_execution=common.WorkflowExecution(workflow_id=state.workflow_id, run_id=state.run_id),
        workflow_type=common.WorkflowType(name=state.workflow_type),
        previous_started_event_id=state.previous_started_event_id,
        started_event_id=state.previous_started_event_id,
        query=pending.query,
        workflow_execution_task_queue=taskqueue.TaskQueue(
            name=state.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        ),
    )
    response.history.MergeFromString(frame_events(entry.events[first_event - 1 :]))
    return response


def answer_query(
    registry: QueryRegistry, token: TaskToken, request: wsr.RespondQueryTaskCompletedRequest
) -> None:
    pending = registry.pending.get(token.activity_id)
    if pending is None or pending.answer.done():
        raise NotFound("query not found or already answered")
    if request.completed_type not in (
        QueryResultType.QUERY_RESULT_TYPE_ANSWERED,
        QueryResultType.QUERY_RESULT_TYPE_FAILED,
    ):
        raise InvalidArgument("Invalid query completed type.")
    pending.answer.set_result(request)
