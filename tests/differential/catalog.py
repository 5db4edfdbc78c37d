"""Every differential scenario, and running a set of them concurrently against one server by a deadline."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from temporalio.client import Client

from tests.differential.composition_scenarios import COMPOSITION_SCENARIOS
from tests.differential.delivery_scenarios import DELIVERY_SCENARIOS
from tests.differential.harness import Scenario, ScenarioResult, run_scenario
from tests.differential.raw_scenarios import RAW_SCENARIOS
from tests.differential.reset_scenarios import RESET_SCENARIOS
from tests.differential.scenarios import SDK_SCENARIOS

ALL_SCENARIOS: list[Scenario] = sorted(
    [*SDK_SCENARIOS, *RAW_SCENARIOS, *DELIVERY_SCENARIOS, *RESET_SCENARIOS, *COMPOSITION_SCENARIOS],
    key=lambda s: s.name,
)

# What a scenario yields: its normalized result, or the formatted error that stopped it.
Outcome = ScenarioResult | str


def _awaiting(task: asyncio.Future[Any]) -> str:
    """Where a suspended scenario waits: its chain of awaited coroutines, innermost last."""
    lines = []
    coro = getattr(task, "get_coro", lambda: None)()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return "\n".join(lines)


async def run_all(
    client: Client,
    address: str,
    scenarios: list[Scenario],
    concurrency: int = 6,
    deadline_seconds: float = 120.0,
    per_scenario_seconds: float = 45.0,
) -> dict[str, Outcome]:
    """Run the scenarios, a few at a time; one that errors or runs past its time yields its traceback."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_seconds
    gate = asyncio.Semaphore(concurrency)

    async def one(scenario: Scenario) -> Outcome:
        async with gate:
            budget = min(per_scenario_seconds, deadline - loop.time())
            if budget <= 0:
                return "not run: the whole run's deadline passed before this scenario's turn"
            task = asyncio.ensure_future(run_scenario(client, address, scenario))
            done, _ = await asyncio.wait({task}, timeout=budget)
            if not done:
                where = _awaiting(task)
                # Not wait_for: it would wait for the cancelled scenario, and a worker shutting down
                # against a hung server may never finish. Give it a moment, then abandon it.
                task.cancel()
                await asyncio.wait({task}, timeout=5)
                return f"timed out after {budget:.0f} s, waiting at:\n{where}"
            error = task.exception()
            if error is not None:
                return "".join(traceback.format_exception(error)).strip()
            return task.result()

    outcomes = await asyncio.gather(*(one(s) for s in scenarios))
    return {s.name: o for s, o in zip(scenarios, outcomes, strict=True)}
