"""Read-only views for /trends, /schedule and /stats, over whatever tables this deployment has.

Trends, the schedule and engagement metrics arrive with later capabilities; until their tables exist
(and hold rows for the project) the bot says so plainly instead of inventing numbers. Posts exist since
the foundation, so /stats always counts those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, inspect, text

from sma.db.engine import Database


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: set[str]


async def tables(db: Database) -> dict[str, TableInfo]:
    async with db.engine.connect() as conn:
        def _read(sync_conn: object) -> dict[str, TableInfo]:
            inspector = inspect(sync_conn)
            return {name: TableInfo(name, {c["name"] for c in inspector.get_columns(name)})
                    for name in inspector.get_table_names()}
        return await conn.run_sync(_read)


def _first(found: dict[str, TableInfo], names: tuple[str, ...], needs: set[str]) -> TableInfo | None:
    for name in names:
        info = found.get(name)
        if info is not None and needs <= info.columns:
            return info
    return None


async def top_trends(db: Database, project_ids: list[str], limit: int = 5) -> list[tuple[int, str, float]] | None:
    """(id, title, score) of the best topics of each project's latest scan; None without a trends table."""
    found = await tables(db)
    info = _first(found, ("trend_results",), {"id", "project_id", "title", "score", "scan_id"})
    if info is None or "trend_scans" not in found:
        return None
    query = text(
        "SELECT r.id, r.title, r.score FROM trend_results r WHERE r.project_id IN :ids AND r.scan_id IN "
        "(SELECT s.id FROM trend_scans s WHERE s.project_id = r.project_id ORDER BY s.started_at DESC LIMIT 1) "
        "ORDER BY r.score DESC LIMIT :n").bindparams(_ids_param())
    async with db.session() as session:
        rows = (await session.exec(query, params={"ids": project_ids, "n": limit})).all()  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
    return [(int(r[0]), str(r[1]), float(r[2] or 0)) for r in rows]


async def trend(db: Database, trend_id: int) -> dict[str, str] | None:
    """One scored topic (project_id, title, summary, url) to produce from a /trends button."""
    info = _first(await tables(db), ("trend_results",), {"id", "project_id", "title", "summary", "url"})
    if info is None:
        return None
    query = text("SELECT project_id, title, summary, url FROM trend_results WHERE id = :id")
    async with db.session() as session:
        row = (await session.exec(query, params={"id": trend_id})).first()  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
    if row is None:
        return None
    return {"project_id": str(row[0]), "title": str(row[1]), "summary": str(row[2] or ""), "url": str(row[3] or "")}


async def next_slots(db: Database, project_ids: list[str], limit: int = 5) -> list[tuple[str, str]] | None:
    """(when, what) of the next publishing slots, or None when there is no calendar table yet."""
    info = _first(await tables(db), ("calendar_slots", "schedule_slots", "schedule"), {"project_id", "slot_at"})
    if info is None:
        return None
    what = "title" if "title" in info.columns else "project_id"
    planned = " AND state IN ('planned', 'started')" if "state" in info.columns else ""
    query = text(f"SELECT slot_at, {what} FROM {info.name} WHERE project_id IN :ids AND slot_at >= :now{planned} "
                 "ORDER BY slot_at LIMIT :n").bindparams(_ids_param())
    now = datetime.now(UTC).replace(tzinfo=None)
    async with db.session() as session:
        rows = (await session.exec(query, params={"ids": project_ids, "now": now, "n": limit})).all()  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
    return [(str(r[0])[:16] + " UTC", str(r[1])) for r in rows]


async def posts_last_days(db: Database, project_ids: list[str], days: int = 7) -> dict[str, dict[str, int]]:
    """Per platform: how many posts were published, failed or skipped in the last `days` days."""
    since = (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)
    query = text("SELECT platform, status, count(*) FROM posts WHERE project_id IN :ids AND updated_at >= :since "
                 "GROUP BY platform, status").bindparams(_ids_param())
    out: dict[str, dict[str, int]] = {}
    async with db.session() as session:
        for platform, status, count in (await session.exec(query, params={"ids": project_ids, "since": since})).all():  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
            out.setdefault(str(platform), {})[str(status)] = int(count)
    return out


async def metrics_last_days(db: Database, project_ids: list[str], days: int = 7) -> dict[str, tuple[int, int]] | None:
    """Per platform: (views, likes) of posts published in the last `days` days, each post counted at its
    latest checkpoint; None when there is no metrics table yet."""
    info = _first(await tables(db), ("post_metrics",),
                  {"project_id", "platform", "run_id", "views", "likes", "published_at"})
    if info is None:
        return None
    since = (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)
    query = text(f"SELECT platform, SUM(v), SUM(l) FROM (SELECT platform, run_id, MAX(views) AS v, MAX(likes) AS l "
                 f"FROM {info.name} WHERE project_id IN :ids AND published_at >= :since GROUP BY platform, run_id) "
                 "AS latest GROUP BY platform").bindparams(_ids_param())
    async with db.session() as session:
        rows = (await session.exec(query, params={"ids": project_ids, "since": since})).all()  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
    return {str(r[0]): (int(r[1] or 0), int(r[2] or 0)) for r in rows}


def _ids_param() -> BindParameter[Any]:
    return bindparam("ids", expanding=True)
