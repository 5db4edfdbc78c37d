"""QueryWorkflow: answered in a workflow task's `queries` map, or by a query-only task, as the real server
decides.

A query may go straight to a worker as a query-only task (answered by RespondQueryTaskCompleted) only when
no event can have come before it unseen: the run completed a workflow task and has none pending or
running, or it is closed. Otherwise it is *buffered* (history/queries.py) and rides in the next workflow
task that starts; that task's completion answers it, or releases it as a query-only task when no new task
follows. Query-only tasks go to the sticky worker first, then to the normal queue.
"""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import (
    QueryRejectCondition,
    QueryResultType,
    ResourceExhaustedCause,
    ResourceExhaustedScope,
    TaskQueueKind,
    WorkflowExecutionStatus,
)
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.query.v1 import message_pb2 as query_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import FailedPrecondition, InvalidArgument, NotFound, ServiceError
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.ops.workflow_task import frame_events
from tempyral.history.queries import BufferedQuery, ExecutionKey, Outcome, PendingQuery, QueryRegistry
from tempyral.matching.task_queue import TaskRef
from tempyral.tokens import TaskToken

__all__ = ["QueryRegistry", "answer_query", "query_task_response", "query_workflow", "stale_task_polled"]

# From this workflow-task attempt on, the task is taken to be failing and queries fail at once.
FAILING_TASK_ATTEMPT = 3


class QueryFailed(ServiceError):
    code = "INVALID_ARGUMENT"


class QueryTimedOut(ServiceError):
    code = "DEADLINE_EXCEEDED"


class WorkflowNotReady(ServiceError):
    code = "FAILED_PRECONDITION"

    def __init__(self, message: str) -> None:
        super().__init__(message, details.WorkflowNotReadyFailure())


class BusyWorkflow(ServiceError):
    code = "RESOURCE_EXHAUSTED"

    def __init__(self) -> None:
        super().__init__(
            "consistent query buffer is full, this may be caused by too many queries and workflow not able "
            "to process query fast enough",
            details.ResourceExhaustedFailure(
                cause=ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW,
                scope=ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE,
            ),
        )


def _timed_out() -> QueryTimedOut:
    return QueryTimedOut("query timed out before a worker could answer it")


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
    caller_deadline: bool = True,
) -> wsr.QueryWorkflowResponse:
    """`max_wait`: seconds until the answer is due; `caller_deadline`: whether the caller set a deadline
    (without one, a run whose first workflow task is still in backoff cannot be waited for)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    execution = request.execution
    run_id = await engine.resolve_run_id(namespace_id, execution.workflow_id, execution.run_id)
    key = (namespace_id, execution.workflow_id, run_id)
    while True:
        decision = await _decide(engine, registry, key, request, deadline, caller_deadline)
        if isinstance(decision, wsr.QueryWorkflowResponse):
            return decision
        if decision is None:
            return await _dispatch_directly(engine, registry, key, request.query, deadline)
        outcome = await _wait_buffered(registry, key, decision, deadline)
        if outcome == "cleared":
            continue  # the run changed under the query: decide again, as the real frontend retries
        if outcome == "unblocked":
            return await _dispatch_directly(engine, registry, key, request.query, deadline)
        if isinstance(outcome, ServiceError):
            raise outcome
        return _answered(outcome)


async def _decide(
    engine: HistoryEngine,
    registry: QueryRegistry,
    key: ExecutionKey,
    request: wsr.QueryWorkflowRequest,
    deadline: float,
    caller_deadline: bool,
) -> wsr.QueryWorkflowResponse | tuple[str, BufferedQuery] | None:
    """Rejected (a response), buffered (its id and record), or None: safe to dispatch directly.

    Decided under the run's lock, so no workflow task can start or complete between the look and the
    buffering."""
    async with engine.update_execution(*key) as ctx:
        state = ctx.state
        if _rejected(state.status, request.query_reject_condition):
            return wsr.QueryWorkflowResponse(
                query_rejected=query_pb.QueryRejected(status=state.status)  # type: ignore[arg-type]
            )
        _check_ready(ctx, deadline, caller_deadline)
        completed_any = state.last_completed_workflow_task_event_id > 0
        if completed_any and (not state.running or state.workflow_task is None):
            return None
        if registry.buffered_count(key) >= engine.dynamic.get_int("history.MaxBufferedQueryCount"):
            raise BusyWorkflow()
        return registry.buffer(key, request.query)


def _check_ready(ctx: ExecutionContext, deadline: float, caller_deadline: bool) -> None:
    """The workflow-not-ready cases: no worker has seen the run yet and none will in time, or its
    workflow task keeps failing."""
    state = ctx.state
    task = state.workflow_task
    completed_any = state.last_completed_workflow_task_event_id > 0
    if not state.running and not completed_any:
        raise WorkflowNotReady("Workflow execution closed before WorkflowTaskStarted event")
    if task is None and not completed_any:
        # The first task waits out a start delay or backoff: wait for it only if it comes in time.
        remaining = deadline - asyncio.get_running_loop().time()
        if not caller_deadline or state.execution_time > ctx.now + remaining:
            raise WorkflowNotReady("Workflow task is not scheduled yet.")
    if task is not None and task.attempt >= FAILING_TASK_ATTEMPT:
        raise WorkflowNotReady("Unable to query workflow due to Workflow Task in failed state.")


async def _wait_buffered(
    registry: QueryRegistry, key: ExecutionKey, buffered: tuple[str, BufferedQuery], deadline: float
) -> Outcome:
    query_id, entry = buffered
    try:
        remaining = deadline - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait((entry.outcome,), timeout=max(remaining, 0.0))
        if not done:
            raise _timed_out()
        return entry.outcome.result()
    finally:
        registry.remove(key, query_id)


def _answered(result: query_pb.WorkflowQueryResult) -> wsr.QueryWorkflowResponse:
    if result.result_type == QueryResultType.QUERY_RESULT_TYPE_ANSWERED:
        return wsr.QueryWorkflowResponse(query_result=result.answer)
    if result.result_type == QueryResultType.QUERY_RESULT_TYPE_FAILED:
        failure = result.failure if result.HasField("failure") else None
        raise QueryFailed(result.error_message, details.QueryFailedFailure(failure=failure))
    raise InvalidArgument("query entered invalid state, this should be impossible")


# -- query-only tasks ---------------------------------------------------------------------------------


async def _dispatch_directly(
    engine: HistoryEngine,
    registry: QueryRegistry,
    key: ExecutionKey,
    query: query_pb.WorkflowQuery,
    deadline: float,
) -> wsr.QueryWorkflowResponse:
    """A query-only task: to the sticky worker while it answers within its schedule-to-start timeout,
    else (stickiness cleared, as the real server does) to any worker on the normal queue."""
    loop = asyncio.get_running_loop()
    state = (await engine.load(*key)).state
    if state.running and state.sticky_task_queue:
        if engine.matching.sticky_worker_alive(state.namespace_id, state.sticky_task_queue):
            until = min(deadline, loop.time() + state.sticky_schedule_to_start_timeout)
            answer = await _query_task(engine, registry, key, query, state.sticky_task_queue, until)
            if answer is not None:
                return _legacy_answer(answer)
        await _reset_stickiness(engine, key)
    answer = await _query_task(engine, registry, key, query, state.task_queue, deadline)
    if answer is None:
        raise _unanswered(engine, state)
    return _legacy_answer(answer)


def _unanswered(engine: HistoryEngine, state: ExecutionState) -> ServiceError:
    """Nobody took the query: say so plainly when the task queue's workers seem gone, as the real server
    does once none has polled within matching.queryPollerUnavailableWindow."""
    idle = engine.matching.seconds_since_poll(state.namespace_id, state.task_queue, "workflow")
    if idle is not None and idle > engine.dynamic.get_seconds("matching.queryPollerUnavailableWindow"):
        return FailedPrecondition("no poller seen for task queue recently, worker may be down")
    return _timed_out()


async def _query_task(
    engine: HistoryEngine,
    registry: QueryRegistry,
    key: ExecutionKey,
    query: query_pb.WorkflowQuery,
    task_queue: str,
    until: float,
) -> wsr.RespondQueryTaskCompletedRequest | None:
    """Offer a query-only task on `task_queue` until the loop time `until`; the worker's answer, or None."""
    query_id = str(uuid.uuid4())
    pending = PendingQuery(*key, query)
    registry.pending[query_id] = pending
    try:
        engine.matching.add_task("workflow", task_queue, TaskRef(*key, f"query/{query_id}"))
        remaining = until - asyncio.get_running_loop().time()
        done, _ = await asyncio.wait((pending.answer,), timeout=max(remaining, 0.0))
        return pending.answer.result() if done else None
    finally:
        # A poller finding the task after this gets nothing (query_task_response checks the registry).
        registry.pending.pop(query_id, None)


