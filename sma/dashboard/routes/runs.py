"""Runs: a filtered, paginated list and a run's detail (timeline, QA, artifacts, script, logs, cost)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from sma.dashboard import queries, store
from sma.dashboard.deps import Dashboard, dash, require_user
from sma.dashboard.logs import run_lines
from sma.dashboard.templating import render
from sma.dashboard.views import (
    OPEN_STATES,
    earlier_rounds,
    edit_mode,
    final_script,
    recorded_status,
    timeline,
)
from sma.db import repo
from sma.db.tables import PipelineRun, StepRun
from sma.models.pipeline import RunState

router = APIRouter(dependencies=[Depends(require_user)], tags=["runs"])
STATES = [s.value for s in RunState]


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/runs")
async def run_list(request: Request, project: str = "", state: str = "", since: str = "", until: str = "",
                   q: str = "", page: int = 1) -> Response:
    d = dash(request)
    text = q[:200]
    flt = queries.RunFilter(project=project, state=state if state in STATES else "", since=_date(since),
                      until=_date(until), q=text.strip())
    async with d.database.session() as db:
        result = await queries.run_page(db, flt, page, d.settings.dashboard.page_size)
        costs = await queries.cost_by_run(db, [r.id for r in result.items])
    filters = {"project": project, "state": flt.state, "since": since, "until": until, "q": text}
    return render(request, "pages/runs.html", {"page": result, "filters": filters, "states": STATES, "costs": costs})


@router.get("/runs/{run_id}")
async def run_detail(request: Request, run_id: str) -> Response:
    d = dash(request)
    async with d.database.session() as db:
        run = await repo.get_run(db, run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r} in the database")
        steps, artifacts, approvals, posts = await queries.run_children(db, run_id)
        attempts = await queries.script_attempts(db, run_id)
        calls = await queries.llm_calls_of_run(db, run_id)
        machine = (await queries.machine_seconds(db, [run_id])).get(run_id)
        edits = await store.edits_of_run(db, run_id)
    status = recorded_status(run)
    ctx = {
        "run": run, "status": status, "artifacts": {a.name: a for a in artifacts}, "approvals": approvals,
        "posts": posts, "attempts": attempts, "calls": calls, "cost": sum(c.cost_usd for c in calls),
        "machine": machine, "earlier": earlier_rounds(steps, run.round), "edits": edits,
        "temporal_url": d.temporal.ui_url(run_id), "project": d.project(run.project_id), "edit_mode": edit_mode(),
    }
    ctx.update(await _live(d, run, steps))
    ctx["script"] = final_script(attempts, ctx["round"])
    return render(request, "pages/run.html", ctx)


async def _live(d: Dashboard, run: PipelineRun, steps: list[StepRun]) -> dict[str, Any]:
    """The live part: Temporal's status query and heartbeats while the run is open, else the record."""
    status, progress, execution = None, {}, None
    if run.state in OPEN_STATES:
        status, progress, execution = await asyncio.gather(
            d.temporal.status(run.id), d.temporal.progress(run.id), d.temporal.execution(run.id))
    live = status is not None
    status = status or recorded_status(run)
    state = status.state.value if status else run.state
    round_no = status.round if status else run.round
    running = run.state in OPEN_STATES and (execution is None or execution.status == "running")
    # Poll while the run is open, and until the recorded row has caught up with the live state (the
    # page's other cards come from the record); `seen` changes when either does, and the page reloads.
    return {"live_status": status, "steps_now": timeline(status, steps), "progress": progress, "live": live,
            "execution": execution, "open": running or state != run.state,
            "state": state, "round": round_no, "seen": f"{state}:{round_no}:{run.state}"}


@router.get("/runs/{run_id}/live")
async def run_live(request: Request, run_id: str, seen: str = "") -> Response:
    """The polled timeline; when the state or round differs from what the page showed, reload the page."""
    d = dash(request)
    async with d.database.session() as db:
        run = await repo.get_run(db, run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r}")
        steps = await repo.list_steps(db, run_id)
    ctx = {"run": run, **(await _live(d, run, steps))}
    response = render(request, "partials/run_live.html", ctx)
    if seen and seen != ctx["seen"]:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/runs/{run_id}/logs")
async def run_logs(request: Request, run_id: str) -> Response:
    d = dash(request)
    if await repo.get_run(d.database, run_id) is None:
        raise HTTPException(404, f"no run {run_id!r}")
    lines = await asyncio.to_thread(run_lines, d.settings.data_dir / "logs", run_id)
    return render(request, "partials/run_logs.html", {"lines": lines})
