"""Task tokens and the mutable-state snapshot survive a round trip; garbage tokens are refused clearly."""

from __future__ import annotations

import pytest

from tempyral.errors import InvalidArgument
from tempyral.history import state_codec
from tempyral.history.mutable_state import (
    ActivityInfo,
    ChildInfo,
    ExecutionState,
    ParentInfo,
    RetryPolicy,
    TimerInfo,
    WorkflowTaskInfo,
)
from tempyral.tokens import TaskToken


def test_task_token_round_trip() -> None:
    token = TaskToken("ns", "wf", "run", scheduled_event_id=5, attempt=3, activity_id="a1", kind="activity")
    assert TaskToken.decode(token.encode()) == token


@pytest.mark.parametrize("raw", [b"garbage", b"{}", b'{"v": 99}', b"\xff\xfe"])
def test_malformed_tokens_are_invalid_arguments(raw: bytes) -> None:
    with pytest.raises(InvalidArgument, match="Error deserializing task token"):
        TaskToken.decode(raw)


def test_empty_token() -> None:
    with pytest.raises(InvalidArgument, match="Task token not set"):
        TaskToken.decode(b"")


def test_execution_state_round_trip() -> None:
    state = ExecutionState(
        namespace_id="ns",
        workflow_id="wf",
        run_id="run",
        workflow_type="T",
        task_queue="q",
        start_time=1.5,
        first_run_id="run",
        workflow_task=WorkflowTaskInfo(
            seq=2, attempt=1, task_queue="q", sticky=False, scheduled_time=2.0, start_to_close_timeout=10.0
        ),
        activities={
            5: ActivityInfo(
                scheduled_event_id=5,
                activity_id="1",
                activity_type="A",
                task_queue="q",
                scheduled_time=3.0,
                retry_policy=RetryPolicy(non_retryable_error_types=["X"]),
                heartbeat_details=b"\x00\x01",
                last_failure=None,
            )
        },
        timers={"t": TimerInfo(timer_id="t", started_event_id=6, fire_at=9.0)},
        buffered_events=[b"\x08\x01"],
        signal_request_ids=["r1"],
        retry_policy=RetryPolicy(maximum_attempts=3),
        children={
            7: ChildInfo(initiated_event_id=7, workflow_id="c", workflow_type="C", parent_close_policy=1)
        },
        parent=ParentInfo(namespace_id="ns", workflow_id="p", run_id="pr", initiated_event_id=5),
        accepted_updates={"u1": 9},
        completed_updates={"u1": 10},
    )
    assert state_codec.loads(ExecutionState, state_codec.dumps(state)) == state
