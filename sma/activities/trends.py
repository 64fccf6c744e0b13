"""Activities of trend discovery for the sma-workflows worker: plan, one fetch per source (each with its
own retry policy, set by the workflow), coverage, and storing the scan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.models.trends import (
    CoverageRequest,
    CoverageResult,
    ScanPlan,
    ScanPlanRequest,
    SourceRequest,
    SourceResult,
    StoreScanRequest,
    TrendScanResult,
)
from sma.settings import ConfigError, ProjectSettings, Settings

if TYPE_CHECKING:
    from sma.db.engine import Database
    from sma.services.trends.coverage import CoverageChecker
    from sma.services.trends.sources.base import TrendSource


class TrendActivities:
    def __init__(self, settings: Settings, database: Database, sources: Mapping[str, TrendSource],
                 coverage: CoverageChecker) -> None:
        self.settings = settings
        self.database = database
        self.sources = sources
        self.coverage_checker = coverage

    @activity.defn(name="trends_plan")
    async def plan(self, req: ScanPlanRequest) -> ScanPlan:
        from sma.services.trends.service import plan_scan

        self._project(req.project_id)
        return plan_scan(self.settings.trends, req)

    @activity.defn(name="trends_fetch_reddit")
    async def fetch_reddit(self, req: SourceRequest) -> SourceResult:
        return await self._fetch("reddit", req)

    @activity.defn(name="trends_fetch_hackernews")
    async def fetch_hackernews(self, req: SourceRequest) -> SourceResult:
        return await self._fetch("hackernews", req)

    @activity.defn(name="trends_fetch_google_trends")
    async def fetch_google_trends(self, req: SourceRequest) -> SourceResult:
        return await self._fetch("google_trends", req)

    @activity.defn(name="trends_fetch_github")
    async def fetch_github(self, req: SourceRequest) -> SourceResult:
        return await self._fetch("github", req)

    @activity.defn(name="trends_fetch_youtube")
    async def fetch_youtube(self, req: SourceRequest) -> SourceResult:
        return await self._fetch("youtube", req)

    @activity.defn(name="trends_fetch_feeds")
    async def fetch_feeds(self, req: SourceRequest) -> SourceResult:
        return await self._fetch("feeds", req)

    async def _fetch(self, name: str, req: SourceRequest) -> SourceResult:
        from sma.services.trends.service import fetch_source
        from sma.services.trends.sources.base import RateLimited, SourceError

        try:
            return await fetch_source(self.sources, self.settings.trends, name, req.project_id, req.now)
        except RateLimited as exc:
            limit = self.settings.trends.source(name).max_retry_after_s
            if exc.retry_after is not None and exc.retry_after <= limit:
                # Temporal waits exactly what the server asked before the next attempt.
                raise ApplicationError(str(exc), type="RateLimited",
                                       next_retry_delay=timedelta(seconds=max(1.0, exc.retry_after))) from None
            wait = "no Retry-After" if exc.retry_after is None else f"asks for {exc.retry_after:.0f} s"
            raise ApplicationError(f"{exc} ({wait}; over {limit:.0f} s, skipped this scan)",
                                   type="RateLimited", non_retryable=True) from None
        except SourceError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=not exc.retryable) from None

    @activity.defn(name="trends_coverage")
    async def coverage(self, req: CoverageRequest) -> CoverageResult:
        return await self.coverage_checker.check(req.project_id, req.titles)

    @activity.defn(name="trends_store")
    async def store(self, req: StoreScanRequest) -> TrendScanResult:
        from sma.services.trends.service import finish
        from sma.services.trends.store import ensure_project_row, save_scan

        project = self._project(req.project_id)
        ranked = finish(self.settings.trends, req)
        notes = list(req.rank_notes)
        if req.coverage.checker:
            notes.append(f"coverage: {req.coverage.checker}")
        await ensure_project_row(self.database, project.id, project.name, project.niche)
        await save_scan(self.database, req, ranked, notes)
        return TrendScanResult(
            scan_id=req.scan_id, project_id=req.project_id,
            answered=[r.source for r in req.reports if r.ok], failed=[r.source for r in req.reports if not r.ok],
            reports=req.reports, raw_items=req.raw_items, stored=len(ranked),
            top=[t.title for t in ranked[:5]], notes=notes,
        )

    def _project(self, project_id: str) -> ProjectSettings:
        try:
            return self.settings.project(project_id)
        except ConfigError as exc:
            raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from None

    def all(self) -> list[Callable[..., Any]]:
        return [self.plan, self.fetch_reddit, self.fetch_hackernews, self.fetch_google_trends, self.fetch_github,
                self.fetch_youtube, self.fetch_feeds, self.coverage, self.store]
