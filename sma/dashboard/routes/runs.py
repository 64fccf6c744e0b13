"""Runs: a filtered, paginated list and a run's detail (timeline, QA, artifacts, script, logs, cost)."""

from __future__ import annotations

import asyncio
from datetime import date
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup

from sma.dashboard import queries, store
from sma.dashboard.cache import remember
from sma.dashboard.deps import Dashboard, dash, require_user
from sma.dashboard.logs import run_lines
from sma.dashboard.templating import fragment, render
from sma.dashboard.views import (
    OPEN_STATES,
    earlier_rounds,
    edit_mode,
    final_script,
    recorded_status,
    timeline,
)
from sma.db.engine import Database
from sma.db.tables import PipelineRun, StepRun
from sma.models.pipeline import RunState
from sma.services.runs import PendingStep, with_pending

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
    size = d.settings.dashboard.page_size

    async def load() -> tuple[queries.Page[PipelineRun], Markup]:
        result = await queries.run_page(d.database, flt, page, size)
        costs = await queries.cost_by_run(d.database, [r.id for r in result.items])
        return result, fragment(request, "partials/run_rows.html", {"page": result, "costs": costs})

    # The rows and their table are read and drawn once per data version, for every tab that asks.
    result, rows = await remember(d.database, ("runs.page", flt, page, size), load)
    filters = {"project": project, "state": flt.state, "since": since, "until": until, "q": text}
    return render(request, "pages/runs.html", {"page": result, "filters": filters, "states": STATES, "rows": rows})


@router.get("/runs/{run_id}")
async def run_detail(request: Request, run_id: str) -> Response:
    d = dash(request)
    run, (steps, artifacts, approvals, posts), attempts, calls, machine, edits = await remember(
        d.database, ("run.detail", run_id), partial(_recorded, d.database, run_id))
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} in the database")
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


async def _recorded(db: Database, run_id: str) -> tuple[Any, ...]:
    """What the database holds about a run, read side by side; kept until the database changes."""
    run, children, attempts, calls, machine, edits = await asyncio.gather(
        queries.run(db, run_id), queries.run_children(db, run_id), queries.script_attempts(db, run_id),
        queries.llm_calls_of_run(db, run_id), queries.machine_seconds(db, [run_id]), store.edits_of_run(db, run_id))
    return run, children, attempts, calls, machine.get(run_id), edits


async def _live(d: Dashboard, run: PipelineRun, steps: list[StepRun]) -> dict[str, Any]:
    """The live part: Temporal's status query and heartbeats while the run is open, else the record."""
    status, execution = None, None
    progress: dict[str, float] = {}
    pending: dict[str, PendingStep] = {}
    if run.state in OPEN_STATES:
        status, progress, execution, pending = await asyncio.gather(
            d.temporal.status(run.id), d.temporal.progress(run.id), d.temporal.execution(run.id),
            d.temporal.pending(run.id))
    live = status is not None
    status = status or recorded_status(run)
    if status is not None and pending:  # retrying steps: Temporal knows why, the workflow does not
        status = with_pending(status, pending)
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
    run, children = await asyncio.gather(queries.run(d.database, run_id), queries.run_children(d.database, run_id))
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    ctx = {"run": run, **(await _live(d, run, children[0]))}
    response = render(request, "partials/run_live.html", ctx)
    if seen and seen != ctx["seen"]:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/runs/{run_id}/logs")
async def run_logs(request: Request, run_id: str) -> Response:
    d = dash(request)
    if await queries.run(d.database, run_id) is None:
        raise HTTPException(404, f"no run {run_id!r}")
    lines = await asyncio.to_thread(run_lines, d.settings.data_dir / "logs", run_id)
    return render(request, "partials/run_logs.html", {"lines": lines})
