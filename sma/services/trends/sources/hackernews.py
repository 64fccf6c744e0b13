"""Hacker News through the Algolia HN Search API: the front page, or recent stories matching a query."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from sma.models.trends import SourceResult, TrendItem
from sma.services.trends.config import ProjectTrends, TrendSettings
from sma.services.trends.sources.base import BadPayload, SourceHttp, field, parse_time, per_hour


class HackerNewsSource:
    name = "hackernews"

    def __init__(self, settings: TrendSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = settings.endpoints.hackernews.rstrip("/")
        self.http = SourceHttp(self.name, settings.source(self.name), settings.user_agent, transport)

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        params: dict[str, Any] = {"hitsPerPage": self.http.options.limit}
        if project.hn_query:
            since = int((now - timedelta(days=2)).timestamp())
            params |= {"query": project.hn_query, "tags": "story", "numericFilters": f"created_at_i>{since}"}
        else:
            params["tags"] = "front_page"
        body = await self.http.get_json(f"{self.base}/api/v1/search", params=params)
        hits = body.get("hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise BadPayload("hackernews: the answer has no hits list")
        items = [item for hit in hits if (item := self._item(hit, now)) is not None]
        return SourceResult(source=self.name, items=items, requests=self.http.requests)

    def _item(self, hit: Any, now: datetime) -> TrendItem | None:
        if not isinstance(hit, dict) or not hit.get("title"):
            return None  # comments and deleted stories have no title
        object_id = field(hit, "objectID", str, self.name)
        points = float(hit.get("points") or 0)
        published = parse_time(hit.get("created_at_i") or hit.get("created_at"))
        return TrendItem(
            source=self.name,
            external_id=object_id,
            title=str(hit["title"]).strip(),
            url=str(hit.get("url") or f"https://news.ycombinator.com/item?id={object_id}"),
            published_at=published,
            popularity_raw=points,
            velocity_raw=per_hour(points, published, now),
            comments=int(hit.get("num_comments") or 0),
            tags=["hn"],
        )
