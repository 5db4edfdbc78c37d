"""Shared fixtures: one server subprocess per test session, a connected `temporalio` client, fresh names.

Set TEMPYRAL_TEST_SERVER=temporal to run the same suite against the real Temporal dev server: that is how a
test proves it checks real Temporal behaviour and not our own habits.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from tempyral.testing.servers import ServerKind, ServerProcess

SERVER_KIND: ServerKind = "temporal" if os.environ.get("TEMPYRAL_TEST_SERVER") == "temporal" else "tempyral"


@pytest.fixture(scope="session")
def server() -> Iterator[ServerProcess]:
    """The server the functional tests talk to, shared by the whole session."""
    process = ServerProcess(kind=SERVER_KIND, namespaces=["other-namespace"]).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    yield await Client.connect(server.address, namespace="default")


@pytest.fixture
def task_queue() -> str:
    """A task queue no other test uses, so tests sharing a server never steal each other's tasks."""
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def workflow_id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"
