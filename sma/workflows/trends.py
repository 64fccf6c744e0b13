"""TrendScanWorkflow: ask every source of a project what is trending, rank it, store it.

Each source is its own activity with its own retry policy (a 429 sets Temporal's next retry delay to the
server's Retry-After); a source that fails for good is reported, never fails the scan. Ranking (dedup,
embeddings) runs on the sma-cpu queue; coverage and storing on sma-workflows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.trends import TrendActivities
    from sma.activities.trends_cpu import TrendRankActivities
    from sma.models.trends import (
        CoverageRequest,
        CoverageResult,
        RankRequest,
        RankResult,
        ScanPlan,
        ScanPlanRequest,
        SourcePlan,
        SourceReport,
        SourceRequest,
        SourceResult,
        StoreScanRequest,
        TrendScanInput,
        TrendScanResult,
    )

R = TypeVar("R")
FETCH = {
    "reddit": TrendActivities.fetch_reddit,
    "hackernews": TrendActivities.fetch_hackernews,
    "google_trends": TrendActivities.fetch_google_trends,
    "github": TrendActivities.fetch_github,
    "youtube": TrendActivities.fetch_youtube,
    "feeds": TrendActivities.fetch_feeds,
}
PERMANENT = ["Rejected", "BadPayload", "NotConfigured", "ConfigError"]
_QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3, non_retryable_error_types=PERMANENT)
_STORE = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30),
                     maximum_attempts=10, non_retryable_error_types=PERMANENT)


@workflow.defn(name="TrendScanWorkflow")
class TrendScanWorkflow:
    @workflow.run
    async def run(self, inp: TrendScanInput) -> TrendScanResult:
        started = workflow.now()
        plan: ScanPlan = await self._light(TrendActivities.plan, ScanPlanRequest(project_id=inp.project_id,
                                                                                  sources=inp.sources))
        results = await asyncio.gather(*(self._fetch(inp, p) for p in plan.sources))
        reports = list(plan.skipped) + [report for report, _ in results]
        items = [item for _, result in results if result is not None for item in result.items]
        ranked: RankResult = await workflow.execute_activity_method(
            TrendRankActivities.rank, RankRequest(project_id=inp.project_id, items=items, now=started),
            task_queue=queues.in_pool(queues.CPU), start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_QUICK)
        coverage = await self._coverage(inp, ranked)
        return await self._light(TrendActivities.store, StoreScanRequest(
            project_id=inp.project_id, scan_id=workflow.info().run_id, started_at=started,
            finished_at=workflow.now(), reports=reports, candidates=ranked.candidates, coverage=coverage,
            rank_notes=ranked.notes, merged=ranked.merged, filtered_out=ranked.filtered_out,
            raw_items=len(items)), retry=_STORE)

    async def _fetch(self, inp: TrendScanInput, plan: SourcePlan) -> tuple[SourceReport, SourceResult | None]:
        """One source with its own retry policy; its failure becomes a report, not an exception."""
        try:
            result: SourceResult = await workflow.execute_activity_method(
                FETCH[plan.source], SourceRequest(project_id=inp.project_id, now=workflow.now()),
                task_queue=queues.in_pool(queues.WORKFLOWS),
                start_to_close_timeout=timedelta(seconds=plan.timeout_s * 8 + 10),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=plan.initial_retry_s),
                                         backoff_coefficient=2.0, maximum_interval=timedelta(minutes=2),
                                         maximum_attempts=plan.max_attempts, non_retryable_error_types=PERMANENT))
        except ActivityError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            workflow.logger.warning("trend source failed: %s: %s", plan.source, message)
            skipped = isinstance(cause, ApplicationError) and cause.type == "NotConfigured"
            return SourceReport(source=plan.source, ok=False, error=message, skipped=skipped), None
        # A source that answered in part (one of a project's feeds down) says so in its report.
        notes = "; ".join(result.notes)[:1000]
        return SourceReport(source=plan.source, ok=True, items=len(result.items), error=notes), result

    async def _coverage(self, inp: TrendScanInput, ranked: RankResult) -> CoverageResult:
        if not ranked.candidates:
            return CoverageResult()
        try:
            return await self._light(TrendActivities.coverage, CoverageRequest(
                project_id=inp.project_id, titles=[c.title for c in ranked.candidates]))
        except ActivityError as exc:
            workflow.logger.warning("coverage check failed, no penalties this scan: %s", exc.cause or exc)
            return CoverageResult(checker="unavailable")

    async def _light(self, method: Callable[..., Awaitable[R]], arg: Any, retry: RetryPolicy = _QUICK) -> R:
        return await workflow.execute_activity_method(
            method, arg, task_queue=queues.in_pool(queues.WORKFLOWS),
            start_to_close_timeout=timedelta(minutes=2), retry_policy=retry)
