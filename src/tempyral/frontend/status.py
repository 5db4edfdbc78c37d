"""The one place domain errors become gRPC statuses, with the google.rpc.Status details SDKs unpack."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2  # type: ignore[import-untyped]
from temporalio.api.errordetails.v1 import message_pb2 as details

from tempyral.errors import MultiOperationFailed, ServiceError


def abort_arguments(error: ServiceError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    code: grpc.StatusCode = getattr(grpc.StatusCode, error.code)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    detail = _multi_operation_detail(error) if isinstance(error, MultiOperationFailed) else error.detail
    if detail is not None:
        status.details.append(_packed(detail))
    return code, error.message, (("grpc-status-details-bin", status.SerializeToString()),)


def _packed(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _multi_operation_detail(error: MultiOperationFailed) -> Message:
    """Per operation: the failed one's status, and ABORTED for the rest."""
    failure = details.MultiOperationExecutionFailure()
    for index in range(error.operations):
        if index == error.failed_index:
            inner = error.error
            status = failure.statuses.add(
                code=getattr(grpc.StatusCode, inner.code).value[0], message=inner.message
            )
            if inner.detail is not None:
                status.details.append(_packed(inner.detail))
        else:
            failure.statuses.add(code=grpc.StatusCode.ABORTED.value[0], message="Operation was aborted.")
    return failure
