"""Batch RPCs: StartBatchOperation, DescribeBatchOperation, ListBatchOperations, StopBatchOperation.

Requests are checked here with the real server's messages; the jobs themselves run in
`history/ops/batch.py`.
"""

from __future__ import annotations

from temporalio.api.batch.v1 import message_pb2 as batch_pb
from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.enums.v1 import BatchOperationType
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.errors import InvalidArgument
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.history.ops.batch import SIGNAL, BatchJob, BatchJobs, effective_query, operation_type
from tempyral.offset_tokens import decode_offset_token, encode_offset_token
from tempyral.visibility.query import QueryError, parse, to_sql

_REQUIRED = (
    "must provide required parameters: BatchType,Reason,Namespace, AND one of "
    "(Query OR Executions OR TargetExecutions)"
)
_NO_JOB_ID = "JobId is not set on request."
_DEFAULT_PAGE_SIZE = 1000
_WORKFLOW_EXECUTION = 1  # temporal.api.enums.v1.ExecutionType.EXECUTION_TYPE_WORKFLOW


class BatchService:
    def __init__(self, deps: FrontendDeps) -> None:
        self.deps = deps
        self.jobs = BatchJobs(deps.engine)

    def methods(self) -> dict[str, Handler]:
        return {
            "StartBatchOperation": self.StartBatchOperation,
            "DescribeBatchOperation": self.DescribeBatchOperation,
            "ListBatchOperations": self.ListBatchOperations,
            "StopBatchOperation": self.StopBatchOperation,
        }

    async def StartBatchOperation(
        self, request: wsr.StartBatchOperationRequest, context: GrpcContext
    ) -> wsr.StartBatchOperationResponse:
        _check_start(request)
        namespace = self.deps.namespaces.get(request.namespace)
        if operation_type(request) == SIGNAL and not request.signal_operation.signal:
            raise InvalidArgument("must provide signal name")
        custom = self.deps.search_attributes.custom_types(namespace.name)
        if request.visibility_query:
            _check_query(request.visibility_query, operation_type(request), custom)
        self.jobs.start(namespace.id, request, custom)
        return wsr.StartBatchOperationResponse()

    async def DescribeBatchOperation(
        self, request: wsr.DescribeBatchOperationRequest, context: GrpcContext
    ) -> wsr.DescribeBatchOperationResponse:
        if not request.job_id:
            raise InvalidArgument(_NO_JOB_ID)
        namespace = self.deps.namespaces.get(request.namespace)
        return _described(self.jobs.get(namespace.id, request.job_id))

    async def ListBatchOperations(
        self, request: wsr.ListBatchOperationsRequest, context: GrpcContext
    ) -> wsr.ListBatchOperationsResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        jobs = self.jobs.newest_first(namespace.id)
        offset = decode_offset_token(request.next_page_token)
        page_size = request.page_size or _DEFAULT_PAGE_SIZE
        page = jobs[offset : offset + page_size]
        more = offset + page_size < len(jobs)
        return wsr.ListBatchOperationsResponse(
            operation_info=[_info(job) for job in page],
            next_page_token=encode_offset_token(offset + page_size) if more else b"",
        )

    async def StopBatchOperation(
        self, request: wsr.StopBatchOperationRequest, context: GrpcContext
    ) -> wsr.StopBatchOperationResponse:
        if not request.job_id:
            raise InvalidArgument(_NO_JOB_ID)
        if not request.reason:
            raise InvalidArgument("Reason is not set on request.")
        namespace = self.deps.namespaces.get(request.namespace)
        self.jobs.stop(namespace.id, request.job_id)
        return wsr.StopBatchOperationResponse()


def _check_start(request: wsr.StartBatchOperationRequest) -> None:
    """The checks the real server makes before it looks the namespace up, in its order."""
    if not request.job_id:
        raise InvalidArgument(_NO_JOB_ID)
    sources = [bool(request.visibility_query), bool(request.executions), bool(request.target_executions)]
    unspecified = operation_type(request) == BatchOperationType.BATCH_OPERATION_TYPE_UNSPECIFIED
    if not request.reason or not any(sources) or unspecified:
        raise InvalidArgument(_REQUIRED)
    if sum(sources) > 1:
        raise InvalidArgument("visibility query, executions, and target executions are mutually exclusive")


def _check_query(query: str, kind: int, custom: dict[str, str]) -> None:
    """A bad query is refused at start, not left to fail the job. (The real server's syntax-error
    positions count within its own rewritten query; ours count within the query given.)"""
    try:
        parse(query)
        to_sql(parse(effective_query(query, kind)), custom)
    except QueryError as err:
        raise InvalidArgument(f"invalid visibility query: {err.reason}") from err


def _info(job: BatchJob) -> batch_pb.BatchOperationInfo:
    info = batch_pb.BatchOperationInfo(
        job_id=job.job_id,
        state=job.state,  # type: ignore[arg-type]
        start_time=to_timestamp(job.start_time),
        operation_type=job.operation_type,  # type: ignore[arg-type]
    )
    if job.close_time is not None:
        info.close_time.CopyFrom(to_timestamp(job.close_time))
    return info


def _described(job: BatchJob) -> wsr.DescribeBatchOperationResponse:
    request = job.request
    response = wsr.DescribeBatchOperationResponse(
        operation_type=job.operation_type,  # type: ignore[arg-type]
        job_id=job.job_id,
        state=job.state,  # type: ignore[arg-type]
        start_time=to_timestamp(job.start_time),
        total_operation_count=job.total,
        complete_operation_count=job.complete,
        failure_operation_count=job.failure,
        identity=_identity(request),
        reason=request.reason,
        query=request.visibility_query,
        executions=[
            common.Execution(type=_WORKFLOW_EXECUTION, business_id=e.workflow_id, run_id=e.run_id)  # type: ignore[arg-type]
            for e in request.executions
        ]
        + list(request.target_executions),
    )
    if job.close_time is not None:
        response.close_time.CopyFrom(to_timestamp(job.close_time))
    return response


def _identity(request: wsr.StartBatchOperationRequest) -> str:
    """Describe reports the identity the operation named."""
    name = request.WhichOneof("operation")
    if name is None:
        return ""
    identity: str = getattr(request, name).identity
    return identity
