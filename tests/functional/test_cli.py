"""`tempyral server start-dev`: its flags, and a clean exit on SIGINT and SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from tempyral.testing.servers import ServerProcess, free_port
from tests.conftest import SERVER_KIND

pytestmark = pytest.mark.skipif(SERVER_KIND != "tempyral", reason="exercises Tempyral's own command line")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_clean_exit_on_signal(signum: signal.Signals) -> None:
    server = ServerProcess().start()
    assert server.process is not None
    server.process.send_signal(signum)
    assert server.process.wait(timeout=15) == 0
    assert "shutting down" in server.log_tail()


async def test_namespaces_and_dynamic_config_flags() -> None:
    server = ServerProcess(
        namespaces=["ns-one", "ns-two"],
        extra_args=[
            "--dynamic-config-value",
            "limit.blobSize.error=1048576",
            "--dynamic-config-value",
            'frontend.someSwitchWeDoNotHave="x"',
            "--search-attribute",
            "CustomKeywordField=Keyword",
        ],
    ).start()
    try:
        for namespace in ("default", "ns-one", "ns-two"):
            client = await Client.connect(server.address, namespace=namespace)
            description = await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace)
            )
            assert description.namespace_info.limits.blob_size_limit_error == 1048576
    finally:
        server.stop()
    # Unknown keys are accepted, with a warning naming them.
    assert "frontend.someSwitchWeDoNotHave" in server.log_tail()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dynamic-config-value", "limit.blobSize.error"], "KEY=VALUE"),
        (["--dynamic-config-value", "limit.blobSize.error=not json"], "must be JSON"),
        (["--search-attribute", "Foo=Nonsense"], "Name=Type"),
    ],
)
def test_bad_flags_exit_with_a_message(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tempyral", "server", "start-dev", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr


_START_DEV = [sys.executable, "-m", "tempyral", "server", "start-dev", "--headless"]


def test_a_database_file_serves_one_process_at_a_time(tmp_path: Path) -> None:
    """A second server on the same SQLite file is refused (two writers would each trust their own cache);
    once the first is killed, the file is free again."""
    db = str(tmp_path / "shared.db")
    first = ServerProcess(db_filename=db).start()
    try:
        second = subprocess.run(
            [*_START_DEV, "--port", str(free_port()), "--db-filename", db],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert f"error: database {db} is in use by another Tempyral process" in second.stderr
    finally:
        first.kill()
    # SIGKILL releases the lock with the process: the next server starts.
    ServerProcess(db_filename=db).start().stop()
