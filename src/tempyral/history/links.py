"""The links responses carry, to where the real server says a request's effect was recorded.

Links name an event of a run, either by id (a run's STARTED event is always event 1) or by the request id
that caused it; a rejected update has no event and links to the run itself with a reason.
"""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper

_REJECTED_UPDATE = "Update rejected"


def started_event_link(namespace: str, workflow_id: str, run_id: str) -> common.Link:
    """Start responses: the run's WORKFLOW_EXECUTION_STARTED event."""
    reference = common.Link.WorkflowEvent.EventReference(
        event_id=1, event_type=ET.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    )
    return _event_link(namespace, workflow_id, run_id, event_ref=reference)


def request_link(
    namespace: str, workflow_id: str, run_id: str, request_id: str, event_type: int
) -> common.Link:
    """The event a request caused, named by the request's id (empty if it had none)."""
    reference = common.Link.WorkflowEvent.RequestIdReference(
        request_id=request_id,
        event_type=event_type,  # type: ignore[arg-type]
    )
    return _event_link(namespace, workflow_id, run_id, request_id_ref=reference)


def signaled_link(namespace: str, workflow_id: str, run_id: str, request_id: str) -> common.Link:
    return request_link(namespace, workflow_id, run_id, request_id, ET.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


def options_updated_link(namespace: str, workflow_id: str, run_id: str, request_id: str) -> common.Link:
    return request_link(
        namespace, workflow_id, run_id, request_id, ET.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED
    )


def update_link(namespace: str, workflow_id: str, run_id: str, rejected: bool) -> common.Link:
    """An accepted update: the run's UPDATE_ACCEPTED events; a rejected one (no event): the run itself."""
    if rejected:
        return common.Link(
            workflow=common.Link.Workflow(
                namespace=namespace, workflow_id=workflow_id, run_id=run_id, reason=_REJECTED_UPDATE
            )
        )
    return request_link(namespace, workflow_id, run_id, "", ET.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)


def _event_link(
    namespace: str,
    workflow_id: str,
    run_id: str,
    event_ref: common.Link.WorkflowEvent.EventReference | None = None,
    request_id_ref: common.Link.WorkflowEvent.RequestIdReference | None = None,
) -> common.Link:
    return common.Link(
        workflow_event=common.Link.WorkflowEvent(
            namespace=namespace,
            workflow_id=workflow_id,
            run_id=run_id,
            event_ref=event_ref,
            request_id_ref=request_id_ref,
        )
    )
