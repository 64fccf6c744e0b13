"""Trends: the latest scans with each item's score breakdown and sources, and a produce-now button.

A video can also be started by hand from a title and a few sentences (the same `start_pipeline` the
CLI uses), so the page is useful before trend discovery has stored any scan.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from temporalio.service import RPCError

from sma.dashboard import audit
from sma.dashboard.deps import Dashboard, User, client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.models.pipeline import Topic
from sma.services import runs
from sma.settings import ConfigError

router = APIRouter(dependencies=[Depends(require_user)], tags=["trends"])


@router.get("/trends")
async def trends(request: Request, project: str = "") -> Response:
    d = dash(request)
    scans = await d.sources.trends.latest_scans(project, limit=5)
    return render(request, "pages/trends.html", {"scans": scans, "source": d.sources.trends, "project": project})


async def _start(request: Request, d: Dashboard, user: User, topic: Topic, project: str, origin: str) -> Response:
    try:
        inp = await runs.new_run_input(d.settings, d.database, topic, project or d.settings.projects[0].id,
                                       entry="dashboard")
    except ConfigError as exc:
        return redirect("/trends", f"!{exc}")
    client = await d.temporal.client()
    if client is None:
        await audit.record(d.database, user.name, "produce", target=topic.title, project_id=inp.project_id,
                           outcome="error", client=client_of(request), reason="temporal unreachable")
        return redirect("/trends", "!Temporal is unreachable; nothing was started")
    try:
        wf_id = await runs.start_pipeline(client, inp)
    except RPCError as exc:
        await audit.record(d.database, user.name, "produce", target=topic.title, project_id=inp.project_id,
                           outcome="error", client=client_of(request), reason=exc.message)
        return redirect("/trends", f"!could not start: {exc.message}")
    await audit.record(d.database, user.name, "produce", target=wf_id, project_id=inp.project_id,
                       client=client_of(request), title=topic.title, origin=origin)
    return redirect(f"/runs?q={quote(wf_id, safe='')}", f"Started '{topic.title}' as {wf_id}.")


@router.post("/trends/produce")
async def produce(request: Request, item_id: str = Form(...), project: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    item = await d.sources.trends.item(item_id)
    if item is None:
        return redirect("/trends", "!that trend item is not known (any more)")
    topic = Topic(title=item.title[:200], summary=item.summary, facts=item.facts, source_urls=item.urls)
    return await _start(request, d, user, topic, project or item.project_id, f"trend:{item_id}")


@router.post("/trends/start")
async def start(request: Request, title: str = Form(""), summary: str = Form(""), project: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    title = title.strip()
    if not title:
        return redirect("/trends", "!a title is needed to start a video")
    topic = Topic(title=title[:200], summary=summary.strip()[:4000])
    return await _start(request, d, user, topic, project, "manual")
