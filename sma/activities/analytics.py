"""Activities of the analytics capability: plan the due checkpoints, collect them (sma-workflows queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from sma.models.analytics import CheckpointPlan, CollectRequest, CollectResult, PlanRequest
from sma.settings import Settings

if TYPE_CHECKING:  # the workflow imports this module; keep its import light
    from sma.services.analytics.collector import AnalyticsService


class AnalyticsActivities:
    def __init__(self, service: AnalyticsService) -> None:
        self.service = service

    @activity.defn(name="analytics_plan")
    async def plan(self, req: PlanRequest) -> CheckpointPlan:
        return await self.service.plan(req)

    @activity.defn(name="analytics_collect")
    async def collect(self, req: CollectRequest) -> CollectResult:
        return await self.service.collect(req)


def build(settings: Settings, database: object) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-workflows worker."""
    from sma.db.engine import Database
    from sma.services.analytics.collector import build_analytics_service

    db = database if isinstance(database, Database) else Database(settings.database_url)
    acts = AnalyticsActivities(build_analytics_service(settings, db))
    return [acts.plan, acts.collect]
