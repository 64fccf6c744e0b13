"""RSS and Atom feeds a project lists (`trends.projects.<id>.feeds`): each entry is a trend item.

The HTTP call goes through `SourceHttp` (timeout, user agent, error mapping); feedparser only parses the
bytes, so it never opens a connection of its own. Feeds carry no popularity count, so every entry counts
one (plus its comment count when the feed has `slash:comments`), and velocity favours the newest entries.
One feed failing is a note; all of them failing is the source's error.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx

from sma.models.trends import SourceResult, TrendItem
from sma.services.trends.config import ProjectTrends, TrendSettings
from sma.services.trends.sources.base import BadPayload, NotConfigured, SourceError, SourceHttp, per_hour

_TAG = re.compile(r"<[^>]+>")
SUMMARY_CHARS = 500


def plain(text: str) -> str:
    """Feed summaries are HTML fragments: tags removed, entities decoded."""
    return html.unescape(_TAG.sub(" ", text or ""))


class FeedSource:
    name = "feeds"

    def __init__(self, settings: TrendSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = SourceHttp(self.name, settings.source(self.name), settings.user_agent, transport)

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        if not project.feeds:
            raise NotConfigured(f"feeds: project {project_id!r} lists no feeds; add RSS/Atom URLs under "
                                f"trends.projects.{project_id}.feeds")
        items: list[TrendItem] = []
        notes: list[str] = []
        errors: list[SourceError] = []
        for url in project.feeds:
            try:
                items += await self._feed(url, now)
            except SourceError as exc:
                errors.append(exc)
                notes.append(f"{url}: {exc}")
        if errors and len(errors) == len(project.feeds):
            raise errors[0]
        limit = self.http.options.limit * len(project.feeds)
        return SourceResult(source=self.name, items=items[:limit], requests=self.http.requests, notes=notes)

    async def _feed(self, url: str, now: datetime) -> list[TrendItem]:
        response = await self.http.get(url)
        parsed = feedparser.parse(response.content, response_headers={
            "content-type": response.headers.get("content-type", ""), "content-location": str(response.url)})
        if parsed.get("bozo") and not parsed.entries:
            reason = parsed.get("bozo_exception")
            raise BadPayload(f"feeds: {url} is not an RSS or Atom feed ({type(reason).__name__}: {reason})")
        host = urlsplit(url).hostname or "feed"
        feed_title = str(parsed.feed.get("title", "") or host)
        entries = parsed.entries[: self.http.options.limit]
        return [item for entry in entries if (item := self._item(entry, url, host, feed_title, now)) is not None]

    def _item(self, entry: Any, feed_url: str, host: str, feed_title: str, now: datetime) -> TrendItem | None:
        title = plain(str(entry.get("title", ""))).strip()
        if not title:
            return None
        link = str(entry.get("link", "") or "")
        published = _time(entry.get("published_parsed") or entry.get("updated_parsed"))
        comments = _int(entry.get("slash_comments"))
        popularity = 1.0 + comments
        return TrendItem(
            source=self.name,
            external_id=f"{feed_url}#{entry.get('id') or link or title}"[:500],
            title=title,
            url=link,
            summary=plain(str(entry.get("summary", "")))[:SUMMARY_CHARS],
            published_at=published,
            popularity_raw=popularity,
            velocity_raw=per_hour(popularity, published, now),
            comments=comments,
            tags=[f"feed:{host}", *(str(t.get("term")) for t in entry.get("tags", [])[:5] if t.get("term"))],
        )


def _time(value: Any) -> datetime | None:
    """feedparser's UTC struct_time, as an aware datetime."""
    if not value:
        return None
    try:
        year, month, day, hour, minute, second = value[:6]
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    try:
        return max(0, int(str(value).strip()))
    except (TypeError, ValueError):
        return 0
