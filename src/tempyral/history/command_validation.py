"""Validating a completed workflow task's commands as a whole, before anything changes.

A bad command fails the task without a half-applied batch. Causes, messages and the order of the checks are
the real server's (observed on Temporal 1.32): the message is "<Cause in CamelCase>: <detail>", and it is
both the RPC's INVALID_ARGUMENT message and the failure message of WORKFLOW_TASK_FAILED. Oversized payloads
are `fatal`: the run is terminated rather than the task retried. A batch malformed as a whole (a command
after the closing one, an unknown command type) is refused with a plain InvalidArgument, nothing recorded.

The real server applies commands one by one, so each command sees what those before it did (a timer
cancelled, an activity scheduled earlier in the batch); `_Batch` keeps track of that here.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import CommandType, TaskQueueKind, WorkflowTaskFailedCause
from temporalio.api.enums.v1 import command_type_pb2 as CT  # plain ints: faster than the enum wrapper
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue

from tempyral.config import DynamicConfig
from tempyral.durations import MAX_TIMEOUT_SECONDS
from tempyral.errors import InvalidArgument, ServiceError
from tempyral.history import cron
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.search_attribute_values import go_quote, invalid_value
from tempyral.history.upserts import merged_memo
from tempyral.limits import blob_too_large
from tempyral.search_attributes import SETTABLE_SYSTEM_ATTRIBUTES, SYSTEM_ATTRIBUTES, type_name

# Raises (NamespaceNotFound) unless the namespace named exists.
NamespaceCheck = Callable[[str], object]
# The custom search attributes of a namespace, by name, with their IndexedValueType.
SearchAttributeTypes = Callable[[str], Mapping[str, int]]

COMPLETION_COMMANDS = {
    CT.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
}

# The real server's per-value search attribute limit, and its memo warn limit: a memo fails only when over
# both the warn and the error limit.
SEARCH_ATTRIBUTE_VALUE_LIMIT = 2048
MEMO_WARN_LIMIT = 2048
RESERVED_TASK_QUEUE_PREFIX = "/_sys/"

# Failure causes, without their WORKFLOW_TASK_FAILED_CAUSE_ prefix.
ACTIVITY = "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES"
CANCEL_ACTIVITY = "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES"
TIMER = "BAD_START_TIMER_ATTRIBUTES"
CANCEL_TIMER = "BAD_CANCEL_TIMER_ATTRIBUTES"
MARKER = "BAD_RECORD_MARKER_ATTRIBUTES"
FAIL = "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES"
CONTINUE_AS_NEW = "BAD_CONTINUE_AS_NEW_ATTRIBUTES"
CHILD = "BAD_START_CHILD_EXECUTION_ATTRIBUTES"
SIGNAL = "BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES"
CANCEL_EXTERNAL = "BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES"
SEARCH_ATTRIBUTES = "BAD_SEARCH_ATTRIBUTES"
PROPERTIES = "BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES"
MESSAGE = "BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE"

# Nexus operations are in the protocol but not run by Tempyral yet. The "empty ..." wording is the real
# server's, for a command without its attributes.
_NEXUS: dict[int, tuple[str, str]] = {
    CT.COMMAND_TYPE_SCHEDULE_NEXUS_OPERATION: (
        "BAD_SCHEDULE_NEXUS_OPERATION_ATTRIBUTES",
        "ScheduleNexusOperationCommandAttributes",
    ),
    CT.COMMAND_TYPE_REQUEST_CANCEL_NEXUS_OPERATION: (
        "BAD_REQUEST_CANCEL_NEXUS_OPERATION_ATTRIBUTES",
        "CancelNexusOperationCommandAttributes",
    ),
}


class CommandError(Exception):
    """A command the server refuses. `fatal`: the workflow cannot go on (an oversized payload would be
    refused on every retry), so the run is terminated rather than the task retried."""

    def __init__(self, cause: int, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.fatal = fatal


def _camel(enum_suffix: str) -> str:
    """BAD_START_TIMER_ATTRIBUTES -> BadStartTimerAttributes, as the real server names enum values."""
    return "".join(word.capitalize() for word in enum_suffix.split("_"))


def _fail(cause: str, detail: str, fatal: bool = False) -> CommandError:
    value = WorkflowTaskFailedCause.Value(f"WORKFLOW_TASK_FAILED_CAUSE_{cause}")
    return CommandError(value, f"{_camel(cause)}: {detail}", fatal)


def _command_name(kind: int) -> str:
    """ScheduleActivityTask, Unspecified, or the number of a type the protocol does not have."""
    if kind in CommandType.values():
        return _camel(CommandType.Name(kind).removeprefix("COMMAND_TYPE_"))  # type: ignore[arg-type]
    return str(kind)


# -- the batch ------------------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What the commands checked so far would have changed, as later commands of the batch see it."""

    state: ExecutionState
    dynamic: DynamicConfig
    message_ids: set[str]
    namespace_exists: NamespaceCheck | None
    search_attribute_types: SearchAttributeTypes | None
    closing: bool
    next_event_id: int | None  # of the next event a command writes; None once unknowable (update messages)
    activity_ids: set[str] = field(default_factory=set)
    timer_ids: set[str] = field(default_factory=set)
    # Activities scheduled earlier in this batch, by the id their ACTIVITY_TASK_SCHEDULED event will get.
    new_activities: dict[int, str] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    children: set[str] = field(default_factory=set)

    @property
    def id_limit(self) -> int:
        return self.dynamic.get_int("limit.maxIDLength")

    def advance(self, events: int | None) -> None:
        if self.next_event_id is not None:
            self.next_event_id = None if events is None else self.next_event_id + events

    def check_blob(self, attributes: Message, name: str, cause: str, message: str) -> None:
        if attributes.HasField(name) and blob_too_large(getattr(attributes, name), self.dynamic):
            raise _fail(cause, message, fatal=True)

    def over_blob_limit(self, size: int) -> bool:
        return size > self.dynamic.get_int("limit.blobSize.warn") and size > self.dynamic.get_int(
            "limit.blobSize.error"
        )

    def over_memo_limit(self, size: int) -> bool:
        return size > MEMO_WARN_LIMIT and size > self.dynamic.get_int("limit.memoSize.error")


