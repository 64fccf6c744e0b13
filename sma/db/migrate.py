"""Schema migrations in code, so `sma db upgrade` and `sma up` work from any directory.

Alembic is configured programmatically with the migrations folder inside the package; the URL may be
the application's async URL (it is mapped to a sync driver).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from sma.db.check import check_database_file, corrupt_fault, missing_fault
from sma.db.engine import make_sync_engine, sqlite_path

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic Config without an ini file; the URL travels in attributes (no %-interpolation)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`; a no-op when it is already there.

    A damaged SQLite file stops it with one line; a new one is created private (0600), and SQLite gives
    its -wal and -shm files the same mode.
    """
    from sma.environment import open_private

    check_database_file(database_url)
    path = sqlite_path(database_url)
    if path is not None:
        open_private(path).close()
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current(database_url: str) -> str | None:
    """The revision the database is at, or None if it was never migrated (or does not exist yet)."""
    path = sqlite_path(database_url)
    if path is not None and not path.exists():
        return None  # do not create an empty file just to look
    check_database_file(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def require_database(database_url: str) -> None:
    """For commands that only read: the database must exist and be migrated; nothing is created if not."""
    path = sqlite_path(database_url)
    if path is None:
        if current(database_url) is None:
            raise missing_fault(make_url(database_url).render_as_string(hide_password=True))
        return
    if not path.is_file() or path.stat().st_size == 0:
        raise missing_fault(str(path))
    check_database_file(database_url)
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            migrated = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise corrupt_fault(path, f"is damaged (SQLite: {exc})") from None
    if not migrated:
        raise missing_fault(str(path))
