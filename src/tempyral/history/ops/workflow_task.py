"""Workflow tasks: schedule, start (a poller took it), complete, fail and time out.

A retried task is *transient*: its scheduled/started events live only in mutable state and in the poll
response until an attempt completes, so a workflow stuck failing does not grow its history.
"""

from __future__ import annotations

import uuid

from google.protobuf.message import Message
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import SuggestContinueAsNewReason, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.enums.v1 import command_type_pb2 as CT  # plain ints: faster than the enum wrapper
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.errors import HistoryLimitExceeded, InvalidArgument, NotFound
from tempyral.history.build_ids import record_build_id
from tempyral.history.command_validation import (
    COMPLETION_COMMANDS,
    CommandError,
    NamespaceCheck,
    validate_commands,
)
from tempyral.history.commands import apply_commands
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext, new_event
from tempyral.history.mutable_state import ExecutionState, WorkflowTaskInfo
from tempyral.history.ops.close_workflow import SERVER_IDENTITY, terminate_in_context
from tempyral.history.ops.update import apply_message, only_rejections, request_messages
from tempyral.history.ops.workflow_task_schedule import (
    NORMAL,
    STICKY,
    dispatch,
    retry_delay,
    schedule_workflow_task,
    scheduled_attributes,
    task_key,
)
from tempyral.history.page_tokens import encode_page_token
from tempyral.history.queries import (
    QueryRegistry,
    attached_queries,
    clear_buffered_queries,
    settle_buffered_queries,
)
from tempyral.matching.task_queue import TaskRef
from tempyral.tokens import TaskToken

# -- poll ---------------------------------------------------------------------------------------------


async def record_workflow_task_started(
    engine: HistoryEngine, queries: QueryRegistry, ref: TaskRef, request: wsr.PollWorkflowTaskQueueRequest
) -> wsr.PollWorkflowTaskQueueResponse | None:
    """Start the task a poller was matched with; None if it is no longer pending (stale matching entry)."""
    try:
        async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
            state = ctx.state
            task = state.workflow_task
            if not state.running or task is None or task.started or ref.key != task_key(task.seq):
                return None
            request_id = str(uuid.uuid4())
            build_id = (
                request.worker_version_capabilities.build_id
                or request.deployment_options.build_id
                or request.binary_checksum
            )
            task.started_time = ctx.now
            task.started_identity = request.identity
            task.started_build_id = build_id
            task.request_id = request_id
            if task.transient:
                task.scheduled_event_id = state.next_event_id
                task.started_event_id = state.next_event_id + 1
            else:
                attributes = _started_attributes(engine, state, task, state.next_event_id)
                event = ctx.append(ET.EVENT_TYPE_WORKFLOW_TASK_STARTED, attributes)
                task.started_event_id = event.event_id
            ctx.delete_task(task_key(task.seq))
            ctx.delete_task(f"wft_sticky/{task.seq}")
            ctx.add_timer(f"wft_timeout/{task.seq}", ctx.now + task.start_to_close_timeout)
            events = ctx.history
            event_count = state.next_event_id - 1
    except (NotFound, HistoryLimitExceeded):
        return None
    sticky_poll = request.task_queue.kind == STICKY
    response = build_poll_response(engine, state, task, events[:event_count], sticky_poll)
    # Queries waiting for this run ride along; the completion answers them in query_results.
    for query_id, query in attached_queries(queries, state).items():
        response.queries[query_id].CopyFrom(query)
    return response


def _started_attributes(
    engine: HistoryEngine, state: ExecutionState, task: WorkflowTaskInfo, started_event_id: int
) -> history.WorkflowTaskStartedEventAttributes:
    """WORKFLOW_TASK_STARTED, with the continue-as-new suggestion: the history (counting this event) has
    reached the configured length, or its size the configured size (that reason first)."""
    reasons = []
    if state.history_size_bytes >= engine.dynamic.get_int("limit.historySize.suggestContinueAsNew"):
        reasons.append(SuggestContinueAsNewReason.SUGGEST_CONTINUE_AS_NEW_REASON_HISTORY_SIZE_TOO_LARGE)
    if started_event_id >= engine.dynamic.get_int("limit.historyCount.suggestContinueAsNew"):
        reasons.append(SuggestContinueAsNewReason.SUGGEST_CONTINUE_AS_NEW_REASON_TOO_MANY_HISTORY_EVENTS)
    attributes = history.WorkflowTaskStartedEventAttributes(
        scheduled_event_id=task.scheduled_event_id,
        identity=task.started_identity,
        request_id=task.request_id,
        history_size_bytes=state.history_size_bytes,
        suggest_continue_as_new=bool(reasons),
        suggest_continue_as_new_reasons=reasons,
    )
    if task.started_build_id:
        attributes.worker_version.build_id = task.started_build_id
    return attributes


