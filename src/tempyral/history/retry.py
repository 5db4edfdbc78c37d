"""Retry policies: defaults, validation, and the decision whether (and when) a failed attempt runs again."""

from __future__ import annotations

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import RetryState, TimeoutType
from temporalio.api.failure.v1 import message_pb2 as failure_pb

from tempyral.durations import checked_seconds, seconds_of, to_duration
from tempyral.errors import InvalidArgument
from tempyral.history.mutable_state import RetryPolicy

# Timeouts after which another attempt can help; the others mean the time budget itself is spent.
_RETRYABLE_TIMEOUTS = {TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE, TimeoutType.TIMEOUT_TYPE_HEARTBEAT}


def activity_retry_policy(proto: common.RetryPolicy | None) -> RetryPolicy:
    """The request's policy with Temporal's defaults filled in; InvalidArgument-style errors as ValueError."""
    policy = RetryPolicy()
    if proto is None:
        return policy
    policy.initial_interval = checked_seconds(proto.initial_interval, "InitialInterval") or 1.0
    policy.backoff_coefficient = proto.backoff_coefficient or 2.0
    policy.maximum_interval = checked_seconds(proto.maximum_interval, "MaximumInterval") or (
        100.0 * policy.initial_interval
    )
    policy.maximum_attempts = proto.maximum_attempts
    policy.non_retryable_error_types = list(proto.non_retryable_error_types)
    validate_retry_policy(policy)
    return policy


def workflow_retry_policy(proto: common.RetryPolicy | None) -> RetryPolicy | None:
    """Unlike activities, a workflow without a retry policy is not retried at all."""
    return None if proto is None else activity_retry_policy(proto)


def validate_retry_policy(policy: RetryPolicy) -> None:
    if policy.backoff_coefficient < 1:
        raise InvalidArgument("BackoffCoefficient cannot be less than 1.")
    if policy.maximum_interval < policy.initial_interval:
        raise InvalidArgument("MaximumInterval cannot be less than InitialInterval on retry policy.")
    if policy.maximum_attempts < 0:
        raise InvalidArgument("MaximumAttempts cannot be negative on retry policy.")


def to_proto(policy: RetryPolicy) -> common.RetryPolicy:
    return common.RetryPolicy(
        initial_interval=to_duration(policy.initial_interval),
        backoff_coefficient=policy.backoff_coefficient,
        maximum_interval=to_duration(policy.maximum_interval),
        maximum_attempts=policy.maximum_attempts,
        non_retryable_error_types=policy.non_retryable_error_types,
    )


def is_retryable(failure: failure_pb.Failure, policy: RetryPolicy) -> bool:
    if failure.HasField("application_failure_info"):
        info = failure.application_failure_info
        return not info.non_retryable and info.type not in policy.non_retryable_error_types
    if failure.HasField("timeout_failure_info"):
        return failure.timeout_failure_info.timeout_type in _RETRYABLE_TIMEOUTS
    if failure.HasField("server_failure_info"):
        return not failure.server_failure_info.non_retryable
    if failure.HasField("canceled_failure_info"):
        return False
    return True


def next_retry(
    policy: RetryPolicy, attempt: int, failure: failure_pb.Failure, now: float, expiration: float
) -> tuple[float | None, int]:
    """(delay before attempt+1, RetryState); the delay is None when there is no next attempt."""
    if not is_retryable(failure, policy):
        return None, RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE
    if policy.maximum_attempts == 1 or (policy.maximum_attempts > 0 and attempt >= policy.maximum_attempts):
        return None, RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    if policy.maximum_interval > 0:
        delay = min(delay, policy.maximum_interval)
    if failure.HasField("application_failure_info"):
        override = failure.application_failure_info.next_retry_delay
        if override.seconds or override.nanos:
            delay = seconds_of(override)
    if expiration and now + delay > expiration:
        return None, RetryState.RETRY_STATE_TIMEOUT
    return delay, RetryState.RETRY_STATE_IN_PROGRESS
