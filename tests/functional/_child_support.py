"""Helpers for the child- and external-workflow tests: a worker, histories, event attributes by type."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from tests.helpers.eventually import assert_eventually

from ._child_workflows import WORKFLOWS

TASK_EVENTS = {"WORKFLOW_TASK_SCHEDULED", "WORKFLOW_TASK_STARTED", "WORKFLOW_TASK_COMPLETED"}


def new_worker(client: Client, task_queue: str) -> Worker:
    """One worker runs parents, children and targets alike: children inherit the parent's task queue."""
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS)


async def history(
    client: Client, workflow_id: str, run_id: str | None = None
) -> list[history_pb.HistoryEvent]:
    return list((await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()).events)


def type_name(event: history_pb.HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def names(events: list[history_pb.HistoryEvent]) -> list[str]:
    return [type_name(event) for event in events]


def without_tasks(events: list[history_pb.HistoryEvent]) -> list[str]:
    """Event types minus the workflow-task bookkeeping, whose interleaving may vary with worker timing."""
    return [name for name in names(events) if name not in TASK_EVENTS]


def one(events: list[history_pb.HistoryEvent], name: str) -> tuple[int, Any]:
    """The event id and attributes of the only event of type `name`; fails if there is not exactly one."""
    found = [event for event in events if type_name(event) == name]
    assert len(found) == 1, f"{len(found)} {name} events in {names(events)}"
    event = found[0]
    attributes_field = event.WhichOneof("attributes")
    assert attributes_field is not None
    return event.event_id, getattr(event, attributes_field)


async def decode(payloads: common_pb.Payloads) -> list[Any]:
    return await decode_each(payloads.payloads)


async def decode_each(payloads: Iterable[common_pb.Payload]) -> list[Any]:
    return await DataConverter.default.decode(list(payloads))


async def namespace_id(client: Client, namespace: str = "default") -> str:
    response = await client.workflow_service.describe_namespace(
        wsr.DescribeNamespaceRequest(namespace=namespace)
    )
    return str(response.namespace_info.id)


async def wait_for_status(
    client: Client, workflow_id: str, status: WorkflowExecutionStatus, run_id: str | None = None
) -> None:
    async def reached() -> None:
        assert (await client.get_workflow_handle(workflow_id, run_id=run_id).describe()).status == status

    await assert_eventually(reached)


async def wait_for_event(client: Client, workflow_id: str, name: str) -> None:
    async def appended() -> None:
        assert name in names(await history(client, workflow_id))

    await assert_eventually(appended)
