"""Domain errors: each carries the gRPC status code name and the Temporal failure detail SDKs unpack.

No grpc import here: only `frontend/status.py` turns these into wire statuses.
"""

from __future__ import annotations

from google.protobuf.message import Message
from temporalio.api.errordetails.v1 import message_pb2 as details


class ServiceError(Exception):
    """An error answered to the caller; `code` is a `grpc.StatusCode` member name."""

    code = "INTERNAL"

    def __init__(self, message: str, detail: Message | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidArgument(ServiceError):
    code = "INVALID_ARGUMENT"


class HistoryLimitExceeded(InvalidArgument):
    """A change would take a run's history past its limits; the run was terminated instead."""


class NotFound(ServiceError):
    code = "NOT_FOUND"

    def __init__(self, message: str) -> None:
        super().__init__(message, details.NotFoundFailure())


class NamespaceNotFound(ServiceError):
    code = "NOT_FOUND"

    def __init__(self, namespace: str) -> None:
        super().__init__(
            f"Namespace {namespace} is not found.", details.NamespaceNotFoundFailure(namespace=namespace)
        )


class NamespaceAlreadyExists(ServiceError):
    code = "ALREADY_EXISTS"

    def __init__(self, name: str) -> None:
        super().__init__(f'Namespace "{name}" already exists', details.NamespaceAlreadyExistsFailure())


class WorkflowAlreadyStarted(ServiceError):
    code = "ALREADY_EXISTS"

    def __init__(self, message: str, start_request_id: str, run_id: str, first_run_id: str) -> None:
        super().__init__(
            message,
            details.WorkflowExecutionAlreadyStartedFailure(
                start_request_id=start_request_id, run_id=run_id, first_execution_run_id=first_run_id
            ),
        )


class FailedPrecondition(ServiceError):
    code = "FAILED_PRECONDITION"


class PermissionDenied(ServiceError):
    code = "PERMISSION_DENIED"


class Unavailable(ServiceError):
    code = "UNAVAILABLE"
