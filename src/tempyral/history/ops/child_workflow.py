"""Child workflows: started through the parent's outbox, their outcome reported back through the child's.

Each hop is its own transaction, made idempotent so that an outbox row fired twice (after a crash) does
no harm: the child is started with a request id derived from the parent's initiated event, and an
outcome is recorded only while the parent still lists the child as pending.
"""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import (
    ParentClosePolicy,
    StartChildWorkflowExecutionFailedCause,
    TaskQueueKind,
    WorkflowIdReusePolicy,
)
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.durations import to_duration
from tempyral.errors import NotFound, WorkflowAlreadyStarted
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.mutable_state import ChildInfo, ExecutionState, ParentInfo
from tempyral.history.ops.cancel_terminate import request_cancel_workflow, terminate_workflow
from tempyral.history.ops.close_workflow import SERVER_IDENTITY
from tempyral.history.ops.start_workflow import start_workflow, workflow_timeouts
from tempyral.history.ops.workflow_task_schedule import request_workflow_task
from tempyral.history.proto_presence import copy_nonempty, copy_present
from tempyral.matching.task_queue import TaskRef

# Which parent event (and attributes type) records each way a child run can close.
_OUTCOMES: dict[int, tuple[int, type[Message]]] = {
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: (
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED,
        history.ChildWorkflowExecutionCompletedEventAttributes,
    ),
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: (
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
        history.ChildWorkflowExecutionFailedEventAttributes,
    ),
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: (
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED,
        history.ChildWorkflowExecutionCanceledEventAttributes,
    ),
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: (
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
        history.ChildWorkflowExecutionTimedOutEventAttributes,
    ),
    ET.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: (
        ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED,
        history.ChildWorkflowExecutionTerminatedEventAttributes,
    ),
}
_ALLOW_DUPLICATE = WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
_BY_POLICY = "by parent close policy"


