"""Shared plumbing for the activity tests: a fast-heartbeating worker, event readers, test activities."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import AsyncActivityHandle, Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tests.functional._activity_workflows import CallActivityWorkflow, CancelActivityWorkflow

# Heartbeats are throttled to 80% of the heartbeat timeout, or 30 s when none is set; a short cap makes a
# cancellation request reach a heartbeating activity within ~100 ms.
_THROTTLE = timedelta(milliseconds=100)
# Longest a cancelled Blocking activity holds back its acknowledgement, in seconds.
_HOLD_LIMIT = 10.0


def activity_worker(client: Client, task_queue: str, activities: Sequence[Callable[..., Any]]) -> Worker:
    """A worker running both test workflows and the given activities on `task_queue`."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CallActivityWorkflow, CancelActivityWorkflow],
        activities=activities,
        max_heartbeat_throttle_interval=_THROTTLE,
        default_heartbeat_throttle_interval=_THROTTLE,
    )


def event_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


async def history(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


def activity_events(events: Sequence[HistoryEvent]) -> list[HistoryEvent]:
    """Only the ACTIVITY_TASK_* events, in history order."""
    return [event for event in events if event_name(event).startswith("ACTIVITY_TASK_")]


def names(events: Sequence[HistoryEvent]) -> list[str]:
    return [event_name(event) for event in events]


def decode(payloads: Payloads) -> list[Any]:
    """Payloads written by the default converter (json/plain) back to Python values."""
    values: list[Any] = []
    for payload in payloads.payloads:
        assert payload.metadata["encoding"] == b"json/plain", payload.metadata
        values.append(json.loads(payload.data))
    return values


class Blocking:
    """A heartbeating activity that, once cancelled, holds its acknowledgement until the test releases it."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()
        self.release = asyncio.Event()
        self.heartbeats = 0

    @activity.defn(name="blocking")
    async def run(self) -> str:
        self.started.set()
        try:
            while True:
                activity.heartbeat(self.heartbeats)
                self.heartbeats += 1
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self.cancelled.set()
            # Bounded, so a test that fails before releasing cannot hang the worker's shutdown.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), _HOLD_LIMIT)
            raise


class External:
    """An activity that hands its task token to the test and leaves completion to someone else."""

    def __init__(self) -> None:
        self.tokens: asyncio.Queue[bytes] = asyncio.Queue()

    @activity.defn(name="external")
    async def run(self) -> str:
        await self.tokens.put(activity.info().task_token)
        activity.raise_complete_async()

    async def next_token(self) -> bytes:
        return await asyncio.wait_for(self.tokens.get(), 10)


def async_handle(
    client: Client, how: str, token: bytes, handle: WorkflowHandle[Any, Any]
) -> AsyncActivityHandle:
    """A handle on the run's activity "1", addressed by task token or by workflow/run/activity id."""
    if how == "token":
        return client.get_async_activity_handle(task_token=token)
    return client.get_async_activity_handle(
        workflow_id=handle.id, run_id=handle.result_run_id, activity_id="1"
    )


NOT_FOUND = (RPCStatusCode.NOT_FOUND, ["type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure"])


async def rpc_code(call: Awaitable[Any]) -> RPCStatusCode:
    """Just the gRPC code of a call that must fail."""
    return (await rpc_error(call))[0]


async def rpc_error(call: Awaitable[Any]) -> tuple[RPCStatusCode, list[str]]:
    """The gRPC code a call fails with, and the type of each error detail: SDKs branch on both."""
    with pytest.raises(RPCError) as caught:
        await call
    return caught.value.status, [detail.type_url for detail in caught.value.grpc_status.details]