def validate_commands(
    state: ExecutionState,
    commands: Sequence[command_pb.Command],
    dynamic: DynamicConfig,
    message_ids: set[str] | None = None,
    namespace_exists: NamespaceCheck | None = None,
    search_attribute_types: SearchAttributeTypes | None = None,
) -> None:
    """Raise CommandError for the first command the server would refuse, InvalidArgument for a malformed
    batch. `namespace_exists` raises NamespaceNotFound for a namespace a command names that does not exist;
    without `search_attribute_types`, custom search attribute names and values are not checked."""
    _check_sequence(commands)
    task = state.workflow_task
    # A transient task's scheduled/started events are written first, then WORKFLOW_TASK_COMPLETED.
    completed_event_id = state.next_event_id + (2 if task is not None and task.transient else 0)
    batch = _Batch(
        state=state,
        dynamic=dynamic,
        message_ids=set(message_ids or ()),
        namespace_exists=namespace_exists,
        search_attribute_types=search_attribute_types,
        closing=any(command.command_type in COMPLETION_COMMANDS for command in commands),
        next_event_id=completed_event_id + 1,
        activity_ids={info.activity_id for info in state.activities.values()},
        timer_ids=set(state.timers),
    )
    for command in commands:
        kind = command.command_type
        if kind in COMPLETION_COMMANDS and state.buffered_events:
            # New events arrived meanwhile: the caller refuses the completion as UnhandledCommand, before
            # its attributes are looked at, as the real server does.
            return
        cause, check = _COMMANDS[kind]
        check(batch, _attributes(command, cause))


def _check_sequence(commands: Sequence[command_pb.Command]) -> None:
    """The whole batch first: nothing may follow a closing command, and every command type must be known."""
    closing = 0
    for command in commands:
        if closing:
            names = ", ".join(_command_name(command.command_type) for command in commands)
            raise InvalidArgument(
                f"invalid command sequence: [{names}], "
                f"command {_command_name(closing)} must be the last command."
            )
        if command.command_type in COMPLETION_COMMANDS:
            closing = command.command_type
        elif command.command_type not in _COMMANDS:
            raise InvalidArgument(f"unknown command type: {_command_name(command.command_type)}")


def _attributes(command: command_pb.Command, cause: str) -> Any:
    """The command's attributes, or the real server's failure for a command without them."""
    kind = command.command_type
    name = _command_name(kind)
    enum_name: str = CommandType.Name(kind)  # type: ignore[arg-type]
    field_name = enum_name.removeprefix("COMMAND_TYPE_").lower() + "_command_attributes"
    if command.HasField(field_name):  # type: ignore[arg-type]
        return getattr(command, field_name)
    if kind in _NEXUS:
        raise _fail(cause, f"empty {_NEXUS[kind][1]}")
    if kind == CT.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION:
        # The real server trips over a nil pointer here: INTERNAL with an error id, nothing recorded.
        raise ServiceError(f"something went wrong, please retry ({secrets.token_hex(4)})")
    raise _fail(cause, f"{name}CommandAttributes is not set on {name}Command.")