def initiate_child(
    engine: HistoryEngine,
    ctx: ExecutionContext,
    attributes: command_pb.StartChildWorkflowExecutionCommandAttributes,
    completed_event_id: int,
) -> None:
    """The StartChildWorkflowExecution command: record the intent; the outbox starts the child."""
    state = ctx.state
    start = _start_request(state, attributes)
    execution_timeout, run_timeout, task_timeout = workflow_timeouts(engine, start)
    initiated = history.StartChildWorkflowExecutionInitiatedEventAttributes(
        namespace=state.namespace_name,
        namespace_id=state.namespace_id,
        workflow_id=attributes.workflow_id,
        workflow_type=attributes.workflow_type,
        task_queue=taskqueue.TaskQueue(name=start.task_queue.name, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        workflow_run_timeout=to_duration(run_timeout),
        workflow_task_timeout=to_duration(task_timeout),
        parent_close_policy=attributes.parent_close_policy or ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE,
        control=attributes.control,
        workflow_task_completed_event_id=completed_event_id,
        workflow_id_reuse_policy=start.workflow_id_reuse_policy,
        cron_schedule=attributes.cron_schedule,
        inherit_build_id=attributes.inherit_build_id,
    )
    if execution_timeout > 0:
        initiated.workflow_execution_timeout.CopyFrom(to_duration(execution_timeout))
    copy_present(attributes, initiated, "input", "retry_policy", "header", "priority")
    copy_nonempty(attributes, initiated, "memo", "search_attributes")
    event = ctx.append(ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, initiated)
    state.children[event.event_id] = ChildInfo(
        initiated_event_id=event.event_id,
        workflow_id=attributes.workflow_id,
        workflow_type=attributes.workflow_type.name,
        parent_close_policy=initiated.parent_close_policy,
    )
    ctx.add_timer(f"child_start/{event.event_id}", ctx.now)


# What a child's start request takes over from the command (in the parent) and from the INITIATED event
# (when the outbox starts the child), when set.
_START_FIELDS = (
    "input",
    "workflow_execution_timeout",
    "workflow_run_timeout",
    "workflow_task_timeout",
    "retry_policy",
    "header",
    "memo",
    "search_attributes",
    "priority",
)


def _start_request(
    state: ExecutionState, attributes: command_pb.StartChildWorkflowExecutionCommandAttributes
) -> wsr.StartWorkflowExecutionRequest:
    start = wsr.StartWorkflowExecutionRequest(
        namespace=state.namespace_name,
        workflow_id=attributes.workflow_id,
        workflow_type=attributes.workflow_type,
        task_queue=taskqueue.TaskQueue(name=attributes.task_queue.name or state.task_queue),
        workflow_id_reuse_policy=(
            attributes.workflow_id_reuse_policy
            or WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
        ),
        cron_schedule=attributes.cron_schedule,
    )
    copy_present(attributes, start, *_START_FIELDS)
    return start


async def start_child(engine: HistoryEngine, ref: TaskRef, initiated_event_id: int) -> None:
    """Outbox: create the child run, then record CHILD_WORKFLOW_EXECUTION_STARTED (or the failure)."""
    entry = await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)
    parent = entry.state
    child = parent.children.get(initiated_event_id)
    if not parent.running or child is None or child.run_id:
        await _drop_row(engine, ref, f"child_start/{initiated_event_id}")
        return
    initiated = history.HistoryEvent.FromString(entry.events[initiated_event_id - 1])
    attributes = initiated.start_child_workflow_execution_initiated_event_attributes
    request = wsr.StartWorkflowExecutionRequest(
        namespace=attributes.namespace,
        workflow_id=attributes.workflow_id,
        workflow_type=attributes.workflow_type,
        task_queue=taskqueue.TaskQueue(name=attributes.task_queue.name),
        workflow_id_reuse_policy=attributes.workflow_id_reuse_policy,
        # Derived from the initiating event: a second attempt after a crash finds the run the first made.
        request_id=f"{ref.run_id}:{initiated_event_id}",
        cron_schedule=attributes.cron_schedule,
    )
    copy_present(attributes, request, *_START_FIELDS)
    assert engine.namespaces is not None
    namespace = engine.namespaces.by_id(ref.namespace_id)
    link = ParentInfo(ref.namespace_id, ref.workflow_id, ref.run_id, initiated_event_id)
    try:
        started = await start_workflow(engine, namespace, request, parent=link)
        child_run_id = started.run_id
    except WorkflowAlreadyStarted:
        child_run_id = ""
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        ctx.delete_task(f"child_start/{initiated_event_id}")
        child = ctx.state.children.get(initiated_event_id)
        if not ctx.state.running or child is None or child.run_id:
            return
        if child_run_id:
            child.run_id = child_run_id
            event = ctx.append_or_buffer(
                ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED,
                _started_attributes(
                    ctx.state, child, attributes.header if attributes.HasField("header") else None
                ),
            )
            child.started_event_id = event.event_id
        else:
            del ctx.state.children[initiated_event_id]
            ctx.append_or_buffer(
                ET.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED,
                history.StartChildWorkflowExecutionFailedEventAttributes(
                    namespace=ctx.state.namespace_name,
                    namespace_id=ctx.state.namespace_id,
                    workflow_id=attributes.workflow_id,
                    workflow_type=attributes.workflow_type,
                    cause=StartChildWorkflowExecutionFailedCause.START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS,
                    control=attributes.control,
                    initiated_event_id=initiated_event_id,
                ),
            )
        request_workflow_task(engine, ctx)


def _started_attributes(
    state: ExecutionState, child: ChildInfo, header: common.Header | None
) -> history.ChildWorkflowExecutionStartedEventAttributes:
    attributes = history.ChildWorkflowExecutionStartedEventAttributes(
        namespace=state.namespace_name,
        namespace_id=state.namespace_id,
        initiated_event_id=child.initiated_event_id,
        workflow_execution=common.WorkflowExecution(workflow_id=child.workflow_id, run_id=child.run_id),
        workflow_type=common.WorkflowType(name=child.workflow_type),
    )
    if header is not None:
        attributes.header.CopyFrom(header)
    return attributes


async def notify_parent(engine: HistoryEngine, ref: TaskRef) -> None:
    """Outbox of a closed child: record its outcome in the parent, then forget the row."""
    entry = await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)
    child_state = entry.state
    link = child_state.parent
    if link is not None:
        close = history.HistoryEvent.FromString(entry.events[child_state.close_event_id - 1])
        try:
            await _record_outcome(engine, link, child_state, close)
        except NotFound:
            pass  # the parent is gone
    await _drop_row(engine, ref, "notify_parent")


