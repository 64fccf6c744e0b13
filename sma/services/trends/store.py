"""Reads and writes of trend scans and their ranked results.

Writing a scan is idempotent (the activity may run twice): the scan row is upserted and its results are
replaced in the same transaction.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.repo import ensure_project
from sma.db.tables import ContentItem, Project
from sma.db.tables_trends import TrendResult, TrendScan
from sma.models.trends import RankedTrend, ScoreBreakdown, StoreScanRequest, TrendLink


class _ProjectRow:
    def __init__(self, project_id: str, name: str = "", niche: str = "") -> None:
        self.id, self.name, self.niche = project_id, name, niche


async def ensure_project_row(db: Database, project_id: str, name: str = "", niche: str = "") -> None:
    """Foreign keys need the project row; config stays the source of truth for its fields."""
    async with db.session() as session:
        if await session.get(Project, project_id) is not None:
            return
    await ensure_project(db, _ProjectRow(project_id, name, niche))


async def save_scan(db: Database, req: StoreScanRequest, ranked: list[RankedTrend], notes: list[str]) -> None:
    answered = [r.source for r in req.reports if r.ok]
    failed = [r.source for r in req.reports if not r.ok]
    async with db.session() as session, session.begin():
        scan = await session.get(TrendScan, req.scan_id) or TrendScan(id=req.scan_id, project_id=req.project_id)
        scan.started_at, scan.finished_at = req.started_at, req.finished_at
        scan.answered, scan.failed = json.dumps(answered), json.dumps(failed)
        scan.reports = json.dumps([r.model_dump() for r in req.reports])
        scan.notes = json.dumps(notes)
        scan.raw_items, scan.merged, scan.filtered_out = req.raw_items, req.merged, req.filtered_out
        scan.stored = len(ranked)
        session.add(scan)
        await session.flush()
        await session.exec(delete(TrendResult).where(col(TrendResult.scan_id) == req.scan_id))
        seen: set[str] = set()
        for rank, trend in enumerate(ranked, start=1):
            if trend.key in seen:
                continue
            seen.add(trend.key)
            session.add(_result_row(req, rank, trend))


def _result_row(req: StoreScanRequest, rank: int, trend: RankedTrend) -> TrendResult:
    b = trend.breakdown
    return TrendResult(
        project_id=req.project_id, scan_id=req.scan_id, key=trend.key, rank=rank, title=trend.title,
        summary=trend.summary, url=trend.url, sources=json.dumps(trend.sources),
        links=json.dumps([link.model_dump() for link in trend.links]), published_at=trend.published_at,
        score=b.score, popularity=b.popularity, velocity=b.velocity, freshness=b.freshness,
        multi_source=b.multi_source, coverage_penalty=b.coverage_penalty, covered_by=b.covered_by,
        niche_similarity=b.niche_similarity, keyword_hits=json.dumps(trend.keyword_hits),
    )


def to_ranked(row: TrendResult) -> RankedTrend:
    return RankedTrend(
        key=row.key, title=row.title, summary=row.summary, url=row.url, sources=json.loads(row.sources),
        links=[TrendLink(**link) for link in json.loads(row.links)], published_at=row.published_at,
        keyword_hits=json.loads(row.keyword_hits),
        breakdown=ScoreBreakdown(popularity=row.popularity, velocity=row.velocity, freshness=row.freshness,
                                 multi_source=row.multi_source, coverage_penalty=row.coverage_penalty,
                                 niche_similarity=row.niche_similarity, covered_by=row.covered_by,
                                 score=row.score),
    )


async def latest_scan(db: Database, project_id: str) -> TrendScan | None:
    query = (select(TrendScan).where(TrendScan.project_id == project_id)
             .order_by(col(TrendScan.started_at).desc()).limit(1))
    async with db.session() as session:
        return (await session.exec(query)).first()


async def list_scans(db: Database, project_id: str, limit: int = 20) -> list[TrendScan]:
    query = (select(TrendScan).where(TrendScan.project_id == project_id)
             .order_by(col(TrendScan.started_at).desc()).limit(limit))
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def scan_results(db: Database, scan_id: str, limit: int = 100) -> list[TrendResult]:
    query = select(TrendResult).where(TrendResult.scan_id == scan_id).order_by(col(TrendResult.rank)).limit(limit)
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def recent_results(db: Database, project_id: str, since: datetime) -> list[TrendResult]:
    """Results of scans started since `since`, newest scan first, one row per topic key (its newest)."""
    query = (select(TrendResult, TrendScan.started_at).join(TrendScan, col(TrendScan.id) == TrendResult.scan_id)
             .where(TrendResult.project_id == project_id, TrendScan.started_at >= since)
             .order_by(col(TrendScan.started_at).desc(), col(TrendResult.rank)))
    async with db.session() as session:
        rows = (await session.exec(query)).all()
    newest: dict[str, TrendResult] = {}
    for result, _ in rows:
        newest.setdefault(result.key, result)
    return list(newest.values())


async def produced_titles(db: Database, project_id: str, limit: int = 2000) -> list[str]:
    """Titles of content the project already produced (or is producing): the coverage baseline."""
    query = (select(ContentItem.title).where(ContentItem.project_id == project_id)
             .order_by(col(ContentItem.created_at).desc()).limit(limit))
    async with db.session() as session:
        return [t for t in (await session.exec(query)).all() if t]