# -- shared checks --------------------------------------------------------------------------------------


def _seconds(duration: Duration) -> float:
    """A duration as the real server reads it: nanos beyond a second simply add up; capped at 100 years."""
    return min(duration.seconds + duration.nanos / 1e9, MAX_TIMEOUT_SECONDS)


def _negative(attributes: Message, names: Iterable[str]) -> str | None:
    """The first of the duration fields `names` (snake_case) set to a negative value, in CamelCase."""
    for name in names:
        if _seconds(getattr(attributes, name)) < 0:
            return _camel(name.upper())
    return None


def _length_problem(
    what: str, command: str, value: str, limit: int, before: str = "", after: str = ""
) -> str:
    """The real server's "exceeds length limit" detail if `value` is over `limit` bytes, else ""."""
    length = len(value.encode())
    if length <= limit:
        return ""
    sizes = f"Length={length} Limit={limit}"
    return f"{what} on {command} exceeds length limit. {before}{what}={value} {sizes}{after}"


def _task_queue_problem(name: str, limit: int) -> str:
    if not name:
        return "taskQueue is not set"
    if len(name.encode()) > limit:
        return "taskQueue length exceeds limit"
    if name.startswith(RESERVED_TASK_QUEUE_PREFIX):
        return f"task queue name cannot start with reserved prefix {RESERVED_TASK_QUEUE_PREFIX}"
    return ""


def _task_queue_text(name: str, given: taskqueue.TaskQueue) -> str:
    """The task queue as the real server's messages print it (Go prototext, kind defaulted to NORMAL)."""
    kind = TaskQueueKind.Name(given.kind or TaskQueueKind.TASK_QUEUE_KIND_NORMAL)
    text = f"name:{go_quote(name.encode())}  kind:{kind}"
    if given.normal_name:
        text += f"  normal_name:{go_quote(given.normal_name.encode())}"
    return text


def _retry_policy_problem(policy: common.RetryPolicy) -> str:
    """Checked with Temporal's defaults filled in (1 s initial interval, coefficient 2, 100x maximum)."""
    initial = _seconds(policy.initial_interval)
    if initial < 0:
        return "invalid InitialInterval set on retry policy: negative duration"
    if (policy.backoff_coefficient or 2.0) < 1:
        return "BackoffCoefficient cannot be less than 1 on retry policy."
    maximum = _seconds(policy.maximum_interval)
    if maximum < 0:
        return "invalid MaximumInterval set on retry policy: negative duration"
    initial = initial or 1.0
    if (maximum or 100 * initial) < initial:
        return "MaximumInterval cannot be less than InitialInterval on retry policy."
    if policy.maximum_attempts < 0:
        return "MaximumAttempts cannot be negative on retry policy."
    return ""


def _valid_run_id(run_id: str) -> bool:
    """A UUID in a form Go's uuid.Parse takes: plain, in braces, urn:uuid:, or 32 hex digits."""
    text = run_id
    if len(text) == 45 and text.lower().startswith("urn:uuid:"):
        text = text[9:]
    elif len(text) == 38 and text[0] == "{" and text[-1] == "}":
        text = text[1:-1]
    if len(text) == 36 and any(text[i] != "-" for i in (8, 13, 18, 23)):
        return False
    if len(text) not in (32, 36):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _payload_map_size(fields: Mapping[str, common.Payload]) -> int:
    """The size the real server checks upserted search attributes and memo fields by: keys plus data."""
    return sum(len(name.encode()) + len(value.data) for name, value in fields.items())


def _check_namespace(batch: _Batch, namespace: str, cause: str) -> None:
    """Empty means the workflow's own namespace. Another one that does not exist fails the whole completion
    (NOT_FOUND, nothing recorded); one that does fails the command: the real dev server refuses
    cross-namespace commands (system.enableCrossNamespaceCommands is off)."""
    if not namespace or namespace == batch.state.namespace_name:
        return
    if batch.namespace_exists is not None:
        batch.namespace_exists(namespace)
    raise _fail(cause, "cross namespace commands are not allowed")


# -- activities and timers ------------------------------------------------------------------------------


