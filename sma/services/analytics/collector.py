"""Collect metrics at checkpoints: plan what is due, fetch each post's counters once, score and store.

Used by the AnalyticsCollectorWorkflow's activities; `as_of` is the workflow's clock, so the stored
collection time (and the late flag) follow workflow time.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

import structlog

from sma.db.engine import Database
from sma.db.tables_publishing import PostMetric
from sma.models.analytics import CheckpointPlan, CollectRequest, CollectResult, DueCheckpoint, Metrics, PlanRequest
from sma.services.analytics import checkpoints
from sma.services.analytics.scoring import engagement_rate, viral_score
from sma.services.analytics.store import MetricsStore
from sma.services.platforms.base import MetricsSource
from sma.services.platforms.config import AnalyticsSettings
from sma.services.platforms.credentials import CredentialError
from sma.services.platforms.errors import PlatformError
from sma.services.platforms.ledger import PublishLedger, progress_of
from sma.services.platforms.registry import METRIC_PLATFORMS, PlatformRegistry
from sma.settings import Settings

log = structlog.get_logger("sma.analytics")
LATE_GRACE = timedelta(days=7)  # a checkpoint missed by more than this after the last one is given up


class AnalyticsService:
    def __init__(self, config: AnalyticsSettings, ledger: PublishLedger, store: MetricsStore,
                 registry: PlatformRegistry) -> None:
        self.config = config
        self.ledger = ledger
        self.store = store
        self.registry = registry

    async def plan(self, req: PlanRequest) -> CheckpointPlan:
        oldest = req.as_of - timedelta(hours=max(self.config.checkpoints_h)) - LATE_GRACE
        records = await self.ledger.published(oldest, req.project_ids or None, sorted(METRIC_PLATFORMS))
        collected = await self.store.collected([r.run_id for r in records])
        return checkpoints.plan(records, collected, self.config.checkpoints_h, req.as_of, req.until)

    async def collect(self, req: CollectRequest) -> CollectResult:
        result = CollectResult()
        posts: dict[tuple[str, str, str], list[DueCheckpoint]] = defaultdict(list)
        for item in req.items:
            posts[(item.project_id, item.platform, item.run_id)].append(item)
        by_source: dict[tuple[str, str], list[list[DueCheckpoint]]] = defaultdict(list)
        for (project, platform, _), items in posts.items():
            by_source[(project, platform)].append(items)
        for (project, platform), groups in by_source.items():
            await self._collect_platform(project, platform, groups, req, result)
        return result

    async def _collect_platform(self, project: str, platform: str, groups: list[list[DueCheckpoint]],
                                req: CollectRequest, result: CollectResult) -> None:
        try:
            source = await self.registry.metrics_source(project, platform)
        except (PlatformError, CredentialError) as exc:
            result.failed += sum(len(g) for g in groups)
            result.notes.append(f"{project}/{platform}: {exc}")
            return
        if source is None:
            result.unsupported += sum(len(g) for g in groups)
            return
        try:
            for items in groups:
                await self._collect_post(source, items, req, result)
        finally:
            await source.aclose()

    async def _collect_post(self, source: MetricsSource, items: list[DueCheckpoint], req: CollectRequest,
                            result: CollectResult) -> None:
        first = items[0]
        record = await self.ledger.get(first.run_id, first.platform)
        try:
            metrics = await source.metrics(first.external_id, progress_of(record) if record else {})
        except PlatformError as exc:
            result.failed += len(items)
            result.notes.append(f"{first.platform} {first.run_id}: {exc}")
            log.warning("metrics not collected", run_id=first.run_id, platform=first.platform, reason=str(exc))
            return
        for item in items:
            row = await self._row(item, metrics, req)
            if await self.store.insert(row):
                result.collected += 1
                result.late += int(row.late)

    async def _row(self, item: DueCheckpoint, m: Metrics, req: CollectRequest) -> PostMetric:
        late_after = timedelta(minutes=self.config.late_after_min)
        rate = engagement_rate(m)
        base = await self.store.baseline(item.project_id, item.platform, item.checkpoint,
                                         req.as_of - timedelta(days=self.config.baseline_days), item.run_id)
        score = viral_score(m.views, rate, base, self.config.baseline_min_posts, self.config.weight_views,
                            self.config.weight_engagement)
        return PostMetric(
            project_id=item.project_id, run_id=item.run_id, platform=item.platform, external_id=item.external_id,
            checkpoint=item.checkpoint, hours=item.hours, published_at=item.published_at, due_at=item.due_at,
            collected_at=req.as_of, late=checkpoints.is_late(item.due_at, req.as_of, late_after),
            lag_s=max(0.0, (req.as_of - item.due_at).total_seconds()), views=m.views, likes=m.likes,
            comments=m.comments, shares=m.shares, saves=m.saves, watch_time_s=m.watch_time_s,
            avg_view_s=m.avg_view_s, retention=m.retention, followers_gained=m.followers_gained,
            engagement_rate=rate, viral_score=score, baseline_views=base.views, baseline_engagement=base.engagement,
            baseline_n=base.n, raw=json.dumps(m.raw, sort_keys=True))


def build_analytics_service(settings: Settings, database: Database) -> AnalyticsService:
    from sma.services.platforms.service import build_registry

    return AnalyticsService(settings.analytics, PublishLedger(database), MetricsStore(database),
                            build_registry(settings, database))
