"""Session fixtures for the differential suite: one real dev server, one Tempyral server, and the results of
every scenario on both, computed once (concurrently, within a deadline) and shared by the per-scenario tests.

    pytest tests/differential -m differential            # every scenario, about 70 s
    pytest tests/differential -k 07a                     # one scenario on both servers
    DIFFERENTIAL_AGAINST=temporal pytest tests/differential   # self-check: real server vs real server
    python -m tests.differential.record_oracle --out F   # rewrite the oracle document from the real server
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from temporalio.client import Client

from tempyral.testing.servers import ServerKind, ServerProcess
from tests.differential.catalog import ALL_SCENARIOS, Outcome, run_all
from tests.differential.harness import Scenario

SUBJECT_KIND: ServerKind = "temporal" if os.environ.get("DIFFERENTIAL_AGAINST") == "temporal" else "tempyral"


def _server(kind: ServerKind) -> Iterator[ServerProcess]:
    process = ServerProcess(kind=kind).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[ServerProcess]:
    yield from _server("temporal")


@pytest.fixture(scope="session")
def tempyral_server() -> Iterator[ServerProcess]:
    # DIFFERENTIAL_AGAINST=temporal compares the real server with a second real server: a self-check that
    # the scenarios and the normalization are deterministic (it must pass with no mismatch).
    yield from _server(SUBJECT_KIND)


def _selected(request: pytest.FixtureRequest) -> list[Scenario]:
    """Only the scenarios the selected tests compare (`-k 07a` runs one), or all of them."""
    names = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "name" not in callspec.params:
            return ALL_SCENARIOS  # a test that looks at every scenario
        names.add(callspec.params["name"])
    return [scenario for scenario in ALL_SCENARIOS if scenario.name in names]


async def _results(server: ServerProcess, scenarios: list[Scenario], concurrency: int) -> dict[str, Outcome]:
    client = await Client.connect(server.address)
    return await run_all(client, server.address, scenarios, concurrency=concurrency, deadline_seconds=100)


@pytest.fixture(scope="session")
async def oracle_results(
    request: pytest.FixtureRequest, temporal_server: ServerProcess
) -> AsyncIterator[dict[str, Outcome]]:
    yield await _results(temporal_server, _selected(request), concurrency=6)


@pytest.fixture(scope="session")
async def tempyral_results(
    request: pytest.FixtureRequest, oracle_results: dict[str, Outcome], tempyral_server: ServerProcess
) -> AsyncIterator[dict[str, Outcome]]:
    # Depends on oracle_results so the two runs never compete for the two cores (timing-sensitive scenarios).
    yield await _results(tempyral_server, _selected(request), concurrency=4)
