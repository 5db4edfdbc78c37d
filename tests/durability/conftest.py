"""Fixtures for the crash tests: a server on a SQLite file of the test's own, which a test may SIGKILL and
restart (same port, same file) as often as it likes.

TEMPYRAL_TEST_SERVER=temporal runs them against the real Temporal dev server, like the rest of the suite.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tempyral.testing.servers import ServerKind, ServerProcess

from .crash import Crasher

SERVER_KIND: ServerKind = "temporal" if os.environ.get("TEMPYRAL_TEST_SERVER") == "temporal" else "tempyral"


@pytest.fixture
def durable_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server per test, so each test's crashes hit only its own database."""
    process = ServerProcess(kind=SERVER_KIND, db_filename=str(tmp_path / "durable.db")).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def crasher(durable_server: ServerProcess) -> Crasher:
    return Crasher(durable_server)


@pytest.fixture
async def durable_client(durable_server: ServerProcess) -> AsyncIterator[Client]:
    yield await Client.connect(durable_server.address, namespace="default")
