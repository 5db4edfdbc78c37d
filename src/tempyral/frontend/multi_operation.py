"""ExecuteMultiOperation's checks and errors: the one shape the real server runs (update-with-start), each
operation checked on its own, and failures reported per operation in a MultiOperationExecutionFailure.

Observed on the real dev server (1.32): any other shape is INVALID_ARGUMENT "Operations have to be exactly
[Start, Update]." with no details. Otherwise every operation is checked; if any fails, the call fails with
the first failure's code and "Update-with-Start could not be executed.", and the detail lists one status
per operation: its own error, or ABORTED "Operation was aborted." (detail MultiOperationExecutionAborted)
for an operation that was fine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from google.rpc import code_pb2  # type: ignore[import-untyped]
from temporalio.api.errordetails.v1 import message_pb2 as details
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import InvalidArgument, NamespaceNotFound, ServiceError
from tempyral.frontend.status import packed

SHAPE_MESSAGE = "Operations have to be exactly [Start, Update]."
FAILED_MESSAGE = "Update-with-Start could not be executed."
_ABORTED_MESSAGE = "Operation was aborted."

Check = Callable[[], None]


class MultiOperationError(ServiceError):
    """Some operations failed: `errors` holds each one's error, None for those that were fine."""

    def __init__(self, errors: Sequence[ServiceError | None]) -> None:
        failure = details.MultiOperationExecutionFailure()
        for error in errors:
            if error is None:
                status = failure.statuses.add(code=code_pb2.ABORTED, message=_ABORTED_MESSAGE)
                status.details.append(packed(failure_pb.MultiOperationExecutionAborted()))
            else:
                status = failure.statuses.add(code=code_pb2.Code.Value(error.code), message=error.message)
                if error.detail is not None:
                    status.details.append(packed(error.detail))
        super().__init__(FAILED_MESSAGE, failure)
        self.code = next(error.code for error in errors if error is not None)


def update_with_start_operations(
    request: wsr.ExecuteMultiOperationRequest,
) -> tuple[wsr.StartWorkflowExecutionRequest, wsr.UpdateWorkflowExecutionRequest]:
    operations = request.operations
    if (
        len(operations) != 2
        or not operations[0].HasField("start_workflow")
        or not operations[1].HasField("update_workflow")
    ):
        raise InvalidArgument(SHAPE_MESSAGE)
    return operations[0].start_workflow, operations[1].update_workflow


def check_operations(
    namespace: str,
    start: wsr.StartWorkflowExecutionRequest,
    update: wsr.UpdateWorkflowExecutionRequest,
    check_start: Check,
    check_update: Check,
) -> None:
    """Raise MultiOperationError unless both operations may run. `check_start`/`check_update` are the
    checks their single-operation RPCs make; update-with-start adds its own after them."""
    start_error = _failure(lambda: _check_start(namespace, start, check_start))
    update_error = _failure(lambda: _check_update(namespace, update, check_update))
    same_workflow = update.workflow_execution.workflow_id == start.workflow_id
    if start_error is None and update_error is None and not same_workflow:
        update_error = InvalidArgument("WorkflowId is not consistent with previous operation(s).")
    if start_error is not None or update_error is not None:
        raise MultiOperationError([start_error, update_error])


def _failure(check: Check) -> ServiceError | None:
    try:
        check()
    except ServiceError as err:
        return err
    return None


def _check_start(namespace: str, start: wsr.StartWorkflowExecutionRequest, check_start: Check) -> None:
    if start.namespace != namespace:
        # An empty namespace is looked up as it is (and not found); any other must be the request's.
        if not start.namespace:
            raise NamespaceNotFound(start.namespace)
        raise InvalidArgument("Operation namespace did not match request's namespace.")
    check_start()
    if start.cron_schedule:
        raise InvalidArgument("CronSchedule is not allowed.")
    if start.request_eager_execution:
        raise InvalidArgument("RequestEagerExecution is not supported.")
    if start.HasField("workflow_start_delay"):
        raise InvalidArgument("WorkflowStartDelay is not supported.")


def _check_update(namespace: str, update: wsr.UpdateWorkflowExecutionRequest, check_update: Check) -> None:
    # Unlike the start's, the update's namespace may be left empty.
    if update.namespace and update.namespace != namespace:
        raise InvalidArgument("Operation namespace did not match request's namespace.")
    check_update()
    if update.workflow_execution.run_id:
        raise InvalidArgument("RunId is not allowed.")
    if update.first_execution_run_id:
        raise InvalidArgument("FirstExecutionRunId is not allowed.")
