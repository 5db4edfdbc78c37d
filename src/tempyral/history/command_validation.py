"""Validating a completed workflow task's commands as a whole, before anything changes.

A bad command fails the task without a half-applied batch; the failure cause names what was wrong, as the
real server's does. Oversized payloads are `fatal`: the run is terminated rather than the task retried.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.enums.v1 import CommandType, WorkflowTaskFailedCause
from temporalio.api.enums.v1 import command_type_pb2 as CT  # plain ints: faster than the enum wrapper

from tempyral.config import DynamicConfig
from tempyral.durations import checked_seconds, seconds_of
from tempyral.errors import InvalidArgument
from tempyral.history import cron, retry
from tempyral.history.mutable_state import ExecutionState
from tempyral.history.proto_presence import present
from tempyral.limits import blob_too_large

# Raises (NamespaceNotFound) unless the namespace named exists.
NamespaceCheck = Callable[[str], object]

COMPLETION_COMMANDS = {
    CT.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
}


def _cause(name: str) -> int:
    return WorkflowTaskFailedCause.Value(f"WORKFLOW_TASK_FAILED_CAUSE_{name}")


# Commands the protocol has and Tempyral does not run yet, with the cause the task fails with.
_NOT_YET_SUPPORTED: dict[int, int] = {
    CT.COMMAND_TYPE_SCHEDULE_NEXUS_OPERATION: _cause("BAD_SCHEDULE_NEXUS_OPERATION_ATTRIBUTES"),
    CT.COMMAND_TYPE_REQUEST_CANCEL_NEXUS_OPERATION: _cause("BAD_REQUEST_CANCEL_NEXUS_OPERATION_ATTRIBUTES"),
}


class CommandError(Exception):
    """A command the server refuses. `fatal`: the workflow cannot go on (an oversized payload would be
    refused on every retry), so the run is terminated rather than the task retried."""

    def __init__(self, cause: int, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.fatal = fatal


# Which command payloads are size-checked, with the cause and message the real server uses (it really does
# report an oversized workflow result as BAD_SCHEDULE_ACTIVITY_ATTRIBUTES).
_SIZE_CHECKED: dict[int, tuple[str, str, str, str]] = {
    CT.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK: (
        "schedule_activity_task_command_attributes",
        "input",
        "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES",
        "BadScheduleActivityAttributes: ScheduleActivityTaskCommandAttributes.Input exceeds size limit.",
    ),
    CT.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION: (
        "complete_workflow_execution_command_attributes",
        "result",
        "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES",
        "BadScheduleActivityAttributes: "
        "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.",
    ),
    CT.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION: (
        "fail_workflow_execution_command_attributes",
        "failure",
        "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES",
        "BadFailWorkflowExecutionAttributes: "
        "FailWorkflowExecutionCommandAttributes.Failure exceeds size limit.",
    ),
}


def _check_payload_size(command: command_pb.Command, dynamic: DynamicConfig) -> None:
    checked = _SIZE_CHECKED.get(command.command_type)
    if checked is None:
        return
    attributes_field, payload_field, cause, message = checked
    attributes = getattr(command, attributes_field)
    if attributes.HasField(payload_field) and blob_too_large(getattr(attributes, payload_field), dynamic):
        raise CommandError(_cause(cause), message, fatal=True)


def validate_commands(
    state: ExecutionState,
    commands: Sequence[command_pb.Command],
    dynamic: DynamicConfig,
    message_ids: set[str] | None = None,
    namespace_exists: NamespaceCheck | None = None,
) -> None:
    """Raise CommandError for the first command the server would refuse. `namespace_exists` raises
    NamespaceNotFound for a namespace a command names that does not exist."""
    activity_ids = {info.activity_id for info in state.activities.values()}
    timer_ids = set(state.timers)
    cancelled_activities: set[int] = set()
    for index, command in enumerate(commands):
        kind = command.command_type
        _check_payload_size(command, dynamic)
        if kind in COMPLETION_COMMANDS and index != len(commands) - 1:
            raise CommandError(
                _cause("UNHANDLED_COMMAND"),
                f"{CommandType.Name(kind)} must be the last command of a workflow task.",
            )
        if kind in _NOT_YET_SUPPORTED:
            raise CommandError(
                _NOT_YET_SUPPORTED[kind],
                f"Tempyral does not support the {CommandType.Name(kind)} command yet.",
            )
        if kind == CT.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK:
            attributes = command.schedule_activity_task_command_attributes
            _validate_schedule_activity(state, attributes)
            if attributes.activity_id in activity_ids:
                raise CommandError(
                    _cause("SCHEDULE_ACTIVITY_DUPLICATE_ID"),
                    f"Activity ID {attributes.activity_id} is already in use.",
                )
            activity_ids.add(attributes.activity_id)
        elif kind == CT.COMMAND_TYPE_REQUEST_CANCEL_ACTIVITY_TASK:
            scheduled = command.request_cancel_activity_task_command_attributes.scheduled_event_id
            if scheduled not in state.activities or scheduled in cancelled_activities:
                raise CommandError(
                    _cause("BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES"),
                    f"Unable to cancel activity: no pending activity scheduled by event {scheduled}.",
                )
            cancelled_activities.add(scheduled)
        elif kind == CT.COMMAND_TYPE_START_TIMER:
            attributes_t = command.start_timer_command_attributes
            if not attributes_t.timer_id:
                raise CommandError(_cause("BAD_START_TIMER_ATTRIBUTES"), "TimerId is not set.")
            if attributes_t.timer_id in timer_ids:
                raise CommandError(
                    _cause("START_TIMER_DUPLICATE_ID"),
                    f"Timer ID {attributes_t.timer_id} is already in use.",
                )
            if seconds_of(attributes_t.start_to_fire_timeout) <= 0:
                raise CommandError(
                    _cause("BAD_START_TIMER_ATTRIBUTES"),
                    "A valid StartToFireTimeout is not set on StartTimerCommand.",
                )
            timer_ids.add(attributes_t.timer_id)
        elif kind == CT.COMMAND_TYPE_CANCEL_TIMER:
            timer_id = command.cancel_timer_command_attributes.timer_id
            if timer_id not in timer_ids:
                raise CommandError(
                    _cause("BAD_CANCEL_TIMER_ATTRIBUTES"),
                    f"Unable to cancel timer: no pending timer with ID {timer_id}.",
                )
            timer_ids.discard(timer_id)
        elif kind == CT.COMMAND_TYPE_RECORD_MARKER:
            if not command.record_marker_command_attributes.marker_name:
                raise CommandError(_cause("BAD_RECORD_MARKER_ATTRIBUTES"), "MarkerName is not set.")
        elif kind == CT.COMMAND_TYPE_PROTOCOL_MESSAGE:
            message_id = command.protocol_message_command_attributes.message_id
            if message_id not in (message_ids or set()):
                raise CommandError(
                    _cause("BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE"),
                    f"ProtocolMessageCommand refers to message {message_id!r}, which the completion lacks.",
                )
        elif kind == CT.COMMAND_TYPE_MODIFY_WORKFLOW_PROPERTIES:
            if not command.modify_workflow_properties_command_attributes.HasField("upserted_memo"):
                raise CommandError(
                    _cause("BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES"), "UpsertedMemo is not set on command."
                )
        elif kind == CT.COMMAND_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            if not command.upsert_workflow_search_attributes_command_attributes.HasField("search_attributes"):
                raise CommandError(_cause("BAD_SEARCH_ATTRIBUTES"), "SearchAttributes is not set on command.")
        elif kind in _EXTERNAL_COMMANDS:
            _validate_external(state, command, namespace_exists)
        elif kind == CT.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION:
            _validate_continue_as_new(command.continue_as_new_workflow_execution_command_attributes)
        elif kind == CT.COMMAND_TYPE_FAIL_WORKFLOW_EXECUTION:
            if not command.fail_workflow_execution_command_attributes.HasField("failure"):
                raise CommandError(
                    _cause("BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES"),
                    "Failure is not set.",
                )
        elif kind not in COMPLETION_COMMANDS:
            raise CommandError(_cause("UNHANDLED_COMMAND"), f"Unknown command type: {kind}.")


def _validate_schedule_activity(
    state: ExecutionState, attributes: command_pb.ScheduleActivityTaskCommandAttributes
) -> None:
    bad = _cause("BAD_SCHEDULE_ACTIVITY_ATTRIBUTES")
    if not attributes.activity_id:
        raise CommandError(bad, "ActivityId is not set.")
    if not attributes.activity_type.name:
        raise CommandError(bad, "ActivityType is not set.")
    try:
        normalized_activity_timeouts(state, attributes)
        retry.activity_retry_policy(attributes.retry_policy if attributes.HasField("retry_policy") else None)
    except InvalidArgument as err:
        raise CommandError(bad, err.message) from err


def normalized_activity_timeouts(
    state: ExecutionState, attributes: command_pb.ScheduleActivityTaskCommandAttributes
) -> tuple[float, float, float, float]:
    """(schedule_to_close, schedule_to_start, start_to_close, heartbeat), defaulted and capped like Temporal:
    each bounded by schedule-to-close, which is bounded by the run timeout."""
    run_timeout = state.run_timeout
    s2c = checked_seconds(attributes.schedule_to_close_timeout, "ScheduleToCloseTimeout")
    s2s = checked_seconds(attributes.schedule_to_start_timeout, "ScheduleToStartTimeout")
    st2c = checked_seconds(attributes.start_to_close_timeout, "StartToCloseTimeout")
    heartbeat = checked_seconds(attributes.heartbeat_timeout, "HeartbeatTimeout")
    if s2c > 0:
        if run_timeout > 0:
            s2c = min(s2c, run_timeout)
        s2s = min(s2s, s2c) if s2s > 0 else s2c
        st2c = min(st2c, s2c) if st2c > 0 else s2c
    elif st2c > 0:
        s2c = run_timeout
        if s2s <= 0:
            s2s = run_timeout
    else:
        raise InvalidArgument(
            "A valid StartToClose or ScheduleToCloseTimeout is not set on ScheduleActivityTaskCommand."
        )
    heartbeat = min(heartbeat, st2c)
    return s2c, s2s, st2c, heartbeat


_EXTERNAL_COMMANDS = {
    CT.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION,
    CT.COMMAND_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION,
}


def _validate_external(
    state: ExecutionState, command: command_pb.Command, namespace_exists: NamespaceCheck | None
) -> None:
    """Commands that reach other workflows must name their target, in the workflow's own namespace: the
    real dev server refuses cross-namespace commands (system.enableCrossNamespaceCommands is off)."""
    kind = command.command_type
    if kind == CT.COMMAND_TYPE_START_CHILD_WORKFLOW_EXECUTION:
        cause, prefix = _cause("BAD_START_CHILD_EXECUTION_ATTRIBUTES"), "BadStartChildExecutionAttributes"
        child = command.start_child_workflow_execution_command_attributes
        _check_same_namespace(state, child.namespace, cause, prefix, namespace_exists)
        if not child.workflow_type.name:
            raise CommandError(cause, "Required field WorkflowType is not set on command.")
        workflow_id = child.workflow_id
    elif kind == CT.COMMAND_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION:
        cause, prefix = (
            _cause("BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES"),
            "BadSignalWorkflowExecutionAttributes",
        )
        signal = command.signal_external_workflow_execution_command_attributes
        if not signal.HasField("execution"):
            raise CommandError(
                cause, f"{prefix}: Execution is not set on SignalExternalWorkflowExecutionCommand."
            )
        _check_same_namespace(state, signal.namespace, cause, prefix, namespace_exists)
        if not signal.signal_name:
            raise CommandError(cause, "SignalName is not set on command.")
        workflow_id = signal.execution.workflow_id
    else:
        cause = _cause("BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES")
        prefix = "BadRequestCancelExternalWorkflowExecutionAttributes"
        cancel = command.request_cancel_external_workflow_execution_command_attributes
        _check_same_namespace(state, cancel.namespace, cause, prefix, namespace_exists)
        workflow_id = cancel.workflow_id
    if not workflow_id:
        raise CommandError(cause, "WorkflowId is not set on command.")


def _check_same_namespace(
    state: ExecutionState, namespace: str, cause: int, prefix: str, namespace_exists: NamespaceCheck | None
) -> None:
    """Empty means the workflow's own namespace. Another one that does not exist fails the whole
    completion (NOT_FOUND, nothing recorded); one that does fails the command."""
    if not namespace or namespace == state.namespace_name:
        return
    if namespace_exists is not None:
        namespace_exists(namespace)
    raise CommandError(cause, f"{prefix}: cross namespace commands are not allowed")


def _validate_continue_as_new(attributes: command_pb.ContinueAsNewWorkflowExecutionCommandAttributes) -> None:
    try:
        for name, what in (
            ("workflow_run_timeout", "WorkflowRunTimeout"),
            ("workflow_task_timeout", "WorkflowTaskTimeout"),
            ("backoff_start_interval", "BackoffStartInterval"),
        ):
            checked_seconds(getattr(attributes, name), what)
        retry.workflow_retry_policy(present(attributes, "retry_policy"))
    except InvalidArgument as err:
        raise CommandError(_cause("BAD_CONTINUE_AS_NEW_ATTRIBUTES"), err.message) from err
    if attributes.cron_schedule:
        try:
            cron.parse(attributes.cron_schedule)
        except cron.CronError as err:
            raise CommandError(
                _cause("BAD_CONTINUE_AS_NEW_ATTRIBUTES"), f"Invalid CronSchedule: {err}"
            ) from err
