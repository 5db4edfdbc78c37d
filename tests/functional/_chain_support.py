"""Read every run of a workflow chain (continue-as-new, retry, cron) and the attributes tests compare."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import message_pb2 as history_pb
from temporalio.client import Client
from temporalio.converter import DataConverter


@dataclass
class Run:
    """One run of a chain: its id and its full history."""

    run_id: str
    events: list[history_pb.HistoryEvent]

    @property
    def names(self) -> list[str]:
        return [EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in self.events]

    @property
    def started(self) -> history_pb.WorkflowExecutionStartedEventAttributes:
        first = self.events[0]
        assert first.HasField("workflow_execution_started_event_attributes"), self.names
        return first.workflow_execution_started_event_attributes

    @property
    def start_time(self) -> datetime:
        return self.events[0].event_time.ToDatetime()

    @property
    def execution_time(self) -> datetime:
        """When the run's first workflow task was due: start plus the first-task backoff."""
        return self.start_time + self.started.first_workflow_task_backoff.ToTimedelta()

    @property
    def close(self) -> history_pb.HistoryEvent:
        return self.events[-1]

    @property
    def close_time(self) -> datetime:
        return self.close.event_time.ToDatetime()

    @property
    def next_run_id(self) -> str:
        """The `new_execution_run_id` of the closing event ("" when the chain ends here)."""
        return str(getattr(close_attributes(self.close), "new_execution_run_id", ""))


def close_attributes(event: history_pb.HistoryEvent) -> Any:
    """The attributes message of a closing event, whichever kind it is."""
    return getattr(event, str(event.WhichOneof("attributes")))


async def fetch_run(client: Client, workflow_id: str, run_id: str) -> Run:
    """The whole history of one run."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return Run(run_id, list(history.events))


async def fetch_chain(client: Client, workflow_id: str, first_run_id: str) -> list[Run]:
    """Every run from `first_run_id` on, following `new_execution_run_id` of each closing event."""
    runs = [await fetch_run(client, workflow_id, first_run_id)]
    while runs[-1].next_run_id:
        assert len(runs) < 20, "chain does not end"
        runs.append(await fetch_run(client, workflow_id, runs[-1].next_run_id))
    return runs


def decode(payloads: Any, *types: type) -> list[Any]:
    """Payloads (a Payloads message) as Python values, typed like the workflow's parameters."""
    return DataConverter.default.payload_converter.from_payloads(list(payloads.payloads), list(types) or None)


def memo_values(memo: Any) -> dict[str, Any]:
    """A Memo message as a plain dict."""
    return {key: decode_one(payload) for key, payload in memo.fields.items()}


def decode_one(payload: Any) -> Any:
    return DataConverter.default.payload_converter.from_payloads([payload])[0]
