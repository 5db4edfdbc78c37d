"""The frame a differential scenario runs in: fresh names, a worker, raw gRPC access, and what it records.

A scenario is an async function of a `Ctx`. It drives one or more workflows on one server and records
(a) the workflows whose histories must be compared (`ctx.track`) and (b) notes: client-visible outcomes and
raw RPC answers (`ctx.note`). `run_scenario` then fetches and normalizes every tracked history.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from google.rpc import status_pb2
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.errordetails.v1 import message_pb2 as _errordetails  # noqa: F401  (registers detail types)
from temporalio.api.failure.v1 import message_pb2 as _failure  # noqa: F401
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.api.workflowservice.v1 import service_pb2_grpc
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from tests.differential.composition_workflows import COMPOSITION_ACTIVITIES, COMPOSITION_WORKFLOWS
from tests.differential.normalize import Names, mask, normalize_history, to_plain
from tests.differential.workflows import ALL_ACTIVITIES, ALL_WORKFLOWS
from tests.helpers.eventually import assert_eventually

NAMESPACE = "default"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class ScenarioResult:
    """What one scenario produced on one server, already normalized."""

    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ctx:
    client: Client
    address: str
    stub: service_pb2_grpc.WorkflowServiceStub
    task_queue: str
    workflow_id: str
    names: Names
    result: ScenarioResult = field(default_factory=ScenarioResult)
    tracked: dict[str, tuple[str, str]] = field(default_factory=dict)

    def wf_id(self, suffix: str = "") -> str:
        return self.workflow_id + suffix

    def track(self, label: str, workflow_id: str, run_id: str | None) -> None:
        self.tracked[label] = (workflow_id, run_id or "")

    def track_handle(self, handle: WorkflowHandle[Any, Any], label: str = "main") -> None:
        self.track(label, handle.id, handle.result_run_id or handle.run_id)

    def note(self, key: str, value: Any) -> None:
        """Record a plain value or proto, masked the same way as histories."""
        if isinstance(value, Message):
            value = to_plain(value)
        self.result.notes[key] = scrub(mask(value, self.names))

    @contextlib.asynccontextmanager
    async def worker(self, task_queue: str | None = None) -> AsyncIterator[Worker]:
        async with Worker(
            self.client,
            task_queue=task_queue or self.task_queue,
            workflows=[*ALL_WORKFLOWS, *COMPOSITION_WORKFLOWS],
            activities=[*ALL_ACTIVITIES, *COMPOSITION_ACTIVITIES],
        ) as worker:
            yield worker

    # ---- raw gRPC helpers

    async def poll_workflow_task(self, task_queue: str | None = None) -> wsr.PollWorkflowTaskQueueResponse:
        response: wsr.PollWorkflowTaskQueueResponse = await self.stub.PollWorkflowTaskQueue(
            wsr.PollWorkflowTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=TaskQueue(name=task_queue or self.task_queue, kind=1),
                identity="raw-poller",
            ),
            timeout=30,
        )
        return response

    async def poll_activity_task(self, task_queue: str | None = None) -> wsr.PollActivityTaskQueueResponse:
        response: wsr.PollActivityTaskQueueResponse = await self.stub.PollActivityTaskQueue(
            wsr.PollActivityTaskQueueRequest(
                namespace=NAMESPACE,
                task_queue=TaskQueue(name=task_queue or self.task_queue, kind=1),
                identity="raw-poller",
            ),
            timeout=30,
        )
        return response

    async def call(
        self, key: str, rpc: Callable[..., Awaitable[Message]], request: Message, timeout: float = 15
    ) -> Message | None:
        """Make a raw RPC and note either its response or its error (code, message, detail types)."""
        try:
            response = await rpc(request, timeout=timeout)
        except grpc.aio.AioRpcError as err:
            self.note(key, rpc_error(err))
            return None
        self.note(key, {"ok": to_plain(response)})
        return response


def scrub(value: Any) -> Any:
    """Replace UUIDs (run ids inside error messages) with a marker."""
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return _UUID.sub("<uuid>", value)
    return value


def rpc_error(err: grpc.aio.AioRpcError) -> dict[str, Any]:
    """A gRPC error as code, message and the decoded google.rpc.Status details."""
    details: list[Any] = []
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)  # type: ignore[arg-type]
        for detail in status.details:
            type_name = detail.type_url.rsplit("/", 1)[-1]
            try:
                descriptor = descriptor_pool.Default().FindMessageTypeByName(type_name)
                decoded = message_factory.GetMessageClass(descriptor).FromString(detail.value)
                details.append({type_name: to_plain(decoded)})
            except KeyError:
                details.append({type_name: "<unknown type>"})
    code = err.code()
    return {"error": code.name if code is not None else "?", "message": err.details(), "details": details}


def json_payloads(*values: str) -> Payloads:
    return Payloads(
        payloads=[
            Payload(metadata={"encoding": b"json/plain"}, data=f'"{value}"'.encode()) for value in values
        ]
    )


def execution(workflow_id: str, run_id: str = "") -> WorkflowExecution:
    return WorkflowExecution(workflow_id=workflow_id, run_id=run_id)


async def outcome(handle: WorkflowHandle[Any, Any]) -> str:
    """The client-visible end of a workflow: its result, or the failure chain's types and messages."""
    try:
        return f"result: {await asyncio.wait_for(handle.result(), 60)!r}"
    except WorkflowFailureError as err:
        chain: list[str] = []
        cause: BaseException | None = err.cause
        while cause is not None:
            chain.append(f"{type(cause).__name__}({cause})")
            cause = cause.__cause__
        return "failed: " + " <- ".join(chain)


async def wait_activity_started(handle: WorkflowHandle[Any, Any]) -> None:
    async def check() -> None:
        description = await handle.describe()
        pending = description.raw_description.pending_activities
        assert pending, "no pending activity yet"
        assert pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED, pending[0].state

    await assert_eventually(check, timeout=20)


async def wait_for_event(handle: WorkflowHandle[Any, Any], event_type: int, count: int = 1) -> None:
    """Wait until the history holds `count` events of `event_type`."""

    async def check() -> None:
        history = await handle.fetch_history()
        assert sum(event.event_type == event_type for event in history.events) >= count

    await assert_eventually(check, timeout=20)


ScenarioFn = Callable[[Ctx], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: ScenarioFn


async def run_scenario(client: Client, address: str, scenario: Scenario) -> ScenarioResult:
    """Run one scenario with fresh names on the server behind `client`, and normalize what it tracked."""
    token = uuid.uuid4().hex[:10]
    task_queue, workflow_id = f"tq-{token}", f"wf-{token}"
    # The SDK's worker and client share one identity ("pid@host"); raw pollers call themselves "raw-poller".
    names = Names({task_queue: "<tq>", workflow_id: "<wf>", client.identity: "<sdk-identity>"})
    async with grpc.aio.insecure_channel(address) as channel:
        ctx = Ctx(
            client=client,
            address=address,
            stub=service_pb2_grpc.WorkflowServiceStub(channel),
            task_queue=task_queue,
            workflow_id=workflow_id,
            names=names,
        )
        await scenario.run(ctx)
        for label, (wf_id, run_id) in ctx.tracked.items():
            history = await client.get_workflow_handle(wf_id, run_id=run_id or None).fetch_history()
            ctx.result.histories[label] = normalize_history(list(history.events), names)
    return ctx.result
