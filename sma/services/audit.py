"""The audit log: every state-changing request of the dashboard and the API, with who made it and how it ended."""

from __future__ import annotations

import json
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database
from sma.db.tables_dashboard import AuditEntry

log = structlog.get_logger("sma.dashboard.audit")


async def record(db: Database, actor: str, action: str, *, target: str = "", project_id: str = "",
                 outcome: str = "ok", client: str = "", **detail: Any) -> None:
    """Write one audit row (and a log line). `detail` must never contain a secret value."""
    entry = AuditEntry(actor=actor, client=client[:64], action=action, project_id=project_id, target=target[:300],
                       outcome=outcome, detail=json.dumps(detail, default=str, sort_keys=True)[:4000])
    async with db.session() as session, session.begin():
        session.add(entry)
    log.info("dashboard action", actor=actor, action=action, target=target, project=project_id, outcome=outcome)


async def recent(db: Database | AsyncSession, limit: int = 50, project_id: str | None = None) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)
    if project_id is not None:
        query = query.where(AuditEntry.project_id == project_id)
    if isinstance(db, AsyncSession):
        return list((await db.exec(query)).all())
    async with db.session() as session:
        return list((await session.exec(query)).all())
