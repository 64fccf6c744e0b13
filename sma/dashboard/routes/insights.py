"""Insights and memory: what the engine has learned (with its evidence) and the memories it writes with;
memories can be searched and deleted."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from sma.dashboard.deps import client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.services import audit

router = APIRouter(dependencies=[Depends(require_user)], tags=["insights"])


@router.get("/insights")
async def insights(request: Request, project: str = "", q: str = "") -> Response:
    """The page at once; its content comes from /partials/insights (the memory may take seconds to open)."""
    return render(request, "pages/insights.html", {"project": project, "q": q[:200]})


@router.get("/partials/insights")
async def insights_content(request: Request, project: str = "", q: str = "") -> Response:
    d = dash(request)
    source = d.sources.insights
    return render(request, "partials/insights.html", {
        "insights": await source.insights(project), "memories": await source.memories(project, q[:200], 100),
        "source": source, "project": project, "q": q[:200],
    })


@router.post("/insights/memories/{memory_id}/delete")
async def delete_memory(request: Request, memory_id: str, project: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    try:
        await d.sources.insights.delete_memory(memory_id, user.by)
        ok, message = True, "Memory deleted."
    except LookupError as exc:
        ok, message = False, str(exc)
    await audit.record(d.database, user.name, "delete_memory", target=memory_id, project_id=project,
                       outcome="ok" if ok else "refused", client=client_of(request))
    return redirect(f"/insights?project={project}" if project else "/insights", message if ok else "!" + message)
