"""Commands a worker completes a workflow task with, checked one bad command at a time through raw gRPC.

Observed on the real dev server (temporal CLI 1.9.1, server 1.32.0):
- A bad command fails the task. RespondWorkflowTaskCompleted gets INVALID_ARGUMENT "<Cause>: <detail>",
  Cause being the failure cause in CamelCase (BadStartTimerAttributes, StartTimerDuplicateId, ...), and
  history gets WORKFLOW_TASK_FAILED {cause, failure {message (the same text), server_failure_info
  {non_retryable: false}}, identity}, then WORKFLOW_TASK_SCHEDULED.
- A payload over its limit does the same, then WORKFLOW_EXECUTION_TERMINATED {reason (the same text)}
  instead of a new task.
- A batch malformed as a whole is refused with INVALID_ARGUMENT and nothing is recorded (the task stays
  started): a command after a closing command ("invalid command sequence: [CompleteWorkflowExecution,
  StartTimer], command CompleteWorkflowExecution must be the last command."; checked before any command's
  own attributes), or an unknown command type ("unknown command type: 99" / "...: Unspecified").
- A child workflow command without its attributes gets INTERNAL "something went wrong, please retry
  (<8 hex digits>)", nothing recorded.
- Checks run command by command, each seeing what the earlier ones did, and in a fixed order within a
  command: the two-problem cases below pin that order. A closing command while new events wait is refused as
  UnhandledCommand before its own attributes are looked at.
- Search attribute values are checked against their type after JSON decoding; the message shows the
  decoded value as Go prints it (1.5, map[a:1], [a b], 1e+06), or "value from <payload>" when it does not
  decode. A value over 2048 bytes of data terminates the run.
The module's server has small payload limits (blob error 3000 / warn 1500 bytes, memo error 2000) and
custom search attributes. Tempyral checks custom search attribute names and types only once the history
engine is handed the search attribute registry (see `custom_attributes` below).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import CommandType, EventType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND

from ._api_support import full_history, raw_stub, start_request, type_names

IDENTITY = "command-validation-tests"
WORKFLOW_TYPE = "CvWorkflow"
CUSTOM_ATTRIBUTES = {
    "CvInt": "Int",
    "CvKeyword": "Keyword",
    "CvText": "Text",
    "CvDouble": "Double",
    "CvBool": "Bool",
    "CvDatetime": "Datetime",
    "CvKwList": "KeywordList",
}
LIMITS = {"limit.blobSize.error": 3000, "limit.blobSize.warn": 1500, "limit.memoSize.error": 2000}
LONG = 1001  # one byte over limit.maxIDLength


@pytest.fixture(scope="module")
def cv_server() -> Iterator[ServerProcess]:
    args: list[str] = []
    for name, kind in CUSTOM_ATTRIBUTES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    for key, value in LIMITS.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    process = ServerProcess(kind=SERVER_KIND, extra_args=args).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
async def stub(cv_server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(cv_server.address) as service:
        yield service


# -- building commands ----------------------------------------------------------------------------------


def _command(kind: str, attributes: Any = None) -> command_pb.Command:
    """A command of COMMAND_TYPE_<kind>, with `attributes` in their field (left out when None)."""
    command = command_pb.Command(command_type=CommandType.Value(f"COMMAND_TYPE_{kind}"))
    if attributes is not None:
        getattr(command, f"{kind.lower()}_command_attributes").CopyFrom(attributes)
    return command


def _seconds(seconds: int, nanos: int = 0) -> Duration:
    return Duration(seconds=seconds, nanos=nanos)


def _json(data: bytes, encoding: bytes = b"json/plain") -> common.Payload:
    return common.Payload(metadata={"encoding": encoding}, data=data)


def _payloads(size: int) -> common.Payloads:
    return common.Payloads(payloads=[_json(b'"' + b"x" * size + b'"')])


def _keyword(size: int) -> common.Payload:
    return _json(b'"' + b"k" * size + b'"')


def _retry(**fields: Any) -> common.RetryPolicy:
    return common.RetryPolicy(**fields)


def _activity(**fields: Any) -> command_pb.Command:
    values: dict[str, Any] = {
        "activity_id": "a1",
        "activity_type": common.ActivityType(name="Act"),
        "task_queue": taskqueue.TaskQueue(name="acts"),
        "start_to_close_timeout": _seconds(10),
    }
    values.update(fields)
    values = {name: value for name, value in values.items() if value is not None}
    return _command("SCHEDULE_ACTIVITY_TASK", command_pb.ScheduleActivityTaskCommandAttributes(**values))


def _cancel_activity(scheduled_event_id: int) -> command_pb.Command:
    attributes = command_pb.RequestCancelActivityTaskCommandAttributes(scheduled_event_id=scheduled_event_id)
    return _command("REQUEST_CANCEL_ACTIVITY_TASK", attributes)


def _timer(timer_id: str = "t1", fire: Duration | None = None) -> command_pb.Command:
    attributes = command_pb.StartTimerCommandAttributes(timer_id=timer_id)
    if fire is not None:
        attributes.start_to_fire_timeout.CopyFrom(fire)
    return _command("START_TIMER", attributes)


def _cancel_timer(timer_id: str) -> command_pb.Command:
    return _command("CANCEL_TIMER", command_pb.CancelTimerCommandAttributes(timer_id=timer_id))


def _marker(name: str = "m", **fields: Any) -> command_pb.Command:
    return _command("RECORD_MARKER", command_pb.RecordMarkerCommandAttributes(marker_name=name, **fields))


def _complete(**fields: Any) -> command_pb.Command:
    attributes = command_pb.CompleteWorkflowExecutionCommandAttributes(**fields)
    return _command("COMPLETE_WORKFLOW_EXECUTION", attributes)


def _fail(**fields: Any) -> command_pb.Command:
    return _command("FAIL_WORKFLOW_EXECUTION", command_pb.FailWorkflowExecutionCommandAttributes(**fields))


def _continue(**fields: Any) -> command_pb.Command:
    attributes = command_pb.ContinueAsNewWorkflowExecutionCommandAttributes(**fields)
    return _command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION", attributes)


def _child(**fields: Any) -> command_pb.Command:
    values: dict[str, Any] = {"workflow_id": "c1", "workflow_type": common.WorkflowType(name="Child")}
    values.update(fields)
    attributes = command_pb.StartChildWorkflowExecutionCommandAttributes(**values)
    return _command("START_CHILD_WORKFLOW_EXECUTION", attributes)


def _signal(**fields: Any) -> command_pb.Command:
    values: dict[str, Any] = {"execution": common.WorkflowExecution(workflow_id="other"), "signal_name": "s"}
    values.update(fields)
    values = {name: value for name, value in values.items() if value is not None}
    attributes = command_pb.SignalExternalWorkflowExecutionCommandAttributes(**values)
    return _command("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION", attributes)


def _cancel_external(workflow_id: str = "other", **fields: Any) -> command_pb.Command:
    attributes = command_pb.RequestCancelExternalWorkflowExecutionCommandAttributes(
        workflow_id=workflow_id, **fields
    )
    return _command("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION", attributes)


def _upsert(fields: Mapping[str, common.Payload] | None) -> command_pb.Command:
    attributes = command_pb.UpsertWorkflowSearchAttributesCommandAttributes()
    if fields is not None:
        attributes.search_attributes.CopyFrom(common.SearchAttributes(indexed_fields=fields))
    return _command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", attributes)


def _modify(fields: Mapping[str, common.Payload] | None) -> command_pb.Command:
    attributes = command_pb.ModifyWorkflowPropertiesCommandAttributes()
    if fields is not None:
        attributes.upserted_memo.CopyFrom(common.Memo(fields=fields))
    return _command("MODIFY_WORKFLOW_PROPERTIES", attributes)


def _message(message_id: str) -> command_pb.Command:
    return _command("PROTOCOL_MESSAGE", command_pb.ProtocolMessageCommandAttributes(message_id=message_id))


def _attributes(**fields: common.Payload) -> common.SearchAttributes:
    return common.SearchAttributes(indexed_fields=fields)


# -- the cases ------------------------------------------------------------------------------------------

Commands = Sequence[command_pb.Command] | Callable[[int], Sequence[command_pb.Command]]


@dataclass(frozen=True)
class Refusal:
    """A completion the server refuses. `commands` may take the scheduled event id of the activity the
    `setup` task scheduled. `message` may name the workflow's task queue as {queue}. Without a `cause` the
    completion is refused as a whole and nothing is recorded; `fatal` ones terminate the run."""

    commands: Commands
    message: str | re.Pattern[str]
    cause: str = ""
    fatal: bool = False
    code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
    setup: Sequence[command_pb.Command] = ()
    start_activity: bool = False
    start: Mapping[str, Any] = field(default_factory=dict)
    # Tempyral checks custom search attribute names and types only with the registry at hand.
    custom_attributes: bool = False


ACT = "BAD_SCHEDULE_ACTIVITY_ATTRIBUTES"
ACT_ = "BadScheduleActivityAttributes: "
CAN = "BAD_CONTINUE_AS_NEW_ATTRIBUTES"
CAN_ = "BadContinueAsNewAttributes: "
CAN_WHERE = 'WorkflowType=CvWorkflow TaskQueue=name:"{queue}"  kind:TASK_QUEUE_KIND_NORMAL'
CHILD = "BAD_START_CHILD_EXECUTION_ATTRIBUTES"
CHILD_ = "BadStartChildExecutionAttributes: "
CHILD_WHERE = "WorkflowId=c1 WorkflowType=Child Namespace=default"
SIGNAL = "BAD_SIGNAL_WORKFLOW_EXECUTION_ATTRIBUTES"
SIGNAL_ = "BadSignalWorkflowExecutionAttributes: "
EXT = "BAD_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_ATTRIBUTES"
EXT_ = "BadRequestCancelExternalWorkflowExecutionAttributes: "
SA = "BAD_SEARCH_ATTRIBUTES"
SA_ = "BadSearchAttributes: "
NO_MAPPING = "Namespace default has no mapping defined for search attribute NoSuchAttr"
NEGATIVE_ATTEMPTS = "MaximumAttempts cannot be negative on retry policy."


def _long(char: str) -> str:
    return char * LONG


def _too_long(what: str, value: str) -> str:
    return f"{what}={value} Length={len(value)} Limit=1000"


def _case(
    case_id: str, commands: Commands, message: str | re.Pattern[str], cause: str = "", **options: Any
) -> Any:
    refusal = Refusal(commands, message, cause, **options)
    return pytest.param(refusal, id=case_id)


REFUSALS = [
    # ScheduleActivityTask: task queue, id, type, retry policy, id/type length, timeouts, size, duplicate.
    _case(
        "activity-without-attributes",
        [_command("SCHEDULE_ACTIVITY_TASK")],
        ACT_ + "ScheduleActivityTaskCommandAttributes is not set on ScheduleActivityTaskCommand.",
        ACT,
    ),
    _case("activity-no-id", [_activity(activity_id="")], ACT_ + "activityId is not set", ACT),
    _case(
        "activity-no-type",
        [_activity(activity_type=common.ActivityType())],
        ACT_ + "activityType is not set",
        ACT,
    ),
    _case("activity-no-queue", [_activity(task_queue=None)], ACT_ + "taskQueue is not set", ACT),
    _case(
        "activity-reserved-queue",
        [_activity(task_queue=taskqueue.TaskQueue(name="/_sys/x"))],
        ACT_ + "task queue name cannot start with reserved prefix /_sys/",
        ACT,
    ),
    _case(
        "activity-long-queue-before-no-id",
        [_activity(task_queue=taskqueue.TaskQueue(name=_long("q")), activity_id="")],
        ACT_ + "taskQueue length exceeds limit",
        ACT,
    ),
    _case(
        "activity-no-id-before-no-type",
        [_activity(activity_id="", activity_type=common.ActivityType())],
        ACT_ + "activityId is not set",
        ACT,
    ),
    _case(
        "activity-id-too-long-in-bytes",
        [_activity(activity_id="é" * 600)],
        ACT_ + "activityId exceeds length limit. Length=1200 Limit=1000",
        ACT,
    ),
    _case(
        "activity-type-too-long",
        [_activity(activity_type=common.ActivityType(name=_long("T")))],
        ACT_ + "activityType exceeds length limit. Length=1001 Limit=1000",
        ACT,
    ),
    _case(
        "activity-retry-policy-before-id-length",
        [_activity(activity_id=_long("i"), retry_policy=_retry(maximum_attempts=-1))],
        ACT_ + NEGATIVE_ATTEMPTS,
        ACT,
    ),
    _case(
        "activity-no-id-before-retry-policy",
        [_activity(activity_id="", retry_policy=_retry(maximum_attempts=-1))],
        ACT_ + "activityId is not set",
        ACT,
    ),
    _case(
        "activity-retry-negative-initial-first",
        [_activity(retry_policy=_retry(initial_interval=_seconds(-1), backoff_coefficient=0.5))],
        ACT_ + "invalid InitialInterval set on retry policy: negative duration",
        ACT,
    ),
    _case(
        "activity-retry-coefficient-before-negative-maximum",
        [_activity(retry_policy=_retry(maximum_interval=_seconds(-1), backoff_coefficient=0.5))],
        ACT_ + "BackoffCoefficient cannot be less than 1 on retry policy.",
        ACT,
    ),
    _case(
        "activity-retry-negative-maximum",
        [_activity(retry_policy=_retry(maximum_interval=_seconds(-1), initial_interval=_seconds(5)))],
        ACT_ + "invalid MaximumInterval set on retry policy: negative duration",
        ACT,
    ),
    _case(
        "activity-retry-maximum-below-default-initial",
        [_activity(retry_policy=_retry(maximum_interval=_seconds(0, 500_000_000), maximum_attempts=-1))],
        ACT_ + "MaximumInterval cannot be less than InitialInterval on retry policy.",
        ACT,
    ),
    _case(
        "activity-retry-negative-attempts",
        [_activity(retry_policy=_retry(maximum_attempts=-1))],
        ACT_ + NEGATIVE_ATTEMPTS,
        ACT,
    ),
    _case(
        "activity-id-length-before-timeouts",
        [_activity(activity_id=_long("i"), schedule_to_close_timeout=_seconds(-1))],
        ACT_ + "activityId exceeds length limit. Length=1001 Limit=1000",
        ACT,
    ),
    _case(
        "activity-retry-policy-before-timeouts",
        [_activity(schedule_to_close_timeout=_seconds(-1), retry_policy=_retry(maximum_attempts=-1))],
        ACT_ + NEGATIVE_ATTEMPTS,
        ACT,
    ),
    _case(
        "activity-negative-schedule-to-close-first",
        [_activity(start_to_close_timeout=_seconds(-1), schedule_to_close_timeout=_seconds(-1))],
        ACT_ + "invalid ScheduleToCloseTimeout: negative duration",
        ACT,
    ),
    _case(
        "activity-negative-schedule-to-start",
        [_activity(heartbeat_timeout=_seconds(-1), schedule_to_start_timeout=_seconds(-1))],
        ACT_ + "invalid ScheduleToStartTimeout: negative duration",
        ACT,
    ),
    _case(
        "activity-negative-start-to-close-nanos",
        [_activity(start_to_close_timeout=_seconds(0, -5))],
        ACT_ + "invalid StartToCloseTimeout: negative duration",
        ACT,
    ),
    _case(
        "activity-negative-heartbeat-before-missing-timeouts",
        [_activity(start_to_close_timeout=None, heartbeat_timeout=_seconds(-1))],
        ACT_ + "invalid HeartbeatTimeout: negative duration",
        ACT,
    ),
    _case(
        "activity-no-close-timeout",
        [_activity(start_to_close_timeout=None, schedule_to_start_timeout=_seconds(5))],
        ACT_ + "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. "
        "ActivityId=a1 ActivityType=Act",
        ACT,
    ),
    _case(
        "activity-compatible-version-other-queue",
        [_activity(use_workflow_build_id=True)],
        ACT_ + "Activity with UseCompatibleVersion cannot run on different task queue.",
        ACT,
    ),
    _case(
        "activity-attributes-before-input-size",
        [_activity(input=_payloads(4000), activity_id="")],
        ACT_ + "activityId is not set",
        ACT,
    ),
    _case(
        "activity-input-size-before-duplicate-id",
        [_activity(), _activity(input=_payloads(4000))],
        ACT_ + "ScheduleActivityTaskCommandAttributes.Input exceeds size limit.",
        ACT,
        fatal=True,
    ),
    _case(
        "activity-duplicate-id-in-batch",
        [_activity(), _activity()],
        "ScheduleActivityDuplicateId: invalid history builder state for action: "
        "add-activitytask-scheduled-event, ActivityID: a1",
        "SCHEDULE_ACTIVITY_DUPLICATE_ID",
    ),
    _case(
        "activity-duplicate-id-pending",
        [_activity()],
        "ScheduleActivityDuplicateId: invalid history builder state for action: "
        "add-activitytask-scheduled-event, ActivityID: a1",
        "SCHEDULE_ACTIVITY_DUPLICATE_ID",
        setup=[_activity()],
    ),
    # RequestCancelActivityTask.
    _case(
        "cancel-activity-without-attributes",
        [_command("REQUEST_CANCEL_ACTIVITY_TASK")],
        "BadRequestCancelActivityAttributes: RequestCancelActivityTaskCommandAttributes is not set on "
        "RequestCancelActivityTaskCommand.",
        "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES",
    ),
    _case(
        "cancel-activity-no-id",
        [_cancel_activity(0)],
        "BadRequestCancelActivityAttributes: ScheduledEventId is not set on "
        "RequestCancelActivityTaskCommand.",
        "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES",
    ),
    _case(
        "cancel-activity-unknown",
        [_cancel_activity(99)],
        "BadRequestCancelActivityAttributes: invalid history builder state for action: "
        "add-activitytask-cancel-requested-event, ScheduledEventID: 99",
        "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES",
    ),
    _case(
        "cancel-started-activity-twice",
        lambda scheduled: [_cancel_activity(scheduled), _cancel_activity(scheduled)],
        "BadRequestCancelActivityAttributes: invalid history builder state for action: "
        "add-activitytask-cancel-requested-event, ScheduledEventID: 5",
        "BAD_REQUEST_CANCEL_ACTIVITY_ATTRIBUTES",
        setup=[_activity(task_queue=taskqueue.TaskQueue(name="{queue}"))],
        start_activity=True,
    ),
    # StartTimer and CancelTimer.
    _case(
        "timer-without-attributes",
        [_command("START_TIMER")],
        "BadStartTimerAttributes: StartTimerCommandAttributes is not set on StartTimerCommand.",
        "BAD_START_TIMER_ATTRIBUTES",
    ),
    _case(
        "timer-with-other-attributes",
        [
            command_pb.Command(
                command_type=CommandType.COMMAND_TYPE_START_TIMER,
                record_marker_command_attributes=command_pb.RecordMarkerCommandAttributes(marker_name="m"),
            )
        ],
        "BadStartTimerAttributes: StartTimerCommandAttributes is not set on StartTimerCommand.",
        "BAD_START_TIMER_ATTRIBUTES",
    ),
    _case(
        "timer-no-id",
        [_timer("", _seconds(5))],
        "BadStartTimerAttributes: TimerId is not set on StartTimerCommand.",
        "BAD_START_TIMER_ATTRIBUTES",
    ),
    _case(
        "timer-id-too-long",
        [_timer(_long("t"), _seconds(5))],
        "BadStartTimerAttributes: TimerId on StartTimerCommand exceeds length limit. "
        + _too_long("TimerId", _long("t")),
        "BAD_START_TIMER_ATTRIBUTES",
    ),
    _case(
        "timer-negative",
        [_timer("t1", _seconds(-1))],
        "BadStartTimerAttributes: An invalid StartToFireTimeout is set on StartTimerCommand: negative "
        "duration. TimerId=t1",
        "BAD_START_TIMER_ATTRIBUTES",
    ),
    _case(
        "timer-duplicate-in-batch",
        [_timer("t1", _seconds(5)), _timer("t1", _seconds(5))],
        "StartTimerDuplicateId: invalid history builder state for action: add-timer-started-event, "
        "TimerID: t1",
        "START_TIMER_DUPLICATE_ID",
    ),
    _case(
        "timer-duplicate-pending",
        [_timer("t1", _seconds(5))],
        "StartTimerDuplicateId: invalid history builder state for action: add-timer-started-event, "
        "TimerID: t1",
        "START_TIMER_DUPLICATE_ID",
        setup=[_timer("t1", _seconds(60))],
    ),
    _case(
        "cancel-timer-without-attributes",
        [_command("CANCEL_TIMER")],
        "BadCancelTimerAttributes: CancelTimerCommandAttributes is not set on CancelTimerCommand.",
        "BAD_CANCEL_TIMER_ATTRIBUTES",
    ),
    _case(
        "cancel-timer-no-id",
        [_cancel_timer("")],
        "BadCancelTimerAttributes: TimerId is not set on CancelTimerCommand.",
        "BAD_CANCEL_TIMER_ATTRIBUTES",
    ),
    _case(
        "cancel-timer-id-too-long",
        [_cancel_timer(_long("t"))],
        "BadCancelTimerAttributes: TimerId on CancelTimerCommand exceeds length limit. "
        + _too_long("TimerId", _long("t")),
        "BAD_CANCEL_TIMER_ATTRIBUTES",
    ),
    _case(
        "cancel-timer-unknown",
        [_cancel_timer("nope")],
        "BadCancelTimerAttributes: invalid history builder state for action: add-timer-canceled-event, "
        "TimerID: nope",
        "BAD_CANCEL_TIMER_ATTRIBUTES",
    ),
    _case(
        "cancel-timer-twice",
        [_cancel_timer("t1"), _cancel_timer("t1")],
        "BadCancelTimerAttributes: invalid history builder state for action: add-timer-canceled-event, "
        "TimerID: t1",
        "BAD_CANCEL_TIMER_ATTRIBUTES",
        setup=[_timer("t1", _seconds(60))],
    ),
    # Closing commands, and the batch as a whole.
    _case(
        "complete-without-attributes",
        [_command("COMPLETE_WORKFLOW_EXECUTION")],
        "BadCompleteWorkflowExecutionAttributes: CompleteWorkflowExecutionCommandAttributes is not set "
        "on CompleteWorkflowExecutionCommand.",
        "BAD_COMPLETE_WORKFLOW_EXECUTION_ATTRIBUTES",
    ),
    _case(
        "complete-result-size",
        [_complete(result=_payloads(4000))],
        ACT_ + "CompleteWorkflowExecutionCommandAttributes.Result exceeds size limit.",
        ACT,  # sic
        fatal=True,
    ),
    _case(
        "fail-without-attributes",
        [_command("FAIL_WORKFLOW_EXECUTION")],
        "BadFailWorkflowExecutionAttributes: FailWorkflowExecutionCommandAttributes is not set on "
        "FailWorkflowExecutionCommand.",
        "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES",
    ),
    _case(
        "fail-without-failure",
        [_fail()],
        "BadFailWorkflowExecutionAttributes: Failure is not set on FailWorkflowExecutionCommand.",
        "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES",
    ),
    _case(
        "fail-failure-size",
        [_fail(failure=failure_pb.Failure(message="m" * 4000))],
        "BadFailWorkflowExecutionAttributes: FailWorkflowExecutionCommandAttributes.Failure exceeds size "
        "limit.",
        "BAD_FAIL_WORKFLOW_EXECUTION_ATTRIBUTES",
        fatal=True,
    ),
    _case(
        "cancel-workflow-without-attributes",
        [_command("CANCEL_WORKFLOW_EXECUTION")],
        "BadCancelWorkflowExecutionAttributes: CancelWorkflowExecutionCommandAttributes is not set on "
        "CancelWorkflowExecutionCommand.",
        "BAD_CANCEL_WORKFLOW_EXECUTION_ATTRIBUTES",
    ),
    _case(
        "command-after-complete",
        [_complete(), _timer("t1", _seconds(5))],
        "invalid command sequence: [CompleteWorkflowExecution, StartTimer], command "
        "CompleteWorkflowExecution must be the last command.",
    ),
    _case(
        "two-closing-commands",
        [_fail(failure=failure_pb.Failure(message="x")), _complete()],
        "invalid command sequence: [FailWorkflowExecution, CompleteWorkflowExecution], command "
        "FailWorkflowExecution must be the last command.",
    ),
    _case(
        "sequence-before-attributes",
        [_timer("", _seconds(5)), _complete(), _timer("t2", _seconds(5))],
        "invalid command sequence: [StartTimer, CompleteWorkflowExecution, StartTimer], command "
        "CompleteWorkflowExecution must be the last command.",
    ),
    _case(
        "unknown-type-after-complete",
        [_complete(), command_pb.Command(command_type=99)],  # type: ignore[arg-type]
        "invalid command sequence: [CompleteWorkflowExecution, 99], command CompleteWorkflowExecution "
        "must be the last command.",
    ),
    _case("unspecified-type", [command_pb.Command()], "unknown command type: Unspecified"),
    _case(
        "unknown-type-before-attributes",
        [_timer("", _seconds(5)), command_pb.Command(command_type=99)],  # type: ignore[arg-type]
        "unknown command type: 99",
    ),
    # ContinueAsNew.
    _case(
        "continue-without-attributes",
        [_command("CONTINUE_AS_NEW_WORKFLOW_EXECUTION")],
        CAN_ + "ContinueAsNewWorkflowExecutionCommandAttributes is not set on "
        "ContinueAsNewWorkflowExecutionCommand.",
        CAN,
    ),
    _case(
        "continue-type-length-before-queue",
        [
            _continue(
                workflow_type=common.WorkflowType(name=_long("W")),
                task_queue=taskqueue.TaskQueue(name="/_sys/x"),
            )
        ],
        CAN_
        + "WorkflowType on ContinueAsNewWorkflowExecutionCommand exceeds length limit. "
        + _too_long("WorkflowType", _long("W")),
        CAN,
    ),
    _case(
        "continue-queue-before-timeouts",
        [_continue(task_queue=taskqueue.TaskQueue(name="/_sys/x"), workflow_run_timeout=_seconds(-1))],
        CAN_ + "error validating ContinueAsNewWorkflowExecutionCommand TaskQueue: task queue name cannot "
        'start with reserved prefix /_sys/. WorkflowType=CvWorkflow TaskQueue=name:"/_sys/x"  '
        "kind:TASK_QUEUE_KIND_NORMAL",
        CAN,
    ),
    _case(
        "continue-queue-too-long",
        [_continue(task_queue=taskqueue.TaskQueue(name=_long("q"), kind=2))],  # type: ignore[arg-type]
        CAN_ + "error validating ContinueAsNewWorkflowExecutionCommand TaskQueue: taskQueue length exceeds "
        f'limit. WorkflowType=CvWorkflow TaskQueue=name:"{_long("q")}"  kind:TASK_QUEUE_KIND_STICKY',
        CAN,
    ),
    _case(
        "continue-run-timeout-before-retry-policy",
        [_continue(workflow_run_timeout=_seconds(-1), retry_policy=_retry(maximum_attempts=-1))],
        CAN_
        + "Invalid WorkflowRunTimeout on ContinueAsNewWorkflowExecutionCommand: negative duration. "
        + CAN_WHERE,
        CAN,
    ),
    _case(
        "continue-task-timeout-before-backoff",
        [_continue(workflow_task_timeout=_seconds(-1), backoff_start_interval=_seconds(-1))],
        CAN_
        + "Invalid WorkflowTaskTimeout on ContinueAsNewWorkflowExecutionCommand: negative duration. "
        + CAN_WHERE,
        CAN,
    ),
    _case(
        "continue-negative-backoff",
        [_continue(backoff_start_interval=_seconds(-1))],
        CAN_
        + "Invalid BackoffStartInterval on ContinueAsNewWorkflowExecutionCommand: negative duration. "
        + CAN_WHERE,
        CAN,
    ),
    _case(
        "continue-retry-policy-before-search-attributes",
        [
            _continue(
                retry_policy=_retry(maximum_attempts=-1),
                search_attributes=_attributes(WorkflowId=_json(b'"x"')),
            )
        ],
        CAN_ + "invalid WorkflowRetryPolicy on ContinueAsNewWorkflowExecutionCommand: "
        f"{NEGATIVE_ATTEMPTS}. " + CAN_WHERE,
        CAN,
    ),
    _case(
        "continue-system-search-attribute",
        [_continue(search_attributes=_attributes(WorkflowId=_json(b'"x"')))],
        SA_ + "invalid SearchAttributes on ContinueAsNewWorkflowExecutionCommand: WorkflowId attribute "
        "can't be set in SearchAttributes. " + CAN_WHERE,
        SA,
    ),
    _case(
        "continue-unknown-search-attribute-first",
        [
            _continue(
                workflow_run_timeout=_seconds(-1), search_attributes=_attributes(NoSuchAttr=_json(b'"x"'))
            )
        ],
        SA_ + NO_MAPPING,
        SA,
        custom_attributes=True,
    ),
    _case(
        "continue-search-attribute-type",
        [_continue(search_attributes=_attributes(CvInt=_json(b'"abc"')))],
        SA_ + "invalid SearchAttributes on ContinueAsNewWorkflowExecutionCommand: invalid value for search "
        "attribute CvInt of type Int: abc. " + CAN_WHERE,
        SA,
        custom_attributes=True,
    ),
    _case(
        "continue-compatible-version-other-queue",
        [_continue(inherit_build_id=True, task_queue=taskqueue.TaskQueue(name="other"))],
        CAN_ + "ContinueAsNew with UseCompatibleVersion cannot run on different task queue.",
        CAN,
    ),
    _case(
        "continue-input-size",
        [_continue(input=_payloads(4000))],
        CAN_ + "ContinueAsNewWorkflowExecutionCommandAttributes. Input exceeds size limit.",
        CAN,
        fatal=True,
    ),
    _case(
        "continue-memo-size",
        [_continue(memo=common.Memo(fields={"m": _keyword(2100)}))],
        CAN_ + "ContinueAsNewWorkflowExecutionCommandAttributes. Memo exceeds size limit.",
        CAN,
        fatal=True,
    ),
    _case(
        "continue-search-attribute-size",
        [_continue(search_attributes=_attributes(TemporalChangeVersion=_json(b'["' + b"k" * 2200 + b'"]')))],
        CAN_ + "search attribute TemporalChangeVersion value size 2204 exceeds size limit 2048",
        CAN,
        fatal=True,
    ),
    # RecordMarker.
    _case(
        "marker-without-attributes",
        [_command("RECORD_MARKER")],
        "BadRecordMarkerAttributes: RecordMarkerCommandAttributes is not set on RecordMarkerCommand.",
        "BAD_RECORD_MARKER_ATTRIBUTES",
    ),
    _case(
        "marker-no-name-before-size",
        [_marker("", details={"d": _payloads(4000)})],
        "BadRecordMarkerAttributes: MarkerName is not set on RecordMarkerCommand.",
        "BAD_RECORD_MARKER_ATTRIBUTES",
    ),
    _case(
        "marker-name-too-long",
        [_marker(_long("m"))],
        "BadRecordMarkerAttributes: MarkerName on RecordMarkerCommand exceeds length limit. "
        + _too_long("MarkerName", _long("m")),
        "BAD_RECORD_MARKER_ATTRIBUTES",
    ),
    _case(
        "marker-details-size-all-together",
        [_marker(details={"d": _payloads(1600), "e": _payloads(1600)})],
        "BadRecordMarkerAttributes: RecordMarkerCommandAttributes.Details exceeds size limit.",
        "BAD_RECORD_MARKER_ATTRIBUTES",
        fatal=True,
    ),
    # UpsertWorkflowSearchAttributes.
    _case(
        "upsert-without-attributes",
        [_command("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES")],
        SA_ + "UpsertWorkflowSearchAttributesCommandAttributes is not set on "
        "UpsertWorkflowSearchAttributesCommand.",
        SA,
    ),
    _case(
        "upsert-no-search-attributes",
        [_upsert(None)],
        SA_ + "SearchAttributes is not set on UpsertWorkflowSearchAttributesCommand.",
        SA,
    ),
    _case(
        "upsert-no-fields",
        [_upsert({})],
        SA_ + "IndexedFields is not set on UpsertWorkflowSearchAttributesCommand.",
        SA,
    ),
    _case(
        "upsert-unknown-attribute",
        [_upsert({"NoSuchAttr": _json(b'"x"')})],
        SA_ + NO_MAPPING,
        SA,
        custom_attributes=True,
    ),
    _case(
        "upsert-system-attribute",
        [_upsert({"ExecutionStatus": _json(b'"Running"')})],
        SA_ + "ExecutionStatus attribute can't be set in SearchAttributes",
        SA,
    ),
    _case(
        "upsert-system-attribute-type",
        [_upsert({"TemporalChangeVersion": _json(b"123")})],
        SA_ + "invalid value for search attribute TemporalChangeVersion of type KeywordList: 123",
        SA,
    ),
    _case(
        "upsert-value-printed-as-go-does",
        [_upsert({"TemporalScheduledById": _json(b'{"b":[1,{"c":"d"}],"a":1234567.5}')})],
        SA_ + "invalid value for search attribute TemporalScheduledById of type Keyword: "
        "map[a:1.2345675e+06 b:[1 map[c:d]]]",
        SA,
    ),
    _case(
        "upsert-value-that-does-not-decode",
        [_upsert({"TemporalChangeVersion": _json(b"{bad")})],
        SA_ + "invalid value for search attribute TemporalChangeVersion of type KeywordList: value from "
        '<metadata:{key:"encoding"  value:"json/plain"}  data:"{bad">',
        SA,
    ),
    _case(
        "upsert-int-with-fraction",
        [_upsert({"CvInt": _json(b"5.0")})],
        SA_ + "invalid value for search attribute CvInt of type Int: 5",
        SA,
        custom_attributes=True,
    ),
    _case(
        "upsert-keyword-list-for-keyword",
        [_upsert({"CvKeyword": _json(b'["a","b"]')})],
        SA_ + "invalid value for search attribute CvKeyword of type Keyword: [a b]",
        SA,
        custom_attributes=True,
    ),
    _case(
        "upsert-datetime-without-zone",
        [_upsert({"CvDatetime": _json(b'"2024-01-02T03:04:05"')})],
        SA_ + "invalid value for search attribute CvDatetime of type Datetime: 2024-01-02T03:04:05",
        SA,
        custom_attributes=True,
    ),
    _case(
        "upsert-keyword-for-keyword-list",
        [_upsert({"CvKwList": _json(b'"a"')})],
        SA_ + "invalid value for search attribute CvKwList of type KeywordList: a",
        SA,
        custom_attributes=True,
    ),
    _case(
        "upsert-binary-for-bool",
        [_upsert({"CvBool": _json(b"abc", b"binary/plain")})],
        SA_ + "invalid value for search attribute CvBool of type Bool: [97 98 99]",
        SA,
        custom_attributes=True,
    ),
    _case(
        "upsert-blob-size",
        [_upsert({"CvKeyword": _keyword(3000)})],
        SA_ + "UpsertWorkflowSearchAttributesCommandAttributes exceeds size limit.",
        SA,
        fatal=True,
    ),
    _case(
        "upsert-value-size",
        [_upsert({"CvKeyword": _keyword(2047)})],
        SA_ + "search attribute CvKeyword value size 2049 exceeds size limit 2048",
        SA,
        fatal=True,
    ),
    # ModifyWorkflowProperties.
    _case(
        "modify-without-attributes",
        [_command("MODIFY_WORKFLOW_PROPERTIES")],
        "BadModifyWorkflowPropertiesAttributes: ModifyWorkflowPropertiesCommandAttributes is not set on "
        "ModifyWorkflowPropertiesCommand.",
        "BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES",
    ),
    _case(
        "modify-no-memo",
        [_modify(None)],
        "BadModifyWorkflowPropertiesAttributes: UpsertedMemo is not set on ModifyWorkflowPropertiesCommand.",
        "BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES",
    ),
    _case(
        "modify-no-fields",
        [_modify({})],
        "BadModifyWorkflowPropertiesAttributes: UpsertedMemo.Fields is not set on "
        "ModifyWorkflowPropertiesCommand.",
        "BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES",
    ),
    _case(
        "modify-blob-size",
        [_modify({"m": _keyword(3100)})],
        "BadModifyWorkflowPropertiesAttributes: ModifyWorkflowPropertiesCommandAttributes exceeds size "
        "limit.",
        "BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES",
        fatal=True,
    ),
    _case(
        "modify-merged-memo-size",
        [_modify({"n": _keyword(900)})],
        "BadModifyWorkflowPropertiesAttributes: ModifyWorkflowPropertiesCommandAttributes. Memo exceeds "
        "size limit.",
        "BAD_MODIFY_WORKFLOW_PROPERTIES_ATTRIBUTES",
        fatal=True,
        start={"memo": common.Memo(fields={"m": _keyword(1500)})},
    ),
    # StartChildWorkflowExecution.
    _case(
        "child-without-attributes",
        [_command("START_CHILD_WORKFLOW_EXECUTION")],
        re.compile(r"something went wrong, please retry \([0-9a-f]{8}\)"),
        code=grpc.StatusCode.INTERNAL,
    ),
    _case(
        "child-no-id",
        [_child(workflow_id="", workflow_type=common.WorkflowType())],
        CHILD_ + "Required field WorkflowId is not set on StartChildWorkflowExecutionCommand. WorkflowType= "
        "Namespace=default",
        CHILD,
    ),
    _case(
        "child-no-type",
        [_child(workflow_type=common.WorkflowType())],
        CHILD_
        + "Required field WorkflowType is not set on StartChildWorkflowExecutionCommand. WorkflowId=c1 "
        "Namespace=default",
        CHILD,
    ),
    _case(
        "child-id-length-before-type-length",
        [_child(workflow_id=_long("c"), workflow_type=common.WorkflowType(name=_long("W")))],
        CHILD_
        + "WorkflowId on StartChildWorkflowExecutionCommand exceeds length limit. "
        + _too_long("WorkflowId", _long("c"))
        + f" WorkflowType={_long('W')} Namespace=default",
        CHILD,
    ),
    _case(
        "child-type-length-before-timeouts",
        [
            _child(
                workflow_type=common.WorkflowType(name=_long("W")),
                workflow_execution_timeout=_seconds(-1),
            )
        ],
        CHILD_
        + "WorkflowType on StartChildWorkflowExecutionCommand exceeds length limit. WorkflowId=c1 "
        + _too_long("WorkflowType", _long("W"))
        + " Namespace=default",
        CHILD,
    ),
    _case(
        "child-run-timeout-before-retry-policy",
        [_child(workflow_run_timeout=_seconds(-1), retry_policy=_retry(maximum_attempts=-1))],
        CHILD_
        + "Invalid WorkflowRunTimeout on StartChildWorkflowExecutionCommand: negative duration. "
        + CHILD_WHERE,
        CHILD,
    ),
    _case(
        "child-execution-timeout-first",
        [_child(workflow_execution_timeout=_seconds(-1), workflow_task_timeout=_seconds(-1))],
        CHILD_
        + "Invalid WorkflowExecutionTimeout on StartChildWorkflowExecutionCommand: negative duration. "
        + CHILD_WHERE,
        CHILD,
    ),
    _case(
        "child-negative-task-timeout",
        [_child(workflow_task_timeout=_seconds(-1))],
        CHILD_
        + "Invalid WorkflowTaskTimeout on StartChildWorkflowExecutionCommand: negative duration. "
        + CHILD_WHERE,
        CHILD,
    ),
    _case(
        "child-retry-policy-before-cron",
        [_child(retry_policy=_retry(backoff_coefficient=0.5), cron_schedule="bad")],
        CHILD_
        + "invalid WorkflowRetryPolicy on StartChildWorkflowExecutionCommand: BackoffCoefficient cannot "
        "be less than 1 on retry policy.. " + CHILD_WHERE,
        CHILD,
    ),
    _case(
        "child-bad-cron",
        [_child(cron_schedule="0 * * * * *")],
        CHILD_
        + "invalid CronSchedule on StartChildWorkflowExecutionCommand: invalid CronSchedule.. "
        + CHILD_WHERE,
        CHILD,
    ),
    _case(
        "child-search-attributes-before-queue",
        [
            _child(
                task_queue=taskqueue.TaskQueue(name="/_sys/x"),
                search_attributes=_attributes(WorkflowType=_json(b'"x"')),
            )
        ],
        SA_ + "invalid SearchAttributes on StartChildWorkflowCommand: WorkflowType attribute can't be set in "
        "SearchAttributes. " + CHILD_WHERE,
        SA,
    ),
    _case(
        "child-search-attribute-type",
        [_child(search_attributes=_attributes(CvInt=_json(b'"abc"')))],
        SA_ + "invalid SearchAttributes on StartChildWorkflowCommand: invalid value for search attribute "
        "CvInt of type Int: abc. " + CHILD_WHERE,
        SA,
        custom_attributes=True,
    ),
    _case(
        "child-unknown-search-attribute-first",
        [_child(workflow_id="", search_attributes=_attributes(NoSuchAttr=_json(b'"x"')))],
        SA_ + NO_MAPPING,
        SA,
        custom_attributes=True,
    ),
    _case(
        "child-reserved-queue",
        [_child(task_queue=taskqueue.TaskQueue(name="/_sys/x"))],
        CHILD_ + "invalid TaskQueue on StartChildWorkflowExecutionCommand: task queue name cannot start with "
        f'reserved prefix /_sys/. {CHILD_WHERE} TaskQueue=name:"/_sys/x"  kind:TASK_QUEUE_KIND_NORMAL',
        CHILD,
    ),
    _case(
        "child-compatible-version-other-queue",
        [_child(inherit_build_id=True, task_queue=taskqueue.TaskQueue(name="other"))],
        CHILD_ + "StartChildWorkflowExecution with UseCompatibleVersion cannot run on different task queue.",
        CHILD,
    ),
    _case(
        "child-input-size",
        [_child(input=_payloads(4000))],
        CHILD_ + "StartChildWorkflowExecutionCommandAttributes. Input exceeds size limit.",
        CHILD,
        fatal=True,
    ),
    _case(
        "child-memo-size",
        [_child(memo=common.Memo(fields={"m": _keyword(2100)}))],
        CHILD_ + "StartChildWorkflowExecutionCommandAttributes.Memo exceeds size limit.",
        CHILD,
        fatal=True,
    ),
    # SignalExternalWorkflowExecution.
    _case(
        "signal-without-attributes",
        [_command("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION")],
        SIGNAL_ + "SignalExternalWorkflowExecutionCommandAttributes is not set on "
        "SignalExternalWorkflowExecutionCommand.",
        SIGNAL,
    ),
    _case(
        "signal-no-execution",
        [_signal(execution=None)],
        SIGNAL_ + "Execution is not set on SignalExternalWorkflowExecutionCommand.",
        SIGNAL,
    ),
    _case(
        "signal-no-workflow-id",
        [_signal(execution=common.WorkflowExecution(), signal_name="")],
        SIGNAL_ + "WorkflowId is not set on SignalExternalWorkflowExecutionCommand. Namespace= RunId= "
        "SignalName=",
        SIGNAL,
    ),
    _case(
        "signal-workflow-id-too-long",
        [_signal(execution=common.WorkflowExecution(workflow_id=_long("o")))],
        SIGNAL_
        + "WorkflowId on SignalExternalWorkflowExecutionCommand exceeds length limit. "
        + _too_long("WorkflowId", _long("o"))
        + " Namespace= RunId= SignalName=s",
        SIGNAL,
    ),
    _case(
        "signal-bad-run-id-before-name",
        [
            _signal(
                execution=common.WorkflowExecution(
                    workflow_id="o", run_id="1234567-81234-1234-1234-123456789012"
                ),
                signal_name="",
            )
        ],
        SIGNAL_ + "Invalid RunId set on SignalExternalWorkflowExecutionCommand. WorkflowId=o Namespace= "
        "RunId=1234567-81234-1234-1234-123456789012 SignalName=",
        SIGNAL,
    ),
    _case(
        "signal-no-name-before-size",
        [_signal(signal_name="", input=_payloads(4000))],
        SIGNAL_ + "SignalName is not set on SignalExternalWorkflowExecutionCommand. WorkflowId=other "
        "Namespace= RunId=",
        SIGNAL,
    ),
    _case(
        "signal-input-size",
        [_signal(input=_payloads(4000))],
        SIGNAL_ + "SignalExternalWorkflowExecutionCommandAttributes.Input exceeds size limit.",
        SIGNAL,
        fatal=True,
    ),
    # RequestCancelExternalWorkflowExecution.
    _case(
        "cancel-external-without-attributes",
        [_command("REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION")],
        EXT_ + "RequestCancelExternalWorkflowExecutionCommandAttributes is not set on "
        "RequestCancelExternalWorkflowExecutionCommand.",
        EXT,
    ),
    _case(
        "cancel-external-no-workflow-id",
        [_cancel_external("")],
        EXT_ + "WorkflowId is not set on RequestCancelExternalWorkflowExecutionCommand. Namespace= RunId=",
        EXT,
    ),
    _case(
        "cancel-external-workflow-id-too-long",
        [_cancel_external(_long("o"))],
        EXT_
        + "WorkflowId on RequestCancelExternalWorkflowExecutionCommand exceeds length limit. "
        + _too_long("WorkflowId", _long("o"))
        + " RunId= Namespace=",
        EXT,
    ),
    _case(
        "cancel-external-bad-run-id-before-own-child",
        [_child(), _cancel_external("c1", run_id="zz")],
        EXT_ + "Invalid RunId set on RequestCancelExternalWorkflowExecutionCommand. WorkflowId=c1 RunId=zz "
        "Namespace=",
        EXT,
    ),
    _case(
        "cancel-external-child-started-in-same-task",
        [_child(), _cancel_external("c1")],
        EXT_ + "Start and RequestCancel for child workflow is not allowed in same workflow task. "
        "WorkflowId=c1 RunId= Namespace=",
        EXT,
    ),
    # ProtocolMessage and Nexus operations.
    _case(
        "message-without-attributes",
        [_command("PROTOCOL_MESSAGE")],
        "BadUpdateWorkflowExecutionMessage: ProtocolMessageCommandAttributes is not set on "
        "ProtocolMessageCommand.",
        "BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
    ),
    _case(
        "message-no-id",
        [_message("")],
        "BadUpdateWorkflowExecutionMessage: MessageID is not set on ProtocolMessageCommand.",
        "BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
    ),
    _case(
        "message-unknown-id",
        [_message("nope")],
        "BadUpdateWorkflowExecutionMessage: ProtocolMessageCommand referenced absent message ID nope",
        "BAD_UPDATE_WORKFLOW_EXECUTION_MESSAGE",
    ),
    _case(
        "nexus-without-attributes",
        [_command("SCHEDULE_NEXUS_OPERATION")],
        "BadScheduleNexusOperationAttributes: empty ScheduleNexusOperationCommandAttributes",
        "BAD_SCHEDULE_NEXUS_OPERATION_ATTRIBUTES",
    ),
    _case(
        "cancel-nexus-without-attributes",
        [_command("REQUEST_CANCEL_NEXUS_OPERATION")],
        "BadRequestCancelNexusOperationAttributes: empty CancelNexusOperationCommandAttributes",
        "BAD_REQUEST_CANCEL_NEXUS_OPERATION_ATTRIBUTES",
    ),
]


# -- driving a workflow task ----------------------------------------------------------------------------


async def _started_task(
    stub: WorkflowServiceStub,
    workflow_id: str,
    task_queue: str,
    setup: Sequence[command_pb.Command] = (),
    start: Mapping[str, Any] | None = None,
    start_activity: bool = False,
) -> tuple[str, wsr.PollWorkflowTaskQueueResponse, int]:
    """Start a workflow and hold its workflow task: the second one if a first completed with `setup`
    (whose activity a poller takes if `start_activity`). Returns the run id, the task, and the scheduled
    event id of the activity the setup scheduled."""
    request = start_request(workflow_id, task_queue, WORKFLOW_TYPE, **(start or {}))
    started = await stub.StartWorkflowExecution(request)
    poll = wsr.PollWorkflowTaskQueueRequest(
        namespace="default", task_queue=taskqueue.TaskQueue(name=task_queue), identity=IDENTITY
    )
    task = await stub.PollWorkflowTaskQueue(poll, timeout=30)
    scheduled = 0
    if setup:
        commands = [_with_queue(command, task_queue) for command in setup]
        await stub.RespondWorkflowTaskCompleted(
            wsr.RespondWorkflowTaskCompletedRequest(
                namespace="default",
                task_token=task.task_token,
                identity=IDENTITY,
                commands=commands,
                force_create_new_workflow_task=True,
            ),
            timeout=10,
        )
        if start_activity:
            activity = await stub.PollActivityTaskQueue(
                wsr.PollActivityTaskQueueRequest(
                    namespace="default", task_queue=taskqueue.TaskQueue(name=task_queue), identity=IDENTITY
                ),
                timeout=30,
            )
            assert activity.task_token
        task = await stub.PollWorkflowTaskQueue(poll, timeout=30)
        scheduled = next(
            (
                event.event_id
                for event in task.history.events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ),
            0,
        )
    assert task.task_token
    return started.run_id, task, scheduled


def _with_queue(command: command_pb.Command, task_queue: str) -> command_pb.Command:
    """The command with a task queue named {queue} renamed to the workflow's own."""
    copy = command_pb.Command()
    copy.CopyFrom(command)
    if copy.schedule_activity_task_command_attributes.task_queue.name == "{queue}":
        copy.schedule_activity_task_command_attributes.task_queue.name = task_queue
    return copy