def build_poll_response(
    engine: HistoryEngine, state: ExecutionState, task: WorkflowTaskInfo, events: list[bytes], partial: bool
) -> wsr.PollWorkflowTaskQueueResponse:
    # A sticky worker has the history up to the previous task cached: send only what is new.
    first_event = state.previous_started_event_id + 1 if partial and task.sticky else 1
    response = wsr.PollWorkflowTaskQueueResponse(
        task_token=TaskToken(
            namespace_id=state.namespace_id,
            workflow_id=state.workflow_id,
            run_id=state.run_id,
            scheduled_event_id=task.scheduled_event_id,
            started_event_id=task.started_event_id,
            attempt=task.attempt,
        ).encode(),
        workflow_execution=common.WorkflowExecution(workflow_id=state.workflow_id, run_id=state.run_id),
        workflow_type=common.WorkflowType(name=state.workflow_type),
        previous_started_event_id=state.previous_started_event_id,
        started_event_id=task.started_event_id,
        attempt=task.attempt,
        backlog_count_hint=engine.matching.backlog_count(state.namespace_id, task.task_queue, "workflow"),
        workflow_execution_task_queue=taskqueue.TaskQueue(name=state.task_queue, kind=NORMAL),
    )
    response.scheduled_time.CopyFrom(to_timestamp(task.scheduled_time))
    response.started_time.CopyFrom(to_timestamp(task.started_time))
    framed = events[first_event - 1 :]
    if task.transient:
        framed = framed + [e.SerializeToString() for e in _transient_events(engine, state, task)]
    else:
        page_size = engine.dynamic.get_int("frontend.historyMaxPageSize")
        if len(framed) > page_size:
            # As the real server does: the first page here, the rest read through GetWorkflowExecutionHistory
            # (the run's history ends at this task's STARTED event while the task runs).
            response.next_page_token = encode_page_token(state.run_id, first_event + page_size)
            framed = framed[:page_size]
    response.history.MergeFromString(frame_events(framed))
    response.messages.extend(
        request_messages(engine, (state.namespace_id, state.workflow_id, state.run_id), task)
    )
    return response


def frame_events(events: list[bytes]) -> bytes:
    """Serialized events as a serialized History message, without parsing them."""
    return b"".join(_frame_event(raw) for raw in events)


def _frame_event(raw: bytes) -> bytes:
    """Encode one serialized event as an element of History.events (field 1), without re-parsing it."""
    size = len(raw)
    header = bytearray(b"\x0a")
    while True:
        byte = size & 0x7F
        size >>= 7
        if size:
            header.append(byte | 0x80)
        else:
            header.append(byte)
            break
    return bytes(header) + raw


def transient_scheduled_event(state: ExecutionState, task: WorkflowTaskInfo) -> history.HistoryEvent:
    """The not-yet-written SCHEDULED event of a transient task (ids are assigned when it starts)."""
    scheduled = new_event(
        ET.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, scheduled_attributes(state, task), task.scheduled_time
    )
    scheduled.event_id = task.scheduled_event_id or state.next_event_id
    return scheduled


def _transient_events(
    engine: HistoryEngine, state: ExecutionState, task: WorkflowTaskInfo
) -> list[history.HistoryEvent]:
    scheduled = transient_scheduled_event(state, task)
    started = new_event(
        ET.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        _started_attributes(engine, state, task, task.started_event_id),
        task.started_time,
    )
    started.event_id = task.started_event_id
    return [scheduled, started]


