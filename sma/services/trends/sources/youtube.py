"""YouTube Data API v3: search for the project's queries (then `videos.list` for statistics), or the
most-popular chart of a category. Needs an API key (`secrets.youtube_api_key`); without one it is skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from sma.models.trends import SourceResult, TrendItem
from sma.services.trends.config import ProjectTrends, TrendSettings
from sma.services.trends.sources.base import (
    BadPayload,
    NotConfigured,
    RateLimited,
    SourceError,
    SourceHttp,
    field,
    parse_time,
    per_hour,
)

QUOTA_REASONS = {"quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "dailyLimitExceeded"}
MAX_QUERIES = 3  # a search costs 100 quota units of the default 10,000 a day


class YouTubeSource:
    name = "youtube"

    def __init__(self, settings: TrendSettings, api_key: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = settings.endpoints.youtube.rstrip("/") + "/youtube/v3"
        self.api_key = api_key
        self.http = SourceHttp(self.name, settings.source(self.name), settings.user_agent, transport)
        self.http.classify = _quota_error

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        if not self.api_key:
            raise NotConfigured("youtube: no API key (set secrets.youtube_api_key)")
        if project.youtube_queries:
            ids: list[str] = []
            for query in project.youtube_queries[:MAX_QUERIES]:
                ids += [i for i in await self._search(query, now) if i not in ids]
            videos = await self._videos({"id": ",".join(ids[:50])}) if ids else []
        else:
            videos = await self._videos({"chart": "mostPopular", "regionCode": project.youtube_region,
                                         "videoCategoryId": project.youtube_category_id,
                                         "maxResults": self.http.options.limit})
        items = [self._item(v, now) for v in videos]
        return SourceResult(source=self.name, items=items, requests=self.http.requests)

    async def _search(self, query: str, now: datetime) -> list[str]:
        after = (now - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = await self.http.get_json(f"{self.base}/search", params={
            "part": "snippet", "q": query, "type": "video", "order": "viewCount", "publishedAfter": after,
            "maxResults": min(self.http.options.limit, 50), "key": self.api_key})
        results = _items(body, "youtube#searchListResponse")
        return [str(r["id"]["videoId"]) for r in results
                if isinstance(r, dict) and isinstance(r.get("id"), dict) and r["id"].get("videoId")]

    async def _videos(self, params: dict[str, Any]) -> list[Any]:
        body = await self.http.get_json(f"{self.base}/videos",
                                        params={"part": "snippet,statistics", **params, "key": self.api_key})
        return _items(body, "youtube#videoListResponse")

    def _item(self, video: Any, now: datetime) -> TrendItem:
        video_id = field(video, "id", str, self.name)
        snippet = video.get("snippet") or {}
        stats = video.get("statistics") or {}
        views = float(stats.get("viewCount") or 0)  # the API sends counts as strings
        published = parse_time(snippet.get("publishedAt"))
        return TrendItem(
            source=self.name,
            external_id=video_id,
            title=field(snippet, "title", str, self.name).strip(),
            url=f"https://www.youtube.com/watch?v={video_id}",
            summary=str(snippet.get("description") or "")[:500],
            published_at=published,
            popularity_raw=views,
            velocity_raw=per_hour(views, published, now),
            comments=int(stats.get("commentCount") or 0),
            tags=[str(t) for t in snippet.get("tags") or []][:10],
        )


def _items(body: Any, kind: str) -> list[Any]:
    if not isinstance(body, dict) or body.get("kind") != kind or not isinstance(body.get("items", []), list):
        raise BadPayload(f"youtube: expected a {kind}")
    items: list[Any] = body.get("items", [])
    return items


def _quota_error(response: httpx.Response) -> SourceError | None:
    """YouTube reports an exhausted quota as 403 with error.errors[].reason; it resets daily, so no retry."""
    try:
        error = response.json().get("error", {})
        reasons = {e.get("reason") for e in error.get("errors", []) if isinstance(e, dict)}
    except (ValueError, AttributeError):
        return None
    if reasons & QUOTA_REASONS:
        return RateLimited(f"youtube: quota exhausted ({', '.join(sorted(r for r in reasons if r))})", None)
    return None