async def _respond(
    stub: WorkflowServiceStub, task: wsr.PollWorkflowTaskQueueResponse, commands: Sequence[command_pb.Command]
) -> None:
    await stub.RespondWorkflowTaskCompleted(
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace="default", task_token=task.task_token, identity=IDENTITY, commands=commands
        ),
        timeout=10,
    )


async def _after_task(
    stub: WorkflowServiceStub, workflow_id: str, run_id: str, task: wsr.PollWorkflowTaskQueueResponse
) -> list[history_pb.HistoryEvent]:
    """The events written after the task's WORKFLOW_TASK_STARTED."""
    events = await full_history(stub, workflow_id, run_id)
    return [event for event in events if event.event_id > task.started_event_id]


async def _terminate(stub: WorkflowServiceStub, workflow_id: str) -> None:
    try:
        await stub.TerminateWorkflowExecution(
            wsr.TerminateWorkflowExecutionRequest(
                namespace="default", workflow_execution=common.WorkflowExecution(workflow_id=workflow_id)
            ),
            timeout=10,
        )
    except grpc.aio.AioRpcError as err:  # already closed: the run was terminated for an oversized payload
        assert err.code() == grpc.StatusCode.NOT_FOUND


# -- tests ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", REFUSALS)
async def test_refused_command(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str, refusal: Refusal
) -> None:
    run_id, task, scheduled = await _started_task(
        stub, workflow_id, task_queue, refusal.setup, refusal.start, refusal.start_activity
    )
    commands = refusal.commands(scheduled) if callable(refusal.commands) else refusal.commands
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _respond(stub, task, commands)
        error = raised.value
        assert error.code() == refusal.code, error.details()
        if isinstance(refusal.message, re.Pattern):
            assert refusal.message.fullmatch(error.details() or ""), error.details()
            expected = error.details()
        else:
            expected = refusal.message.replace("{queue}", task_queue)
            assert error.details() == expected
        after = await _after_task(stub, workflow_id, run_id, task)
        if not refusal.cause:
            assert type_names(after) == []  # refused as a whole: the task is still started
            return
        closing = "WORKFLOW_EXECUTION_TERMINATED" if refusal.fatal else "WORKFLOW_TASK_SCHEDULED"
        assert type_names(after) == ["WORKFLOW_TASK_FAILED", closing]
        failed = after[0].workflow_task_failed_event_attributes
        assert WorkflowTaskFailedCause.Name(failed.cause) == f"WORKFLOW_TASK_FAILED_CAUSE_{refusal.cause}"
        assert failed.failure.message == expected
        assert failed.failure.HasField("server_failure_info")
        assert not failed.failure.server_failure_info.non_retryable
        assert (failed.scheduled_event_id, failed.started_event_id) == (
            task.started_event_id - 1,
            task.started_event_id,
        )
        assert failed.identity == IDENTITY
        if refusal.fatal:
            assert after[1].workflow_execution_terminated_event_attributes.reason == expected
    finally:
        await _terminate(stub, workflow_id)


