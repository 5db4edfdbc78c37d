"""Command line of the benchmark: `python -m bench [--servers ...] [--scenarios ...] [--quick]`.

Scenarios run one after the other and, within a scenario, the servers one after the other, each on a fresh
server, so at most one server is ever loaded at a time on a machine with few cores.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import cast

from tempyral.testing.servers import ServerKind

from .report import format_table, write_json
from .runner import Measure, RunConfig, ScenarioResult, run_scenario
from .visibility import measure_visibility
from .workloads import SCENARIOS

SERVER_KINDS: tuple[ServerKind, ...] = ("temporal", "tempyral")
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# --quick sizes: enough to exercise every code path in a few seconds per scenario.
QUICK_WORKFLOWS = 8
QUICK_CONCURRENCY = 4
QUICK_WARMUP = 2
QUICK_ENTITIES = 4
QUICK_OPERATIONS = 16
QUICK_POPULATION = 200
QUICK_QUERY_RUNS = 5

# Scenarios measured by their own module rather than by runner's workflow and entity measurement.
MEASURES: dict[str, Measure] = {"visibility": measure_visibility}


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--servers", type=_csv, default=list(SERVER_KINDS), help="temporal,tempyral")
    parser.add_argument("--scenarios", type=_csv, default=list(SCENARIOS), help=",".join(SCENARIOS))
    parser.add_argument("--workflows", type=int, default=300, help="measured workflows per workflow scenario")
    parser.add_argument(
        "--concurrency", type=int, default=100, help="max workflows (entity scenarios: operations) in flight"
    )
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured workflows or operations run first")
    parser.add_argument(
        "--entities", type=int, default=20, help="long-running workflows of the entity scenarios"
    )
    parser.add_argument("--operations", type=int, default=300, help="measured operations per entity scenario")
    parser.add_argument(
        "--population",
        type=int,
        default=100_000,
        help="closed workflows the visibility scenario lists and counts (--concurrency starts in flight)",
    )
    parser.add_argument(
        "--populate-timeout",
        type=float,
        default=3600.0,
        help="seconds the visibility scenario may take to make its closed workflows",
    )
    parser.add_argument("--query-runs", type=int, default=100, help="measured runs of each visibility query")
    parser.add_argument("--query-concurrency", type=int, default=1, help="visibility queries in flight")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one workflow (or entity operation) may take"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds after which a run starts no more workflows or operations",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="where to write JSON results")
    parser.add_argument("--no-json", action="store_true", help="print tables only")
    args = parser.parse_args(argv)
    for server in args.servers:
        if server not in SERVER_KINDS:
            parser.error(f"unknown server {server!r}; choose from {', '.join(SERVER_KINDS)}")
    for scenario in args.scenarios:
        if scenario not in SCENARIOS:
            parser.error(f"unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}")
    if args.quick:
        args.workflows, args.concurrency, args.warmup = QUICK_WORKFLOWS, QUICK_CONCURRENCY, QUICK_WARMUP
        args.entities, args.operations = QUICK_ENTITIES, QUICK_OPERATIONS
        args.population, args.query_runs = QUICK_POPULATION, QUICK_QUERY_RUNS
    sizes = (args.workflows, args.concurrency, args.entities, args.operations)
    if min(*sizes, args.population, args.query_runs, args.query_concurrency) < 1 or args.warmup < 0:
        parser.error(
            "--workflows, --concurrency, --entities, --operations, --population, --query-runs and "
            "--query-concurrency must be >= 1, --warmup >= 0"
        )
    return args


async def run(args: argparse.Namespace) -> list[ScenarioResult]:
    config = RunConfig(
        workflows=args.workflows,
        concurrency=args.concurrency,
        warmup=args.warmup,
        entities=args.entities,
        operations=args.operations,
        workflow_timeout_s=args.timeout,
        max_concurrent_tasks=max(args.concurrency, 10),
        budget_s=args.budget,
        population=args.population,
        query_runs=args.query_runs,
        query_concurrency=args.query_concurrency,
        populate_timeout_s=args.populate_timeout,
    )
    results: list[ScenarioResult] = []
    for scenario_name in args.scenarios:
        by_server: dict[str, ScenarioResult] = {}
        for server in args.servers:
            print(f"-- {scenario_name} on {server} ...", file=sys.stderr, flush=True)
            result = await run_scenario(
                cast(ServerKind, server), SCENARIOS[scenario_name], config, MEASURES.get(scenario_name)
            )
            by_server[server] = result
            results.append(result)
        print(format_table(scenario_name, by_server, args.servers), flush=True)
        print(flush=True)
    return results


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (`timeout`, CI) unwinds like Ctrl-C, so each run's `finally` kills its server (which runs in a
    # session of its own) and removes its database, which may be gigabytes on tmpfs.
    signal.signal(signal.SIGTERM, _interrupt)
    results = asyncio.run(run(args))
    if not args.no_json:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = args.json or RESULTS_DIR / f"bench-{stamp}.json"
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        print(f"results written to {write_json(path, config, results)}", flush=True)
    # Non-zero when anything failed, so the smoke test and CI notice a broken benchmark.
    broken = [r for r in results if r.error or r.failed or r.completed != r.workflows]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
