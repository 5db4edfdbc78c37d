"""Activity tasks: schedule, start, heartbeat, complete / fail / cancel, server-side retries and timeouts.

Retried attempts leave no events: the attempt number and last failure live in mutable state, and the final
attempt's ACTIVITY_TASK_STARTED (carrying both) is written just before its outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import RetryState
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.enums.v1 import workflow_pb2 as TT  # plain ints: faster than the enum wrapper
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.config import DynamicConfig
from tempyral.durations import to_duration
from tempyral.errors import HistoryLimitExceeded, NotFound
from tempyral.history import retry
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ActivityInfo, ExecutionState
from tempyral.history.ops.workflow_task_schedule import request_workflow_task
from tempyral.history.proto_presence import copy_present
from tempyral.limits import blob_too_large
from tempyral.matching.task_queue import TaskRef
from tempyral.tokens import TaskToken

_TIMEOUT_NAMES: dict[int, str] = {
    TT.TIMEOUT_TYPE_SCHEDULE_TO_START: "ScheduleToStart",
    TT.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE: "ScheduleToClose",
    TT.TIMEOUT_TYPE_START_TO_CLOSE: "StartToClose",
    TT.TIMEOUT_TYPE_HEARTBEAT: "Heartbeat",
}


_SCHEDULE_TO_CLOSE_MESSAGE = (
    "Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying"
)


def task_key(scheduled_event_id: int) -> str:
    return f"act/{scheduled_event_id}"


def _attempt_keys(info: ActivityInfo) -> list[str]:
    """Outbox keys belonging to the current attempt."""
    s, a = info.scheduled_event_id, info.attempt
    return [task_key(s), f"act_s2s/{s}/{a}", f"act_st2c/{s}/{a}", f"act_hb/{s}/{a}", f"act_retry/{s}/{a}"]


# -- scheduling ---------------------------------------------------------------------------------------


def schedule_activity(ctx: ExecutionContext, info: ActivityInfo) -> None:
    """Register a newly scheduled activity (its ACTIVITY_TASK_SCHEDULED event is already written)."""
    ctx.state.activities[info.scheduled_event_id] = info
    if info.schedule_to_close_timeout > 0:
        ctx.add_timer(f"act_s2c/{info.scheduled_event_id}", ctx.now + info.schedule_to_close_timeout)
    _make_available(ctx, info)


def _make_available(ctx: ExecutionContext, info: ActivityInfo) -> None:
    """Put the current attempt in its task queue, with its schedule-to-start deadline."""
    info.in_backoff = False
    info.attempt_scheduled_time = ctx.now
    ctx.add_matching_task(task_key(info.scheduled_event_id), info.task_queue)
    if info.schedule_to_start_timeout > 0 and (
        info.schedule_to_close_timeout <= 0 or info.schedule_to_start_timeout < info.schedule_to_close_timeout
    ):
        ctx.add_timer(
            f"act_s2s/{info.scheduled_event_id}/{info.attempt}", ctx.now + info.schedule_to_start_timeout
        )


# What the real server puts in the cancellation of an activity that never started.
_NOT_STARTED_DETAILS = common.Payloads(
    payloads=[common.Payload(metadata={"encoding": b"json/plain"}, data=b'"ACTIVITY_ID_NOT_STARTED"')]
)


def request_cancel_activity(
    ctx: ExecutionContext,
    info: ActivityInfo,
    workflow_task_completed_event_id: int,
    identity: str,
    workflow_closing: bool,
) -> Callable[[], None] | None:
    """The workflow asked to cancel an activity. An activity that never started is cancelled at once: the
    returned step records that, to be run once the task's other commands are applied (the real server
    writes ACTIVITY_TASK_CANCELED after the batch's other events).

    When the same task also closes the workflow, only the request is recorded, as on the real server.
    """
    requested = ctx.append(
        ET.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        history.ActivityTaskCancelRequestedEventAttributes(
            scheduled_event_id=info.scheduled_event_id,
            workflow_task_completed_event_id=workflow_task_completed_event_id,
        ),
    )
    if info.started or workflow_closing:
        info.cancel_requested = True
        info.cancel_requested_event_id = requested.event_id
        return None

    def cancel_now() -> None:
        ctx.append(
            ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
            history.ActivityTaskCanceledEventAttributes(
                details=_NOT_STARTED_DETAILS,
                scheduled_event_id=info.scheduled_event_id,
                latest_cancel_requested_event_id=requested.event_id,
                identity=identity,
            ),
        )
        _remove(ctx, info)

    return cancel_now


def _remove(ctx: ExecutionContext, info: ActivityInfo) -> None:
    for key in [*_attempt_keys(info), f"act_s2c/{info.scheduled_event_id}"]:
        ctx.delete_task(key)
    del ctx.state.activities[info.scheduled_event_id]


# -- poll ---------------------------------------------------------------------------------------------


async def record_activity_task_started(
    engine: HistoryEngine, ref: TaskRef, request: wsr.PollActivityTaskQueueRequest, namespace_name: str
) -> wsr.PollActivityTaskQueueResponse | None:
    """Start the activity a poller was matched with; None if it is no longer waiting to start."""
    scheduled_event_id = int(ref.key.partition("/")[2])
    try:
        async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
            state = ctx.state
            info = state.activities.get(scheduled_event_id)
            if not state.running or info is None or info.started or info.in_backoff:
                return None
            info.started_time = ctx.now
            info.started_identity = request.identity
            info.started_request_id = str(uuid.uuid4())
            info.last_worker_identity = request.identity
            ctx.delete_task(task_key(scheduled_event_id))
            ctx.delete_task(f"act_s2s/{scheduled_event_id}/{info.attempt}")
            ctx.add_timer(
                f"act_st2c/{scheduled_event_id}/{info.attempt}", ctx.now + info.start_to_close_timeout
            )
            if info.heartbeat_timeout > 0:
                ctx.add_timer(f"act_hb/{scheduled_event_id}/{info.attempt}", ctx.now + info.heartbeat_timeout)
            scheduled = history.HistoryEvent.FromString(ctx.history[scheduled_event_id - 1])
    except (NotFound, HistoryLimitExceeded):
        return None
    return _poll_response(state, info, scheduled.activity_task_scheduled_event_attributes, namespace_name)


def _poll_response(
    state: ExecutionState,
    info: ActivityInfo,
    scheduled: history.ActivityTaskScheduledEventAttributes,
    namespace_name: str,
) -> wsr.PollActivityTaskQueueResponse:
    response = wsr.PollActivityTaskQueueResponse(
        task_token=TaskToken(
            namespace_id=state.namespace_id,
            workflow_id=state.workflow_id,
            run_id=state.run_id,
            scheduled_event_id=info.scheduled_event_id,
            attempt=info.attempt,
            activity_id=info.activity_id,
            kind="activity",
        ).encode(),
        workflow_namespace=namespace_name,
        workflow_type=common.WorkflowType(name=state.workflow_type),
        workflow_execution=common.WorkflowExecution(workflow_id=state.workflow_id, run_id=state.run_id),
        activity_type=scheduled.activity_type,
        activity_id=info.activity_id,
        attempt=info.attempt,
        schedule_to_close_timeout=to_duration(info.schedule_to_close_timeout),
        start_to_close_timeout=to_duration(info.start_to_close_timeout),
        heartbeat_timeout=to_duration(info.heartbeat_timeout),
        retry_policy=retry.to_proto(info.retry_policy),
    )
    copy_present(scheduled, response, "header", "input", "priority")
    response.priority.SetInParent()  # the real server always sends one, empty by default
    if info.heartbeat_details is not None:
        response.heartbeat_details.ParseFromString(info.heartbeat_details)
    response.scheduled_time.CopyFrom(to_timestamp(info.scheduled_time))
    response.current_attempt_scheduled_time.CopyFrom(to_timestamp(info.attempt_scheduled_time))
    response.started_time.CopyFrom(to_timestamp(info.started_time))
    return response


# -- worker answers -----------------------------------------------------------------------------------


def find_started_activity(state: ExecutionState, token: TaskToken) -> ActivityInfo:
    """The activity a task token (or a by-id request, scheduled_event_id 0) refers to, if it is running."""
    if not state.running:
        raise NotFound("workflow execution already completed")
    if token.scheduled_event_id:
        info = state.activities.get(token.scheduled_event_id)
        if info is None or not info.started or info.attempt != token.attempt:
            raise NotFound(
                "invalid activityID or activity already timed out or invoking workflow is completed"
            )
        return info
    found = state.activity_by_id(token.activity_id)
    if found is None or not found.started:
        raise NotFound(
            f"cannot find pending activity with ActivityID {token.activity_id}, "
            "check workflow execution history for more details"
        )
    return found


def _write_outcome(
    ctx: ExecutionContext,
    info: ActivityInfo,
    outcome_type: int,
    outcome: Callable[[int], Message],
    worker_version: common.WorkerVersionStamp | None = None,
) -> None:
    """ACTIVITY_TASK_STARTED (if the attempt started) then the outcome; both buffer behind a running
    workflow task, and the flush fills in the started event id."""
    started_event_id = 0
    if info.started:
        started = ctx.append_or_buffer(
            ET.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            history.ActivityTaskStartedEventAttributes(
                scheduled_event_id=info.scheduled_event_id,
                identity=info.started_identity,
                request_id=info.started_request_id,
                attempt=info.attempt,
                last_failure=failure_pb.Failure.FromString(info.last_failure) if info.last_failure else None,
            ),
        )
        if worker_version is not None:
            started.activity_task_started_event_attributes.worker_version.CopyFrom(worker_version)
            if ctx.state.workflow_task_in_flight:
                ctx.state.buffered_events[-1] = started.SerializeToString()
        started_event_id = started.event_id
    ctx.append_or_buffer(outcome_type, outcome(started_event_id))
    _remove(ctx, info)


async def complete_activity(
    engine: HistoryEngine,
    token: TaskToken,
    result: common.Payloads | None,
    identity: str,
    worker_version: common.WorkerVersionStamp | None = None,
) -> None:
    async with engine.update_execution(token.namespace_id, token.workflow_id, token.run_id) as ctx:
        info = find_started_activity(ctx.state, token)
        worker_version = worker_version or _workflow_build(ctx.state, info)
        if blob_too_large(result, engine.dynamic):
            # The worker's answer is accepted, and the activity fails: a retry would produce it again.
            failure = _size_failure("Complete result exceeds size limit.")
            _fail_in_context(engine, ctx, info, failure, identity, worker_version)
            return
        _write_outcome(
            ctx,
            info,
            ET.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
            lambda started: history.ActivityTaskCompletedEventAttributes(
                result=result,
                scheduled_event_id=info.scheduled_event_id,
                started_event_id=started,
                identity=identity,
            ),
            worker_version,
        )
        request_workflow_task(engine, ctx)


def _size_failure(message: str) -> failure_pb.Failure:
    return failure_pb.Failure(
        message=message, source="Server", server_failure_info=failure_pb.ServerFailureInfo(non_retryable=True)
    )


def _shrunk(failure: failure_pb.Failure, dynamic: DynamicConfig) -> failure_pb.Failure:
    """An oversized failure replaced, as on the real server, by a non-retryable one whose cause keeps
    only the start of the original message."""
    replacement = _size_failure("Failure exceeds size limit.")
    replacement.source = ""
    keep = max(0, dynamic.get_int("limit.blobSize.warn") - 13)
    replacement.cause.CopyFrom(failure_pb.Failure(message=failure.message[:keep], source=failure.source))
    if failure.HasField("application_failure_info"):
        replacement.cause.application_failure_info.type = failure.application_failure_info.type
    return replacement


async def fail_activity(
    engine: HistoryEngine,
    token: TaskToken,
    failure: failure_pb.Failure,
    identity: str,
    last_heartbeat_details: common.Payloads | None,
    worker_version: common.WorkerVersionStamp | None = None,
) -> failure_pb.Failure | None:
    """Fail the attempt; returns the failure actually recorded when the given one was too large."""
    async with engine.update_execution(token.namespace_id, token.workflow_id, token.run_id) as ctx:
        info = find_started_activity(ctx.state, token)
        if last_heartbeat_details is not None:
            info.heartbeat_details = last_heartbeat_details.SerializeToString()
        replaced = _shrunk(failure, engine.dynamic) if blob_too_large(failure, engine.dynamic) else None
        worker_version = worker_version or _workflow_build(ctx.state, info)
        _fail_in_context(engine, ctx, info, replaced or failure, identity, worker_version)
        return replaced


def _fail_in_context(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    info: ActivityInfo,
    failure: failure_pb.Failure,
    identity: str,
    worker_version: common.WorkerVersionStamp | None,
) -> None:
    """Retry the attempt if the policy allows, else record the activity as failed."""
    info.last_worker_identity = identity
    delay, retry_state = retry.next_retry(
        info.retry_policy, info.attempt, failure, ctx.now, _expiration(info)
    )
    if delay is not None:
        _retry_later(ctx, info, failure, delay)
        return
    _write_outcome(
        ctx,
        info,
        ET.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        lambda started: history.ActivityTaskFailedEventAttributes(
            failure=failure,
            scheduled_event_id=info.scheduled_event_id,
            started_event_id=started,
            identity=identity,
            retry_state=retry_state,  # type: ignore[arg-type]
        ),
        worker_version,
    )
    request_workflow_task(engine, ctx)


def _workflow_build(state: ExecutionState, info: ActivityInfo) -> common.WorkerVersionStamp | None:
    """The workflow's build id, which an activity scheduled with use_workflow_build_id reports as its own."""
    if info.use_workflow_build_id and state.build_id:
        return common.WorkerVersionStamp(build_id=state.build_id)
    return None


