"""Batch jobs: one operation (terminate, cancel, signal, delete, reset) applied in the background to every
workflow a visibility query matches or a request lists.

Jobs live in memory only (a restart forgets them, and stops the ones running). As on the real dev server,
a namespace runs one job at a time, a job id is never reused, and a workflow the operation cannot find
(or finds closed) still counts as completed: only other errors count as failures.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.api.batch.v1 import message_pb2 as batch_pb
from temporalio.api.enums.v1 import BatchOperationState, BatchOperationType, ResetType
from temporalio.api.enums.v1 import event_type_pb2 as ET  # plain ints: faster than the enum wrapper
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.errors import InvalidArgument, NotFound, ServiceError
from tempyral.history.engine import HistoryEngine
from tempyral.history.ops.cancel_terminate import request_cancel_workflow, terminate_workflow
from tempyral.history.ops.reset import reset_workflow
from tempyral.history.ops.signal import signal_workflow
from tempyral.visibility.listing import list_workflows

log = logging.getLogger(__name__)

RUNNING = BatchOperationState.BATCH_OPERATION_STATE_RUNNING
COMPLETED = BatchOperationState.BATCH_OPERATION_STATE_COMPLETED
FAILED = BatchOperationState.BATCH_OPERATION_STATE_FAILED

TERMINATE = BatchOperationType.BATCH_OPERATION_TYPE_TERMINATE_WORKFLOW
CANCEL = BatchOperationType.BATCH_OPERATION_TYPE_CANCEL_WORKFLOW
SIGNAL = BatchOperationType.BATCH_OPERATION_TYPE_SIGNAL_WORKFLOW
DELETE = BatchOperationType.BATCH_OPERATION_TYPE_DELETE_WORKFLOW
RESET = BatchOperationType.BATCH_OPERATION_TYPE_RESET_WORKFLOW

# The real server's batch worker terminates and cancels as itself: an SDK worker's default identity,
# "<pid>@<host>@", whatever identity the request named (signals keep the request's identity).
BATCH_WORKER_IDENTITY = f"{os.getpid()}@{socket.gethostname()}@"
# Operations in flight at once within one job: bounded so that a big job does not starve workers' calls.
CONCURRENCY = 8
# Finished jobs remembered per namespace; the oldest are forgotten first.
MAX_REMEMBERED_JOBS = 1000
_LIST_PAGE_SIZE = 1000

Target = tuple[str, str]  # (workflow id, run id or "" for the current run)


class BatchLimitReached(ServiceError):
    code = "RESOURCE_EXHAUSTED"


class JobIdTaken(ServiceError):
    code = "ALREADY_EXISTS"


@dataclass
class BatchJob:
    namespace_id: str
    request: wsr.StartBatchOperationRequest
    operation_type: int
    start_time: float
    # The real server runs each job as a workflow; its run id shows in the duplicate-job-id error.
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: int = RUNNING
    close_time: float | None = None
    total: int = 0
    complete: int = 0
    failure: int = 0
    task: asyncio.Task[None] | None = None

    @property
    def job_id(self) -> str:
        return self.request.job_id


class BatchJobs:
    """Every namespace's jobs, newest last, and the tasks running them."""

    def __init__(self, engine: HistoryEngine) -> None:
        self.engine = engine
        self._jobs: dict[str, dict[str, BatchJob]] = {}

    def start(
        self, namespace_id: str, request: wsr.StartBatchOperationRequest, custom: dict[str, str]
    ) -> BatchJob:
        jobs = self._jobs.setdefault(namespace_id, {})
        if any(job.state == RUNNING for job in jobs.values()):
            raise BatchLimitReached("Max concurrent batch operations is reached")
        if (taken := jobs.get(request.job_id)) is not None:
            raise JobIdTaken(
                f"Workflow execution already finished. WorkflowId: {request.job_id}, RunId: {taken.run_id}. "
                "Workflow Id reuse policy: reject duplicate workflow Id."
            )
        job = BatchJob(namespace_id, request, operation_type(request), self.engine.clock.now())
        jobs[job.job_id] = job
        self._forget_oldest(jobs)
        job.task = asyncio.create_task(self._run(job, custom), name=f"batch {job.job_id}")
        return job

    def get(self, namespace_id: str, job_id: str) -> BatchJob:
        job = self._jobs.get(namespace_id, {}).get(job_id)
        if job is None:
            raise NotFound(f"workflow not found for ID: {job_id}")
        return job

    def newest_first(self, namespace_id: str) -> list[BatchJob]:
        return list(reversed(self._jobs.get(namespace_id, {}).values()))

    def stop(self, namespace_id: str, job_id: str) -> None:
        """A stopped job ends FAILED, as the real server reports a terminated batch workflow."""
        job = self.get(namespace_id, job_id)
        if job.state != RUNNING:
            raise NotFound("workflow execution already completed")
        if job.task is not None:
            job.task.cancel()
        self._close(job, FAILED)

    def shutdown(self) -> None:
        for jobs in self._jobs.values():
            for job in jobs.values():
                if job.task is not None:
                    job.task.cancel()

    def _forget_oldest(self, jobs: dict[str, BatchJob]) -> None:
        finished = [job_id for job_id, job in jobs.items() if job.state != RUNNING]
        for job_id in finished[: max(0, len(jobs) - MAX_REMEMBERED_JOBS)]:
            del jobs[job_id]

    def _close(self, job: BatchJob, state: int) -> None:
        job.state = state
        job.close_time = self.engine.clock.now()

    async def _run(self, job: BatchJob, custom: dict[str, str]) -> None:
        try:
            # All targets are listed first: an operation that closes a workflow would shift later pages.
            targets = await self._targets(job, custom)
            job.total = len(targets)
            apply = _operation(self.engine, job)
            limit = asyncio.Semaphore(CONCURRENCY)
            await asyncio.gather(*(self._apply_one(job, apply, target, limit) for target in targets))
        except asyncio.CancelledError:
            return  # stopped: `stop` has closed the job already
        except Exception:  # a job that cannot go on fails; the server keeps serving
            log.exception("batch job %s failed", job.job_id)
            self._close(job, FAILED)
            return
        self._close(job, COMPLETED)

    async def _apply_one(
        self,
        job: BatchJob,
        apply: Callable[[Target], Awaitable[None]],
        target: Target,
        limit: asyncio.Semaphore,
    ) -> None:
        async with limit:
            try:
                await apply(target)
            except NotFound:
                job.complete += 1  # gone or closed already: nothing left to do, not a failure
            except ServiceError:
                job.failure += 1
            else:
                job.complete += 1

    async def _targets(self, job: BatchJob, custom: dict[str, str]) -> list[Target]:
        request = job.request
        if request.executions:
            return [(e.workflow_id, e.run_id) for e in request.executions]
        if request.target_executions:
            return [(e.business_id, e.run_id) for e in request.target_executions]
        query = effective_query(request.visibility_query, job.operation_type)
        targets: list[Target] = []
        token = b""
        while True:
            page = await list_workflows(
                self.engine.store,
                job.namespace_id,
                wsr.ListWorkflowExecutionsRequest(
                    query=query, page_size=_LIST_PAGE_SIZE, next_page_token=token
                ),
                custom,
            )
            targets += [(info.execution.workflow_id, info.execution.run_id) for info in page.executions]
            token = page.next_page_token
            if not token:
                return targets


