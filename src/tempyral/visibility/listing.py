"""ListWorkflowExecutions and CountWorkflowExecutions over the visibility table."""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.common.v1 import message_pb2 as common
from temporalio.api.workflow.v1 import message_pb2 as workflow_pb
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.clock import to_timestamp
from tempyral.durations import to_duration
from tempyral.offset_tokens import decode_offset_token, encode_offset_token
from tempyral.persistence.sqlite.store import SqliteStore
from tempyral.visibility.query import is_group_by_status, parse, to_sql

DEFAULT_PAGE_SIZE = 1000


async def list_workflows(
    store: SqliteStore, namespace_id: str, request: wsr.ListWorkflowExecutionsRequest, custom: dict[str, str]
) -> wsr.ListWorkflowExecutionsResponse:
    where, params, order_by = to_sql(parse(request.query), custom)
    page_size = request.page_size or DEFAULT_PAGE_SIZE
    offset = decode_offset_token(request.next_page_token)
    rows = await store.list_visibility(namespace_id, where, params, order_by, page_size + 1, offset)
    more = len(rows) > page_size
    return wsr.ListWorkflowExecutionsResponse(
        executions=[execution_info(row) for row in rows[:page_size]],
        next_page_token=encode_offset_token(offset + page_size) if more else b"",
    )


async def count_workflows(
    store: SqliteStore, namespace_id: str, request: wsr.CountWorkflowExecutionsRequest, custom: dict[str, str]
) -> wsr.CountWorkflowExecutionsResponse:
    query = parse(request.query)
    where, params, _ = to_sql(query, custom)
    group_by_status = is_group_by_status(query)
    counts = await store.count_visibility(namespace_id, where, params, group_by_status)
    response = wsr.CountWorkflowExecutionsResponse(count=sum(count for _, count in counts))
    if group_by_status:
        for status, count in counts:
            group = response.groups.add(count=count)
            value = group.group_values.add()
            value.metadata["encoding"] = b"json/plain"
            value.metadata["type"] = b"Keyword"
            value.data = json.dumps(_STATUS_NAMES.get(status, str(status))).encode()
    return response


_STATUS_NAMES = {
    1: "Running",
    2: "Completed",
    3: "Failed",
    4: "Canceled",
    5: "Terminated",
    6: "ContinuedAsNew",
    7: "TimedOut",
}


def execution_info(row: tuple[Any, ...]) -> workflow_pb.WorkflowExecutionInfo:
    (
        _namespace_id,
        workflow_id,
        run_id,
        workflow_type,
        status,
        start_time,
        close_time,
        execution_time,
        execution_duration,
        task_queue,
        history_length,
        history_size_bytes,
        parent_workflow_id,
        root_workflow_id,
        _search_attributes,
        memo_raw,
        search_attributes_raw,
        root_run_id,
        parent_run_id,
        state_transition_count,
    ) = row
    info = workflow_pb.WorkflowExecutionInfo(
        execution=common.WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        type=common.WorkflowType(name=workflow_type),
        status=status,
        task_queue=task_queue,
        memo=common.Memo.FromString(memo_raw or b""),
        search_attributes=common.SearchAttributes.FromString(search_attributes_raw or b""),
    )
    info.start_time.CopyFrom(to_timestamp(start_time))
    info.execution_time.CopyFrom(to_timestamp(execution_time))
    if close_time is not None:
        info.close_time.CopyFrom(to_timestamp(close_time))
        info.execution_duration.CopyFrom(to_duration(execution_duration or 0.0))
        # Recorded at close only, as the real server's visibility does (an open run lists them as 0).
        info.history_length = history_length
        info.history_size_bytes = history_size_bytes
        info.state_transition_count = state_transition_count
    if parent_workflow_id:
        info.parent_execution.workflow_id = parent_workflow_id
        info.parent_execution.run_id = parent_run_id or ""
    if root_workflow_id:
        info.root_execution.workflow_id = root_workflow_id
        info.root_execution.run_id = root_run_id or ""
    return info


def legacy_query(
    request: wsr.ListOpenWorkflowExecutionsRequest | wsr.ListClosedWorkflowExecutionsRequest, open_runs: bool
) -> str:
    """The list-filter query equivalent to the filters of the older ListOpen/ListClosed calls."""
    conditions = ["ExecutionStatus = 'Running'" if open_runs else "ExecutionStatus != 'Running'"]
    if request.HasField("start_time_filter"):
        window = request.start_time_filter
        earliest = window.earliest_time.ToDatetime().isoformat() + "Z"
        latest = (
            window.latest_time.ToDatetime().isoformat() + "Z"
            if window.latest_time.seconds
            else "9999-12-31T00:00:00Z"
        )
        conditions.append(f"StartTime BETWEEN {_quoted(earliest)} AND {_quoted(latest)}")
    if request.HasField("execution_filter"):
        conditions.append(f"WorkflowId = {_quoted(request.execution_filter.workflow_id)}")
        if request.execution_filter.run_id:
            conditions.append(f"RunId = {_quoted(request.execution_filter.run_id)}")
    if request.HasField("type_filter"):
        conditions.append(f"WorkflowType = {_quoted(request.type_filter.name)}")
    if isinstance(request, wsr.ListClosedWorkflowExecutionsRequest) and request.HasField("status_filter"):
        status = _STATUS_NAMES.get(request.status_filter.status)
        if status is not None:
            conditions.append(f"ExecutionStatus = {_quoted(status)}")
    return " AND ".join(conditions)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