ACCEPTED = [
    pytest.param([_timer("t1")], ["TIMER_STARTED"], id="timer-without-duration"),
    pytest.param(
        [_timer("t1", _seconds(0)), _complete()],
        ["TIMER_STARTED", "WORKFLOW_EXECUTION_COMPLETED"],
        id="zero-timer",
    ),
    pytest.param(
        [_timer("t1", _seconds(5)), _cancel_timer("t1")],
        ["TIMER_STARTED", "TIMER_CANCELED"],
        id="timer-cancelled-in-batch",
    ),
    pytest.param(
        [_activity(start_to_close_timeout=_seconds(1, 2_000_000_000))],
        ["ACTIVITY_TASK_SCHEDULED"],
        id="duration-nanos-over-a-second",
    ),
    pytest.param(
        [_activity(retry_policy=_retry(backoff_coefficient=1.0, non_retryable_error_types=[""]))],
        ["ACTIVITY_TASK_SCHEDULED"],
        id="activity-retry-edge-values",
    ),
    pytest.param(
        [_activity(), _cancel_activity(5)],
        [
            "ACTIVITY_TASK_SCHEDULED",
            "ACTIVITY_TASK_CANCEL_REQUESTED",
            "ACTIVITY_TASK_CANCELED",
            "WORKFLOW_TASK_SCHEDULED",
        ],
        id="activity-cancelled-in-batch",
    ),
    pytest.param(
        [_continue(cron_schedule="not a cron")],
        ["WORKFLOW_EXECUTION_CONTINUED_AS_NEW"],
        id="continue-cron-unchecked",
    ),
    pytest.param(
        [
            _signal(
                execution=common.WorkflowExecution(
                    workflow_id="o", run_id="urn:uuid:12345678-1234-1234-1234-123456789012"
                )
            ),
            _signal(
                execution=common.WorkflowExecution(workflow_id="o", run_id="12345678123412341234123456789012")
            ),
        ],
        ["SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"],
        id="run-id-forms",
    ),
    pytest.param(
        [_upsert({"TemporalChangeVersion": _json(b"null"), "BuildIds": _json(b'["a"]')})],
        ["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"],
        id="upsert-null-and-list",
    ),
    pytest.param([_modify({"k": _json(b"null")})], ["WORKFLOW_PROPERTIES_MODIFIED"], id="modify-null"),
]