async def _record_outcome(
    engine: HistoryEngine, link: ParentInfo, child_state: ExecutionState, close: history.HistoryEvent
) -> None:
    """Record the outcome in the parent run, or, if a reset replaced that run, in the run that replaced it
    (it kept the child: the real server delivers there too)."""
    run_id: str | None = link.run_id
    for _ in range(_RESETS_FOLLOWED):
        if run_id is None:
            return
        run_id = await _record_outcome_in(engine, link, run_id, child_state, close)


# How many resets of a parent an outcome follows before giving up (each reset run names the next).
_RESETS_FOLLOWED = 20


async def _record_outcome_in(
    engine: HistoryEngine,
    link: ParentInfo,
    run_id: str,
    child_state: ExecutionState,
    close: history.HistoryEvent,
) -> str | None:
    """Record the outcome in one parent run; the run to try next if a reset replaced this one."""
    async with engine.update_execution(link.namespace_id, link.workflow_id, run_id) as ctx:
        if not ctx.state.running and ctx.state.reset_run_id:
            return ctx.state.reset_run_id
        child = ctx.state.children.get(link.initiated_event_id)
        if not ctx.state.running or child is None:
            return None  # recorded already, or nobody is waiting any more
        if not child.run_id:
            # The child finished before its start was recorded (a crash in between): record both.
            child.run_id = child_state.first_run_id
            event = ctx.append_or_buffer(
                ET.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED, _started_attributes(ctx.state, child, None)
            )
            child.started_event_id = event.event_id
        event_type, outcome_type = _OUTCOMES[close.event_type]
        outcome = outcome_type(
            namespace=ctx.state.namespace_name,
            namespace_id=ctx.state.namespace_id,
            # The run that closed: after continue-as-new, the last of the chain.
            workflow_execution=common.WorkflowExecution(
                workflow_id=child.workflow_id, run_id=child_state.run_id
            ),
            workflow_type=common.WorkflowType(name=child.workflow_type),
            initiated_event_id=child.initiated_event_id,
            started_event_id=child.started_event_id,
        )
        _copy_result(close, outcome)
        del ctx.state.children[child.initiated_event_id]
        ctx.append_or_buffer(event_type, outcome)
        request_workflow_task(engine, ctx)
    return None


def _copy_result(close: history.HistoryEvent, outcome: Message) -> None:
    """The child's result, failure, details or retry state, as the parent's event carries them."""
    which = close.WhichOneof("attributes")
    if which is None:
        return
    source = getattr(close, which)
    for name in ("result", "failure", "details", "retry_state"):
        if name in outcome.DESCRIPTOR.fields_by_name and name in source.DESCRIPTOR.fields_by_name:
            value = getattr(source, name)
            if isinstance(value, Message):
                if source.HasField(name):
                    getattr(outcome, name).CopyFrom(value)
            else:
                setattr(outcome, name, value)


async def apply_parent_close_policy(engine: HistoryEngine, ref: TaskRef, initiated_event_id: int) -> None:
    """Outbox of a closed parent: terminate or cancel a child it left running, as its policy says."""
    parent = (await engine.load(ref.namespace_id, ref.workflow_id, ref.run_id)).state
    child = parent.children.get(initiated_event_id)
    if child is not None and child.run_id:
        try:
            if child.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_TERMINATE:
                await terminate_workflow(
                    engine,
                    ref.namespace_id,
                    child.workflow_id,
                    "",
                    "by parent close policy",
                    None,
                    SERVER_IDENTITY,
                )
            elif child.parent_close_policy == ParentClosePolicy.PARENT_CLOSE_POLICY_REQUEST_CANCEL:
                parent_execution = common.WorkflowExecution(workflow_id=ref.workflow_id, run_id=ref.run_id)
                await request_cancel_workflow(
                    engine,
                    ref.namespace_id,
                    child.workflow_id,
                    "",
                    SERVER_IDENTITY,
                    "",
                    external=(0, parent_execution),
                )
        except NotFound:
            pass  # already closed
    await _drop_row(engine, ref, f"parent_closed/{initiated_event_id}")


async def _drop_row(engine: HistoryEngine, ref: TaskRef, key: str) -> None:
    async with engine.update_execution(ref.namespace_id, ref.workflow_id, ref.run_id) as ctx:
        ctx.delete_task(key)