def _expiration(info: ActivityInfo) -> float:
    """When the schedule-to-close budget runs out (0: never)."""
    return info.scheduled_time + info.schedule_to_close_timeout if info.schedule_to_close_timeout else 0.0


def _retry_later(
    ctx: ExecutionContext, info: ActivityInfo, failure: failure_pb.Failure, delay: float
) -> None:
    for key in _attempt_keys(info):
        ctx.delete_task(key)
    info.attempt += 1
    info.last_failure = failure.SerializeToString()
    info.started_time = 0.0
    info.started_identity = ""
    info.started_request_id = ""
    info.in_backoff = True
    ctx.add_timer(f"act_retry/{info.scheduled_event_id}/{info.attempt}", ctx.now + delay)


async def cancel_activity(
    engine: HistoryEngine, token: TaskToken, details: common.Payloads | None, identity: str
) -> None:
    async with engine.update_execution(token.namespace_id, token.workflow_id, token.run_id) as ctx:
        info = find_started_activity(ctx.state, token)
        _write_outcome(
            ctx,
            info,
            ET.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
            lambda started: history.ActivityTaskCanceledEventAttributes(
                details=details,
                latest_cancel_requested_event_id=info.cancel_requested_event_id,
                scheduled_event_id=info.scheduled_event_id,
                started_event_id=started,
                identity=identity,
            ),
        )
        request_workflow_task(engine, ctx)


