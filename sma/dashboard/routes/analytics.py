"""Analytics: views, engagement and viral score over time and by hook style, platform and hour of day.

Each post counts once, with its latest collected checkpoint (so a post is not counted at 1 h and at 24 h).
Charts are server-rendered SVG (charts.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup

from sma.dashboard import charts, queries
from sma.dashboard.cache import AGGREGATE_S, minute, remember
from sma.dashboard.charts import Series
from sma.dashboard.deps import dash, require_user
from sma.dashboard.templating import render
from sma.db.engine import Database
from sma.db.tables import utcnow

router = APIRouter(dependencies=[Depends(require_user)], tags=["analytics"])
RANGES = (7, 30, 90, 365)


def _three(title: str, rows: list[tuple[Any, float, float | None, float | None]],
           label: Callable[[Any], str], width: int = 420, height: int = 240) -> dict[str, Markup]:
    """Views, engagement and viral score of the same groups; `width` is about the card's pixel width, so
    the text in the SVG stays at its nominal size."""
    labels = [label(r[0]) for r in rows]
    return {
        "views": charts.bar_chart(f"{title}: average views", labels, [r[1] for r in rows], width=width,
                                  height=height),
        "engagement": charts.bar_chart(f"{title}: engagement rate", labels, [r[2] for r in rows], fmt=charts.percent,
                                       color=charts.PALETTE[1], empty="no engagement data yet", width=width,
                                       height=height),
        "viral": charts.bar_chart(f"{title}: viral score", labels, [r[3] for r in rows], color=charts.PALETTE[2],
                                  empty="no viral scores yet", width=width, height=height),
    }


@router.get("/analytics")
async def analytics(request: Request, project: str = "", days: int = 30) -> Response:
    d = dash(request)
    days = days if days in RANGES else 30
    since = minute(utcnow()) - timedelta(days=days)
    # The metric points and the charts drawn from them are an aggregate: kept a few seconds for every tab.
    ctx = await remember(d.database, ("analytics.page", since, project), lambda: _charts(d.database, since, project),
                         AGGREGATE_S)
    return render(request, "pages/analytics.html", {**ctx, "days": days, "ranges": RANGES, "project": project})


async def _charts(db: Database, since: datetime, project: str) -> dict[str, Any]:
    data = await queries.analytics(db, since, project)
    by_day = data.by_day()
    labels = [day.strftime("%b %d") for day, *_ in by_day]
    return {
        "posts": len(data.points),
        "total_views": sum(p.views for p in data.points),
        "over_time": {
            "views": charts.line_chart("Average views per post by day", labels,
                                       [Series("views", [r[1] for r in by_day])], width=1180, height=280),
            "engagement": charts.line_chart("Engagement rate by day", labels,
                                            [Series("engagement rate", [r[2] for r in by_day])], fmt=charts.percent,
                                            empty="no engagement data yet", width=580),
            "viral": charts.line_chart("Viral score by day", labels, [Series("viral score", [r[3] for r in by_day])],
                                       empty="no viral scores yet", width=580),
        },
        "by_hook": _three("By hook style", data.by(lambda p: p.hook_style), lambda k: str(k).replace("_", " ")),
        "by_platform": _three("By platform", data.by(lambda p: p.platform), str),
        "by_hour": _three("By hour published (UTC)", data.by(lambda p: p.published_at.hour), lambda h: f"{h:02d}h",
                          width=1180, height=220),
    }
