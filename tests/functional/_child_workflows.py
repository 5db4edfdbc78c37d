"""Workflows that the child-workflow and external-workflow tests run on a real `temporalio` worker.

Kept free of test imports so the SDK's workflow sandbox can re-import this module cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)

# Predefined on the dev server (the SDK writes it for `workflow.patched`); no custom attribute is.
CHANGE_VERSION = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")


@dataclass
class ChildCall:
    """What a `ParentWorkflow` does with its one child; enum options travel by name."""

    workflow: str
    id: str
    arg: Any = None
    # "result": await the child; "return": return as soon as the child started; "cancel": cancel it, then
    # await it; "signal": signal it `finish`, then await it.
    action: str = "result"
    parent_close_policy: str = "TERMINATE"
    cancellation_type: str = "WAIT_CANCELLATION_COMPLETED"
    id_reuse_policy: str = "ALLOW_DUPLICATE"
    execution_timeout: float | None = None
    memo: dict[str, Any] | None = None
    change_versions: list[str] | None = None
    # Wait for a `release` signal before returning, so the parent outlives the child's last event.
    hold: bool = False


@dataclass
class Outcome:
    """How the child ended as the parent saw it: a result, or the error's type names and message."""

    result: Any = None
    error: str | None = None
    cause: str | None = None
    message: str | None = None
    retry_state: int | None = None
    child_run_id: str | None = None
    # History length when the child's handle resolved: tells the cancellation types apart.
    resolved_at: int | None = None


@workflow.defn
class ParentWorkflow:
    """Starts one child as `ChildCall` says and reports what happened to it."""

    def __init__(self) -> None:
        self._released = False

    @workflow.run
    async def run(self, call: ChildCall) -> Outcome:
        outcome = await self._drive(call)
        if call.hold:
            await workflow.wait_condition(lambda: self._released)
        return outcome

    async def _drive(self, call: ChildCall) -> Outcome:
        try:
            handle = await workflow.start_child_workflow(
                call.workflow,
                call.arg,
                id=call.id,
                parent_close_policy=workflow.ParentClosePolicy[call.parent_close_policy],
                cancellation_type=workflow.ChildWorkflowCancellationType[call.cancellation_type],
                id_reuse_policy=WorkflowIDReusePolicy[call.id_reuse_policy],
                execution_timeout=(
                    timedelta(seconds=call.execution_timeout) if call.execution_timeout is not None else None
                ),
                memo=call.memo,
                search_attributes=(
                    TypedSearchAttributes([SearchAttributePair(CHANGE_VERSION, call.change_versions)])
                    if call.change_versions is not None
                    else None
                ),
            )
        except WorkflowAlreadyStartedError as error:
            return Outcome(error=type(error).__name__, message=str(error))
        run_id = handle.first_execution_run_id
        if call.action == "return":
            return Outcome(child_run_id=run_id)
        if call.action == "cancel":
            handle.cancel()
        elif call.action == "signal":
            await handle.signal("finish", "from parent")
        try:
            result = await handle
        except ChildWorkflowError as error:
            return Outcome(
                error=type(error).__name__,
                cause=type(error.cause).__name__,
                message=str(error.cause),
                retry_state=int(error.retry_state) if error.retry_state is not None else None,
                child_run_id=run_id,
                resolved_at=workflow.info().get_current_history_length(),
            )
        return Outcome(
            result=result, child_run_id=run_id, resolved_at=workflow.info().get_current_history_length()
        )

    @workflow.signal
    def release(self) -> None:
        self._released = True


@workflow.defn
class EchoChild:
    """Completes at once with its input and the parent and root it believes it has."""

    @workflow.run
    async def run(self, arg: Any) -> dict[str, Any]:
        info = workflow.info()
        return {
            "arg": arg,
            "parent": info.parent.workflow_id if info.parent else None,
            "root": info.root.workflow_id if info.root else None,
        }


@workflow.defn
class FailChild:
    """Fails with a non-retryable application error."""

    @workflow.run
    async def run(self, message: str) -> None:
        raise ApplicationError(message, type="ChildFailure", non_retryable=True)


@workflow.defn
class WaitChild:
    """Runs until signalled `finish` and returns the signal's argument; a cancellation ends it CANCELED."""

    def __init__(self) -> None:
        self._result: str | None = None

    @workflow.run
    async def run(self, _: Any = None) -> str:
        await workflow.wait_condition(lambda: self._result is not None)
        assert self._result is not None
        return self._result

    @workflow.signal
    def finish(self, result: str) -> None:
        self._result = result


@workflow.defn
class ContinueChild:
    """Continues as new `remaining` more times, then returns which generation it is."""

    @workflow.run
    async def run(self, remaining: int) -> str:
        if remaining > 0:
            workflow.continue_as_new(remaining - 1)
        return f"final run, parent {workflow.info().parent is not None}"


@dataclass
class ExternalCall:
    """What an `ExternalWorkflow` does to another workflow: "signal" it `finish` or "cancel" it."""

    action: str
    workflow_id: str
    run_id: str | None = None
    signal_arg: str = "from outside"


@workflow.defn
class ExternalWorkflow:
    """Signals or cancels a workflow that is not its child, and reports whether the server accepted it."""

    @workflow.run
    async def run(self, call: ExternalCall) -> Outcome:
        handle = workflow.get_external_workflow_handle(call.workflow_id, run_id=call.run_id)
        try:
            if call.action == "signal":
                await handle.signal("finish", call.signal_arg)
            else:
                await handle.cancel()
        except FailureError as error:
            return Outcome(error=type(error).__name__, message=str(error))
        return Outcome(result="done")


WORKFLOWS = [ParentWorkflow, EchoChild, FailChild, WaitChild, ContinueChild, ExternalWorkflow]
