"""Trends: the latest scans with each item's score breakdown and sources, and a produce-now button.

A video can also be started by hand from a title and a few sentences, or from an article link (the same
run client start the CLI uses: once per topic), so the page is useful before trend discovery has stored any scan.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from sma.client import RunError
from sma.dashboard.deps import Dashboard, User, client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.models.pipeline import Topic
from sma.models.topic import TopicError
from sma.services import audit
from sma.services.articles import ArticleError, article_topic
from sma.settings import ConfigError

FORCE_HINT = "the 'Start a new one' box on the trends page"
router = APIRouter(dependencies=[Depends(require_user)], tags=["trends"])


@router.get("/trends")
async def trends(request: Request, project: str = "") -> Response:
    d = dash(request)
    scans = await d.sources.trends.latest_scans(project, limit=5)
    return render(request, "pages/trends.html", {"scans": scans, "source": d.sources.trends, "project": project})


async def _start(request: Request, d: Dashboard, user: User, topic: Topic, project: str, origin: str,
                 force: bool = False) -> Response:
    try:
        project_id = d.settings.project(project or d.settings.projects[0].id).id
    except ConfigError as exc:
        return redirect("/trends", f"!{exc}")
    runs = await d.runs()
    if not runs.connected:
        await audit.record(d.database, user.name, "produce", target=topic.title, project_id=project_id,
                           outcome="error", client=client_of(request), reason="temporal unreachable")
        return redirect("/trends", "!Temporal is unreachable; nothing was started")
    try:
        started = await runs.start(topic, project_id, entry="dashboard", force=force)
    except RunError as exc:
        await audit.record(d.database, user.name, "produce", target=topic.title, project_id=project_id,
                           outcome="error", client=client_of(request), reason=str(exc))
        return redirect("/trends", f"!could not start: {exc}")
    wf_id = started.workflow_id
    if started.existing:
        return redirect(f"/runs?q={quote(wf_id, safe='')}",
                        started.note_for(FORCE_HINT) + ".")
    await audit.record(d.database, user.name, "produce", target=wf_id, project_id=project_id,
                       client=client_of(request), title=topic.title, origin=origin)
    return redirect(f"/runs?q={quote(wf_id, safe='')}", f"Started '{topic.title}' as {wf_id}.")


@router.post("/trends/produce")
async def produce(request: Request, item_id: str = Form(...), project: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    item = await d.sources.trends.item(item_id)
    if item is None:
        return redirect("/trends", "!that trend item is not known (any more)")
    try:
        topic = Topic.from_source(item.title, item.summary, item.facts, item.urls)
    except TopicError as exc:
        return redirect("/trends", f"!that trend item cannot start a video: {exc}")
    return await _start(request, d, user, topic, project or item.project_id, f"trend:{item_id}")


@router.post("/trends/start")
async def start(request: Request, title: str = Form(""), summary: str = Form(""), project: str = Form(""),
                force: str = Form(""), url: str = Form("")) -> Response:
    """From a title and summary, or from an article link (fetched here, before the run exists, so the
    person sees a bad link at once and the run's input carries the article)."""
    d, user = dash(request), user_of(request)
    try:
        if url.strip():
            _, topic = await article_topic(d.settings.articles, url, title, summary)
        else:
            topic = Topic.checked(title, summary)
    except (TopicError, ArticleError) as exc:
        return redirect("/trends", f"!{exc}")
    return await _start(request, d, user, topic, project, f"url:{url.strip()}" if url.strip() else "manual",
                        force=bool(force))