def _write_transient_events(engine: HistoryEngine, ctx: ExecutionContext, task: WorkflowTaskInfo) -> None:
    """A transient task's attempt ended: its scheduled/started events become history now."""
    if not task.transient:
        return
    for event in _transient_events(engine, ctx.state, task):
        ctx.append_prepared(event)
    task.transient = False


# -- respond ------------------------------------------------------------------------------------------


def _current_task(state: ExecutionState, token: TaskToken) -> WorkflowTaskInfo:
    task = state.workflow_task
    if (
        not state.running
        or task is None
        or not task.started
        or task.scheduled_event_id != token.scheduled_event_id
        or task.started_event_id != token.started_event_id
        or task.attempt != token.attempt
    ):
        raise NotFound("Workflow task not found.")
    return task


async def complete_workflow_task(
    engine: HistoryEngine,
    queries: QueryRegistry,
    token: TaskToken,
    request: wsr.RespondWorkflowTaskCompletedRequest,
) -> wsr.RespondWorkflowTaskCompletedResponse:
    command_error: CommandError | None = None
    unhandled = False
    async with engine.update_execution(token.namespace_id, token.workflow_id, token.run_id) as ctx:
        state = ctx.state
        task = _current_task(state, token)
        messages = {message.id: message for message in request.messages}
        try:
            validate_commands(
                state,
                request.commands,
                engine.dynamic,
                set(messages),
                _namespace_check(engine),
                engine.search_attributes.custom_of if engine.search_attributes is not None else None,
            )
        except CommandError as err:
            command_error = err
        if command_error is None and _nothing_to_record(task, request, state):
            # A speculative task whose updates were all rejected: as if it never happened.
            for message in request.messages:
                apply_message(engine, ctx, message)
            _finish_task(ctx, task)
            _remember_sticky(state, request)
            settle_buffered_queries(queries, ctx, request.query_results, engine.dynamic)
            # The worker must forget what it saw since its last completed task.
            return wsr.RespondWorkflowTaskCompletedResponse(
                reset_history_event_id=state.previous_started_event_id
            )
        unhandled = command_error is None and bool(state.buffered_events) and _has_completion_command(request)
        if command_error is not None and command_error.fatal:
            failure = failure_pb.Failure(
                message=command_error.message, server_failure_info=failure_pb.ServerFailureInfo()
            )
            fail_workflow_task(engine, ctx, command_error.cause, failure, request.identity, reschedule=False)
            terminate_in_context(ctx, command_error.message, None, SERVER_IDENTITY)
        elif command_error is not None:
            failure = failure_pb.Failure(
                message=command_error.message, server_failure_info=failure_pb.ServerFailureInfo()
            )
            fail_workflow_task(engine, ctx, command_error.cause, failure, request.identity)
        elif unhandled:
            # New events arrived while the worker decided to close: it must see them first.
            failure = failure_pb.Failure(
                message="UnhandledCommand", server_failure_info=failure_pb.ServerFailureInfo()
            )
            cause = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
            fail_workflow_task(engine, ctx, cause, failure, request.identity)
        if command_error is not None or unhandled:
            # Failed on its commands: its queries start over, as the real server's cleared registry has
            # its frontend retry them.
            clear_buffered_queries(queries, ctx)
        else:
            _write_transient_events(engine, ctx, task)
            completed = ctx.append(
                ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, _completed_attributes(task, request)
            )
            _finish_task(ctx, task)
            worker_version = completed.workflow_task_completed_event_attributes.worker_version
            state.build_id = worker_version.build_id
            if record_build_id(state, worker_version.build_id, worker_version.use_versioning):
                ctx.visibility_changed = True
            _record_reset_point(state, completed.event_id, ctx.now)
            state.previous_started_event_id = task.started_event_id
            state.last_completed_workflow_task_event_id = completed.event_id
            _remember_sticky(state, request)
            needs_task = apply_commands(
                engine, ctx, request.commands, completed.event_id, request.identity, messages
            )
            for message in messages.values():  # those no command placed among the commands
                apply_message(engine, ctx, message)
            if state.running:
                flushed = ctx.flush_buffered_events()
                if flushed or needs_task or request.force_create_new_workflow_task:
                    schedule_workflow_task(engine, ctx)
                elif _undelivered_updates(engine, state, request):
                    # Updates that arrived while this task ran: deliver them now.
                    schedule_workflow_task(engine, ctx, speculative=True)
            settle_buffered_queries(queries, ctx, request.query_results, engine.dynamic)
    if command_error is not None:
        raise InvalidArgument(command_error.message)
    if unhandled:
        # Refused, not just recorded: the worker must drop its cached run and replay the new events.
        raise InvalidArgument("UnhandledCommand")
    return wsr.RespondWorkflowTaskCompletedResponse()


