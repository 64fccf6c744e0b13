"""Overview: runs in flight with live progress, waiting approvals, next slots, today's posts, worker and
schedule health, spend today, and per finished video its cost and production time."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.dashboard import queries as q
from sma.dashboard.deps import dash, require_user
from sma.dashboard.templating import render
from sma.dashboard.views import RunCard, recorded_status
from sma.db.tables import utcnow

router = APIRouter(dependencies=[Depends(require_user)], tags=["overview"])
IN_FLIGHT = ("running", "held")


@router.get("/")
async def overview(request: Request) -> Response:
    d, now = dash(request), utcnow()
    today = q.start_of_day(now)
    async with d.database.session() as db:  # one connection for every read of the page
        counts = await q.count_by_state(db, since=now - timedelta(hours=24))
        waiting = await q.runs_in_state(db, ["awaiting_approval"], limit=8)
        waiting_total = (await q.count_by_state(db)).get("awaiting_approval", 0)
        posts = await q.posts_since(db, today, limit=20)
        finished = await q.finished_runs(db, limit=10)
        ids = [r.id for r in finished]
        ctx = {
            "counts": counts, "waiting": waiting, "waiting_total": waiting_total, "posts": posts,
            "spend": await q.spend_since(db, today), "budget": d.settings.llm.daily_budget_usd,
            "project_budgets": d.settings.llm.project_budgets, "finished": finished,
            "costs": await q.cost_by_run(db, ids), "machine": await q.machine_seconds(db, ids),
        }
    slots = await d.sources.calendar.slots(now, now + timedelta(days=2), "")
    ctx.update({"slots": slots[:6], "calendar": d.sources.calendar})
    return render(request, "pages/overview.html", ctx)


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
