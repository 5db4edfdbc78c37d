"""The one place domain errors become gRPC statuses, with the google.rpc.Status details SDKs unpack."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2  # type: ignore[import-untyped]

from tempyral.errors import ServiceError


def abort_arguments(error: ServiceError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    code: grpc.StatusCode = getattr(grpc.StatusCode, error.code)
    status = status_pb2.Status(code=code.value[0], message=error.message)
    if error.detail is not None:
        status.details.append(packed(error.detail))
    return code, error.message, (("grpc-status-details-bin", status.SerializeToString()),)


def packed(message: Message) -> any_pb2.Any:
    """A detail as google.rpc.Status carries it (also inside MultiOperationExecutionFailure statuses)."""
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return wrapped