def _schedule_activity(batch: _Batch, attributes: command_pb.ScheduleActivityTaskCommandAttributes) -> None:
    limit = batch.id_limit
    activity_id, activity_type = attributes.activity_id, attributes.activity_type.name
    problem = (
        _task_queue_problem(attributes.task_queue.name, limit)
        or ("activityId is not set" if not activity_id else "")
        or ("activityType is not set" if not activity_type else "")
        or _retry_policy_problem(attributes.retry_policy)
    )
    for what, value in (("activityId", activity_id), ("activityType", activity_type)):
        if not problem and len(value.encode()) > limit:
            problem = f"{what} exceeds length limit. Length={len(value.encode())} Limit={limit}"
    if problem:
        raise _fail(ACTIVITY, problem)
    normalized_activity_timeouts(batch.state, attributes)
    if attributes.use_workflow_build_id and attributes.task_queue.name != batch.state.task_queue:
        raise _fail(ACTIVITY, "Activity with UseCompatibleVersion cannot run on different task queue.")
    batch.check_blob(
        attributes, "input", ACTIVITY, "ScheduleActivityTaskCommandAttributes.Input exceeds size limit."
    )
    _check_pending_limit(
        batch, len(batch.activity_ids), "limit.numPendingActivities.error", "PENDING_ACTIVITIES", "activities"
    )
    if activity_id in batch.activity_ids:
        raise _fail(
            "SCHEDULE_ACTIVITY_DUPLICATE_ID",
            "invalid history builder state for action: add-activitytask-scheduled-event, "
            f"ActivityID: {activity_id}",
        )
    batch.activity_ids.add(activity_id)
    if batch.next_event_id is not None:
        batch.new_activities[batch.next_event_id] = activity_id
    batch.advance(1)


def _check_pending_limit(batch: _Batch, pending: int, limit_key: str, cause: str, what: str) -> None:
    """One more pending activity (or child) than the per-workflow limit allows fails the task."""
    limit = batch.dynamic.get_int(limit_key)
    if pending >= limit:
        raise _fail(
            f"{cause}_LIMIT_EXCEEDED",
            f"the number of pending {what}, {pending}, has reached the per-workflow limit of {limit}",
        )


def normalized_activity_timeouts(
    state: ExecutionState, attributes: command_pb.ScheduleActivityTaskCommandAttributes
) -> tuple[float, float, float, float]:
    """(schedule_to_close, schedule_to_start, start_to_close, heartbeat), defaulted and capped as Temporal
    does: the unset ones derived from schedule-to-close (or from the run timeout when only start-to-close is
    set), each capped by the run timeout, the heartbeat by start-to-close. CommandError if invalid."""
    names = ("schedule_to_close_timeout", "schedule_to_start_timeout", "start_to_close_timeout")
    negative = _negative(attributes, (*names, "heartbeat_timeout"))
    if negative:
        raise _fail(ACTIVITY, f"invalid {negative}: negative duration")
    run_timeout = state.run_timeout
    s2c, s2s, st2c = (_seconds(getattr(attributes, name)) for name in names)
    heartbeat = _seconds(attributes.heartbeat_timeout)
    if s2c > 0:
        s2s = min(s2s, s2c) if s2s > 0 else s2c
        st2c = min(st2c, s2c) if st2c > 0 else s2c
    elif st2c > 0:
        s2c = run_timeout
        s2s = s2s if s2s > 0 else run_timeout
    else:
        raise _fail(
            ACTIVITY,
            "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. "
            f"ActivityId={attributes.activity_id} ActivityType={attributes.activity_type.name}",
        )
    if run_timeout > 0:
        s2c, s2s, st2c, heartbeat = (min(value, run_timeout) for value in (s2c, s2s, st2c, heartbeat))
    return s2c, s2s, st2c, min(heartbeat, st2c)


def _cancel_activity(
    batch: _Batch, attributes: command_pb.RequestCancelActivityTaskCommandAttributes
) -> None:
    scheduled = attributes.scheduled_event_id
    if scheduled <= 0:
        raise _fail(CANCEL_ACTIVITY, "ScheduledEventId is not set on RequestCancelActivityTaskCommand.")
    info = batch.state.activities.get(scheduled)
    pending = (info is not None and not info.cancel_requested) or scheduled in batch.new_activities
    # Tempyral cannot record a second request for an activity it already cancelled in this batch (the real
    # server does when the activity never started); it refuses it as the real server refuses a started one.
    if not pending or scheduled in batch.cancelled:
        raise _fail(
            CANCEL_ACTIVITY,
            "invalid history builder state for action: add-activitytask-cancel-requested-event, "
            f"ScheduledEventID: {scheduled}",
        )
    batch.cancelled.add(scheduled)
    # An activity that never started is cancelled at once (a second event), unless the workflow closes.
    at_once = not (info is not None and info.started) and not batch.closing
    if at_once:
        batch.activity_ids.discard(info.activity_id if info is not None else batch.new_activities[scheduled])
    batch.advance(2 if at_once else 1)


