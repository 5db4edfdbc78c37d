"""StartWorkflowExecution: request-id idempotency, ID reuse and conflict policies, timeouts, start delay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import (
    ContinueAsNewInitiator,
    TaskQueueKind,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
)
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.enums.v1 import workflow_pb2 as WS  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.durations import checked_seconds, seconds_of, to_duration
from tempyral.errors import WorkflowAlreadyStarted
from tempyral.history import cron, retry
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.links import options_updated_link, started_event_link
from tempyral.history.mutable_state import ExecutionState, ParentInfo
from tempyral.history.ops.cancel_terminate import terminate_workflow
from tempyral.history.ops.close_workflow import SERVER_IDENTITY
from tempyral.history.ops.workflow_task_schedule import schedule_workflow_task
from tempyral.history.proto_presence import copy_nonempty, copy_present, present
from tempyral.namespaces import Namespace

Reuse = WorkflowIdReusePolicy
Conflict = WorkflowIdConflictPolicy

_FAILED_STATUSES = {
    WS.WORKFLOW_EXECUTION_STATUS_FAILED,
    WS.WORKFLOW_EXECUTION_STATUS_CANCELED,
    WS.WORKFLOW_EXECUTION_STATUS_TERMINATED,
    WS.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
}


# Adds events to a new run right after WORKFLOW_EXECUTION_STARTED (signal-with-start's signal).
FirstEvents = Callable[[ExecutionContext], None]


async def start_workflow(
    engine: HistoryEngine,
    namespace: Namespace,
    request: wsr.StartWorkflowExecutionRequest,
    first_events: FirstEvents | None = None,
    use_existing: Callable[[ExecutionState], Awaitable[None]] | None = None,
    parent: ParentInfo | None = None,
) -> wsr.StartWorkflowExecutionResponse:
    """Start a run. When a run is already open and the conflict policy keeps it, `use_existing` (if given)
    is applied to it, as signal-with-start signals the running workflow."""
    new_run_id = str(uuid.uuid4())
    async with engine.workflow_id_lock(namespace.id, request.workflow_id):
        current_run_id = await engine.current_run_id(namespace.id, request.workflow_id)
        if current_run_id is not None:
            existing = (await engine.load(namespace.id, request.workflow_id, current_run_id)).state
            if request.request_id and existing.start_request_id == request.request_id:
                return wsr.StartWorkflowExecutionResponse(
                    run_id=current_run_id,
                    first_execution_run_id=existing.first_run_id,
                    started=True,
                    status=existing.status,  # type: ignore[arg-type]
                    link=started_event_link(namespace.name, request.workflow_id, current_run_id),
                )
            if existing.running:
                if not await _resolve_conflict(engine, request, existing, new_run_id):
                    if use_existing is not None:
                        await use_existing(existing)
                    return wsr.StartWorkflowExecutionResponse(
                        run_id=current_run_id,
                        first_execution_run_id=existing.first_run_id,
                        started=False,
                        status=existing.status,  # type: ignore[arg-type]
                        link=await _attach_on_conflict(engine, namespace.name, request, existing),
                    )
            else:
                _check_reuse_policy(request, existing)
        return await _create_run(engine, namespace, request, new_run_id, first_events, parent)


async def _resolve_conflict(
    engine: HistoryEngine,
    request: wsr.StartWorkflowExecutionRequest,
    existing: ExecutionState,
    new_run_id: str,
) -> bool:
    """A run with this id is open. True: start a new run anyway; False: use the existing one."""
    policy = request.workflow_id_conflict_policy
    if request.workflow_id_reuse_policy == Reuse.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING:
        policy = Conflict.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING
    if policy == Conflict.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING:
        return False
    if policy == Conflict.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING:
        await terminate_workflow(
            engine,
            existing.namespace_id,
            existing.workflow_id,
            existing.run_id,
            # What the real server writes, whichever policy asked for it.
            reason="TerminateIfRunning WorkflowIdReusePolicy",
            details=common.Payloads(
                payloads=[
                    common.Payload(
                        metadata={"encoding": b"json/plain"},
                        data=json.dumps(f"terminated by new runID: {new_run_id}").encode(),
                    )
                ]
            ),
            identity=SERVER_IDENTITY,
        )
        return True
    raise WorkflowAlreadyStarted(
        "Workflow execution is already running. "
        f"WorkflowId: {existing.workflow_id}, RunId: {existing.run_id}.",
        existing.start_request_id,
        existing.run_id,
        existing.first_run_id,
    )


async def _attach_on_conflict(
    engine: HistoryEngine,
    namespace_name: str,
    request: wsr.StartWorkflowExecutionRequest,
    existing: ExecutionState,
) -> common.Link:
    """A start that keeps the running run: with on_conflict_options (even empty ones), the real server
    records what the caller asked to attach (request id, completion callbacks, links) in a
    WORKFLOW_EXECUTION_OPTIONS_UPDATED event, and links the response to it when the request id is
    attached; otherwise to the run's started event."""
    link = started_event_link(namespace_name, existing.workflow_id, existing.run_id)
    if not request.HasField("on_conflict_options"):
        return link
    options = request.on_conflict_options
    attributes = history.WorkflowExecutionOptionsUpdatedEventAttributes()
    if options.attach_request_id:
        attributes.attached_request_id = request.request_id
    if options.attach_completion_callbacks:
        attributes.attached_completion_callbacks.extend(request.completion_callbacks)
    attached_link = options_updated_link(
        namespace_name, existing.workflow_id, existing.run_id, request.request_id
    )
    async with engine.update_execution(existing.namespace_id, existing.workflow_id, existing.run_id) as ctx:
        if options.attach_request_id and _attached(ctx, request.request_id):
            return attached_link  # a retry: recorded already
        # Like any event from outside, it waits for a running workflow task to finish.
        links = request.links if options.attach_links else ()
        ctx.append_or_buffer(ET.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED, attributes, links)
    return attached_link if options.attach_request_id else link


