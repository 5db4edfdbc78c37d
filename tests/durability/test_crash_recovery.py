"""Hundreds of workflows mixing retried activities and durable timers survive repeated SIGKILLs of the server:
each finishes once with its expected result, and no step the server had acknowledged runs again.

DURABILITY_SEED picks the workload and the kill moments; a failure message names the seed to rerun it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from .checks import (
    Snapshot,
    check_history,
    check_reruns,
    check_single_run,
    check_snapshot,
    describe_stuck,
    type_name,
)
from .crash import Crasher, is_outage_error
from .workload import Job, Ledger, MixedWorkflow, expected_result, make_jobs

pytestmark = [pytest.mark.durability, pytest.mark.timeout(170)]

WORKFLOWS = 300
WAVES = 3
SNAPSHOT_SIZE = 40
LONG_OUTAGE = 12.0


async def start_job(client: Client, job: Job, task_queue: str, acknowledged: dict[str, str]) -> None:
    """Start `job`, retrying through outages. REJECT_DUPLICATE makes a retry of a start whose answer was lost
    fail instead of starting a second run, even when the first run has already finished."""
    deadline = time.monotonic() + 60
    while True:
        try:
            handle = await client.start_workflow(
                MixedWorkflow.run,
                job,
                id=job.workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return
        except RPCError as error:
            if not is_outage_error(error) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            assert handle.result_run_id is not None
            acknowledged[job.workflow_id] = handle.result_run_id
            return


async def start_all(client: Client, jobs: list[Job], task_queue: str, acknowledged: dict[str, str]) -> None:
    gate = asyncio.Semaphore(25)

    async def start(job: Job) -> None:
        async with gate:
            await start_job(client, job, task_queue, acknowledged)

    await asyncio.gather(*(start(job) for job in jobs))


async def read_history(client: Client, workflow_id: str) -> list[HistoryEvent] | None:
    """The workflow's history, or None if the server does not know the workflow."""
    try:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return None
    return list(history.events)


async def take_snapshots(client: Client, workflow_ids: list[str], problems: list[str]) -> list[Snapshot]:
    """Histories of workflows whose start was acknowledged; one the server no longer knows is a problem."""

    async def one(workflow_id: str) -> Snapshot | None:
        events = await read_history(client, workflow_id)
        if events is None:
            problems.append(f"{workflow_id}: acknowledged start not found after a restart")
            return None
        return Snapshot(workflow_id, time.monotonic(), events)

    taken = await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids))
    return [snapshot for snapshot in taken if snapshot is not None]


async def result_of(client: Client, workflow_id: str) -> object:
    """The workflow's result, waiting through outages; a failed workflow yields its error."""
    while True:
        try:
            return await client.get_workflow_handle(workflow_id, result_type=int).result()
        except WorkflowFailureError as error:
            return error
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return error
            if not is_outage_error(error):
                raise
            await asyncio.sleep(0.2)


async def wait_results(
    client: Client, jobs: list[Job], ledger: Ledger, crasher: Crasher, patience: float
) -> dict[str, object]:
    """Every job's result; on timeout, fail naming the workflows still unfinished and what the server says."""
    tasks = {job.workflow_id: asyncio.create_task(result_of(client, job.workflow_id)) for job in jobs}
    _, pending = await asyncio.wait(tasks.values(), timeout=patience)
    if pending:
        for task in pending:
            task.cancel()
        missing = [workflow_id for workflow_id, task in tasks.items() if task in pending]
        states = [
            await describe_stuck(client.get_workflow_handle(workflow_id)) for workflow_id in missing[:5]
        ]
        states.append(f"outages: {crasher.outages}")
        pytest.fail(f"{len(missing)} workflows unfinished after {patience} s:\n" + "\n".join(states))
    return {workflow_id: task.result() for workflow_id, task in tasks.items()}


@dataclass
class Run:
    """What the test saw while the workload ran under kills."""

    ledger: Ledger
    acknowledged: dict[str, str] = field(default_factory=dict)  # workflow id -> run id the start answered
    snapshots: list[Snapshot] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0


