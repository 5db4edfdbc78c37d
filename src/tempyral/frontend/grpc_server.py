"""The gRPC server: an explicit table of implemented RPCs, each wrapped to turn domain errors into statuses.

Methods not in the table answer UNIMPLEMENTED, which SDKs understand.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from temporalio.api.operatorservice.v1 import request_response_pb2 as osr
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import ServiceError
from tempyral.frontend.status import abort_arguments

log = logging.getLogger(__name__)

WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
OPERATOR_SERVICE = "temporal.api.operatorservice.v1.OperatorService"
Handler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]

# 128 MiB: large histories go out in one poll response.
MAX_MESSAGE_BYTES = 128 * 1024 * 1024


def _wrap(name: str, handler: Handler) -> Handler:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await handler(request, context)
        except ServiceError as err:
            code, message, metadata = abort_arguments(err)
            await context.abort(code, message, trailing_metadata=metadata)
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            log.exception("%s failed", name)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {name}: {err}")

    return call


def workflow_service_handler(methods: dict[str, Handler]) -> grpc.GenericRpcHandler[Any, Any]:
    """A generic handler for the WorkflowService methods in `methods` (keyed by RPC name)."""
    return _service_handler(WORKFLOW_SERVICE, wsr, methods)


def operator_service_handler(methods: dict[str, Handler]) -> grpc.GenericRpcHandler[Any, Any]:
    return _service_handler(OPERATOR_SERVICE, osr, methods)


def _service_handler(
    service: str, messages: Any, methods: dict[str, Handler]
) -> grpc.GenericRpcHandler[Any, Any]:
    handlers = {}
    for name, handler in methods.items():
        request_type = getattr(messages, f"{name}Request")
        response_type = getattr(messages, f"{name}Response")
        handlers[name] = grpc.unary_unary_rpc_method_handler(
            _wrap(name, handler),
            request_deserializer=request_type.FromString,
            response_serializer=response_type.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service, handlers)


def new_server() -> grpc.aio.Server:
    return grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ]
    )