def _start_timer(batch: _Batch, attributes: command_pb.StartTimerCommandAttributes) -> None:
    timer_id = attributes.timer_id
    if not timer_id:
        raise _fail(TIMER, "TimerId is not set on StartTimerCommand.")
    problem = _length_problem("TimerId", "StartTimerCommand", timer_id, batch.id_limit)
    if problem:
        raise _fail(TIMER, problem)
    if _seconds(attributes.start_to_fire_timeout) < 0:
        raise _fail(
            TIMER,
            "An invalid StartToFireTimeout is set on StartTimerCommand: negative duration. "
            f"TimerId={timer_id}",
        )
    if timer_id in batch.timer_ids:
        raise _fail(
            "START_TIMER_DUPLICATE_ID",
            f"invalid history builder state for action: add-timer-started-event, TimerID: {timer_id}",
        )
    batch.timer_ids.add(timer_id)
    batch.advance(1)


def _cancel_timer(batch: _Batch, attributes: command_pb.CancelTimerCommandAttributes) -> None:
    timer_id = attributes.timer_id
    if not timer_id:
        raise _fail(CANCEL_TIMER, "TimerId is not set on CancelTimerCommand.")
    problem = _length_problem("TimerId", "CancelTimerCommand", timer_id, batch.id_limit)
    if problem:
        raise _fail(CANCEL_TIMER, problem)
    if timer_id not in batch.timer_ids:
        raise _fail(
            CANCEL_TIMER,
            f"invalid history builder state for action: add-timer-canceled-event, TimerID: {timer_id}",
        )
    batch.timer_ids.discard(timer_id)
    batch.advance(1)


# -- markers, memo, search attributes, update messages ---------------------------------------------------


def _record_marker(batch: _Batch, attributes: command_pb.RecordMarkerCommandAttributes) -> None:
    name = attributes.marker_name
    if not name:
        raise _fail(MARKER, "MarkerName is not set on RecordMarkerCommand.")
    problem = _length_problem("MarkerName", "RecordMarkerCommand", name, batch.id_limit)
    if problem:
        raise _fail(MARKER, problem)
    details = sum(len(key.encode()) + value.ByteSize() for key, value in attributes.details.items())
    if batch.over_blob_limit(details):
        raise _fail(MARKER, "RecordMarkerCommandAttributes.Details exceeds size limit.", fatal=True)
    batch.advance(1)


def _modify_properties(
    batch: _Batch, attributes: command_pb.ModifyWorkflowPropertiesCommandAttributes
) -> None:
    if not attributes.HasField("upserted_memo"):
        raise _fail(PROPERTIES, "UpsertedMemo is not set on ModifyWorkflowPropertiesCommand.")
    fields = attributes.upserted_memo.fields
    if not fields:
        raise _fail(PROPERTIES, "UpsertedMemo.Fields is not set on ModifyWorkflowPropertiesCommand.")
    if batch.over_blob_limit(_payload_map_size(fields)):
        raise _fail(PROPERTIES, "ModifyWorkflowPropertiesCommandAttributes exceeds size limit.", fatal=True)
    if batch.over_memo_limit(len(merged_memo(batch.state.memo, fields))):
        raise _fail(
            PROPERTIES, "ModifyWorkflowPropertiesCommandAttributes. Memo exceeds size limit.", fatal=True
        )
    batch.advance(1)


def _upsert_search_attributes(
    batch: _Batch, attributes: command_pb.UpsertWorkflowSearchAttributesCommandAttributes
) -> None:
    fields = attributes.search_attributes.indexed_fields
    _check_search_attribute_names(batch, fields)  # names are resolved before anything else
    if not attributes.HasField("search_attributes"):
        raise _fail(
            SEARCH_ATTRIBUTES, "SearchAttributes is not set on UpsertWorkflowSearchAttributesCommand."
        )
    if not fields:
        raise _fail(SEARCH_ATTRIBUTES, "IndexedFields is not set on UpsertWorkflowSearchAttributesCommand.")
    problem = _search_attribute_values_problem(batch, fields)
    if problem:
        raise _fail(SEARCH_ATTRIBUTES, problem)
    if batch.over_blob_limit(_payload_map_size(fields)):
        message = "UpsertWorkflowSearchAttributesCommandAttributes exceeds size limit."
        raise _fail(SEARCH_ATTRIBUTES, message, fatal=True)
    _check_search_attribute_sizes(fields, SEARCH_ATTRIBUTES)
    batch.advance(1)


def _protocol_message(batch: _Batch, attributes: command_pb.ProtocolMessageCommandAttributes) -> None:
    message_id = attributes.message_id
    if not message_id:
        raise _fail(MESSAGE, "MessageID is not set on ProtocolMessageCommand.")
    if message_id not in batch.message_ids:
        raise _fail(MESSAGE, f"ProtocolMessageCommand referenced absent message ID {message_id}")
    batch.message_ids.discard(message_id)  # each message is taken once
    batch.advance(None)  # an update message writes zero, one or two events


