"""Reddit: the hot listing of each of the project's subreddits (`/r/<sub>/hot.json`, a Listing of t3 posts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from sma.models.trends import SourceResult, TrendItem
from sma.services.trends.config import ProjectTrends, TrendSettings
from sma.services.trends.sources.base import BadPayload, SourceHttp, field, parse_time, per_hour


class RedditSource:
    name = "reddit"

    def __init__(self, settings: TrendSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = settings.endpoints.reddit.rstrip("/")
        self.http = SourceHttp(self.name, settings.source(self.name), settings.user_agent, transport)

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        items: list[TrendItem] = []
        for sub in project.subreddits:
            sub = sub.strip().removeprefix("r/").strip("/")
            if not sub:
                continue
            body = await self.http.get_json(f"{self.base}/r/{sub}/hot.json",
                                            params={"limit": self.http.options.limit, "raw_json": 1})
            items += [item for child in _children(body) if (item := self._item(child, now)) is not None]
        return SourceResult(source=self.name, items=items, requests=self.http.requests)

    def _item(self, child: Any, now: datetime) -> TrendItem | None:
        if not isinstance(child, dict) or child.get("kind") != "t3":
            return None
        data = child.get("data")
        if not isinstance(data, dict) or data.get("stickied") or data.get("over_18"):
            return None
        score = field(data, "score", float, self.name)
        published = parse_time(data.get("created_utc"))
        permalink = str(data.get("permalink") or "")
        return TrendItem(
            source=self.name,
            external_id=field(data, "id", str, self.name),
            title=field(data, "title", str, self.name).strip(),
            url=f"https://www.reddit.com{permalink}" if permalink.startswith("/") else str(data.get("url") or ""),
            summary=str(data.get("selftext") or "")[:500],
            published_at=published,
            popularity_raw=max(0.0, score),
            velocity_raw=per_hour(max(0.0, score), published, now),
            comments=int(data.get("num_comments") or 0),
            tags=[f"r/{data.get('subreddit', '')}"],
        )


def _children(body: Any) -> list[Any]:
    if not isinstance(body, dict) or body.get("kind") != "Listing" or not isinstance(body.get("data"), dict):
        raise BadPayload("reddit: expected a Listing object")
    children = body["data"].get("children")
    if not isinstance(children, list):
        raise BadPayload("reddit: the Listing has no children list")
    return children
