"""The `post_metrics` time series: which checkpoints exist, medians for the baseline, inserts, reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.tables_publishing import PostMetric
from sma.services.analytics.scoring import Baseline, baseline
from sma.services.platforms.db import ensure_project, transaction


class MetricsStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def collected(self, run_ids: list[str]) -> set[tuple[str, str, str]]:
        """(run, platform, checkpoint) of every row already stored for these runs."""
        if not run_ids:
            return set()
        query = select(PostMetric.run_id, PostMetric.platform, PostMetric.checkpoint).where(
            col(PostMetric.run_id).in_(run_ids))
        async with self.database.session() as session:
            return {(r, p, c) for r, p, c in (await session.exec(query)).all()}

    async def baseline(self, project_id: str, platform: str, checkpoint: str, since: datetime,
                       exclude_run: str) -> Baseline:
        """Medians over the project's other posts on this platform at this checkpoint, collected since `since`;
        late rows are left out (a '1h' snapshot taken at 30 h would inflate the median)."""
        query = select(PostMetric.views, PostMetric.engagement_rate).where(
            PostMetric.project_id == project_id, PostMetric.platform == platform, PostMetric.checkpoint == checkpoint,
            PostMetric.status == "ok", PostMetric.run_id != exclude_run, col(PostMetric.collected_at) >= since,
            col(PostMetric.late).is_(False))
        async with self.database.session() as session:
            rows = (await session.exec(query)).all()
        return baseline([v for v, _ in rows], [e for _, e in rows])

    async def insert(self, row: PostMetric) -> bool:
        """Store one checkpoint; False when it was already stored (a concurrent or repeated collection)."""
        try:
            async with transaction(self.database) as session:
                await ensure_project(session, row.project_id)
                session.add(row)
        except IntegrityError:
            return False
        return True

    async def rows(self, run_ids: list[str]) -> list[PostMetric]:
        if not run_ids:
            return []
        query = select(PostMetric).where(col(PostMetric.run_id).in_(run_ids)).order_by(
            col(PostMetric.run_id), col(PostMetric.platform), col(PostMetric.hours))
        async with self.database.session() as session:
            return list((await session.exec(query)).all())
