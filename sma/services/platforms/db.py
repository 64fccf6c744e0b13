"""Small database helpers shared by the publishing stores (ledger, credentials, analytics)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database
from sma.db.tables import Project, utcnow

_ON_CONFLICT: dict[str, Callable[..., sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert, "postgresql": postgresql.insert}


@asynccontextmanager
async def transaction(database: Database) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that commits on success and rolls back on error."""
    async with database.session() as session, session.begin():
        yield session


async def ensure_project(session: AsyncSession, project_id: str) -> None:
    """A placeholder project row, so foreign keys hold even before the recorder or `sma up` created it."""
    values = {"id": project_id, "name": "", "niche": "", "created_at": utcnow()}
    dialect = (await session.connection()).dialect.name
    if dialect in _ON_CONFLICT:
        stmt = _ON_CONFLICT[dialect](Project.__table__).values(values)  # type: ignore[attr-defined]  # set on table classes at runtime, not typed
        await session.exec(stmt.on_conflict_do_nothing(index_elements=["id"]))
        return
    found = (await session.exec(select(Project.id).where(col(Project.id) == project_id))).first()
    if found is None:
        await session.exec(insert(Project.__table__).values(values))  # type: ignore[attr-defined]  # set on table classes at runtime, not typed
