"""Database-wide critical sections: check-then-write that stays exact across processes and hosts.

A cap or budget is "count what is there, then add one if it fits"; two workers doing that at once can both
see room and both add. `exclusive(db, name)` runs the check and the write in one transaction that holds a
lock every process honours:

- PostgreSQL: `pg_advisory_xact_lock(key)` on a 64-bit key derived from `name`; other names do not wait,
  and the lock ends with the transaction (also when the process dies and its connection drops).
- SQLite: `BEGIN IMMEDIATE`, the database's write lock, taken before the first read so the counts read are
  the latest (a deferred transaction could read an old snapshot and then fail to write). Writers of other
  names wait too (SQLite has one writer at a time anyway), up to the busy timeout.

Other dialects get a plain transaction, which is exact only within one process.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL's advisory lock space)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _lock_sync(connection: Connection, name: str) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


@contextmanager
def exclusive_sync(engine: Engine, name: str) -> Iterator[Session]:
    """`exclusive` for synchronous code (the voice step runs in a thread with a sync engine)."""
    with Session(engine) as session:
        _lock_sync(session.connection(), name)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


@asynccontextmanager
async def exclusive(db: Database, name: str) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that holds the lock `name` until it commits (or rolls back on error)."""
    dialect = db.engine.dialect.name
    async with db.session() as session:
        connection = await session.connection()
        if dialect == "sqlite":
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif dialect == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
