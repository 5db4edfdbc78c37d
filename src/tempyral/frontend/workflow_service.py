"""Workflow RPCs: start, describe, read history, cancel, terminate, delete."""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import (
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowIdConflictPolicy,
    WorkflowIdReusePolicy,
)
from temporalio.api.errordetails.v1 import message_pb2 as errordetails
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.durations import checked_seconds
from tempyral.errors import InvalidArgument, PermissionDenied, ServiceError
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.frontend.multi_operation import (
    MultiOperationError,
    check_operations,
    update_with_start_operations,
)
from tempyral.frontend.validation import (
    check_blob_size,
    check_id_length,
    check_memo_size,
    check_run_id,
    require,
)
from tempyral.history import cron
from tempyral.history.links import signaled_link
from tempyral.history.ops.cancel_terminate import request_cancel_workflow, terminate_workflow
from tempyral.history.ops.describe import describe_workflow
from tempyral.history.ops.query import query_workflow
from tempyral.history.ops.read_history import get_history, get_history_reverse
from tempyral.history.ops.reset import reset_workflow
from tempyral.history.ops.signal import signal_workflow
from tempyral.history.ops.signal_with_start import as_start_request, signal_with_start
from tempyral.history.ops.start_workflow import start_workflow
from tempyral.history.ops.update import OperationFailed, poll_update, update_with_start, update_workflow
from tempyral.history.retry import activity_retry_policy
from tempyral.namespaces import STARTABLE, Namespace
from tempyral.search_attributes import SYSTEM_ATTRIBUTES
from tempyral.visibility.listing import count_workflows, legacy_query, list_workflows

_ADMITTED = UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
_TERMINATE_IF_RUNNING = WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING
_CONFLICT_UNSPECIFIED = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_UNSPECIFIED
_UPDATE_WAIT_SECONDS = 20.0
_ASYNC_ADMITTED_UNSUPPORTED = (
    "UpdateWorkflowExecution issued asynchronously and waiting on update admitted is not supported."
)


def _check_start_combinations(request: wsr.StartWorkflowExecutionRequest) -> None:
    """Options the real server refuses together (checked before either is parsed)."""
    if request.cron_schedule and request.HasField("workflow_start_delay"):
        raise InvalidArgument("CronSchedule and WorkflowStartDelay may not be used together.")
    if (
        request.workflow_id_reuse_policy == _TERMINATE_IF_RUNNING
        and request.workflow_id_conflict_policy != _CONFLICT_UNSPECIFIED
    ):
        raise InvalidArgument(
            "Invalid WorkflowIDReusePolicy: WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING cannot be used "
            "together with a WorkflowIDConflictPolicy"
        )


def _check_callbacks(request: wsr.StartWorkflowExecutionRequest) -> None:
    """Completion callbacks: the dev server allows no callback address by default."""
    options = request.on_conflict_options
    if options.attach_completion_callbacks and not options.attach_request_id:
        raise InvalidArgument("attaching request ID is required for attaching completion callbacks")
    for callback in request.completion_callbacks:
        if callback.HasField("nexus"):
            raise InvalidArgument(
                f"invalid url: url does not match any configured callback address: {callback.nexus.url}"
            )


def _update_wait(context: GrpcContext) -> float:
    """How long an update call waits for its stage: 20 s at most, when the real server answers with the
    stage reached so far; a caller whose deadline comes first gets DEADLINE_EXCEEDED, never an early
    answer (waiting past the deadline: the call is cancelled then)."""
    remaining = context.time_remaining()
    if remaining is None:
        return _UPDATE_WAIT_SECONDS
    return min(_UPDATE_WAIT_SECONDS, remaining + 1.0)


