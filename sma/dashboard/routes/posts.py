"""Posts: every post the engine made, per platform, with its link and status."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.dashboard import queries
from sma.dashboard.deps import dash, require_user
from sma.dashboard.templating import render

router = APIRouter(dependencies=[Depends(require_user)], tags=["posts"])
STATUSES = ("published", "failed", "skipped")


@router.get("/posts")
async def posts(request: Request, project: str = "", platform: str = "", status: str = "", page: int = 1) -> Response:
    d = dash(request)
    status = status if status in STATUSES else ""
    async with d.database.session() as db:
        result = await queries.post_page(db, page, d.settings.dashboard.page_size, project, platform, status)
        platforms = await queries.post_platforms(db)
    return render(request, "pages/posts.html", {
        "page": result, "platforms": platforms, "statuses": STATUSES,
        "filters": {"project": project, "platform": platform, "status": status},
    })
