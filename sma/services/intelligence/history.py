"""Performance history: one record per published post with its viral score and its content features.

`PerformanceHistory` is the seam; the analysis never reads tables itself, so a synthetic history (the
simulation tests, `StaticHistory`) drives exactly the code that real data does. `AnalyticsHistory` reads the
analytics time series (`post_metrics`, the publishing capability's table) and joins what the pipeline
recorded about each run: its script (`script_attempts`) and its status (`pipeline_runs`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from sqlmodel import col, select

from sma.db.engine import Database
from sma.models.intelligence import PostPerformance
from sma.models.pipeline import PipelineStatus, Script
from sma.services.intelligence.features import extract, video_duration

log = structlog.get_logger("sma.intelligence")


class PerformanceHistory(Protocol):
    async def posts(self, project_id: str, since: datetime) -> list[PostPerformance]:
        """Every post of the project published since `since` that has a viral score."""
        ...


class StaticHistory:
    """A fixed list of posts (simulations, tests, demos)."""

    def __init__(self, posts: list[PostPerformance]) -> None:
        self._posts = posts

    async def posts(self, project_id: str, since: datetime) -> list[PostPerformance]:
        return [p for p in self._posts if p.published_at >= since]


def _zone(settings: Any, project_id: str) -> ZoneInfo:
    try:
        zone: ZoneInfo = settings.project(project_id).guards.zone()
        return zone
    except Exception:  # an unknown project or zone: UTC hours are still hours
        return ZoneInfo("UTC")


def _best_script(rows: list[Any]) -> Script | None:
    """The script the run went on with: the last passed attempt, else the last attempt."""
    if not rows:
        return None
    rows = sorted(rows, key=lambda r: (r.passed, r.round, r.attempt))
    try:
        return Script.model_validate_json(rows[-1].script_json)
    except ValueError:
        return None


def _status(row: Any) -> PipelineStatus | None:
    try:
        return PipelineStatus.model_validate_json(row.status_json) if row is not None else None
    except ValueError:
        return None


class AnalyticsHistory:
    def __init__(self, database: Database, settings: Any, checkpoint: str = "") -> None:
        self.database = database
        self.settings = settings
        self.checkpoint = checkpoint

    async def _metrics(self, project_id: str, since: datetime) -> list[Any]:
        from sma.db.tables_publishing import PostMetric

        query = (select(PostMetric).where(PostMetric.project_id == project_id, col(PostMetric.published_at) >= since,
                                          PostMetric.status == "ok", col(PostMetric.viral_score).is_not(None))
                 .order_by(col(PostMetric.hours)))
        async with self.database.session() as session:
            rows = list((await session.exec(query)).all())
        chosen: dict[tuple[str, str], Any] = {}
        for row in rows:  # ordered by checkpoint age: the last one written wins unless one is configured
            key = (row.run_id, row.platform)
            if key in chosen and self.checkpoint and chosen[key].checkpoint == self.checkpoint:
                continue
            chosen[key] = row
        return list(chosen.values())

    async def _runs(self, run_ids: list[str]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
        from sma.db.tables import PipelineRun
        from sma.db.tables_llm import ScriptAttempt

        async with self.database.session() as session:
            attempts = (await session.exec(select(ScriptAttempt).where(col(ScriptAttempt.run_id).in_(run_ids)))).all()
            runs = (await session.exec(select(PipelineRun).where(col(PipelineRun.id).in_(run_ids)))).all()
        scripts: dict[str, list[Any]] = {}
        for row in attempts:
            scripts.setdefault(row.run_id, []).append(row)
        return scripts, {row.id: row for row in runs}

    async def posts(self, project_id: str, since: datetime) -> list[PostPerformance]:
        try:
            metrics = await self._metrics(project_id, since)
            scripts, runs = await self._runs(sorted({m.run_id for m in metrics}))
        except Exception as exc:  # a database without the analytics tables yet: no history
            log.warning("performance history unavailable", project=project_id, error=str(exc)[:300])
            return []
        zone = _zone(self.settings, project_id)
        statuses = {run_id: _status(row) for run_id, row in runs.items()}
        videos = {run_id: s.artifacts["video"].path for run_id, s in statuses.items() if s and "video" in s.artifacts}
        durations = await asyncio.to_thread(lambda: {r: video_duration(p) for r, p in videos.items()})
        posts = []
        for m in metrics:
            script = _best_script(scripts.get(m.run_id, []))
            run = runs.get(m.run_id)
            title = (script.title if script else "") or (run.title if run is not None else "")
            features = extract(script, statuses.get(m.run_id), m.platform, m.published_at, zone,
                               durations.get(m.run_id), title)
            posts.append(PostPerformance(run_id=m.run_id, platform=m.platform, published_at=m.published_at,
                                         viral_score=float(m.viral_score), title=title, checkpoint=m.checkpoint,
                                         features=features))
        return sorted(posts, key=lambda p: (p.published_at, p.run_id, p.platform))