def operation_type(request: wsr.StartBatchOperationRequest) -> int:
    """The job's type, from which operation the request carries (UNSPECIFIED: none we run)."""
    kinds = {
        "termination_operation": TERMINATE,
        "cancellation_operation": CANCEL,
        "signal_operation": SIGNAL,
        "deletion_operation": DELETE,
        "reset_operation": RESET,
    }
    name = request.WhichOneof("operation")
    return kinds.get(name or "", BatchOperationType.BATCH_OPERATION_TYPE_UNSPECIFIED)


def effective_query(query: str, kind: int) -> str:
    """Terminate, cancel and signal only make sense for running workflows, so the real server narrows
    their query to those (Describe still reports the query as given)."""
    if kind in (TERMINATE, CANCEL, SIGNAL):
        return f"({query}) AND ExecutionStatus = 'Running'"
    return query


def _operation(engine: HistoryEngine, job: BatchJob) -> Callable[[Target], Awaitable[None]]:
    """The coroutine that applies the job's operation to one workflow."""
    request = job.request
    namespace_id = job.namespace_id

    async def terminate(target: Target) -> None:
        await terminate_workflow(engine, namespace_id, *target, request.reason, None, BATCH_WORKER_IDENTITY)

    async def cancel(target: Target) -> None:
        # The real batch cancel passes no reason: the event's `cause` stays empty.
        await request_cancel_workflow(engine, namespace_id, *target, BATCH_WORKER_IDENTITY, "")

    async def signal(target: Target) -> None:
        await signal_workflow(engine, namespace_id, _signal_request(job, target))

    async def delete(target: Target) -> None:
        await delete_workflow(engine, namespace_id, *target)

    async def reset(target: Target) -> None:
        await _reset(engine, job, target)

    operations: dict[int, Callable[[Target], Awaitable[None]]] = {
        TERMINATE: terminate,
        CANCEL: cancel,
        SIGNAL: signal,
        DELETE: delete,
        RESET: reset,
    }
    return operations[job.operation_type]


