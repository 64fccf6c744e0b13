"""GitHub: new repositories of the project's topics gaining stars fast (`/search/repositories`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from sma.models.trends import SourceResult, TrendItem
from sma.services.trends.config import ProjectTrends, TrendSettings
from sma.services.trends.sources.base import BadPayload, SourceHttp, field, parse_time, per_hour

MAX_TOPICS = 5  # one search per topic; the search API allows 10 requests a minute without a token


class GitHubSource:
    name = "github"

    def __init__(self, settings: TrendSettings, token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base = settings.endpoints.github.rstrip("/")
        self.token = token
        self.http = SourceHttp(self.name, settings.source(self.name), settings.user_agent, transport)

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        since = (now - timedelta(days=project.github_created_days)).date().isoformat()
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        items: dict[str, TrendItem] = {}
        for topic in project.github_topics[:MAX_TOPICS] or [""]:
            query = f"created:>{since}" + (f" topic:{topic}" if topic else "")
            body = await self.http.get_json(
                f"{self.base}/search/repositories", headers=headers,
                params={"q": query, "sort": "stars", "order": "desc", "per_page": self.http.options.limit})
            repos = body.get("items") if isinstance(body, dict) else None
            if not isinstance(repos, list):
                raise BadPayload("github: the answer has no items list")
            for repo in repos:
                item = self._item(repo, now)
                items.setdefault(item.external_id, item)
        notes = ["unauthenticated: 10 searches a minute"] if not self.token else []
        return SourceResult(source=self.name, items=list(items.values()), requests=self.http.requests, notes=notes)

    def _item(self, repo: Any, now: datetime) -> TrendItem:
        full_name = field(repo, "full_name", str, self.name)
        stars = field(repo, "stargazers_count", float, self.name, default=0.0)
        published = parse_time(repo.get("created_at"))
        description = str(repo.get("description") or "").strip()
        return TrendItem(
            source=self.name,
            external_id=str(repo.get("id") or full_name),
            title=f"{full_name.split('/')[-1]}: {description}" if description else full_name,
            url=str(repo.get("html_url") or f"https://github.com/{full_name}"),
            summary=description[:500],
            published_at=published,
            popularity_raw=stars,
            velocity_raw=per_hour(stars, published, now),
            tags=[str(t) for t in repo.get("topics") or []][:10],
        )