def _namespace_check(engine: HistoryEngine) -> NamespaceCheck | None:
    registry = engine.namespaces
    return None if registry is None else registry.get


def _record_reset_point(state: ExecutionState, completed_event_id: int, now: float) -> None:
    """The first task each build id (even none) completes is where a reset can later rewind to."""
    points = workflow_pb.ResetPoints.FromString(state.auto_reset_points)
    if any(point.build_id == state.build_id for point in points.points):
        return
    point = points.points.add(
        build_id=state.build_id,
        run_id=state.run_id,
        first_workflow_task_completed_id=completed_event_id,
        resettable=True,
    )
    point.create_time.CopyFrom(to_timestamp(now))
    state.auto_reset_points = points.SerializeToString()


def _completed_attributes(
    task: WorkflowTaskInfo, request: wsr.RespondWorkflowTaskCompletedRequest
) -> history.WorkflowTaskCompletedEventAttributes:
    attributes = history.WorkflowTaskCompletedEventAttributes(
        scheduled_event_id=task.scheduled_event_id,
        started_event_id=task.started_event_id,
        identity=request.identity,
        versioning_behavior=request.versioning_behavior,
    )
    # Older SDKs name their build id only as the (deprecated) binary checksum; history records it as a
    # worker version, as the real server does.
    if request.binary_checksum and not request.HasField("worker_version_stamp"):
        attributes.worker_version.build_id = request.binary_checksum
    # SDKs read sdk_metadata back on replay: keep it exactly as sent, presence included.
    for source, target in (
        ("worker_version_stamp", "worker_version"),
        ("sdk_metadata", "sdk_metadata"),
        ("metering_metadata", "metering_metadata"),
        ("deployment", "deployment"),
    ):
        if request.HasField(source):  # type: ignore[arg-type]
            getattr(attributes, target).CopyFrom(getattr(request, source))
    return attributes


def _remember_sticky(state: ExecutionState, request: wsr.RespondWorkflowTaskCompletedRequest) -> None:
    if request.HasField("sticky_attributes") and request.sticky_attributes.worker_task_queue.name:
        state.sticky_task_queue = request.sticky_attributes.worker_task_queue.name
        timeout = request.sticky_attributes.schedule_to_start_timeout
        state.sticky_schedule_to_start_timeout = timeout.seconds + timeout.nanos / 1e9


def _undelivered_updates(
    engine: HistoryEngine, state: ExecutionState, request: wsr.RespondWorkflowTaskCompletedRequest
) -> bool:
    """Admitted updates this completion did not answer (they arrived after the task started)."""
    answered = {message.protocol_instance_id for message in request.messages}
    admitted = engine.updates.admitted((state.namespace_id, state.workflow_id, state.run_id))
    return any(update.request.meta.update_id not in answered for update in admitted)


def _nothing_to_record(
    task: WorkflowTaskInfo, request: wsr.RespondWorkflowTaskCompletedRequest, state: ExecutionState
) -> bool:
    """A speculative task that changed nothing: only rejections, no commands, no new events waiting.

    If the previous task's commands wrote events after its WORKFLOW_TASK_COMPLETED, the worker must also
    be able to drop those from its view (the discard capability), or the task is kept, as the real
    server does."""
    events_after_last_task = state.next_event_id - 1 > state.last_completed_workflow_task_event_id
    can_discard = request.capabilities.discard_speculative_workflow_task_with_events
    return (
        task.speculative
        and (can_discard or not events_after_last_task)
        and all(command.command_type == CT.COMMAND_TYPE_PROTOCOL_MESSAGE for command in request.commands)
        and only_rejections(request.messages)
        and not state.buffered_events
        and not request.force_create_new_workflow_task
    )