async def _reset_stickiness(engine: HistoryEngine, key: ExecutionKey) -> None:
    async with engine.update_execution(*key) as ctx:
        if ctx.state.running and ctx.state.sticky_task_queue:
            ctx.state.sticky_task_queue = ""
            ctx.touch()


def _legacy_answer(answer: wsr.RespondQueryTaskCompletedRequest) -> wsr.QueryWorkflowResponse:
    if answer.completed_type == QueryResultType.QUERY_RESULT_TYPE_FAILED:
        failure = answer.failure if answer.HasField("failure") else None
        raise QueryFailed(answer.error_message, details.QueryFailedFailure(failure=failure))
    return wsr.QueryWorkflowResponse(query_result=answer.query_result)


async def query_task_response(
    engine: HistoryEngine, registry: QueryRegistry, ref: TaskRef, sticky_poll: bool
) -> wsr.PollWorkflowTaskQueueResponse | None:
    """The poll response carrying a query-only task; None if its caller stopped waiting."""
    query_id = ref.key.partition("/")[2]
    pending = registry.pending.get(query_id)
    if pending is None or pending.answer.done():
        return None
    try:
        entry = await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)
    except NotFound:
        return None
    state = entry.state
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
        attempt=1,
        query=pending.query,
        workflow_execution_task_queue=taskqueue.TaskQueue(
            name=state.task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        ),
    )
    # The sticky worker answers from the workflow it has cached: the real server sends it no events, but
    # a history all the same (the SDK refuses a task without one).
    response.history.SetInParent()
    if not sticky_poll:
        response.history.MergeFromString(frame_events(entry.events))
    return response


async def stale_task_polled(engine: HistoryEngine, registry: QueryRegistry, ref: TaskRef) -> None:
    """A poller found a workflow task of a run that has closed since: queries still waiting for that run
    start over (they now go out as query-only tasks, or fail if no task ever completed). The real server
    does the same when this happens, and only then."""
    try:
        state = (await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)).state
    except NotFound:
        return
    if not state.running:
        registry.settle_all((ref.namespace_id, ref.workflow_id, ref.run_id), "cleared")


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
