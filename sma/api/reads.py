"""Read-only queries of the API over the database: one statement per list, `limit + 1` rows fetched so the
page knows whether another follows. The rows become the API's own response models (schemas.py), never
SQLModel rows, so a column added to a table does not change the public contract."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from sma.api import schemas as s
from sma.api.pagination import PageParams
from sma.db.engine import Database
from sma.db.tables import Approval, Artifact, PipelineRun, Post, StepRun, utcnow
from sma.db.tables_publishing import PostMetric
from sma.db.tables_trends import CalendarSlot, TrendResult, TrendScan


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


async def run_children(db: Database, run_id: str) -> tuple[list[s.StepOut], list[s.ArtifactOut], list[s.ApprovalOut],
                                                             list[s.PostOut]]:
    async with db.session() as session:
        steps = (await session.exec(select(StepRun).where(StepRun.run_id == run_id)
                                    .order_by(col(StepRun.round), col(StepRun.id)))).all()
        artifacts = (await session.exec(select(Artifact).where(Artifact.run_id == run_id)
                                        .order_by(col(Artifact.name)))).all()
        approvals = (await session.exec(select(Approval).where(Approval.run_id == run_id)
                                        .order_by(col(Approval.round)))).all()
        posts = (await session.exec(select(Post).where(Post.run_id == run_id).order_by(col(Post.platform)))).all()
    return ([s.StepOut(round=r.round, name=r.name, state=r.state, tier=r.tier, seconds=r.seconds, attempts=r.attempts,
                       notes=[str(n) for n in _json_list(r.notes)], error=r.error, started_at=r.started_at,
                       finished_at=r.finished_at) for r in steps],
            [s.ArtifactOut(name=a.name, sha256=a.sha256, size=a.size, kind=a.kind, media_type=a.media_type,
                           created_at=a.created_at) for a in artifacts],
            [s.ApprovalOut(round=a.round, approved=a.approved, by=a.by, feedback=a.feedback, auto=a.auto,
                           decided_at=a.decided_at) for a in approvals],
            [_post(p) for p in posts])


def _post(p: Post, title: str = "") -> s.PostOut:
    return s.PostOut(id=p.id or 0, run_id=p.run_id, project_id=p.project_id, platform=p.platform, status=p.status,
                     url=p.url, external_id=p.external_id, reason=p.reason, published_at=p.published_at,
                     updated_at=p.updated_at, title=title)


async def artifact_path(db: Database, run_id: str, name: str) -> Artifact | None:
    async with db.session() as session:
        return (await session.exec(select(Artifact).where(Artifact.run_id == run_id, Artifact.name == name))).first()


async def run_exists(db: Database, run_id: str) -> bool:
    async with db.session() as session:
        return await session.get(PipelineRun, run_id) is not None


async def trends(db: Database, project_id: str, page: PageParams) -> tuple[TrendScan | None, list[s.TrendOut]]:
    """The ranked results of the project's latest finished scan."""
    async with db.session() as session:
        scan = (await session.exec(select(TrendScan).where(TrendScan.project_id == project_id)
                                   .order_by(col(TrendScan.started_at).desc()).limit(1))).first()
        if scan is None:
            return None, []
        rows = (await session.exec(select(TrendResult).where(TrendResult.scan_id == scan.id)
                                   .order_by(col(TrendResult.rank), col(TrendResult.id))
                                   .offset(page.offset).limit(page.limit + 1))).all()
    return scan, [s.TrendOut(rank=r.rank, key=r.key, title=r.title, summary=r.summary, url=r.url,
                             sources=[str(x) for x in _json_list(r.sources)], score=r.score,
                             published_at=r.published_at, covered_by=r.covered_by) for r in rows]


async def calendar(db: Database, project_id: str | None, since: datetime | None, state: str | None,
                   page: PageParams) -> list[s.SlotOut]:
    query = select(CalendarSlot)
    if project_id:
        query = query.where(CalendarSlot.project_id == project_id)
    if since is not None:
        query = query.where(col(CalendarSlot.slot_at) >= since)
    if state:
        query = query.where(CalendarSlot.state == state)
    query = query.order_by(col(CalendarSlot.slot_at), col(CalendarSlot.id)).offset(page.offset).limit(page.limit + 1)
    async with db.session() as session:
        rows = (await session.exec(query)).all()
    return [s.SlotOut(project_id=r.project_id, item_id=r.item_id, workflow_id=r.workflow_id, title=r.title,
                      platforms=[str(p) for p in _json_list(r.platforms)], score=r.score, slot_at=r.slot_at,
                      start_at=r.start_at, state=r.state, reasons=[str(x) for x in _json_list(r.reasons)])
            for r in rows]


async def posts(db: Database, project_id: str | None, platform: str | None, status: str | None,
                page: PageParams) -> list[s.PostOut]:
    query = select(Post, PipelineRun.title).join(PipelineRun, col(PipelineRun.id) == Post.run_id, isouter=True)
    if project_id:
        query = query.where(Post.project_id == project_id)
    if platform:
        query = query.where(Post.platform == platform)
    if status:
        query = query.where(Post.status == status)
    query = (query.order_by(col(Post.updated_at).desc(), col(Post.id).desc())
             .offset(page.offset).limit(page.limit + 1))
    async with db.session() as session:
        rows = (await session.exec(query)).all()
    return [_post(p, t or "") for p, t in rows]


async def analytics(db: Database, project_id: str | None, days: int) -> s.AnalyticsOut:
    """The latest checkpoint of every post published in the last `days` days, and their totals."""
    since = utcnow() - timedelta(days=days)
    query = select(PostMetric).where(col(PostMetric.published_at) >= since, PostMetric.status == "ok")
    if project_id:
        query = query.where(PostMetric.project_id == project_id)
    async with db.session() as session:
        rows = (await session.exec(query.order_by(col(PostMetric.hours)))).all()
    latest: dict[tuple[str, str], PostMetric] = {}
    for row in rows:  # ordered by checkpoint age: the last one seen per post is the latest
        latest[(row.run_id, row.platform)] = row
    items = sorted(latest.values(), key=lambda r: r.published_at, reverse=True)
    points = [s.MetricOut(run_id=r.run_id, platform=r.platform, published_at=r.published_at, hours=r.hours,
                          views=r.views or 0, engagement_rate=r.engagement_rate, viral_score=r.viral_score)
              for r in items]
    rates = [p.engagement_rate for p in points if p.engagement_rate is not None]
    return s.AnalyticsOut(since=since, posts=len(points), views=sum(p.views for p in points),
                          mean_engagement_rate=sum(rates) / len(rates) if rates else None, items=points)


async def run_states(db: Database, project_id: str | None) -> dict[str, int]:
    """How many runs are in each state."""
    query = select(PipelineRun.state, func.count()).group_by(PipelineRun.state)
    if project_id:
        query = query.where(PipelineRun.project_id == project_id)
    async with db.session() as session:
        return {state: int(n) for state, n in (await session.exec(query)).all()}
