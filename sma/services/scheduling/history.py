"""Engagement history for the posting optimiser, behind a small protocol so it can be fed synthetic data.

`PostMetricsHistory` reads the analytics time series (post_metrics, from the publishing issue): for each
post, the latest checkpoint that has an engagement rate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import structlog
from sqlmodel import col, select

from sma.db.engine import Database
from sma.services.scheduling.optimizer import EngagementSample

log = structlog.get_logger("sma.scheduling")


class EngagementHistory(Protocol):
    async def samples(self, project_id: str, since: datetime) -> list[EngagementSample]:
        """One sample per published post since `since`: platform, publication time, engagement."""
        ...


class PostMetricsHistory:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def samples(self, project_id: str, since: datetime) -> list[EngagementSample]:
        from sma.db.tables_publishing import PostMetric

        query = (select(PostMetric).where(PostMetric.project_id == project_id, PostMetric.published_at >= since)
                 .order_by(col(PostMetric.hours)))
        try:
            async with self.database.session() as session:
                rows = (await session.exec(query)).all()
        except Exception as exc:  # an older database without the analytics tables: no history yet
            log.warning("engagement history unavailable", error=str(exc)[:200])
            return []
        latest: dict[tuple[str, str], EngagementSample] = {}
        for row in rows:  # ordered by checkpoint hours, so the last one written wins
            value = row.engagement_rate if row.engagement_rate is not None else row.viral_score
            if value is not None:
                latest[(row.run_id, row.platform)] = EngagementSample(row.platform, row.published_at, float(value))
        return list(latest.values())


class NoHistory:
    """A project with no analytics yet: the optimiser uses its prior alone."""

    async def samples(self, project_id: str, since: datetime) -> list[EngagementSample]:
        return []