class WorkflowService:
    def __init__(self, deps: FrontendDeps) -> None:
        self.deps = deps
        self.engine = deps.engine

    def methods(self) -> dict[str, Handler]:
        return {
            "StartWorkflowExecution": self.StartWorkflowExecution,
            "SignalWithStartWorkflowExecution": self.SignalWithStartWorkflowExecution,
            "DescribeWorkflowExecution": self.DescribeWorkflowExecution,
            "GetWorkflowExecutionHistory": self.GetWorkflowExecutionHistory,
            "GetWorkflowExecutionHistoryReverse": self.GetWorkflowExecutionHistoryReverse,
            "SignalWorkflowExecution": self.SignalWorkflowExecution,
            "QueryWorkflow": self.QueryWorkflow,
            "UpdateWorkflowExecution": self.UpdateWorkflowExecution,
            "PollWorkflowExecutionUpdate": self.PollWorkflowExecutionUpdate,
            "ExecuteMultiOperation": self.ExecuteMultiOperation,
            "ListWorkflowExecutions": self.ListWorkflowExecutions,
            "ScanWorkflowExecutions": self.ScanWorkflowExecutions,
            "CountWorkflowExecutions": self.CountWorkflowExecutions,
            "GetSearchAttributes": self.GetSearchAttributes,
            "ListOpenWorkflowExecutions": self.ListOpenWorkflowExecutions,
            "ListClosedWorkflowExecutions": self.ListClosedWorkflowExecutions,
            "RequestCancelWorkflowExecution": self.RequestCancelWorkflowExecution,
            "TerminateWorkflowExecution": self.TerminateWorkflowExecution,
            "ResetWorkflowExecution": self.ResetWorkflowExecution,
            "DeleteWorkflowExecution": self.DeleteWorkflowExecution,
        }

    async def StartWorkflowExecution(
        self, request: wsr.StartWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.StartWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace, STARTABLE)
        self._validate_start(namespace, request)
        return await start_workflow(self.engine, namespace, request)

    async def SignalWithStartWorkflowExecution(
        self, request: wsr.SignalWithStartWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.SignalWithStartWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace, STARTABLE)
        start = as_start_request(request)
        # Checked as sent: signal-with-start's own conflict-policy default is no combination the caller chose.
        start.workflow_id_conflict_policy = request.workflow_id_conflict_policy
        self._validate_start(namespace, start)
        require(request.signal_name, "SignalName")
        check_blob_size(request.signal_input, self.deps.dynamic)
        if not request.request_id:
            request.request_id = str(uuid.uuid4())
        response = await signal_with_start(self.engine, namespace, request)
        run_id = response.run_id
        response.signal_link.CopyFrom(
            signaled_link(namespace.name, request.workflow_id, run_id, request.request_id)
        )
        state = (await self.engine.load(namespace.id, request.workflow_id, run_id)).state
        response.first_execution_run_id = state.first_run_id
        return response

    def _validate_start(self, namespace: Namespace, request: wsr.StartWorkflowExecutionRequest) -> None:
        """What the real server checks before starting a workflow; fills in a missing request id."""
        dynamic = self.deps.dynamic
        require(request.workflow_id, "WorkflowId")
        check_id_length(request.workflow_id, "WorkflowId", dynamic)
        require(request.workflow_type.name, "WorkflowType")
        check_id_length(request.workflow_type.name, "WorkflowType", dynamic)
        if not request.task_queue.name:
            raise InvalidArgument("missing task queue name")
        check_id_length(request.task_queue.name, "TaskQueue", dynamic)
        if len(request.request_id) > dynamic.get_int("limit.maxIDLength"):
            raise InvalidArgument("RequestId exceeds length limit.")
        _check_start_combinations(request)
        for field, what in (
            ("workflow_execution_timeout", "WorkflowExecutionTimeoutSeconds"),
            ("workflow_run_timeout", "WorkflowRunTimeoutSeconds"),
            ("workflow_task_timeout", "WorkflowTaskTimeoutSeconds"),
            ("workflow_start_delay", "WorkflowStartDelay"),
        ):
            checked_seconds(getattr(request, field), what)
        if request.HasField("retry_policy"):
            activity_retry_policy(request.retry_policy)
        if request.cron_schedule:
            try:
                cron.parse(request.cron_schedule)
            except cron.CronError as err:
                raise InvalidArgument("invalid CronSchedule.") from err
        self.deps.search_attributes.check(namespace.name, request.search_attributes)
        check_blob_size(request.input, dynamic)
        check_memo_size(request.memo, dynamic)
        _check_callbacks(request)
        if not request.request_id:
            request.request_id = str(uuid.uuid4())

    async def DescribeWorkflowExecution(
        self, request: wsr.DescribeWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.DescribeWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        require(request.execution.workflow_id, "WorkflowId")
        check_run_id(request.execution.run_id)
        return await describe_workflow(
            self.engine, namespace.id, request.execution.workflow_id, request.execution.run_id
        )

    async def GetWorkflowExecutionHistory(
        self, request: wsr.GetWorkflowExecutionHistoryRequest, context: GrpcContext
    ) -> wsr.GetWorkflowExecutionHistoryResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        require(request.execution.workflow_id, "WorkflowId")
        check_run_id(request.execution.run_id)
        max_wait = self.deps.wait_budget(
            context,
            cap=3600.0,
            without_deadline=self.deps.dynamic.get_seconds("history.longPollExpirationInterval"),
        )
        return await get_history(self.engine, namespace.id, request, max_wait)

    async def GetWorkflowExecutionHistoryReverse(
        self, request: wsr.GetWorkflowExecutionHistoryReverseRequest, context: GrpcContext
    ) -> wsr.GetWorkflowExecutionHistoryReverseResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        require(request.execution.workflow_id, "WorkflowId")
        check_run_id(request.execution.run_id)
        return await get_history_reverse(self.engine, namespace.id, request)

    async def SignalWorkflowExecution(
        self, request: wsr.SignalWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.SignalWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        require(request.workflow_execution.workflow_id, "WorkflowId")
        check_run_id(request.workflow_execution.run_id)
        require(request.signal_name, "SignalName")
        check_blob_size(request.input, self.deps.dynamic)
        execution = request.workflow_execution
        # The run signalled is the run the response links to: pick it once.
        execution.run_id = await self.engine.resolve_run_id(
            namespace.id, execution.workflow_id, execution.run_id
        )
        await signal_workflow(self.engine, namespace.id, request)
        link = signaled_link(namespace.name, execution.workflow_id, execution.run_id, request.request_id)
        return wsr.SignalWorkflowExecutionResponse(link=link)

    async def QueryWorkflow(
        self, request: wsr.QueryWorkflowRequest, context: GrpcContext
    ) -> wsr.QueryWorkflowResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        require(request.execution.workflow_id, "WorkflowId")
        check_run_id(request.execution.run_id)
        require(request.query.query_type, "QueryType")
        max_wait = self.deps.wait_budget(context, cap=3600.0, without_deadline=30.0)
        has_deadline = context.time_remaining() is not None
        return await query_workflow(
            self.engine, self.deps.queries, namespace.id, request, max_wait, has_deadline
        )

    async def UpdateWorkflowExecution(
        self, request: wsr.UpdateWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.UpdateWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        self._validate_update(request)
        check_blob_size(request.request.input.args, self.deps.dynamic)
        return await update_workflow(self.engine, namespace.id, request, _update_wait(context))

    @staticmethod
    def _validate_update(request: wsr.UpdateWorkflowExecutionRequest) -> None:
        """What the real server checks before admitting an update; fills in a missing update id."""
        require(request.workflow_execution.workflow_id, "WorkflowId")
        check_run_id(request.workflow_execution.run_id)
        if not request.request.HasField("meta"):
            raise InvalidArgument("Update meta is not set on request.")
        if not request.request.HasField("input"):
            raise InvalidArgument("Update input is not set on request.")
        if not request.request.input.name:
            raise InvalidArgument("Update name is not set on request.")
        if request.wait_policy.lifecycle_stage == _ADMITTED:
            raise PermissionDenied(_ASYNC_ADMITTED_UNSUPPORTED, errordetails.PermissionDeniedFailure())
        if not request.request.meta.update_id:
            request.request.meta.update_id = str(uuid.uuid4())

    async def PollWorkflowExecutionUpdate(
        self, request: wsr.PollWorkflowExecutionUpdateRequest, context: GrpcContext
    ) -> wsr.PollWorkflowExecutionUpdateResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        require(request.update_ref.workflow_execution.workflow_id, "WorkflowId")
        check_run_id(request.update_ref.workflow_execution.run_id)
        max_wait = self.deps.wait_budget(context, cap=3600.0, without_deadline=20.0)
        return await poll_update(self.engine, namespace.id, request, max_wait)

    async def ExecuteMultiOperation(
        self, request: wsr.ExecuteMultiOperationRequest, context: GrpcContext
    ) -> wsr.ExecuteMultiOperationResponse:
        """Update-with-start: a start and an update of the same workflow id, each checked on its own."""
        namespace = self.deps.namespaces.get(request.namespace)
        start, update = update_with_start_operations(request)
        check_operations(
            request.namespace,
            start,
            update,
            lambda: self._validate_start(namespace, start),
            lambda: self._validate_update(update),
        )
        max_wait = _update_wait(context)
        try:
            started, updated = await update_with_start(self.engine, namespace, start, update, max_wait)
        except OperationFailed as failed:
            errors: list[ServiceError | None] = [None, None]
            errors[failed.index] = failed.error
            raise MultiOperationError(errors) from failed
        return wsr.ExecuteMultiOperationResponse(
            responses=[
                wsr.ExecuteMultiOperationResponse.Response(start_workflow=started),
                wsr.ExecuteMultiOperationResponse.Response(update_workflow=updated),
            ]
        )

    async def ListWorkflowExecutions(
        self, request: wsr.ListWorkflowExecutionsRequest, context: GrpcContext
    ) -> wsr.ListWorkflowExecutionsResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        custom = self.deps.search_attributes.custom_types(namespace.name)
        return await list_workflows(self.engine.store, namespace.id, request, custom)

    async def ScanWorkflowExecutions(
        self, request: wsr.ScanWorkflowExecutionsRequest, context: GrpcContext
    ) -> wsr.ScanWorkflowExecutionsResponse:
        listed = await self.ListWorkflowExecutions(
            wsr.ListWorkflowExecutionsRequest(
                namespace=request.namespace,
                page_size=request.page_size,
                next_page_token=request.next_page_token,
                query=request.query,
            ),
            context,
        )
        return wsr.ScanWorkflowExecutionsResponse(
            executions=listed.executions, next_page_token=listed.next_page_token
        )

    async def ListOpenWorkflowExecutions(
        self, request: wsr.ListOpenWorkflowExecutionsRequest, context: GrpcContext
    ) -> wsr.ListOpenWorkflowExecutionsResponse:
        listed = await self.ListWorkflowExecutions(
            self._as_list(request, legacy_query(request, True)), context
        )
        return wsr.ListOpenWorkflowExecutionsResponse(
            executions=listed.executions, next_page_token=listed.next_page_token
        )

    async def ListClosedWorkflowExecutions(
        self, request: wsr.ListClosedWorkflowExecutionsRequest, context: GrpcContext
    ) -> wsr.ListClosedWorkflowExecutionsResponse:
        listed = await self.ListWorkflowExecutions(
            self._as_list(request, legacy_query(request, False)), context
        )
        return wsr.ListClosedWorkflowExecutionsResponse(
            executions=listed.executions, next_page_token=listed.next_page_token
        )

    @staticmethod
    def _as_list(
        request: wsr.ListOpenWorkflowExecutionsRequest | wsr.ListClosedWorkflowExecutionsRequest, query: str
    ) -> wsr.ListWorkflowExecutionsRequest:
        return wsr.ListWorkflowExecutionsRequest(
            namespace=request.namespace,
            page_size=request.maximum_page_size,
            next_page_token=request.next_page_token,
            query=query,
        )

    async def CountWorkflowExecutions(
        self, request: wsr.CountWorkflowExecutionsRequest, context: GrpcContext
    ) -> wsr.CountWorkflowExecutionsResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        custom = self.deps.search_attributes.custom_types(namespace.name)
        return await count_workflows(self.engine.store, namespace.id, request, custom)

    async def GetSearchAttributes(
        self, request: wsr.GetSearchAttributesRequest, context: GrpcContext
    ) -> wsr.GetSearchAttributesResponse:
        registry = self.deps.search_attributes
        keys = {**SYSTEM_ATTRIBUTES, **registry.custom}
        for per_namespace in registry.by_namespace.values():
            keys.update(per_namespace)
        return wsr.GetSearchAttributesResponse(keys=keys)  # type: ignore[arg-type]

    async def RequestCancelWorkflowExecution(
        self, request: wsr.RequestCancelWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.RequestCancelWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        execution = request.workflow_execution
        require(execution.workflow_id, "WorkflowId")
        check_run_id(execution.run_id)
        await request_cancel_workflow(
            self.engine,
            namespace.id,
            execution.workflow_id,
            execution.run_id,
            request.identity,
            request.reason,
            links=request.links,
        )
        return wsr.RequestCancelWorkflowExecutionResponse()

    async def TerminateWorkflowExecution(
        self, request: wsr.TerminateWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.TerminateWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        execution = request.workflow_execution
        require(execution.workflow_id, "WorkflowId")
        check_run_id(execution.run_id)
        details = request.details if request.HasField("details") else None
        await terminate_workflow(
            self.engine,
            namespace.id,
            execution.workflow_id,
            execution.run_id,
            request.reason or "terminated by user via frontend",
            details,
            request.identity,
            request.links,
        )
        return wsr.TerminateWorkflowExecutionResponse()

    async def ResetWorkflowExecution(
        self, request: wsr.ResetWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.ResetWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        execution = request.workflow_execution
        require(execution.workflow_id, "WorkflowId")
        check_run_id(execution.run_id)
        run_id = await reset_workflow(self.engine, namespace.id, request)
        return wsr.ResetWorkflowExecutionResponse(run_id=run_id)

    async def DeleteWorkflowExecution(
        self, request: wsr.DeleteWorkflowExecutionRequest, context: GrpcContext
    ) -> wsr.DeleteWorkflowExecutionResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        execution = request.workflow_execution
        require(execution.workflow_id, "WorkflowId")
        check_run_id(execution.run_id)
        run_id = await self.engine.resolve_run_id(namespace.id, execution.workflow_id, execution.run_id)
        state = (await self.engine.load(namespace.id, execution.workflow_id, run_id)).state
        if state.running:
            await terminate_workflow(
                self.engine,
                namespace.id,
                execution.workflow_id,
                run_id,
                "Delete workflow execution",
                None,
                "",
            )
        await self.engine.delete_execution(namespace.id, execution.workflow_id, run_id)
        return wsr.DeleteWorkflowExecutionResponse()