def _has_completion_command(request: wsr.RespondWorkflowTaskCompletedRequest) -> bool:
    return any(command.command_type in COMPLETION_COMMANDS for command in request.commands)


def _finish_task(ctx: ExecutionContext, task: WorkflowTaskInfo) -> None:
    seq = task.seq
    for key in (task_key(seq), f"wft_timeout/{seq}", f"wft_sticky/{seq}", f"wft_dispatch/{seq}"):
        ctx.delete_task(key)
    ctx.state.workflow_task = None


def fail_workflow_task(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    cause: int,
    failure: failure_pb.Failure | None,
    identity: str,
    timeout_type: int = 0,
    reschedule: bool = True,
) -> None:
    """End the current task unsuccessfully (worker failure, bad commands, timeout) and schedule a retry.

    The first failure is written to history; later attempts stay transient while they keep failing.
    """
    state = ctx.state
    task = state.workflow_task
    assert task is not None
    written = not task.transient
    if written:
        attributes: Message
        if timeout_type:
            attributes = history.WorkflowTaskTimedOutEventAttributes(
                scheduled_event_id=task.scheduled_event_id,
                started_event_id=task.started_event_id,
                timeout_type=timeout_type,  # type: ignore[arg-type]
            )
            ctx.append(ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, attributes)
        else:
            attributes = history.WorkflowTaskFailedEventAttributes(
                scheduled_event_id=task.scheduled_event_id,
                started_event_id=task.started_event_id,
                cause=cause,  # type: ignore[arg-type]
                failure=failure,
                identity=identity,
            )
            ctx.append(ET.EVENT_TYPE_WORKFLOW_TASK_FAILED, attributes)
    _finish_task(ctx, task)
    # The worker's cached copy of this workflow can no longer be trusted.
    state.sticky_task_queue = ""
    flushed = ctx.flush_buffered_events()
    if not reschedule or not state.running:
        return
    if cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND or flushed:
        schedule_workflow_task(engine, ctx)
        return
    attempt = task.attempt + 1
    schedule_workflow_task(engine, ctx, attempt=attempt, transient=True, delay=retry_delay(engine, attempt))


async def fail_workflow_task_request(
    engine: HistoryEngine, token: TaskToken, request: wsr.RespondWorkflowTaskFailedRequest
) -> None:
    async with engine.update_execution(token.namespace_id, token.workflow_id, token.run_id) as ctx:
        _current_task(ctx.state, token)
        failure = request.failure if request.HasField("failure") else None
        fail_workflow_task(engine, ctx, request.cause, failure, request.identity)


# -- timer tasks --------------------------------------------------------------------------------------


async def on_workflow_task_timer(engine: HistoryEngine, key: str, ref: TaskRef) -> None:
    kind, _, seq_text = key.partition("/")
    seq = int(seq_text)
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        state = ctx.state
        task = state.workflow_task
        if not state.running or task is None or task.seq != seq:
            return
        if kind == "wft_timeout" and task.started:
            ctx.delete_task(key)
            fail_workflow_task(engine, ctx, 0, None, "", timeout_type=TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE)
        elif kind == "wft_sticky" and not task.started and task.sticky:
            # The sticky worker did not pick the task up: give it to any worker on the normal queue.
            ctx.delete_task(key)
            if not task.transient:
                ctx.append(
                    ET.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
                    history.WorkflowTaskTimedOutEventAttributes(
                        scheduled_event_id=task.scheduled_event_id,
                        timeout_type=TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
                    ),
                )
            _finish_task(ctx, task)
            state.sticky_task_queue = ""
            ctx.flush_buffered_events()
            schedule_workflow_task(engine, ctx, attempt=task.attempt, transient=task.transient)
        elif kind == "wft_dispatch" and not task.started and task.dispatch_at:
            ctx.delete_task(key)
            task.dispatch_at = 0.0
            dispatch(engine, ctx, task)


async def move_off_sticky_queue(engine: HistoryEngine, ref: TaskRef) -> None:
    """The sticky worker shut down: its pending task goes to the normal queue at once."""
    seq_text = ref.key.partition("/")[2]
    await on_workflow_task_timer(engine, f"wft_sticky/{seq_text}", ref)
