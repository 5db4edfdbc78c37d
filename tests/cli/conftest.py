"""Fixtures for the CLI tests: the `temporal` CLI bound to the session's server, and a worker per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tempyral.testing.servers import ServerProcess

from ._cli import TemporalCli
from ._workflows import ACTIVITIES, WORKFLOWS

WORKER_IDENTITY = "cli-test-worker"
WORKER_BUILD_ID = "cli-test-build"


@pytest.fixture(scope="session")
def cli(server: ServerProcess) -> TemporalCli:
    return TemporalCli(server.address)


@pytest.fixture
async def worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """A real worker on the test's own task queue, with a fixed identity and build id to assert on."""
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=ACTIVITIES,
        identity=WORKER_IDENTITY,
        build_id=WORKER_BUILD_ID,
    ) as running:
        yield running
