"""The trend scan's logic, testable without Temporal: fetch one source, rank (normalise, deduplicate,
filter by niche), and finish (coverage penalty, final score, store)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

import structlog

from sma.models.trends import (
    RankedTrend,
    RankRequest,
    RankResult,
    ScanPlan,
    ScanPlanRequest,
    SourcePlan,
    SourceReport,
    SourceResult,
    StoreScanRequest,
    TrendItem,
)
from sma.services.trends.config import SOURCES, TrendSettings
from sma.services.trends.dedup import deduplicate
from sma.services.trends.niche import NicheFilter
from sma.services.trends.scoring import apply_scores, merge_clusters
from sma.services.trends.sources.base import TrendSource

log = structlog.get_logger("sma.trends")


def plan_scan(settings: TrendSettings, req: ScanPlanRequest) -> ScanPlan:
    """Which sources to call for a project, with each one's own retry options; the rest are reported."""
    project = settings.project(req.project_id)
    wanted = req.sources if req.sources else list(project.sources)
    plan = ScanPlan()
    for name in wanted:
        options = settings.source(name) if name in SOURCES else None
        if options is None:
            plan.skipped.append(SourceReport(source=name, ok=False, skipped=True, error="unknown source"))
        elif name == "feeds" and not project.feeds:
            if req.sources or "sources" in project.model_fields_set:  # asked for by name: say why not
                plan.skipped.append(SourceReport(source=name, ok=False, skipped=True, error="no feeds configured "
                                                 f"(trends.projects.{req.project_id}.feeds)"))
        elif not options.enabled:
            plan.skipped.append(SourceReport(source=name, ok=False, skipped=True, error="disabled in config"))
        else:
            plan.sources.append(SourcePlan(source=name, max_attempts=options.max_attempts,
                                           initial_retry_s=options.initial_retry_s, timeout_s=options.timeout_s))
    return plan


async def fetch_source(sources: Mapping[str, TrendSource], settings: TrendSettings, name: str, project_id: str,
                       now: datetime | None) -> SourceResult:
    source = sources[name]
    result = await source.fetch(project_id, settings.project(project_id), now or datetime.now(UTC))
    log.info("trend source answered", source=name, project=project_id, items=len(result.items))
    for note in result.notes:
        log.warning("trend source answered in part", source=name, project=project_id, note=note)
    return result


def rank(settings: TrendSettings, niche_filter: NicheFilter, project_niche: str, req: RankRequest) -> RankResult:
    """Normalise per source, merge duplicates across sources, keep what fits the niche."""
    started = time.perf_counter()
    now = req.now or datetime.now(UTC)
    items = [i for i in req.items if i.title.strip()]
    dedup = deduplicate([_dedup_text(i) for i in items], settings.dedup_threshold, settings.dedup_method,
                        bands=settings.lsh.bands, rows=settings.lsh.rows, seed=settings.lsh.seed)
    merged = merge_clusters(items, dedup.labels.tolist(), now, settings.freshness_half_life_h,
                            settings.multi_source_full_at)
    project = settings.project(req.project_id)
    outcome = niche_filter.apply(merged, project.niche or project_niche, project.include_keywords,
                                 project.exclude_keywords, settings.niche_margin)
    return RankResult(candidates=outcome.kept, merged=len(items) - len(merged), filtered_out=outcome.dropped,
                      niche_method=outcome.method, notes=outcome.notes,
                      seconds=round(time.perf_counter() - started, 4))


def _dedup_text(item: TrendItem) -> str:
    return item.title


def finish(settings: TrendSettings, req: StoreScanRequest) -> list[RankedTrend]:
    """Apply the coverage penalties and weights; the best `keep_per_scan` in order."""
    ranked = apply_scores(list(req.candidates), req.coverage.penalties, req.coverage.covered_by, settings.weights)
    return ranked[: settings.keep_per_scan]
