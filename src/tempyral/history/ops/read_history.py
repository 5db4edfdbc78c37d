"""GetWorkflowExecutionHistory (paging, wait-new-event long poll, close-event filter) and its reverse form."""

from __future__ import annotations

from temporalio.api.enums.v1 import HistoryEventFilterType
from temporalio.api.history.v1 import message_pb2 as history
from temporalio.api.workflowservice.v1 import request_response_pb2 as wsr

from tempyral.history.engine import HistoryEngine
from tempyral.history.ops.workflow_task import transient_scheduled_event
from tempyral.history.page_tokens import decode_page_token, encode_page_token

DEFAULT_PAGE_SIZE = 1000


def _history_of(events: list[bytes]) -> history.History:
    result = history.History()
    for raw in events:
        result.events.add().ParseFromString(raw)
    return result


async def get_history(
    engine: HistoryEngine, namespace_id: str, request: wsr.GetWorkflowExecutionHistoryRequest, max_wait: float
) -> wsr.GetWorkflowExecutionHistoryResponse:
    workflow_id = request.execution.workflow_id
    if request.next_page_token:
        run_id, next_event_id = decode_page_token(request.next_page_token)
    else:
        run_id = await engine.resolve_run_id(namespace_id, workflow_id, request.execution.run_id)
        next_event_id = 1
    key = (namespace_id, workflow_id, run_id)
    entry = await engine.load(*key)
    if request.history_event_filter_type == HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT:
        # The close event is only worth asking for once it exists: this read always waits for it.
        return await _close_event(engine, key, request.wait_new_event, max_wait)
    if request.wait_new_event and entry.state.running:
        entry = await engine.wait_for_events(*key, next_event_id - 1, max_wait)
    page_size = request.maximum_page_size or DEFAULT_PAGE_SIZE
    page = entry.events[next_event_id - 1 : next_event_id - 1 + page_size]
    after = next_event_id + len(page)
    more = after <= len(entry.events) or (request.wait_new_event and entry.state.running)
    history_page = _history_of(page)
    task = entry.state.workflow_task
    if not more and entry.state.running and task is not None and task.transient:
        # Like the real server, show the retry of a failing workflow task as its pending SCHEDULED event.
        history_page.events.append(transient_scheduled_event(entry.state, task))
    return wsr.GetWorkflowExecutionHistoryResponse(
        history=history_page, next_page_token=encode_page_token(run_id, after) if more else b""
    )


async def _close_event(
    engine: HistoryEngine, key: tuple[str, str, str], wait_new_event: bool, wait: float
) -> wsr.GetWorkflowExecutionHistoryResponse:
    run_id = key[2]
    loop_deadline = engine.clock.now() + wait
    entry = await engine.load(*key)
    while entry.state.running:
        remaining = loop_deadline - engine.clock.now()
        if remaining <= 0:
            break
        entry = await engine.wait_for_events(*key, len(entry.events), remaining)
    state = entry.state
    if state.running:
        token = encode_page_token(run_id, len(entry.events) + 1) if wait_new_event else b""
        return wsr.GetWorkflowExecutionHistoryResponse(next_page_token=token)
    return wsr.GetWorkflowExecutionHistoryResponse(
        history=_history_of([entry.events[state.close_event_id - 1]])
    )


async def get_history_reverse(
    engine: HistoryEngine, namespace_id: str, request: wsr.GetWorkflowExecutionHistoryReverseRequest
) -> wsr.GetWorkflowExecutionHistoryReverseResponse:
    workflow_id = request.execution.workflow_id
    if request.next_page_token:
        run_id, last_event_id = decode_page_token(request.next_page_token)
        entry = await engine.load(namespace_id, workflow_id, run_id)
    else:
        run_id = await engine.resolve_run_id(namespace_id, workflow_id, request.execution.run_id)
        entry = await engine.load(namespace_id, workflow_id, run_id)
        last_event_id = len(entry.events)
    page_size = request.maximum_page_size or DEFAULT_PAGE_SIZE
    first_event_id = max(1, last_event_id - page_size + 1)
    page = list(reversed(entry.events[first_event_id - 1 : last_event_id]))
    token = encode_page_token(run_id, first_event_id - 1) if first_event_id > 1 else b""
    return wsr.GetWorkflowExecutionHistoryReverseResponse(history=_history_of(page), next_page_token=token)
