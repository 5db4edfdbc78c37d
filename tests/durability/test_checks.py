"""The crash tests' checkers catch what they claim to catch: fed made-up executions and histories with a known
fault, each reports it, and each accepts the same data without the fault. No server needed."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    HistoryEvent,
    TimerFiredEventAttributes,
    TimerStartedEventAttributes,
    WorkflowExecutionStartedEventAttributes,
)

from tempyral.testing.servers import ServerProcess

from .checks import Snapshot, check_history, check_reruns, check_snapshot
from .crash import Crasher, Outage
from .workload import Execution, Job, Step


def crasher_killed_at(*moments: float) -> Crasher:
    crasher = Crasher(ServerProcess())
    crasher.outages = [Outage(killed=moment, restarted=moment + 1, ready=moment + 1.5) for moment in moments]
    return crasher


def run(attempt: int, started: float, failed: bool = False, acknowledged: bool = True) -> Execution:
    return Execution("wf", 0, 0, attempt, started, failed, reported=started + 0.05, acknowledged=acknowledged)


def test_rerun_is_reported_unless_its_previous_outcome_report_was_in_flight_at_a_kill() -> None:
    planned = [run(1, 10.0, failed=True), run(2, 10.5)]
    assert check_reruns(planned, crasher_killed_at()) == ([], 0)
    lost = [run(1, 10.0, failed=True), run(2, 10.5, acknowledged=False), run(3, 30.0)]
    problems, _ = check_reruns(lost, crasher_killed_at(20.0))
    assert len(problems) == 1 and "no kill to excuse it" in problems[0]
    assert check_reruns(lost, crasher_killed_at(10.52)) == ([], 1)
    # Began after the kill but before the restart: its task came from the killed server.
    assert check_reruns(lost, crasher_killed_at(10.4)) == ([], 1)


def test_a_skipped_attempt_is_excused_only_by_a_kill_that_could_have_lost_its_task() -> None:
    skipped = [run(1, 10.0, failed=True), run(3, 20.0)]
    problems, _ = check_reruns(skipped, crasher_killed_at(5.0))
    assert len(problems) == 1 and "attempt 3" in problems[0]
    assert check_reruns(skipped, crasher_killed_at(11.0)) == ([], 1)


def test_any_run_after_an_acknowledged_completion_is_reported_even_next_to_a_kill() -> None:
    # The kill came right after the acknowledgement: at-least-once does not cover a lost acknowledged write.
    rerun = [run(1, 10.0), run(2, 30.0)]
    problems, _ = check_reruns(rerun, crasher_killed_at(10.06))
    assert any("after the server acknowledged the completion of attempt 1" in problem for problem in problems)
    # An acknowledged planned failure permits the next attempt only.
    failed_twice = [run(1, 10.0, failed=True), run(1, 12.0, failed=True), run(2, 13.0)]
    problems, _ = check_reruns(failed_twice, crasher_killed_at(10.06))
    assert any("failure of attempt 1" in problem for problem in problems)


def event(event_id: int, kind: str, seconds: float, **attributes: object) -> HistoryEvent:
    return HistoryEvent(
        event_id=event_id,
        event_type=EventType.Value(f"EVENT_TYPE_{kind}"),
        event_time=Timestamp(seconds=int(seconds), nanos=round(seconds % 1 * 1e9)),
        **attributes,  # type: ignore[arg-type]
    )


def timer_history(fired_at: float) -> list[HistoryEvent]:
    started = WorkflowExecutionStartedEventAttributes(original_execution_run_id="run")
    return [
        event(1, "WORKFLOW_EXECUTION_STARTED", 100.0, workflow_execution_started_event_attributes=started),
        event(
            2,
            "TIMER_STARTED",
            100.0,
            timer_started_event_attributes=TimerStartedEventAttributes(
                timer_id="1", start_to_fire_timeout=Duration(seconds=1)
            ),
        ),
        event(
            3,
            "TIMER_FIRED",
            fired_at,
            timer_fired_event_attributes=TimerFiredEventAttributes(timer_id="1", started_event_id=2),
        ),
        event(4, "WORKFLOW_EXECUTION_COMPLETED", fired_at),
    ]


def test_history_check_reports_early_timers_duplicate_completions_and_a_changed_run() -> None:
    job = Job("wf", 1, [Step("timer", seconds=1.0)])
    assert check_history(job, "run", timer_history(fired_at=101.0)) == []
    assert "early" in " ".join(check_history(job, "run", timer_history(fired_at=100.9)))
    doubled = [*timer_history(101.0), event(5, "WORKFLOW_EXECUTION_COMPLETED", 101.0)]
    assert "2 WORKFLOW_EXECUTION_COMPLETED" in " ".join(check_history(job, "run", doubled))
    assert "not the acknowledged" in " ".join(check_history(job, "other-run", timer_history(101.0)))
    assert check_history(job, "run", None) == ["wf: workflow not found"]


def test_snapshot_check_reports_a_history_that_changed_or_shrank_after_a_kill() -> None:
    final = timer_history(fired_at=101.0)
    assert check_snapshot(Snapshot("wf", 0.0, final[:3]), final, []) == []
    changed = [*final[:2], event(3, "TIMER_FIRED", 105.0)]
    assert "changed after a kill" in " ".join(check_snapshot(Snapshot("wf", 0.0, changed), final, []))
    assert "shrank" in " ".join(check_snapshot(Snapshot("wf", 0.0, final), final[:2], []))
