"""Worker-facing RPCs: long polls for workflow and activity tasks and every way a worker answers them."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import TaskQueueKind
from temporalio.api.failure.v1 import message_pb2 as failure_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import InvalidArgument
from tempyral.frontend.context import FrontendDeps, GrpcContext
from tempyral.frontend.grpc_server import Handler
from tempyral.frontend.task_queue_describe import describe_task_queue, poller_info
from tempyral.frontend.validation import check_long_poll_deadline, check_run_id, require
from tempyral.history.ops import activity_task, workflow_task
from tempyral.history.ops.query import answer_query, query_task_response, stale_task_polled
from tempyral.history.proto_presence import present
from tempyral.tokens import TaskToken

CompletedRequest = wsr.RespondActivityTaskCompletedRequest | wsr.RespondActivityTaskCompletedByIdRequest
FailedRequest = wsr.RespondActivityTaskFailedRequest | wsr.RespondActivityTaskFailedByIdRequest
CanceledRequest = wsr.RespondActivityTaskCanceledRequest | wsr.RespondActivityTaskCanceledByIdRequest
HeartbeatRequest = wsr.RecordActivityTaskHeartbeatRequest | wsr.RecordActivityTaskHeartbeatByIdRequest
ActivityRequest = CompletedRequest | FailedRequest | CanceledRequest | HeartbeatRequest
_BY_ID_REQUESTS = (
    wsr.RespondActivityTaskCompletedByIdRequest,
    wsr.RespondActivityTaskFailedByIdRequest,
    wsr.RespondActivityTaskCanceledByIdRequest,
    wsr.RecordActivityTaskHeartbeatByIdRequest,
)


class WorkerService:
    def __init__(self, deps: FrontendDeps) -> None:
        self.deps = deps
        self.engine = deps.engine

    def methods(self) -> dict[str, Handler]:
        return {
            "PollWorkflowTaskQueue": self.PollWorkflowTaskQueue,
            "RespondWorkflowTaskCompleted": self.RespondWorkflowTaskCompleted,
            "RespondWorkflowTaskFailed": self.RespondWorkflowTaskFailed,
            "RespondQueryTaskCompleted": self.RespondQueryTaskCompleted,
            "PollActivityTaskQueue": self.PollActivityTaskQueue,
            "RespondActivityTaskCompleted": self.RespondActivityTaskCompleted,
            "RespondActivityTaskCompletedById": self.RespondActivityTaskCompletedById,
            "RespondActivityTaskFailed": self.RespondActivityTaskFailed,
            "RespondActivityTaskFailedById": self.RespondActivityTaskFailedById,
            "RespondActivityTaskCanceled": self.RespondActivityTaskCanceled,
            "RespondActivityTaskCanceledById": self.RespondActivityTaskCanceledById,
            "RecordActivityTaskHeartbeat": self.RecordActivityTaskHeartbeat,
            "RecordActivityTaskHeartbeatById": self.RecordActivityTaskHeartbeatById,
            "ResetStickyTaskQueue": self.ResetStickyTaskQueue,
            "ShutdownWorker": self.ShutdownWorker,
            "DescribeTaskQueue": self.DescribeTaskQueue,
        }

    def _poll_deadline(self, context: GrpcContext) -> float:
        check_long_poll_deadline(context.time_remaining())
        cap = self.deps.dynamic.get_seconds("matching.longPollExpirationInterval")
        return asyncio.get_running_loop().time() + self.deps.wait_budget(context, cap)

    # -- workflow tasks --------------------------------------------------------------------------------

    async def PollWorkflowTaskQueue(
        self, request: wsr.PollWorkflowTaskQueueRequest, context: GrpcContext
    ) -> wsr.PollWorkflowTaskQueueResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        queue = require(request.task_queue.name, "TaskQueue")
        deadline = self._poll_deadline(context)
        loop = asyncio.get_running_loop()
        while (remaining := deadline - loop.time()) > 0:
            ref = await self.engine.matching.poll(
                namespace.id, queue, "workflow", remaining, request.identity, poller_info(request)
            )
            if ref is None:
                break
            if ref.key.startswith("query/"):
                sticky = request.task_queue.kind == TaskQueueKind.TASK_QUEUE_KIND_STICKY
                query_response = await query_task_response(self.engine, self.deps.queries, ref, sticky)
                if query_response is not None:
                    return query_response
                continue
            try:
                response = await workflow_task.record_workflow_task_started(
                    self.engine, self.deps.queries, ref, request
                )
            except BaseException:
                self.engine.matching.add_task(
                    "workflow", queue, ref
                )  # not started: keep it for the next poller
                raise
            if response is not None:
                return response
            await stale_task_polled(self.engine, self.deps.queries, ref)
        return wsr.PollWorkflowTaskQueueResponse()

    def _workflow_token(self, raw: bytes) -> TaskToken:
        token = TaskToken.decode(raw)
        if token.kind != "workflow":
            raise InvalidArgument("Task token is not a workflow task token.")
        return token

    async def RespondWorkflowTaskCompleted(
        self, request: wsr.RespondWorkflowTaskCompletedRequest, context: GrpcContext
    ) -> wsr.RespondWorkflowTaskCompletedResponse:
        self.deps.namespaces.get(request.namespace)
        token = self._workflow_token(request.task_token)
        return await workflow_task.complete_workflow_task(self.engine, self.deps.queries, token, request)

    async def RespondWorkflowTaskFailed(
        self, request: wsr.RespondWorkflowTaskFailedRequest, context: GrpcContext
    ) -> wsr.RespondWorkflowTaskFailedResponse:
        self.deps.namespaces.get(request.namespace)
        token = self._workflow_token(request.task_token)
        await workflow_task.fail_workflow_task_request(self.engine, token, request)
        return wsr.RespondWorkflowTaskFailedResponse()

    async def RespondQueryTaskCompleted(
        self, request: wsr.RespondQueryTaskCompletedRequest, context: GrpcContext
    ) -> wsr.RespondQueryTaskCompletedResponse:
        self.deps.namespaces.get(request.namespace)
        token = TaskToken.decode(request.task_token)
        if token.kind != "query":
            raise InvalidArgument("Task token is not a query task token.")
        answer_query(self.deps.queries, token, request)
        return wsr.RespondQueryTaskCompletedResponse()

    # -- activity tasks --------------------------------------------------------------------------------

    async def PollActivityTaskQueue(
        self, request: wsr.PollActivityTaskQueueRequest, context: GrpcContext
    ) -> wsr.PollActivityTaskQueueResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        queue = require(request.task_queue.name, "TaskQueue")
        deadline = self._poll_deadline(context)
        loop = asyncio.get_running_loop()
        while (remaining := deadline - loop.time()) > 0:
            ref = await self.engine.matching.poll(
                namespace.id, queue, "activity", remaining, request.identity, poller_info(request)
            )
            if ref is None:
                break
            response = await activity_task.record_activity_task_started(
                self.engine, ref, request, namespace.name
            )
            if response is not None:
                return response
        return wsr.PollActivityTaskQueueResponse()

    async def _activity_token_of(self, request: ActivityRequest) -> TaskToken:
        """The task an activity request is about: by its task token, or (the *ById forms) by its ids."""
        if isinstance(request, _BY_ID_REQUESTS):
            namespace = self.deps.namespaces.get(request.namespace)
            require(request.workflow_id, "WorkflowId")
            require(request.activity_id, "ActivityId")
            check_run_id(request.run_id)
            run_id = await self.engine.resolve_run_id(namespace.id, request.workflow_id, request.run_id)
            return TaskToken(
                namespace.id,
                request.workflow_id,
                run_id,
                0,
                0,
                activity_id=request.activity_id,
                kind="activity",
            )
        self.deps.namespaces.get(request.namespace)
        token = TaskToken.decode(request.task_token)
        if token.kind != "activity":
            raise InvalidArgument("Task token is not an activity task token.")
        return token

    async def _complete(self, request: CompletedRequest) -> None:
        token = await self._activity_token_of(request)
        version = present(request, "worker_version")
        await activity_task.complete_activity(
            self.engine, token, present(request, "result"), request.identity, version
        )

    async def _fail(self, request: FailedRequest) -> list[failure_pb.Failure]:
        token = await self._activity_token_of(request)
        details = present(request, "last_heartbeat_details")
        version = present(request, "worker_version")
        replaced = await activity_task.fail_activity(
            self.engine, token, request.failure, request.identity, details, version
        )
        return [replaced] if replaced else []

    async def _cancel(self, request: CanceledRequest) -> None:
        token = await self._activity_token_of(request)
        await activity_task.cancel_activity(self.engine, token, present(request, "details"), request.identity)

    async def _heartbeat(self, request: HeartbeatRequest) -> bool:
        token = await self._activity_token_of(request)
        return await activity_task.record_heartbeat(
            self.engine, token, present(request, "details"), request.identity
        )

    async def RespondActivityTaskCompleted(
        self, request: wsr.RespondActivityTaskCompletedRequest, context: GrpcContext
    ) -> wsr.RespondActivityTaskCompletedResponse:
        await self._complete(request)
        return wsr.RespondActivityTaskCompletedResponse()

    async def RespondActivityTaskCompletedById(
        self, request: wsr.RespondActivityTaskCompletedByIdRequest, context: GrpcContext
    ) -> wsr.RespondActivityTaskCompletedByIdResponse:
        await self._complete(request)
        return wsr.RespondActivityTaskCompletedByIdResponse()

    async def RespondActivityTaskFailed(
        self, request: wsr.RespondActivityTaskFailedRequest, context: GrpcContext
    ) -> wsr.RespondActivityTaskFailedResponse:
        return wsr.RespondActivityTaskFailedResponse(failures=await self._fail(request))

    async def RespondActivityTaskFailedById(
        self, request: wsr.RespondActivityTaskFailedByIdRequest, context: GrpcContext
    ) -> wsr.RespondActivityTaskFailedByIdResponse:
        return wsr.RespondActivityTaskFailedByIdResponse(failures=await self._fail(request))

    async def RespondActivityTaskCanceled(
        self, request: wsr.RespondActivityTaskCanceledRequest, context: GrpcContext
    ) -> wsr.RespondActivityTaskCanceledResponse:
        await self._cancel(request)
        return wsr.RespondActivityTaskCanceledResponse()

    async def RespondActivityTaskCanceledById(
        self, request: wsr.RespondActivityTaskCanceledByIdRequest, context: GrpcContext
    ) -> wsr.RespondActivityTaskCanceledByIdResponse:
        await self._cancel(request)
        return wsr.RespondActivityTaskCanceledByIdResponse()

    async def RecordActivityTaskHeartbeat(
        self, request: wsr.RecordActivityTaskHeartbeatRequest, context: GrpcContext
    ) -> wsr.RecordActivityTaskHeartbeatResponse:
        return wsr.RecordActivityTaskHeartbeatResponse(cancel_requested=await self._heartbeat(request))

    async def RecordActivityTaskHeartbeatById(
        self, request: wsr.RecordActivityTaskHeartbeatByIdRequest, context: GrpcContext
    ) -> wsr.RecordActivityTaskHeartbeatByIdResponse:
        return wsr.RecordActivityTaskHeartbeatByIdResponse(cancel_requested=await self._heartbeat(request))

    # -- workers ---------------------------------------------------------------------------------------

    async def ResetStickyTaskQueue(
        self, request: wsr.ResetStickyTaskQueueRequest, context: GrpcContext
    ) -> wsr.ResetStickyTaskQueueResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        execution = request.execution
        require(execution.workflow_id, "WorkflowId")
        run_id = await self.engine.resolve_run_id(namespace.id, execution.workflow_id, execution.run_id)
        async with self.engine.update_execution(namespace.id, execution.workflow_id, run_id) as ctx:
            if ctx.state.sticky_task_queue:
                ctx.state.sticky_task_queue = ""
                ctx.touch()
        return wsr.ResetStickyTaskQueueResponse()

    async def DescribeTaskQueue(
        self, request: wsr.DescribeTaskQueueRequest, context: GrpcContext
    ) -> wsr.DescribeTaskQueueResponse:
        return describe_task_queue(request, self.deps.namespaces, self.engine.matching, self.deps.dynamic)

    async def ShutdownWorker(
        self, request: wsr.ShutdownWorkerRequest, context: GrpcContext
    ) -> wsr.ShutdownWorkerResponse:
        namespace = self.deps.namespaces.get(request.namespace)
        if request.sticky_task_queue:
            for ref in self.engine.matching.shutdown_sticky_queue(namespace.id, request.sticky_task_queue):
                await workflow_task.move_off_sticky_queue(self.engine, ref)
        return wsr.ShutdownWorkerResponse()