# -- closing the run ------------------------------------------------------------------------------------


def _complete(batch: _Batch, attributes: command_pb.CompleteWorkflowExecutionCommandAttributes) -> None:
    # Not a typo: the real server reports an oversized workflow result with this cause.
    message = "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit."
    batch.check_blob(attributes, "result", ACTIVITY, message)


def _fail_workflow(batch: _Batch, attributes: command_pb.FailWorkflowExecutionCommandAttributes) -> None:
    if not attributes.HasField("failure"):
        raise _fail(FAIL, "Failure is not set on FailWorkflowExecutionCommand.")
    batch.check_blob(
        attributes, "failure", FAIL, "FailWorkflowExecutionCommandAttributes.Failure exceeds size limit."
    )


def _cancel_workflow(batch: _Batch, attributes: command_pb.CancelWorkflowExecutionCommandAttributes) -> None:
    """Nothing to check once the attributes are there."""


def _continue_as_new(
    batch: _Batch, attributes: command_pb.ContinueAsNewWorkflowExecutionCommandAttributes
) -> None:
    state = batch.state
    fields = attributes.search_attributes.indexed_fields
    _check_search_attribute_names(batch, fields)
    workflow_type = attributes.workflow_type.name or state.workflow_type
    command = "ContinueAsNewWorkflowExecutionCommand"
    problem = _length_problem("WorkflowType", command, workflow_type, batch.id_limit)
    if problem:
        raise _fail(CONTINUE_AS_NEW, problem)
    queue = attributes.task_queue.name or state.task_queue
    where = f"WorkflowType={workflow_type} TaskQueue={_task_queue_text(queue, attributes.task_queue)}"
    problem = _task_queue_problem(queue, batch.id_limit)
    if problem:
        raise _fail(CONTINUE_AS_NEW, f"error validating {command} TaskQueue: {problem}. {where}")
    negative = _negative(
        attributes, ("workflow_run_timeout", "workflow_task_timeout", "backoff_start_interval")
    )
    if negative:
        raise _fail(CONTINUE_AS_NEW, f"Invalid {negative} on {command}: negative duration. {where}")
    problem = _retry_policy_problem(attributes.retry_policy) if attributes.HasField("retry_policy") else ""
    if problem:
        raise _fail(CONTINUE_AS_NEW, f"invalid WorkflowRetryPolicy on {command}: {problem}. {where}")
    problem = _search_attribute_values_problem(batch, fields)
    if problem:
        raise _fail(SEARCH_ATTRIBUTES, f"invalid SearchAttributes on {command}: {problem}. {where}")
    if attributes.inherit_build_id and attributes.task_queue.name not in ("", state.task_queue):
        raise _fail(
            CONTINUE_AS_NEW, "ContinueAsNew with UseCompatibleVersion cannot run on different task queue."
        )
    # The odd spacing in these messages is the real server's.
    batch.check_blob(
        attributes,
        "input",
        CONTINUE_AS_NEW,
        "ContinueAsNewWorkflowExecutionCommandAttributes. Input exceeds size limit.",
    )
    if batch.over_memo_limit(attributes.memo.ByteSize()):
        message = "ContinueAsNewWorkflowExecutionCommandAttributes. Memo exceeds size limit."
        raise _fail(CONTINUE_AS_NEW, message, fatal=True)
    _check_search_attribute_sizes(fields, CONTINUE_AS_NEW)


# -- other workflows ------------------------------------------------------------------------------------