async def run_under_kills(client: Client, crasher: Crasher, jobs: list[Job], rng: random.Random) -> Run:
    """Start the jobs in waves with a worker running, SIGKILL the server once per wave and once more while
    only timers and retries are in flight, then wait for every result."""
    run = Run(Ledger(client))
    task_queue = f"durability-{uuid.uuid4().hex[:8]}"
    began = time.monotonic()
    async with Worker(client, task_queue=task_queue, workflows=[MixedWorkflow], activities=[run.ledger.step]):
        # One outage outlasts the SDK's ~10 s of call retries, so completions in flight are lost for good and
        # the server must retry those attempts from timeouts that fell due while it was down.
        waves = [jobs[index::WAVES] for index in range(WAVES)] + [[]]
        downtimes = [rng.uniform(0.1, 2.0) for _ in waves]
        downtimes[rng.randrange(1, len(waves))] = LONG_OUTAGE
        for wave, downtime in zip(waves, downtimes, strict=True):
            starting = asyncio.create_task(start_all(client, wave, task_queue, run.acknowledged))
            await asyncio.sleep(rng.uniform(1.5, 4.0))  # a random moment with work in flight
            sample = rng.sample(sorted(run.acknowledged), min(SNAPSHOT_SIZE, len(run.acknowledged)))
            run.snapshots += await take_snapshots(client, sample, run.problems)
            await crasher.crash(downtime)
            await starting
        run.results = await wait_results(client, jobs, run.ledger, crasher, patience=90)
        # Reports of attempts the server had already given up on may still be retrying; let them land.
        await asyncio.wait_for(asyncio.gather(*run.ledger.reports), timeout=70)
    run.seconds = time.monotonic() - began
    return run


async def find_problems(
    client: Client, crasher: Crasher, jobs: list[Job], run: Run
) -> tuple[list[str], dict[str, int]]:
    """Everything wrong with the finished run, and counts of what the kills legitimately disturbed."""
    problems = list(run.problems)
    problems += [
        f"{job.workflow_id}: result {run.results[job.workflow_id]!r}, want {expected_result(job)}"
        for job in jobs
        if run.results[job.workflow_id] != expected_result(job)
    ]
    ids = [job.workflow_id for job in jobs]
    histories = dict(zip(ids, await asyncio.gather(*(read_history(client, wid) for wid in ids)), strict=True))
    for job in jobs:
        problems += check_history(job, run.acknowledged.get(job.workflow_id), histories[job.workflow_id])
    rerun_problems, excused = check_reruns(run.ledger.executions, crasher)
    problems += rerun_problems
    # Workflow tasks whose completion a kill lost time out and run again; harmless, but worth seeing.
    disturbed = Counter(
        name
        for events in histories.values()
        for name in map(type_name, events or [])
        if name in ("WORKFLOW_TASK_FAILED", "WORKFLOW_TASK_TIMED_OUT")
    )
    for snapshot in run.snapshots:
        problems += check_snapshot(snapshot, histories[snapshot.workflow_id], run.ledger.executions)

    problems += await check_single_run(client, run.acknowledged)
    return problems, {"excused_reruns": excused, **disturbed}


async def test_workflows_finish_exactly_once_across_repeated_sigkills(
    durable_client: Client, crasher: Crasher
) -> None:
    seed = int(os.environ.get("DURABILITY_SEED", "1"))
    jobs = make_jobs(WORKFLOWS, seed, prefix=f"mixed-{seed}")
    run = await run_under_kills(durable_client, crasher, jobs, random.Random(seed))
    problems, disturbed = await find_problems(durable_client, crasher, jobs, run)

    executions = run.ledger.executions
    in_flight = sum(
        crasher.in_flight_at_kill(execution.started, execution.reported) for execution in executions
    )
    # Tasks the restarted server handed out before it answered the readiness probe.
    before_ready = sum(any(o.restarted <= e.started <= o.ready for o in crasher.outages) for e in executions)
    summary = (
        f"seed={seed} kind={crasher.server.kind} kills={len(crasher.outages)} executions={len(executions)} "
        f"in_flight_at_kill={in_flight} {disturbed} started_before_ready={before_ready} "
        f"snapshots={len(run.snapshots)} outages={[round(o.ready - o.killed, 1) for o in crasher.outages]} "
        f"acknowledged_starts={len(run.acknowledged)} workload_seconds={run.seconds:.1f}"
    )
    print(summary)
    assert not problems, f"{summary}\n{len(problems)} problems:\n" + "\n".join(problems[:30])