async def record_heartbeat(
    engine: HistoryEngine, token: TaskToken, details: common.Payloads | None, identity: str
) -> bool:
    """Store the heartbeat; returns whether cancellation was requested (or the activity was failed)."""
    async with engine.update_execution(token.namespace_id, token.workflow_id, token.run_id) as ctx:
        info = find_started_activity(ctx.state, token)
        if blob_too_large(details, engine.dynamic):
            failure = _size_failure("Heartbeat details exceed size limit.")
            _fail_in_context(engine, ctx, info, failure, identity, None)
            return True
        if details is not None:
            info.heartbeat_details = details.SerializeToString()
        info.last_heartbeat_time = ctx.now
        info.last_worker_identity = identity
        ctx.touch()
        return info.cancel_requested


# -- timer tasks --------------------------------------------------------------------------------------


def _timeout_failure(info: ActivityInfo, timeout_type: int) -> failure_pb.Failure:
    """The server-made failure of a timed-out attempt; its cause is the previous attempt's failure."""
    failure = failure_pb.Failure(
        message=f"activity {_TIMEOUT_NAMES[timeout_type]} timeout",
        source="Server",
        timeout_failure_info=failure_pb.TimeoutFailureInfo(timeout_type=timeout_type),  # type: ignore[arg-type]
    )
    if timeout_type == TT.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE:
        failure.message = _SCHEDULE_TO_CLOSE_MESSAGE
    if info.last_failure:
        failure.cause.ParseFromString(info.last_failure)
    if info.heartbeat_details is not None:
        failure.timeout_failure_info.last_heartbeat_details.ParseFromString(info.heartbeat_details)
    return failure


