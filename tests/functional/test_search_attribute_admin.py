"""OperatorService search attributes: add, list, use in a start and a list filter, remove; persisted across
a restart of the server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
    RemoveSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from tempyral.testing.servers import ServerProcess
from tests.conftest import SERVER_KIND
from tests.helpers.eventually import assert_eventually

pytestmark = pytest.mark.skipif(
    SERVER_KIND != "tempyral", reason="restarts Tempyral on its own database file"
)

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD


async def test_register_use_and_remove_a_search_attribute(tmp_path: Path) -> None:
    server = ServerProcess(db_filename=str(tmp_path / "sa.db")).start()
    try:
        client = await Client.connect(server.address)
        operator = client.operator_service
        await operator.add_search_attributes(
            AddSearchAttributesRequest(namespace="default", search_attributes={"CustomerId": KEYWORD})
        )
        server.stop()
        server.restart()
        client = await Client.connect(server.address)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert listed.custom_attributes["CustomerId"] == KEYWORD
        assert "WorkflowId" in listed.system_attributes

        customer = SearchAttributeKey.for_keyword("CustomerId")
        workflow_id = f"sa-{uuid.uuid4().hex[:8]}"
        handle = await client.start_workflow(
            "Anything",
            id=workflow_id,
            task_queue="nobody",
            search_attributes=TypedSearchAttributes([SearchAttributePair(customer, "c-42")]),
        )

        async def found() -> None:
            ids = [w.id async for w in client.list_workflows("CustomerId = 'c-42'")]
            assert ids == [workflow_id]

        await assert_eventually(found)
        await handle.terminate()
        await client.operator_service.remove_search_attributes(
            RemoveSearchAttributesRequest(namespace="default", search_attributes=["CustomerId"])
        )
        with pytest.raises(RPCError) as caught:
            [w async for w in client.list_workflows("CustomerId = 'c-42'")]
        assert caught.value.status == RPCStatusCode.INVALID_ARGUMENT
    finally:
        server.stop()