def _signal_request(job: BatchJob, target: Target) -> wsr.SignalWorkflowExecutionRequest:
    operation = job.request.signal_operation
    request = wsr.SignalWorkflowExecutionRequest(
        signal_name=operation.signal,
        identity=operation.identity,
        # Derived, so that a retried operation is deduplicated (the real server's ids are version 5 too).
        request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"batch/{job.run_id}/{target[0]}/{target[1]}")),
    )
    request.workflow_execution.workflow_id, request.workflow_execution.run_id = target
    if operation.HasField("input"):
        request.input.CopyFrom(operation.input)
    if operation.HasField("header"):
        request.header.CopyFrom(operation.header)
    return request


async def delete_workflow(engine: HistoryEngine, namespace_id: str, workflow_id: str, run_id: str) -> None:
    """What DeleteWorkflowExecution does: terminate the run if it still runs, then remove it."""
    run_id = await engine.resolve_run_id(namespace_id, workflow_id, run_id)
    state = (await engine.load(namespace_id, workflow_id, run_id)).state
    if state.running:
        await terminate_workflow(
            engine, namespace_id, workflow_id, run_id, "Delete workflow execution", None, ""
        )
    await engine.delete_execution(namespace_id, workflow_id, run_id)


async def _reset(engine: HistoryEngine, job: BatchJob, target: Target) -> None:
    operation = job.request.reset_operation
    workflow_id, run_id = target
    run_id = await engine.resolve_run_id(job.namespace_id, workflow_id, run_id)
    events = (await engine.load(job.namespace_id, workflow_id, run_id)).events
    options = operation.options
    request = wsr.ResetWorkflowExecutionRequest(
        reason=job.request.reason,
        workflow_task_finish_event_id=reset_point(events, operation),
        request_id=str(uuid.uuid4()),
        reset_reapply_type=options.reset_reapply_type or operation.reset_reapply_type,
        reset_reapply_exclude_types=options.reset_reapply_exclude_types,
        post_reset_operations=operation.post_reset_operations,
        identity=operation.identity,
    )
    request.workflow_execution.workflow_id = workflow_id
    request.workflow_execution.run_id = run_id
    await reset_workflow(engine, job.namespace_id, request)


def reset_point(events: list[bytes], operation: batch_pb.BatchOperationReset) -> int:
    """The event a reset goes back to: the first or last completed workflow task, or the one named."""
    options = operation.options
    target = options.WhichOneof("target")
    if target == "workflow_task_id":
        return options.workflow_task_id
    if target is None and operation.reset_type == ResetType.RESET_TYPE_UNSPECIFIED:
        raise InvalidArgument("unsupported reset type")
    completed = [
        event.event_id
        for event in map(history.HistoryEvent.FromString, events)
        if event.event_type == ET.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    if not completed:
        raise InvalidArgument("Unable to find a workflow task to reset to")
    first = target == "first_workflow_task" or (
        target is None and operation.reset_type == ResetType.RESET_TYPE_FIRST_WORKFLOW_TASK
    )
    return completed[0] if first else completed[-1]
