"""Engines and sessions. SQLite gets WAL, a busy timeout and enforced foreign keys on every connection.

WAL lets the dashboard read while workers write; busy_timeout makes concurrent writers (several worker
processes sharing one file) wait instead of failing with "database is locked".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

BUSY_TIMEOUT_MS = 5000

# Async driver -> sync driver, for Alembic (which runs synchronously).
_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql+psycopg_async": "postgresql+psycopg",
    "mysql+aiomysql": "mysql+pymysql",
    "mysql+asyncmy": "mysql+pymysql",
}


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory or non-SQLite URLs."""
    parsed = make_url(url)
    if not _is_sqlite(parsed) or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def sync_url(url: str | URL) -> str:
    """The same database through a synchronous driver (sqlite+aiosqlite -> sqlite)."""
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster than FULL
    finally:
        cursor.close()


def _prepare_sqlite(url: URL, sync_engine: Engine) -> None:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    event.listen(sync_engine, "connect", _set_sqlite_pragmas)


def make_engine(url: str) -> AsyncEngine:
    """An async engine; for SQLite also the parent directory and the per-connection pragmas."""
    parsed = make_url(url)
    engine = create_async_engine(parsed, pool_pre_ping=not _is_sqlite(parsed))
    if _is_sqlite(parsed):
        _prepare_sqlite(parsed, engine.sync_engine)
    return engine


def make_sync_engine(url: str) -> Engine:
    """A sync engine for the same database (Alembic, scripts); takes an async or a sync URL."""
    parsed = make_url(sync_url(url))
    engine = create_engine(parsed)
    if _is_sqlite(parsed):
        _prepare_sqlite(parsed, engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (rows are handed to templates and the bot)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


class Database:
    """One engine and its sessionmaker; create one per process and close it on shutdown."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)

    def session(self) -> AsyncSession:
        return self.sessions()

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