def _attached(ctx: ExecutionContext, request_id: str) -> bool:
    """Whether an OPTIONS_UPDATED event of the run (written or waiting) attached `request_id` already."""
    needle = request_id.encode()
    for raw in [*ctx.history, *ctx.state.buffered_events]:
        if needle not in raw:  # cheap: most events cannot match
            continue
        event = history.HistoryEvent.FromString(raw)
        attributes = event.workflow_execution_options_updated_event_attributes
        if event.event_type == ET.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED and (
            attributes.attached_request_id == request_id
        ):
            return True
    return False


def _check_reuse_policy(request: wsr.StartWorkflowExecutionRequest, existing: ExecutionState) -> None:
    policy = request.workflow_id_reuse_policy
    ids = f"WorkflowId: {existing.workflow_id}, RunId: {existing.run_id}."
    if policy == Reuse.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE:
        raise WorkflowAlreadyStarted(
            f"Workflow execution already finished. {ids} "
            "Workflow Id reuse policy: reject duplicate workflow Id.",
            existing.start_request_id,
            existing.run_id,
            existing.first_run_id,
        )
    if (
        policy == Reuse.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY
        and existing.status not in _FAILED_STATUSES
    ):
        raise WorkflowAlreadyStarted(
            f"Workflow execution already finished successfully. {ids} "
            "Workflow Id reuse policy: allow duplicate workflow Id if last run failed.",
            existing.start_request_id,
            existing.run_id,
            existing.first_run_id,
        )


def workflow_timeouts(
    engine: HistoryEngine, request: wsr.StartWorkflowExecutionRequest
) -> tuple[float, float, float]:
    """(execution, run, task) timeouts, defaulted and capped the way Temporal does."""
    execution = checked_seconds(request.workflow_execution_timeout, "WorkflowExecutionTimeout")
    run = checked_seconds(request.workflow_run_timeout, "WorkflowRunTimeout")
    task = checked_seconds(request.workflow_task_timeout, "WorkflowTaskTimeout")
    if run <= 0 or (execution > 0 and run > execution):
        run = execution
    if task <= 0:
        task = engine.dynamic.get_seconds("system.defaultWorkflowTaskTimeout")
    task = min(task, engine.dynamic.get_seconds("system.maxWorkflowTaskTimeout"))
    if run > 0:
        task = min(task, run)
    return execution, run, task