def _start_child(batch: _Batch, attributes: command_pb.StartChildWorkflowExecutionCommandAttributes) -> None:
    state, limit = batch.state, batch.id_limit
    target = attributes.namespace
    if target and target != state.namespace_name and batch.namespace_exists is not None:
        batch.namespace_exists(target)  # NOT_FOUND before anything else
    fields = attributes.search_attributes.indexed_fields
    _check_search_attribute_names(batch, fields, target)
    _check_namespace(batch, target, CHILD)
    namespace = target or state.namespace_name
    workflow_id, workflow_type = attributes.workflow_id, attributes.workflow_type.name
    command = "StartChildWorkflowExecutionCommand"
    if not workflow_id:
        detail = f"WorkflowId is not set on {command}. WorkflowType={workflow_type} Namespace={namespace}"
        raise _fail(CHILD, f"Required field {detail}")
    if not workflow_type:
        detail = f"WorkflowType is not set on {command}. WorkflowId={workflow_id} Namespace={namespace}"
        raise _fail(CHILD, f"Required field {detail}")
    problem = _length_problem(
        "WorkflowId",
        command,
        workflow_id,
        limit,
        after=f" WorkflowType={workflow_type} Namespace={namespace}",
    ) or _length_problem(
        "WorkflowType", command, workflow_type, limit, f"WorkflowId={workflow_id} ", f" Namespace={namespace}"
    )
    if problem:
        raise _fail(CHILD, problem)
    where = f"WorkflowId={workflow_id} WorkflowType={workflow_type} Namespace={namespace}"
    negative = _negative(
        attributes, ("workflow_execution_timeout", "workflow_run_timeout", "workflow_task_timeout")
    )
    if negative:
        raise _fail(CHILD, f"Invalid {negative} on {command}: negative duration. {where}")
    problem = _retry_policy_problem(attributes.retry_policy) if attributes.HasField("retry_policy") else ""
    if problem:
        raise _fail(CHILD, f"invalid WorkflowRetryPolicy on {command}: {problem}. {where}")
    if attributes.cron_schedule:
        try:
            cron.parse(attributes.cron_schedule)
        except cron.CronError as err:
            raise _fail(CHILD, f"invalid CronSchedule on {command}: invalid CronSchedule.. {where}") from err
    problem = _search_attribute_values_problem(batch, fields, target)
    if problem:
        # Sic: this one message names the command StartChildWorkflowCommand.
        raise _fail(
            SEARCH_ATTRIBUTES, f"invalid SearchAttributes on StartChildWorkflowCommand: {problem}. {where}"
        )
    queue = attributes.task_queue.name or state.task_queue
    problem = _task_queue_problem(queue, limit)
    if problem:
        queue_text = _task_queue_text(queue, attributes.task_queue)
        raise _fail(CHILD, f"invalid TaskQueue on {command}: {problem}. {where} TaskQueue={queue_text}")
    if attributes.inherit_build_id and attributes.task_queue.name not in ("", state.task_queue):
        message = "StartChildWorkflowExecution with UseCompatibleVersion cannot run on different task queue."
        raise _fail(CHILD, message)
    batch.check_blob(
        attributes, "input", CHILD, "StartChildWorkflowExecutionCommandAttributes. Input exceeds size limit."
    )
    if batch.over_memo_limit(attributes.memo.ByteSize()):
        raise _fail(
            CHILD, "StartChildWorkflowExecutionCommandAttributes.Memo exceeds size limit.", fatal=True
        )
    _check_search_attribute_sizes(fields, CHILD)
    pending_children = len(batch.state.children) + len(batch.children)
    _check_pending_limit(
        batch,
        pending_children,
        "limit.numPendingChildExecutions.error",
        "PENDING_CHILD_WORKFLOWS",
        "child workflow executions",
    )
    batch.children.add(workflow_id)
    batch.advance(1)


def _signal_external(
    batch: _Batch, attributes: command_pb.SignalExternalWorkflowExecutionCommandAttributes
) -> None:
    command = "SignalExternalWorkflowExecutionCommand"
    if not attributes.HasField("execution"):
        raise _fail(SIGNAL, f"Execution is not set on {command}.")
    namespace = attributes.namespace
    _check_namespace(batch, namespace, SIGNAL)
    workflow_id, run_id = attributes.execution.workflow_id, attributes.execution.run_id
    signal_name = attributes.signal_name
    rest = f" Namespace={namespace} RunId={run_id} SignalName={signal_name}"
    if not workflow_id:
        raise _fail(SIGNAL, f"WorkflowId is not set on {command}.{rest}")
    problem = _length_problem("WorkflowId", command, workflow_id, batch.id_limit, after=rest)
    if problem:
        raise _fail(SIGNAL, problem)
    if run_id and not _valid_run_id(run_id):
        raise _fail(SIGNAL, f"Invalid RunId set on {command}. WorkflowId={workflow_id}{rest}")
    if not signal_name:
        where = f"WorkflowId={workflow_id} Namespace={namespace} RunId={run_id}"
        raise _fail(SIGNAL, f"SignalName is not set on {command}. {where}")
    batch.check_blob(attributes, "input", SIGNAL, f"{command}Attributes.Input exceeds size limit.")
    batch.advance(1)


