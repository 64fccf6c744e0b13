"""The intelligence run of one project: analyse the history, keep the report, remember the insights.

Two steps (two activities) so that a memory problem does not redo the analysis and the analysis can be
inspected on its own: `analyse` reads the performance history, computes the report and saves it; `remember`
makes the project's insight memories match the new findings and records the topics it covered.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog

from sma.models.intelligence import AnalyseResult, IntelligenceReport, RememberRequest, RememberResult
from sma.services.intelligence.analysis import Analyser
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.guidance import MemoryHookGuidance, guidance_for
from sma.services.intelligence.history import PerformanceHistory
from sma.services.intelligence.reports import ReportStore
from sma.services.memory.service import CoveredItem, MemoryService

log = structlog.get_logger("sma.intelligence")


class IntelligenceService:
    def __init__(self, config: IntelligenceSettings, history: PerformanceHistory, reports: ReportStore,
                 memory: MemoryService | None = None, guidance: MemoryHookGuidance | None = None) -> None:
        self.config = config
        self.history = history
        self.reports = reports
        self.memory = memory
        self.guidance = guidance

    def window(self, as_of: datetime) -> datetime:
        return as_of - timedelta(days=self.config.history_days)

    async def report(self, project_id: str, as_of: datetime) -> IntelligenceReport:
        """The analysis alone (no file, no memory)."""
        since = self.window(as_of)
        posts = await self.history.posts(project_id, since)
        return await asyncio.to_thread(Analyser(self.config).analyse, project_id, posts, as_of, since)

    async def analyse(self, project_id: str, as_of: datetime) -> AnalyseResult:
        report = await self.report(project_id, as_of)
        path = await asyncio.to_thread(self.reports.save, report)
        log.info("intelligence analysed", project=project_id, posts=report.posts, tests=report.tests,
                 insights=len(report.insights))
        return AnalyseResult(project_id=project_id, posts=report.posts, insights=report.insights, tests=report.tests,
                             report_path=str(path), notes=report.notes)

    async def remember(self, req: RememberRequest) -> RememberResult:
        if self.memory is None or not self.config.remember:
            return RememberResult(notes=["memory is off: insights are in the report only"])
        posts = await self.history.posts(req.project_id, self.window(req.as_of))
        # With (almost) no history, absence of a finding is no evidence: keep what was learned before.
        prune = len(posts) >= 2 * self.config.min_posts
        result = await self.memory.sync_insights(req.project_id, req.insights, prune=prune)
        if not prune:
            result.notes.append(f"only {len(posts)} posts in the window: earlier insights kept as they were")
        result.coverage_added = await self.memory.remember_coverage(req.project_id, covered(posts),
                                                                    self.config.coverage_per_run)
        if self.guidance is not None:
            self.guidance.invalidate(req.project_id)
        return result


def covered(posts: list[Any]) -> list[CoveredItem]:
    """One covered item per run (a run posted on several platforms is one topic)."""
    items: dict[str, CoveredItem] = {}
    for post in posts:
        item = items.get(post.run_id)
        if item is None:
            items[post.run_id] = CoveredItem(run_id=post.run_id, title=post.title or post.features.topic,
                                             platforms=[post.platform], published_at=post.published_at)
        elif post.platform not in item.platforms:
            item.platforms.append(post.platform)
    return [i for i in items.values() if i.title]


def build_intelligence_service(settings: Any, database: Any) -> IntelligenceService:
    """The service over the analytics tables, the report folder and the project memory."""
    from sma.services.intelligence.config import intelligence_settings
    from sma.services.intelligence.history import AnalyticsHistory
    from sma.services.intelligence.reports import report_store
    from sma.services.memory.config import memory_settings
    from sma.services.memory.service import build_memory_service

    config = intelligence_settings(settings)
    memory = build_memory_service(settings)
    guidance = guidance_for(memory.backend, memory_settings(settings).cache_s) if memory else None
    return IntelligenceService(config, AnalyticsHistory(database, settings, config.checkpoint),
                               report_store(settings), memory, guidance)
