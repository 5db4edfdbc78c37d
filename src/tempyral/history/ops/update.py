"""UpdateWorkflowExecution and PollWorkflowExecutionUpdate, and the update protocol messages of a workflow
task: requests go out in the poll response, acceptances, rejections and responses come back with the
completion.

An update that finds no workflow task pending gets a speculative one: if the workflow rejects every update
it carried (and does nothing else), that task leaves no trace in history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import any_pb2
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.protocol.v1 import message_pb2 as protocol
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import InvalidArgument, NotFound, ServiceError
from tempyral.history.engine import HistoryEngine
from tempyral.history.execution import ExecutionContext
from tempyral.history.links import update_link
from tempyral.history.mutable_state import WorkflowTaskInfo
from tempyral.history.ops.start_workflow import start_workflow
from tempyral.history.ops.workflow_task_schedule import schedule_workflow_task
from tempyral.history.updates import (
    ACCEPTED,
    ADMITTED,
    CLOSED_BEFORE_COMPLETION,
    COMPLETED,
    ExecutionKey,
    PendingUpdate,
)
from tempyral.namespaces import Namespace


@dataclass
class _Admission:
    """Where an update request stands once the run has seen it."""

    key: ExecutionKey
    namespace_name: str
    # Still to be decided by the workflow; None when `decided` already holds the answer.
    pending: PendingUpdate | None
    decided: wsr.UpdateWorkflowExecutionResponse | None = None
    # First time this update id reached the run (not a retry of one it knows).
    new: bool = False


async def update_workflow(
    engine: HistoryEngine, namespace_id: str, request: wsr.UpdateWorkflowExecutionRequest, max_wait: float
) -> wsr.UpdateWorkflowExecutionResponse:
    admission = await _admit(engine, namespace_id, request)
    return await _answer(admission, request, max_wait, with_link=True)


async def _admit(
    engine: HistoryEngine, namespace_id: str, request: wsr.UpdateWorkflowExecutionRequest
) -> _Admission:
    """Admit the update to its run (a known id joins the first), giving it a workflow task to ride."""
    execution = request.workflow_execution
    update_id = request.request.meta.update_id
    run_id = await engine.resolve_run_id(namespace_id, execution.workflow_id, execution.run_id)
    key = (namespace_id, execution.workflow_id, run_id)
    async with engine.update_execution(*key) as ctx:
        state = ctx.state
        admission = _Admission(key, state.namespace_name, None)
        if request.first_execution_run_id and request.first_execution_run_id != state.first_run_id:
            raise NotFound("workflow execution not found")
        if update_id in state.completed_updates:
            outcome = _recorded_outcome(ctx.history, state.completed_updates[update_id])
            admission.decided = _response(key, update_id, COMPLETED, outcome)
        elif not state.running:
            if update_id not in state.accepted_updates:
                raise NotFound("workflow execution already completed")
            admission.decided = _response(key, update_id, COMPLETED, CLOSED_BEFORE_COMPLETION)
        else:
            admission.new = (
                engine.updates.get(key, update_id) is None and update_id not in state.accepted_updates
            )
            admission.pending = _pending(engine, key, update_id, state.accepted_updates, request.request)
            if admission.pending.stage == ADMITTED and state.workflow_task is None:
                schedule_workflow_task(engine, ctx, speculative=True)
    return admission


async def _answer(
    admission: _Admission, request: wsr.UpdateWorkflowExecutionRequest, max_wait: float, with_link: bool
) -> wsr.UpdateWorkflowExecutionResponse:
    """The response once the update reached the stage the caller waits for (or `max_wait` passed)."""
    pending = admission.pending
    if pending is None:
        assert admission.decided is not None
        response = admission.decided
        rejected = False
    else:
        await pending.wait_for(request.wait_policy.lifecycle_stage or COMPLETED, max_wait)
        response = _response(admission.key, request.request.meta.update_id, pending.stage, pending.outcome)
        rejected = pending.rejected
    if with_link and response.stage >= ACCEPTED:
        response.link.CopyFrom(update_link(admission.namespace_name, *admission.key[1:], rejected))
    return response


async def poll_update(
    engine: HistoryEngine, namespace_id: str, request: wsr.PollWorkflowExecutionUpdateRequest, max_wait: float
) -> wsr.PollWorkflowExecutionUpdateResponse:
    execution = request.update_ref.workflow_execution
    update_id = request.update_ref.update_id
    run_id = await engine.resolve_run_id(namespace_id, execution.workflow_id, execution.run_id)
    key = (namespace_id, execution.workflow_id, run_id)
    entry = await engine.load(*key)
    if update_id in entry.state.completed_updates:
        outcome = _recorded_outcome(entry.events, entry.state.completed_updates[update_id])
        return wsr.PollWorkflowExecutionUpdateResponse(
            outcome=outcome,
            stage=COMPLETED,
            update_ref=_ref(key, update_id),  # type: ignore[arg-type]
        )
    if update_id in entry.state.accepted_updates and not entry.state.running:
        return wsr.PollWorkflowExecutionUpdateResponse(
            outcome=CLOSED_BEFORE_COMPLETION,
            stage=COMPLETED,
            update_ref=_ref(key, update_id),  # type: ignore[arg-type]
        )
    pending = engine.updates.get(key, update_id)
    if pending is None and update_id in entry.state.accepted_updates and entry.state.running:
        pending = _pending(engine, key, update_id, entry.state.accepted_updates, update_pb.Request())
    if pending is None:
        raise NotFound(f'update "{update_id}" not found')
    # Unspecified (or admitted) means "tell me where it is now".
    await pending.wait_for(request.wait_policy.lifecycle_stage or ADMITTED, max_wait)
    return wsr.PollWorkflowExecutionUpdateResponse(
        outcome=pending.outcome,
        stage=pending.stage,  # type: ignore[arg-type]
        update_ref=_ref(key, update_id),
    )


def _pending(
    engine: HistoryEngine,
    key: tuple[str, str, str],
    update_id: str,
    accepted: dict[str, int],
    request: update_pb.Request,
) -> PendingUpdate:
    """The in-memory record of an update, admitting it if it is new (a repeated id joins the first)."""
    found = engine.updates.get(key, update_id)
    if found is not None:
        return found
    stage = ACCEPTED if update_id in accepted else ADMITTED
    return engine.updates.add(key, update_id, PendingUpdate(request=request, stage=stage))


def _ref(key: tuple[str, str, str], update_id: str) -> update_pb.UpdateRef:
    return update_pb.UpdateRef(
        workflow_execution=common.WorkflowExecution(workflow_id=key[1], run_id=key[2]), update_id=update_id
    )


def _response(
    key: tuple[str, str, str], update_id: str, stage: int, outcome: update_pb.Outcome | None
) -> wsr.UpdateWorkflowExecutionResponse:
    return wsr.UpdateWorkflowExecutionResponse(
        update_ref=_ref(key, update_id),
        outcome=outcome,
        stage=stage,  # type: ignore[arg-type]
    )


def _recorded_outcome(events: list[bytes], completed_event_id: int) -> update_pb.Outcome:
    event = history.HistoryEvent.FromString(events[completed_event_id - 1])
    return event.workflow_execution_update_completed_event_attributes.outcome


# -- inside workflow tasks ----------------------------------------------------------------------------


def request_messages(
    engine: HistoryEngine, key: tuple[str, str, str], task: WorkflowTaskInfo
) -> list[protocol.Message]:
    """The update requests a starting workflow task carries."""
    messages = []
    for pending in engine.updates.admitted(key):
        body = any_pb2.Any()
        body.Pack(pending.request)
        update_id = pending.request.meta.update_id
        messages.append(
            protocol.Message(
                id=f"{update_id}/request",
                protocol_instance_id=update_id,
                event_id=task.scheduled_event_id,
                body=body,
            )
        )
    return messages


def apply_message(engine: HistoryEngine, ctx: ExecutionContext, message: protocol.Message) -> None:
    """An acceptance, rejection or response from the worker."""
    state = ctx.state
    key = (state.namespace_id, state.workflow_id, state.run_id)
    update_id = message.protocol_instance_id
    pending = engine.updates.get(key, update_id)
    if message.body.Is(update_pb.Acceptance.DESCRIPTOR):
        acceptance = update_pb.Acceptance()
        message.body.Unpack(acceptance)
        event = ctx.append(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
            history.WorkflowExecutionUpdateAcceptedEventAttributes(
                protocol_instance_id=update_id,
                accepted_request_message_id=acceptance.accepted_request_message_id,
                accepted_request_sequencing_event_id=acceptance.accepted_request_sequencing_event_id,
                accepted_request=acceptance.accepted_request,
            ),
        )
        state.accepted_updates[update_id] = event.event_id
        if pending is not None:
            ctx.after_commit.append(lambda: pending.advance(ACCEPTED))
    elif message.body.Is(update_pb.Rejection.DESCRIPTOR):
        rejection = update_pb.Rejection()
        message.body.Unpack(rejection)
        outcome = update_pb.Outcome(failure=rejection.failure)

        def reject() -> None:
            engine.updates.discard(key, update_id)
            if pending is not None:
                pending.rejected = True
                pending.advance(COMPLETED, outcome)

        ctx.after_commit.append(reject)
    elif message.body.Is(update_pb.Response.DESCRIPTOR):
        response = update_pb.Response()
        message.body.Unpack(response)
        event = ctx.append(
            ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
            history.WorkflowExecutionUpdateCompletedEventAttributes(
                meta=response.meta,
                accepted_event_id=state.accepted_updates.get(update_id, 0),
                outcome=response.outcome,
            ),
        )
        state.completed_updates[update_id] = event.event_id

        def complete() -> None:
            engine.updates.discard(key, update_id)
            if pending is not None:
                pending.advance(COMPLETED, response.outcome)

        ctx.after_commit.append(complete)
    else:
        raise InvalidArgument(f"unknown protocol message body {message.body.type_url}")


def only_rejections(messages: Iterable[protocol.Message]) -> bool:
    return all(message.body.Is(update_pb.Rejection.DESCRIPTOR) for message in messages)


class OperationFailed(Exception):
    """One operation of update-with-start failed: `index` 0 is the start, 1 the update."""

    def __init__(self, index: int, error: ServiceError) -> None:
        super().__init__(error.message)
        self.index = index
        self.error = error


async def update_with_start(
    engine: HistoryEngine,
    namespace: Namespace,
    start: wsr.StartWorkflowExecutionRequest,
    update: wsr.UpdateWorkflowExecutionRequest,
    max_wait: float,
) -> tuple[wsr.StartWorkflowExecutionResponse, wsr.UpdateWorkflowExecutionResponse]:
    """Start the workflow (or, as its conflict policy allows, keep the running one) and update it. A new
    run is created with the update already admitted, so its first workflow task carries it.

    An update id the current run already knows (running or closed) is a retry: the real server answers it
    from that run whatever the conflict policy, and starts nothing."""
    known = await _run_knowing(engine, namespace.id, start.workflow_id, update.request.meta.update_id)
    if known is not None:
        return await _known_update(engine, namespace, known, update, max_wait)
    update_id = update.request.meta.update_id
    created: list[PendingUpdate] = []

    def admit(ctx: ExecutionContext) -> None:
        key = (ctx.state.namespace_id, ctx.state.workflow_id, ctx.state.run_id)
        created.append(engine.updates.add(key, update_id, PendingUpdate(request=update.request)))

    try:
        started = await start_workflow(engine, namespace, start, first_events=admit)
    except ServiceError as err:
        raise OperationFailed(0, err) from err
    key = (namespace.id, start.workflow_id, started.run_id)
    update.workflow_execution.run_id = started.run_id
    try:
        if created:
            admission = _Admission(key, namespace.name, created[0], new=True)
            return started, await _answer(admission, update, max_wait, with_link=True)
        admission = await _admit(engine, namespace.id, update)
        answered = await _answer(admission, update, max_wait, with_link=admission.new)
    except ServiceError as err:
        raise OperationFailed(1, err) from err
    # The run was there already: the real server names just the run (and links it only when this update
    # is new to it).
    kept = wsr.StartWorkflowExecutionResponse(run_id=started.run_id, status=started.status)
    if admission.new:
        kept.link.CopyFrom(started.link)
    return kept, answered


async def _run_knowing(
    engine: HistoryEngine, namespace_id: str, workflow_id: str, update_id: str
) -> str | None:
    """The current run of `workflow_id` if it has seen `update_id` (admitted, accepted or completed)."""
    run_id = await engine.current_run_id(namespace_id, workflow_id)
    if run_id is None:
        return None
    state = (await engine.load(namespace_id, workflow_id, run_id)).state
    seen = update_id in state.completed_updates or update_id in state.accepted_updates
    if seen or engine.updates.get((namespace_id, workflow_id, run_id), update_id) is not None:
        return run_id
    return None


async def _known_update(
    engine: HistoryEngine,
    namespace: Namespace,
    run_id: str,
    update: wsr.UpdateWorkflowExecutionRequest,
    max_wait: float,
) -> tuple[wsr.StartWorkflowExecutionResponse, wsr.UpdateWorkflowExecutionResponse]:
    update.workflow_execution.run_id = run_id
    try:
        admission = await _admit(engine, namespace.id, update)
        answered = await _answer(admission, update, max_wait, with_link=False)
    except ServiceError as err:
        raise OperationFailed(1, err) from err
    state = (await engine.load(*admission.key)).state
    return wsr.StartWorkflowExecutionResponse(run_id=run_id, status=state.status), answered  # type: ignore[arg-type]