@pytest.mark.parametrize(("commands", "events"), ACCEPTED)
async def test_accepted_edge_values(
    stub: WorkflowServiceStub,
    workflow_id: str,
    task_queue: str,
    commands: Sequence[command_pb.Command],
    events: list[str],
) -> None:
    """Values at the edge that the real server takes (some of them Tempyral used to refuse)."""
    run_id, task, _ = await _started_task(stub, workflow_id, task_queue)
    try:
        await _respond(stub, task, commands)
        after = type_names(await _after_task(stub, workflow_id, run_id, task))
        # Later events (a zero timer firing, a child starting) come when they come.
        assert after[: len(events) + 1] == ["WORKFLOW_TASK_COMPLETED", *events]
    finally:
        await _terminate(stub, workflow_id)


TIMEOUTS = [
    # (run timeout, execution timeout, command's (s2c, s2s, st2c, heartbeat), event's (s2c, s2s, st2c, hb))
    pytest.param(0, 0, (100, 0, 0, 0), (100, 100, 100, 0), id="schedule-to-close-only"),
    pytest.param(0, 0, (100, 10, 20, 30), (100, 10, 20, 20), id="all-set-heartbeat-capped"),
    pytest.param(0, 0, (100, 200, 300, 0), (100, 100, 100, 0), id="capped-by-schedule-to-close"),
    pytest.param(0, 0, (0, 0, 20, 0), (0, 0, 20, 0), id="start-to-close-only"),
    pytest.param(0, 0, (0, 5, 20, 0), (0, 5, 20, 0), id="start-to-close-and-schedule-to-start"),
    pytest.param(30, 0, (100, 0, 0, 0), (30, 30, 30, 0), id="run-timeout-caps-schedule-to-close"),
    pytest.param(30, 0, (0, 100, 60, 200), (30, 30, 30, 30), id="run-timeout-caps-every-timeout"),
    pytest.param(30, 0, (0, 0, 10, 0), (30, 30, 10, 0), id="run-timeout-fills-in"),
    pytest.param(0, 40, (0, 0, 100, 0), (40, 40, 40, 0), id="execution-timeout-is-the-run-timeout"),
    pytest.param(0, 0, (50, 0, 0, 80), (50, 50, 50, 50), id="heartbeat-capped-by-derived-start-to-close"),
    pytest.param(0, 0, (10**12, 0, 0, 0), (3153600000,) * 3 + (0,), id="capped-at-100-years"),
]