def _time_out(engine: HistoryEngine, ctx: ExecutionContext, info: ActivityInfo, timeout_type: int) -> None:
    failure = _timeout_failure(info, timeout_type)
    if timeout_type in (TT.TIMEOUT_TYPE_START_TO_CLOSE, TT.TIMEOUT_TYPE_HEARTBEAT):
        delay, retry_state = retry.next_retry(
            info.retry_policy, info.attempt, failure, ctx.now, _expiration(info)
        )
        if delay is not None:
            _retry_later(ctx, info, failure, delay)
            return
    else:
        retry_state = RetryState.RETRY_STATE_TIMEOUT
    _write_outcome(
        ctx,
        info,
        ET.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        lambda started: history.ActivityTaskTimedOutEventAttributes(
            failure=failure,
            scheduled_event_id=info.scheduled_event_id,
            started_event_id=started,
            retry_state=retry_state,  # type: ignore[arg-type]
        ),
    )
    request_workflow_task(engine, ctx)


async def on_activity_timer(engine: HistoryEngine, key: str, ref: TaskRef) -> None:
    kind, _, rest = key.partition("/")
    parts = rest.split("/")
    scheduled_event_id = int(parts[0])
    attempt = int(parts[1]) if len(parts) > 1 else 0
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        info = ctx.state.activities.get(scheduled_event_id)
        if not ctx.state.running or info is None or (attempt and info.attempt != attempt):
            return
        if kind == "act_retry" and info.in_backoff:
            ctx.delete_task(key)
            _make_available(ctx, info)
        elif kind == "act_s2s" and not info.started and not info.in_backoff:
            _time_out(engine, ctx, info, TT.TIMEOUT_TYPE_SCHEDULE_TO_START)
        elif kind == "act_s2c":
            _time_out(engine, ctx, info, TT.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE)
        elif kind == "act_st2c" and info.started:
            _time_out(engine, ctx, info, TT.TIMEOUT_TYPE_START_TO_CLOSE)
        elif kind == "act_hb" and info.started:
            deadline = max(info.last_heartbeat_time, info.started_time) + info.heartbeat_timeout
            if deadline > ctx.now + 0.001:
                ctx.add_timer(key, deadline)
            else:
                _time_out(engine, ctx, info, TT.TIMEOUT_TYPE_HEARTBEAT)
