"""Steering runs from outside (bot, CLI, dashboard): exact-round decisions, re-open, level changes and
guard rechecks sent to the open runs of a project.

A decision names the round it was shown: a tap on round 1's buttons after round 2 started must not
approve round 2. The workflow ignores a stale round anyway; this module refuses it before signalling so
the person gets a clear answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from sma.db import repo
from sma.db.engine import Database
from sma.models.autonomy import Level, RecheckSignal, ReopenSignal, SetAutonomySignal
from sma.models.pipeline import ApproveSignal, PipelineStatus, RejectSignal, RunState, StatusQuery
from sma.services.autonomy.service import AutonomyService

log = structlog.get_logger("sma.autonomy.actions")

OPEN_STATES = (RunState.RUNNING, RunState.AWAITING_APPROVAL, RunState.HELD, RunState.EXPIRED)


class NotDecidable(Exception):
    """The run cannot take this decision now; the message says why in plain words."""


@dataclass(frozen=True)
class RunView:
    running: bool
    status: PipelineStatus | None
    closed_as: str = ""


async def view(client: Client, wf_id: str) -> RunView:
    """Whether the workflow is open, and its status (None when Temporal does not know the run)."""
    handle = client.get_workflow_handle(wf_id)
    try:
        desc = await handle.describe()
    except RPCError:
        return RunView(running=False, status=None, closed_as="unknown")
    if desc.status != WorkflowExecutionStatus.RUNNING:
        closed_as = desc.status.name.lower() if desc.status else "closed"
        try:  # a closed run needs a worker to replay it; do not wait long for one
            status = await handle.query("status", StatusQuery(), result_type=PipelineStatus,
                                        rpc_timeout=timedelta(seconds=3))
        except (RPCError, WorkflowQueryFailedError):
            status = None
        return RunView(running=False, status=status, closed_as=closed_as)
    # RPCError (no worker answered in time) propagates: callers say "try again", they retire nothing.
    status = await handle.query("status", StatusQuery(), result_type=PipelineStatus,
                                rpc_timeout=timedelta(seconds=10))
    return RunView(running=True, status=status)


def _check_round(run: RunView, wf_id: str, round_no: int) -> None:
    if not run.running:
        state = run.status.state.value if run.status else run.closed_as
        raise NotDecidable(f"this run already finished ({state}); nothing changed")
    assert run.status is not None
    if run.status.round != round_no:
        raise NotDecidable(f"this was round {round_no}; the run is on round {run.status.round} now")
    if run.status.state == RunState.EXPIRED:
        raise NotDecidable("this approval expired; re-open it first (/queue)")
    if run.status.state != RunState.AWAITING_APPROVAL:
        raise NotDecidable(f"the run is not waiting for a decision (it is {run.status.state.value})")


async def check_decidable(client: Client, wf_id: str, round_no: int) -> PipelineStatus:
    run = await view(client, wf_id)
    _check_round(run, wf_id, round_no)
    assert run.status is not None
    return run.status


async def approve(client: Client, wf_id: str, round_no: int, by: str) -> None:
    await check_decidable(client, wf_id, round_no)
    await client.get_workflow_handle(wf_id).signal("approve", ApproveSignal(round=round_no, by=by))


async def reject(client: Client, wf_id: str, round_no: int, feedback: str, by: str) -> None:
    await check_decidable(client, wf_id, round_no)
    await client.get_workflow_handle(wf_id).signal("reject", RejectSignal(round=round_no, feedback=feedback, by=by))


async def reopen(client: Client, wf_id: str, by: str) -> PipelineStatus:
    run = await view(client, wf_id)
    if not run.running and (run.closed_as == "failed" or (run.status and run.status.state == RunState.FAILED)):
        raise NotDecidable("this run failed; retry it from the failed step instead (sma retry, /retry, "
                           "or the run page's Retry button)")
    if not run.running or run.status is None:
        raise NotDecidable("this run already finished; nothing to re-open")
    if run.status.state != RunState.EXPIRED:
        raise NotDecidable(f"the run is not expired (it is {run.status.state.value})")
    await client.get_workflow_handle(wf_id).signal("reopen", ReopenSignal(by=by))
    return run.status


async def cancel(client: Client, wf_id: str) -> None:
    run = await view(client, wf_id)
    if run.closed_as == "unknown":
        raise NotDecidable(f"I know no run {wf_id}")
    if not run.running:
        raise NotDecidable(f"this run already finished ({run.closed_as}); nothing to cancel")
    await client.get_workflow_handle(wf_id).cancel()


async def open_runs(database: Database, project_id: str) -> list[str]:
    runs = []
    for state in OPEN_STATES:
        runs += [r.id for r in await repo.list_runs(database, project_id, state=state.value, limit=500)]
    return runs


async def _signal_all(client: Client, run_ids: list[str], name: str, arg: object) -> int:
    delivered = 0
    for wf_id in run_ids:
        try:
            await client.get_workflow_handle(wf_id).signal(name, arg)
            delivered += 1
        except RPCError as exc:  # finished since the row was written, or unknown to this cluster
            log.info("signal not delivered", run=wf_id, signal=name, error=exc.message)
    return delivered


async def change_level(service: AutonomyService, client: Client | None, project_id: str, level: Level, by: str,
                       source: str) -> tuple[str, int]:
    """Store the level (with history) and tell the project's open runs; returns (previous, runs told)."""
    previous = await service.level(project_id)
    await service.set_level(project_id, level, by, source)
    if client is None:
        return previous, 0
    told = await _signal_all(client, await open_runs(service.database, project_id), "set_autonomy",
                             SetAutonomySignal(level=level, by=by, source=source))  # type: ignore[arg-type]
    return previous, told


async def recheck(client: Client | None, database: Database, project_ids: list[str], by: str, reason: str) -> int:
    """Wake held runs after a guard changed (resume, new limits)."""
    if client is None:
        return 0
    told = 0
    for project_id in project_ids:
        told += await _signal_all(client, await open_runs(database, project_id), "recheck",
                                  RecheckSignal(by=by, reason=reason))
    return told