async def _create_run(
    engine: HistoryEngine,
    namespace: Namespace,
    request: wsr.StartWorkflowExecutionRequest,
    run_id: str,
    first_events: FirstEvents | None,
    parent: ParentInfo | None = None,
) -> wsr.StartWorkflowExecutionResponse:
    now = engine.clock.now()
    execution_timeout, run_timeout, task_timeout = workflow_timeouts(engine, request)
    delay = checked_seconds(request.workflow_start_delay, "WorkflowStartDelay")
    if request.cron_schedule:
        # The first run of a cron workflow waits for the schedule's next time.
        delay += cron.backoff_seconds(request.cron_schedule, now + delay)
    state = ExecutionState(
        namespace_id=namespace.id,
        workflow_id=request.workflow_id,
        run_id=run_id,
        workflow_type=request.workflow_type.name,
        task_queue=request.task_queue.name,
        start_time=now,
        first_run_id=run_id,
        execution_time=now + delay,
        execution_timeout=execution_timeout,
        run_timeout=run_timeout,
        task_timeout=task_timeout,
        execution_expiration_time=now + execution_timeout if execution_timeout > 0 else 0.0,
        start_request_id=request.request_id,
        memo=request.memo.SerializeToString(),
        search_attributes=request.search_attributes.SerializeToString(),
        retry_policy=retry.workflow_retry_policy(present(request, "retry_policy")),
        cron_schedule=request.cron_schedule,
        retention=seconds_of(namespace.record.config.workflow_execution_retention_ttl),
        namespace_name=namespace.name,
        parent=parent,
        root_workflow_id=request.workflow_id,
        root_run_id=run_id,
    )
    if parent is not None:
        root = (await engine.load(parent.namespace_id, parent.workflow_id, parent.run_id)).state
        state.root_workflow_id, state.root_run_id = root.root_workflow_id, root.root_run_id
    attributes = history.WorkflowExecutionStartedEventAttributes(
        workflow_type=request.workflow_type,
        task_queue=taskqueue.TaskQueue(
            name=request.task_queue.name, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        ),
        workflow_task_timeout=to_duration(task_timeout),
        original_execution_run_id=run_id,
        identity=request.identity,
        first_execution_run_id=run_id,
        attempt=1,
        cron_schedule=request.cron_schedule,
        workflow_id=request.workflow_id,
        first_workflow_task_backoff=to_duration(delay),
    )
    if request.cron_schedule:
        attributes.initiator = ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE
    copy_present(request, attributes, "input", "priority", "header")
    copy_nonempty(request, attributes, "memo", "search_attributes")
    # A timeout the request set, even to zero, is recorded; one it left out is not (as the real server does).
    if execution_timeout > 0 or request.HasField("workflow_execution_timeout"):
        attributes.workflow_execution_timeout.CopyFrom(to_duration(execution_timeout))
    if run_timeout > 0 or request.HasField("workflow_run_timeout"):
        attributes.workflow_run_timeout.CopyFrom(to_duration(run_timeout))
    if state.retry_policy is not None:
        attributes.retry_policy.CopyFrom(retry.to_proto(state.retry_policy))
    if parent is not None:
        set_parent_attributes(attributes, state, namespace.name)
    if execution_timeout > 0:
        attributes.workflow_execution_expiration_time.CopyFrom(to_timestamp(state.execution_expiration_time))
    async with engine.create_execution(state) as ctx:
        started = ctx.append(ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, attributes)
        if request.HasField("user_metadata"):
            started.user_metadata.CopyFrom(request.user_metadata)
        for link in request.links:
            started.links.append(link)
        if first_events is not None:
            first_events(ctx)
        if delay > 0:
            ctx.add_timer("wf_backoff", now + delay)
        else:
            schedule_workflow_task(engine, ctx)
        if run_timeout > 0:
            ctx.add_timer("wf_run_timeout", now + delay + run_timeout)
    return wsr.StartWorkflowExecutionResponse(
        run_id=run_id,
        first_execution_run_id=run_id,
        started=True,
        status=WS.WORKFLOW_EXECUTION_STATUS_RUNNING,
        link=started_event_link(namespace.name, request.workflow_id, run_id),
    )


def set_parent_attributes(
    attributes: history.WorkflowExecutionStartedEventAttributes, state: ExecutionState, parent_namespace: str
) -> None:
    """A child's started event names its parent and the root of its workflow tree."""
    parent = state.parent
    assert parent is not None
    attributes.parent_workflow_namespace = parent_namespace
    attributes.parent_workflow_namespace_id = parent.namespace_id
    attributes.parent_workflow_execution.workflow_id = parent.workflow_id
    attributes.parent_workflow_execution.run_id = parent.run_id
    attributes.parent_initiated_event_id = parent.initiated_event_id
    attributes.root_workflow_execution.workflow_id = state.root_workflow_id
    attributes.root_workflow_execution.run_id = state.root_run_id
