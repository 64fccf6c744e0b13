"""Overview: runs in flight with live progress, waiting approvals, next slots, today's posts, worker and
schedule health, spend today, and per finished video its cost and production time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.dashboard import queries as q
from sma.dashboard.cache import minute, remember
from sma.dashboard.deps import Dashboard, dash, require_user
from sma.dashboard.templating import render
from sma.dashboard.views import RunCard, recorded_status
from sma.db.tables import utcnow

router = APIRouter(dependencies=[Depends(require_user)], tags=["overview"])
IN_FLIGHT = ("running", "held")


@router.get("/")
async def overview(request: Request) -> Response:
    d, now = dash(request), minute(utcnow())  # windows move by the minute, so reads stay cached meanwhile
    ctx = await remember(d.database, ("overview.page", now), partial(_read, d, now))
    slots = await d.sources.calendar.slots(now, now + timedelta(days=2), "")
    return render(request, "pages/overview.html", {**ctx, "slots": slots[:6], "calendar": d.sources.calendar})


async def _read(d: Dashboard, now: datetime) -> dict[str, Any]:
    """The page's reads, side by side (each also cached on its own); kept until the database changes."""
    today, db = q.start_of_day(now), d.database
    counts, waiting, by_state, posts, finished, spend = await asyncio.gather(
        q.count_by_state(db, since=now - timedelta(hours=24)), q.runs_in_state(db, ["awaiting_approval"], limit=8),
        q.count_by_state(db), q.posts_since(db, today, limit=20), q.finished_runs(db, limit=10),
        q.spend_since(db, today))
    ids = [r.id for r in finished]
    costs, machine = await asyncio.gather(q.cost_by_run(db, ids), q.machine_seconds(db, ids))
    return {
        "counts": counts, "waiting": waiting, "waiting_total": by_state.get("awaiting_approval", 0), "posts": posts,
        "spend": spend, "budget": d.settings.llm.daily_budget_usd, "project_budgets": d.settings.llm.project_budgets,
        "finished": finished, "costs": costs, "machine": machine,
    }


@router.get("/partials/inflight")
async def inflight(request: Request) -> Response:
    """Runs in flight: Temporal's list of open pipelines joined with the recorded rows, plus heartbeats."""
    d = dash(request)
    open_runs = await d.temporal.open_pipelines(limit=20)
    if open_runs is None:
        rows = await q.runs_in_state(d.database, IN_FLIGHT, limit=20)
        source = "database"
    else:
        by_id = await q.runs_by_id(d.database, [o.workflow_id for o in open_runs])
        rows = [by_id[o.workflow_id] for o in open_runs if o.workflow_id in by_id
                and by_id[o.workflow_id].state in IN_FLIGHT]
        source = "temporal"
    live = await d.temporal.progress_many([r.id for r in rows]) if open_runs is not None else {}
    cards = [RunCard(r, recorded_status(r), live.get(r.id, {})) for r in rows]
    return render(request, "partials/inflight.html", {"cards": cards, "source": source,
                                                      "temporal_error": d.temporal.last_error if open_runs is None
                                                      else ""})


@router.get("/partials/health")
async def health(request: Request) -> Response:
    d = dash(request)
    queues = await d.temporal.queues()
    schedules = await d.temporal.schedules()
    return render(request, "partials/health.html", {"queues": queues, "schedules": schedules,
                                                    "temporal_error": d.temporal.last_error})
