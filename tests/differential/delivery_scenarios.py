"""Differential scenarios for queries riding in workflow tasks and update-with-start (issue 3's last parts).

Queries leave no events, so their scenario compares the history around them and what the poller and the
caller saw; update-with-start compares the new run's history and the ExecuteMultiOperation response.
"""

from __future__ import annotations

import asyncio

from temporalio.api.common.v1 import WorkflowType
from temporalio.api.enums.v1 import (
    QueryResultType,
    UpdateWorkflowExecutionLifecycleStage,
    WorkflowIdConflictPolicy,
)
from temporalio.api.query.v1 import message_pb2 as query_pb
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.update.v1 import message_pb2 as update_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tests.differential.harness import NAMESPACE, Ctx, Scenario, execution, json_payloads, outcome
from tests.differential.normalize import to_plain

# Nothing outside the server shows that a query is waiting: give it this head start before the poll.
_QUERY_HEAD_START = 0.5


async def query_in_first_task(ctx: Ctx) -> None:
    """A query sent before any worker polls rides the first workflow task and is answered with it."""
    handle = await ctx.client.start_workflow("RawWorkflow", "in", id=ctx.wf_id(), task_queue=ctx.task_queue)
    query = asyncio.ensure_future(
        ctx.call(
            "query",
            ctx.stub.QueryWorkflow,
            wsr.QueryWorkflowRequest(
                namespace=NAMESPACE,
                execution=execution(ctx.wf_id()),
                query=query_pb.WorkflowQuery(query_type="state", query_args=json_payloads("arg")),
            ),
        )
    )
    await asyncio.sleep(_QUERY_HEAD_START)
    task = await ctx.poll_workflow_task()
    # Query ids are random: note what the task carried, not the ids.
    ctx.note("carried_queries", [to_plain(carried) for carried in task.queries.values()])
    ctx.note("legacy_query_field_set", task.HasField("query"))
    answers = {
        query_id: query_pb.WorkflowQueryResult(
            result_type=QueryResultType.QUERY_RESULT_TYPE_ANSWERED, answer=json_payloads("answer")
        )
        for query_id in task.queries
    }
    await ctx.call(
        "respond_completed",
        ctx.stub.RespondWorkflowTaskCompleted,
        wsr.RespondWorkflowTaskCompletedRequest(
            namespace=NAMESPACE, task_token=task.task_token, identity="raw-poller", query_results=answers
        ),
    )
    await query
    await handle.terminate("done")
    ctx.track_handle(handle)


async def update_with_start(ctx: Ctx) -> None:
    """ExecuteMultiOperation starts Interactive with an update its first task accepts and completes."""
    start = wsr.StartWorkflowExecutionRequest(
        namespace=NAMESPACE,
        workflow_id=ctx.wf_id(),
        workflow_type=WorkflowType(name="Interactive"),
        task_queue=TaskQueue(name=ctx.task_queue),
        request_id="update-with-start",
        identity="raw-caller",
        workflow_id_conflict_policy=WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
    )
    update = wsr.UpdateWorkflowExecutionRequest(
        namespace=NAMESPACE,
        workflow_execution=execution(ctx.wf_id()),
        request=update_pb.Request(
            meta=update_pb.Meta(update_id="with-start", identity="raw-caller"),
            input=update_pb.Input(name="add_and_count", args=json_payloads("first")),
        ),
        wait_policy=update_pb.WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED
        ),
    )
    Operation = wsr.ExecuteMultiOperationRequest.Operation
    async with ctx.worker():
        await ctx.call(
            "execute_multi_operation",
            ctx.stub.ExecuteMultiOperation,
            wsr.ExecuteMultiOperationRequest(
                namespace=NAMESPACE,
                operations=[Operation(start_workflow=start), Operation(update_workflow=update)],
            ),
            timeout=30,
        )
        handle = ctx.client.get_workflow_handle(ctx.wf_id())
        await handle.signal("finish")
        ctx.note("outcome", await outcome(handle))
    ctx.track_handle(handle)


DELIVERY_SCENARIOS = [
    Scenario(
        "40_query_in_first_task",
        "a query sent before any poll rides the first workflow task",
        query_in_first_task,
    ),
    Scenario(
        "41_update_with_start", "ExecuteMultiOperation [Start, Update] of a new workflow", update_with_start
    ),
]