def _cancel_external(
    batch: _Batch, attributes: command_pb.RequestCancelExternalWorkflowExecutionCommandAttributes
) -> None:
    namespace = attributes.namespace
    _check_namespace(batch, namespace, CANCEL_EXTERNAL)
    workflow_id, run_id = attributes.workflow_id, attributes.run_id
    command = "RequestCancelExternalWorkflowExecutionCommand"
    if not workflow_id:
        raise _fail(
            CANCEL_EXTERNAL, f"WorkflowId is not set on {command}. Namespace={namespace} RunId={run_id}"
        )
    after = f" RunId={run_id} Namespace={namespace}"
    problem = _length_problem("WorkflowId", command, workflow_id, batch.id_limit, after=after)
    if problem:
        raise _fail(CANCEL_EXTERNAL, problem)
    if run_id and not _valid_run_id(run_id):
        raise _fail(CANCEL_EXTERNAL, f"Invalid RunId set on {command}. WorkflowId={workflow_id}{after}")
    if workflow_id in batch.children:
        detail = "Start and RequestCancel for child workflow is not allowed in same workflow task."
        raise _fail(CANCEL_EXTERNAL, f"{detail} WorkflowId={workflow_id}{after}")
    batch.advance(1)


def _unsupported(kind: int) -> Callable[[_Batch, Any], None]:
    def check(batch: _Batch, attributes: Message) -> None:
        raise _fail(_NEXUS[kind][0], f"Tempyral does not support the {_command_name(kind)} command yet.")

    return check


# -- search attributes ----------------------------------------------------------------------------------


def _attribute_types(batch: _Batch, namespace: str) -> Mapping[str, int] | None:
    """The type of every attribute a workflow may set, or None when the custom ones are unknown."""
    if batch.search_attribute_types is None:
        return None
    custom = batch.search_attribute_types(namespace or batch.state.namespace_name)
    return {**custom, **SETTABLE_SYSTEM_ATTRIBUTES}


def _check_search_attribute_names(
    batch: _Batch, fields: Mapping[str, common.Payload], namespace: str = ""
) -> None:
    types = _attribute_types(batch, namespace)
    if types is None:
        return
    for name in fields:
        if name not in types and name not in SYSTEM_ATTRIBUTES:
            namespace_name = namespace or batch.state.namespace_name
            raise _fail(
                SEARCH_ATTRIBUTES,
                f"Namespace {namespace_name} has no mapping defined for search attribute {name}",
            )


def _search_attribute_values_problem(
    batch: _Batch, fields: Mapping[str, common.Payload], namespace: str = ""
) -> str:
    """System attributes a workflow may not set, and values that are not of their attribute's type."""
    types = _attribute_types(batch, namespace) or SETTABLE_SYSTEM_ATTRIBUTES
    for name, payload in fields.items():
        if name in SYSTEM_ATTRIBUTES and name not in SETTABLE_SYSTEM_ATTRIBUTES:
            return f"{name} attribute can't be set in SearchAttributes"
        value_type = types.get(name)
        shown = None if value_type is None else invalid_value(payload, value_type)
        if shown is not None:
            return f"invalid value for search attribute {name} of type {type_name(value_type or 0)}: {shown}"
    return ""


def _check_search_attribute_sizes(fields: Mapping[str, common.Payload], cause: str) -> None:
    for name, payload in fields.items():
        size = len(payload.data)
        if size > SEARCH_ATTRIBUTE_VALUE_LIMIT:
            detail = (
                f"search attribute {name} value size {size} exceeds size limit {SEARCH_ATTRIBUTE_VALUE_LIMIT}"
            )
            raise _fail(cause, detail, fatal=True)


# Every command type the protocol has: its failure cause and its checks (given the attributes, present).
_COMMANDS: dict[int, tuple[str, Callable[[_Batch, Any], None]]] = {
    CT.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: (ACTIVITY, _schedule_activity),
    CT.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK: (CANCEL_ACTIVITY, _cancel_activity),
    CT.COMMAND_TYPE_START_TIMER: (TIMER, _start_timer),
    CT.COMMAND_TYPE_CANCEL_TIMER: (CANCEL_TIMER, _cancel_timer),
    CT.COMMAND_TYPE_RECORD_MARKER: (MARKER, _record_marker),
    CT.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: ("BAD_COMPLETE_WORKFLOW_EXECUTION_ATTRIBUTES", _complete),
    CT.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: (FAIL, _fail_workflow),
    CT.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION: ("BAD_CANCEL_WORKFLOW_EXECUTION_ATTRIBUTES", _cancel_workflow),
    CT.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION: (CONTINUE_AS_NEW, _continue_as_new),
    CT.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION: (CHILD, _start_child),
    CT.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION: (SIGNAL, _signal_external),
    CT.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION: (CANCEL_EXTERNAL, _cancel_external),
    CT.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: (SEARCH_ATTRIBUTES, _upsert_search_attributes),
    CT.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES: (PROPERTIES, _modify_properties),
    CT.COMMAND_TYPE_PROTOCOL_MESSAGE: (MESSAGE, _protocol_message),
    **{kind: (cause, _unsupported(kind)) for kind, (cause, _) in _NEXUS.items()},
}