@pytest.mark.parametrize(("run_timeout", "execution_timeout", "given", "recorded"), TIMEOUTS)
async def test_activity_timeouts_are_normalized(
    stub: WorkflowServiceStub,
    workflow_id: str,
    task_queue: str,
    run_timeout: int,
    execution_timeout: int,
    given: tuple[int, int, int, int],
    recorded: tuple[int, int, int, int],
) -> None:
    start: dict[str, Any] = {}
    if run_timeout:
        start["workflow_run_timeout"] = _seconds(run_timeout)
    if execution_timeout:
        start["workflow_execution_timeout"] = _seconds(execution_timeout)
    names = (
        "schedule_to_close_timeout",
        "schedule_to_start_timeout",
        "start_to_close_timeout",
        "heartbeat_timeout",
    )
    timeouts = {name: _seconds(value) if value else None for name, value in zip(names, given, strict=True)}
    run_id, task, _ = await _started_task(stub, workflow_id, task_queue, start=start)
    try:
        await _respond(stub, task, [_activity(**timeouts)])
        after = await _after_task(stub, workflow_id, run_id, task)
        assert type_names(after)[:2] == ["WORKFLOW_TASK_COMPLETED", "ACTIVITY_TASK_SCHEDULED"]
        scheduled = after[1].activity_task_scheduled_event_attributes
        assert tuple(getattr(scheduled, name).seconds for name in names) == recorded
    finally:
        await _terminate(stub, workflow_id)


