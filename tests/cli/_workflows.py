"""Workflows that the CLI tests start, signal, query, update, cancel and reset through the `temporal` CLI.

Kept free of test imports so the SDK's workflow sandbox can re-import this module cheaply.
"""

from __future__ import annotations

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError


@workflow.defn
class Greeter:
    """Returns at once: what `workflow execute`, `start` + `result` and `show` look at."""

    @workflow.run
    async def run(self, name: str) -> str:
        return f"Hello, {name}!"


@workflow.defn
class Failer:
    """Fails at once with a non-retryable application error, so the run closes FAILED."""

    @workflow.run
    async def run(self, message: str) -> None:
        raise ApplicationError(message, non_retryable=True)


@workflow.defn
class Collector:
    """Collects items from signals and updates until signalled `finish`; returns the items.

    Cancelling it raises CancelledError from `wait_condition`, so a cancel closes the run CANCELED.
    """

    def __init__(self) -> None:
        self._items: list[str] = []
        self._finished = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self._finished and workflow.all_handlers_finished())
        return self._items

    @workflow.signal
    def add(self, item: str) -> None:
        self._items.append(item)

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def items(self) -> list[str]:
        return self._items

    @workflow.update
    def append(self, item: str) -> int:
        self._items.append(item)
        return len(self._items)

    @workflow.update
    async def append_when_finished(self, item: str) -> int:
        """Accepted at once, completed only after `finish`: lets a test see an update in stage Accepted."""
        await workflow.wait_condition(lambda: self._finished)
        self._items.append(item)
        return len(self._items)

    @append.validator
    def _validate_append(self, item: str) -> None:
        if not item:
            raise ValueError("empty item")


@activity.defn
async def shout(text: str) -> str:
    """Never scheduled by these workflows: registered so the worker also polls the activity task queue."""
    return text.upper()


WORKFLOWS = [Greeter, Failer, Collector]
ACTIVITIES = [shout]
