"""Google Trends: the daily trending searches RSS feed of a region (`/trending/rss?geo=XX`)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

import httpx

from sma.models.trends import SourceResult, TrendItem
from sma.services.trends.config import ProjectTrends, TrendSettings
from sma.services.trends.sources.base import BadPayload, SourceHttp, parse_time, per_hour

_TRAFFIC = re.compile(r"([\d.,]+)\s*([KkMm]?)")


def approx_traffic(text: str) -> float:
    """'200,000+', '2K+', '1M+' -> searches; unreadable -> 0."""
    match = _TRAFFIC.search(text or "")
    if not match:
        return 0.0
    number = float(match.group(1).replace(",", "") or 0)
    return number * {"k": 1e3, "m": 1e6}.get(match.group(2).lower(), 1.0)


class GoogleTrendsSource:
    name = "google_trends"

    def __init__(self, settings: TrendSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = settings.endpoints.google_trends.rstrip("/")
        self.http = SourceHttp(self.name, settings.source(self.name), settings.user_agent, transport)

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        response = await self.http.get(f"{self.base}/trending/rss", params={"geo": project.region})
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError as exc:
            raise BadPayload(f"google_trends: the feed is not valid XML ({exc})") from None
        channel = root.find("channel")
        if root.tag != "rss" or channel is None:
            raise BadPayload("google_trends: expected an RSS document with a channel")
        found = [self._item(node, project.region, now) for node in channel.findall("item")]
        items = [i for i in found if i is not None][: self.http.options.limit]
        return SourceResult(source=self.name, items=items, requests=self.http.requests)

    def _item(self, node: ET.Element, region: str, now: datetime) -> TrendItem | None:
        title = (node.findtext("title") or "").strip()
        if not title:
            return None
        traffic = approx_traffic(node.findtext("{*}approx_traffic") or "")
        published = parse_time(node.findtext("pubDate"))
        news = node.findall("{*}news_item")
        headlines = [(n.findtext("{*}news_item_title") or "").strip() for n in news]
        first_url = next((u for n in news if (u := (n.findtext("{*}news_item_url") or "").strip())), "")
        return TrendItem(
            source=self.name,
            external_id=f"{region}:{title.lower()}",
            title=title,
            url=first_url or f"https://trends.google.com/trends/explore?geo={region}&q={title}",
            summary=" / ".join(h for h in headlines if h)[:500],
            published_at=published,
            popularity_raw=traffic,
            velocity_raw=per_hour(traffic, published, now),
            tags=[f"geo:{region}"],
        )