async def test_closing_while_new_events_wait_is_unhandled_before_its_attributes(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    """A signal arrived during the task: a closing command is refused as UnhandledCommand even when its own
    attributes are bad; a bad command before it is still reported as itself."""
    for commands, message in (
        ([_command("COMPLETE_WORKFLOW_EXECUTION")], "UnhandledCommand"),
        ([_continue(workflow_run_timeout=_seconds(-1))], "UnhandledCommand"),
        (
            [_timer("", _seconds(1)), _complete()],
            "BadStartTimerAttributes: TimerId is not set on StartTimerCommand.",
        ),
    ):
        workflow = f"{workflow_id}-{uuid.uuid4().hex[:6]}"
        run_id, task, _ = await _started_task(stub, workflow, task_queue)
        try:
            await stub.SignalWorkflowExecution(
                wsr.SignalWorkflowExecutionRequest(
                    namespace="default",
                    workflow_execution=common.WorkflowExecution(workflow_id=workflow),
                    signal_name="late",
                    request_id=str(uuid.uuid4()),
                ),
                timeout=10,
            )
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await _respond(stub, task, commands)
            assert (raised.value.code(), raised.value.details()) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                message,
            )
            after = await _after_task(stub, workflow, run_id, task)
            assert type_names(after) == [
                "WORKFLOW_TASK_FAILED",
                "WORKFLOW_EXECUTION_SIGNALED",
                "WORKFLOW_TASK_SCHEDULED",
            ]
            assert after[0].workflow_task_failed_event_attributes.failure.message == message
        finally:
            await _terminate(stub, workflow)
