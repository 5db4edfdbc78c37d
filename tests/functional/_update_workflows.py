"""Workflows and activities that the workflow-update tests run on a real `temporalio` worker.

Kept free of test imports so the SDK's workflow sandbox can re-import this module cheaply.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class UpdateWorkflow:
    """Collects items through updates until signalled `finish`; counts every handler run it sees."""

    def __init__(self) -> None:
        self._items: list[str] = []
        self._finished = False
        # Handler runs (not validator runs): deduplication tests read it to prove a handler ran once.
        self._handler_runs = 0
        self._released = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self._finished and workflow.all_handlers_finished())
        return self._items

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def handler_runs(self) -> int:
        return self._handler_runs

    @workflow.update
    def add(self, item: str) -> int:
        self._handler_runs += 1
        self._items.append(item)
        return len(self._items)

    @add.validator
    def _validate_add(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")

    @workflow.update
    def add_unvalidated(self, item: str) -> int:
        self._handler_runs += 1
        self._items.append(item)
        return len(self._items)

    @workflow.update
    def fail(self, message: str) -> None:
        self._handler_runs += 1
        raise ApplicationError(message, "detail", type="UpdateFailure", non_retryable=True)

    @workflow.update
    async def sleep_then_add(self, item: str, seconds: float) -> int:
        self._handler_runs += 1
        await asyncio.sleep(seconds)
        self._items.append(item)
        return len(self._items)

    @workflow.update
    async def shout_then_add(self, item: str) -> int:
        self._handler_runs += 1
        loud = await workflow.execute_activity(shout, item, start_to_close_timeout=timedelta(seconds=10))
        self._items.append(loud)
        return len(self._items)

    @workflow.update
    async def wait_for_release(self, item: str) -> int:
        """Stays in flight until the `release` signal, so several updates can be admitted at once."""
        self._handler_runs += 1
        await workflow.wait_condition(lambda: self._released)
        self._items.append(item)
        return len(self._items)

    @workflow.signal
    def release(self) -> None:
        self._released = True


@workflow.defn
class QuickWorkflow:
    """Completes on its first workflow task: a closed target for updates."""

    @workflow.run
    async def run(self) -> str:
        return "done"

    @workflow.update
    def add(self, item: str) -> str:
        return item


WORKFLOWS = [UpdateWorkflow, QuickWorkflow]
ACTIVITIES = [shout]
