"""Retry decisions: when an attempt runs again, after how long, and which RetryState ends it."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import RetryState, TimeoutType
from temporalio.api.failure.v1 import message_pb2 as failure_pb

from tempyral.history.mutable_state import RetryPolicy
from tempyral.history.retry import activity_retry_policy, next_retry


def app_failure(
    error_type: str = "Boom", non_retryable: bool = False, next_delay: float = 0
) -> failure_pb.Failure:
    info = failure_pb.ApplicationFailureInfo(type=error_type, non_retryable=non_retryable)
    if next_delay:
        info.next_retry_delay.FromMilliseconds(int(next_delay * 1000))
    return failure_pb.Failure(message="boom", application_failure_info=info)


def test_defaults_follow_temporal() -> None:
    policy = activity_retry_policy(None)
    assert (policy.initial_interval, policy.backoff_coefficient, policy.maximum_interval) == (1.0, 2.0, 100.0)
    assert policy.maximum_attempts == 0
    # Maximum interval defaults to 100x the given initial interval.
    given = activity_retry_policy(common.RetryPolicy(initial_interval=Duration(nanos=100_000_000)))
    assert given.maximum_interval == 10.0


def test_exponential_backoff_capped_by_maximum_interval() -> None:
    policy = RetryPolicy(initial_interval=1.0, backoff_coefficient=2.0, maximum_interval=5.0)
    delays = [next_retry(policy, attempt, app_failure(), now=0, expiration=0)[0] for attempt in range(1, 6)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_maximum_attempts_reached() -> None:
    policy = RetryPolicy(maximum_attempts=3)
    assert next_retry(policy, 2, app_failure(), 0, 0)[0] == 1.0 * 2
    assert next_retry(policy, 3, app_failure(), 0, 0) == (
        None,
        RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED,
    )


def test_non_retryable_by_flag_and_by_type() -> None:
    policy = RetryPolicy(non_retryable_error_types=["Fatal"])
    non_retryable = RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    assert next_retry(policy, 1, app_failure(non_retryable=True), 0, 0) == (None, non_retryable)
    assert next_retry(policy, 1, app_failure("Fatal"), 0, 0) == (None, non_retryable)
    assert next_retry(policy, 1, app_failure("Other"), 0, 0)[0] == 1.0


def test_next_retry_delay_overrides_the_policy() -> None:
    assert next_retry(RetryPolicy(), 1, app_failure(next_delay=7.5), 0, 0)[0] == 7.5


def test_no_retry_past_schedule_to_close() -> None:
    assert next_retry(RetryPolicy(initial_interval=2.0), 1, app_failure(), now=10, expiration=11) == (
        None,
        RetryState.RETRY_STATE_TIMEOUT,
    )


def test_only_start_to_close_and_heartbeat_timeouts_are_retried() -> None:
    def timeout(kind: int) -> failure_pb.Failure:
        return failure_pb.Failure(timeout_failure_info=failure_pb.TimeoutFailureInfo(timeout_type=kind))  # type: ignore[arg-type]

    policy = RetryPolicy()
    assert next_retry(policy, 1, timeout(TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE), 0, 0)[0] == 1.0
    assert next_retry(policy, 1, timeout(TimeoutType.TIMEOUT_TYPE_HEARTBEAT), 0, 0)[0] == 1.0
    assert next_retry(policy, 1, timeout(TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START), 0, 0)[0] is None
