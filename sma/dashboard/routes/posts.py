"""Posts: every post the engine made, per platform, with its link and status."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from sma.dashboard import queries
from sma.dashboard.cache import remember
from sma.dashboard.deps import dash, require_user
from sma.dashboard.templating import fragment, render

router = APIRouter(dependencies=[Depends(require_user)], tags=["posts"])
STATUSES = ("published", "failed", "skipped")


@router.get("/posts")
async def posts(request: Request, project: str = "", platform: str = "", status: str = "", page: int = 1) -> Response:
    d = dash(request)
    status = status if status in STATUSES else ""
    size = d.settings.dashboard.page_size

    async def load() -> tuple[queries.Page[queries.PostRow], Markup]:
        result = await queries.post_page(d.database, page, size, project, platform, status)
        return result, fragment(request, "partials/post_rows.html", {"page": result})

    # The rows and their table are read and drawn once per data version, for every tab that asks.
    result, rows = await remember(d.database, ("posts.page", page, size, project, platform, status), load)
    platforms = await queries.post_platforms(d.database)
    return render(request, "pages/posts.html", {
        "page": result, "platforms": platforms, "statuses": STATUSES, "rows": rows,
        "filters": {"project": project, "platform": platform, "status": status},
    })
