"""Run every differential scenario against one server and write what it recorded as a Markdown document.

    python -m tests.differential.record_oracle [--kind temporal] [--out /work/oracle/histories.md] [NAME...]

With the real dev server this is the oracle document the engine is built from.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from temporalio.client import Client

from tempyral.testing.servers import ServerProcess
from tests.differential.catalog import ALL_SCENARIOS, Outcome, run_all
from tests.differential.harness import Scenario
from tests.differential.normalize import compact, render_event


def render_note(key: str, value: Any) -> list[str]:
    if key.endswith(".history") and isinstance(value, list):
        return [f"- `{key}`:", "```", *[render_event(event) for event in value], "```"]
    text = compact(value)
    if len(text) < 160:
        return [f"- `{key}`: `{text}`"]
    return [f"- `{key}`:", "```json", json.dumps(value, indent=1), "```"]


def render(scenario: Scenario, result: Outcome) -> str:
    lines = [f"### {scenario.name}: {scenario.title}", ""]
    if isinstance(result, str):
        lines += ["```", result, "```", ""]
        return "\n".join(lines)
    for label, events in result.histories.items():
        lines += [f"History `{label}`:", "```", *[render_event(event) for event in events], "```"]
    for key, value in result.notes.items():
        lines += render_note(key, value)
    lines.append("")
    return "\n".join(lines)


async def record(kind: str, names: list[str], concurrency: int) -> str:
    chosen = [s for s in ALL_SCENARIOS if not names or any(s.name.startswith(n) for n in names)]
    server = ServerProcess(kind=kind).start()  # type: ignore[arg-type]
    try:
        client = await Client.connect(server.address)
        results = await run_all(client, server.address, chosen, concurrency=concurrency)
    finally:
        server.stop()
    return "\n".join(render(s, results[s.name]) for s in chosen)


HEADER = """# What the real Temporal dev server writes (oracle)

Recorded with `python -m tests.differential.record_oracle --kind temporal --out FILE` (`{version}`,
temporalio SDK worker/client). Each event: id, type, the non-default fields of its attributes. Masked:
timestamps (`<time>`), request/run ids, sizes, task tokens, build ids, stack traces; `<tq>`/`<wf>` are the
scenario's random task queue/workflow id; `<sticky>` a worker's sticky queue; `<sdk-identity>` the SDK
client's and worker's identity (pid@host), `raw-poller`/`raw` the hand-played gRPC worker; payloads are
shown as their JSON text (`json:...`, cut at 120 chars). Durations in seconds. Scenario sources:
tests/differential/{{scenarios,raw_scenarios,workflows}}.py.

"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="temporal", choices=["temporal", "tempyral"])
    parser.add_argument("--out", default="-")
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    body = asyncio.run(record(args.kind, args.names, args.concurrency))
    version = subprocess.run(["temporal", "--version"], capture_output=True, text=True).stdout.strip()
    notes = (Path(__file__).parent / "ORACLE_NOTES.md").read_text()
    text = HEADER.format(version=version) + notes + "\n## Recordings\n\n" + body
    if args.out == "-":
        print(text)
    else:
        with open(args.out, "w") as out:
            out.write(text)


if __name__ == "__main__":
    main()
