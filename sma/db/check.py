"""Is the SMA database there, whole and migrated? Answered without creating or changing anything.

For a database server (PostgreSQL) the questions are: is its driver installed, does the server answer, does it
let us in. Each answer that is "no" is one line that names the server (never its password) and the fix.

A damaged SQLite file is recognised from its 100-byte header (the magic string, the page size and the page
count SQLite trusts), which costs one read; damage deeper inside shows up as SQLite's own "malformed" error
during use, which the `sma` entrypoint turns into the same one line (`corrupt_fault`).
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from sma.db.engine import sqlite_path, sync_url
from sma.environment import EnvironmentFault

HEADER_BYTES = 100
MAGIC = b"SQLite format 3\x00"
# Fragments of SQLite's messages, mapped to what they mean for the person running SMA.
CORRUPT_MESSAGES = ("file is not a database", "database disk image is malformed")
UNMIGRATED_MESSAGES = ("no such table",)
UNWRITABLE_MESSAGES = ("attempt to write a readonly database", "unable to open database file")


def sqlite_fault(path: Path) -> str | None:
    """Why the file at `path` is not a usable SQLite database, or None (it is, it is empty, or it is absent)."""
    try:
        with path.open("rb") as file:
            header = file.read(HEADER_BYTES)
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None  # SQLite treats an empty file as a new database
    if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
        return "is not an SQLite database (damaged or overwritten)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    count_is_valid = pages > 0 and header[24:28] == header[92:96]  # SQLite's own rule for trusting the count
    if count_is_valid and size < pages * page_size:
        return f"is truncated ({size} of {pages * page_size} bytes)"
    return None


def corrupt_fault(path: Path | str, reason: str = "is damaged (SQLite: database disk image is malformed)"
                  ) -> EnvironmentFault:
    name = Path(path).name
    return EnvironmentFault(
        f"database {path} {reason}: stop SMA, then restore it from a backup, or move {name}, {name}-wal and "
        f"{name}-shm aside and run `sma db upgrade` to start an empty one")


def missing_fault(where: str) -> EnvironmentFault:
    return EnvironmentFault(f"no SMA database at {where}; run `sma up` or `sma db upgrade`")


# SQLAlchemy driver name -> (module to import, what to pip install).
DRIVERS = {
    "asyncpg": ("asyncpg", "asyncpg"),
    "psycopg": ("psycopg", "'psycopg[binary]'"),
    "psycopg_async": ("psycopg", "'psycopg[binary]'"),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "aiomysql": ("aiomysql", "aiomysql"),
    "asyncmy": ("asyncmy", "asyncmy"),
    "pymysql": ("pymysql", "pymysql"),
}
CONNECT_TIMEOUT_S = 5
REFUSED_MESSAGES = ("connection refused", "connect call failed", "could not connect", "timeout", "timed out",
                    "name or service not known", "could not translate host name", "no route to host",
                    "server closed the connection", "connection failed")
AUTH_MESSAGES = ("authentication failed", "no password supplied", "no pg_hba.conf entry", "role \"")


def _where(url: URL) -> str:
    """The server and database as a person would name them: host:port/database, never the password."""
    host = url.host or "localhost"
    return f"{url.get_backend_name()} server {host}{f':{url.port}' if url.port else ''}/{url.database or ''}"


def driver_fault(database_url: str) -> EnvironmentFault | None:
    """The missing driver of a server URL (the async one SMA runs on, or the sync one migrations use)."""
    for url in (make_url(database_url), make_url(sync_url(database_url))):
        if url.get_backend_name() == "sqlite":
            return None
        driver = url.get_driver_name()
        module, package = DRIVERS.get(driver, (driver, driver))
        if importlib.util.find_spec(module) is None:
            return EnvironmentFault(
                f"database.url needs the {driver} driver, which is not installed: pip install {package} "
                f"(or reinstall SMA: pip install -e .)")
    return None


def server_fault(database_url: str, message: str) -> EnvironmentFault | None:
    """The one line for a database server's connection error message, or None when it is not one."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return None
    lowered, first = message.lower(), (message.strip().splitlines() or [""])[0][:160]
    if any(fragment in lowered for fragment in AUTH_MESSAGES):
        return EnvironmentFault(f"{_where(url)} refused the login ({first}): fix the user and password in "
                                "database.url (or SMA_DATABASE__URL)")
    if "does not exist" in lowered and "database" in lowered:
        return EnvironmentFault(f"{_where(url)} has no database {url.database!r} ({first}): create it "
                                f"(createdb {url.database}) or fix database.url")
    if any(fragment in lowered for fragment in REFUSED_MESSAGES):
        return EnvironmentFault(f"{_where(url)} cannot be reached ({first}): start the database server, or fix "
                                "the host and port in database.url (or SMA_DATABASE__URL)")
    return None


def describe_exception(exc: BaseException, database_url: str | None) -> EnvironmentFault | None:
    """The one line behind a database server's failure anywhere in a command (driver missing, server down,
    login refused), or None. Connection errors of async drivers arrive as plain OSError."""
    if not database_url or sqlite_path(database_url) is not None or database_url.startswith("sqlite"):
        return None
    if isinstance(exc, ModuleNotFoundError | NoSuchModuleError):
        return driver_fault(database_url)
    if isinstance(exc, DBAPIError):
        return server_fault(database_url, str(exc.orig))
    if isinstance(exc, OSError | TimeoutError):
        return server_fault(database_url, f"{type(exc).__name__}: {exc} (connection failed)")
    return None


def check_server(database_url: str) -> None:
    """Raise EnvironmentFault when the database server of `database_url` cannot be used (driver, reachability,
    login); one short connection, made at the start of a command rather than at its first query."""
    fault = driver_fault(database_url)
    if fault is not None:
        raise fault
    engine = create_engine(sync_url(database_url), connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (DBAPIError, OSError, socket.gaierror) as exc:
        described = describe_exception(exc, database_url)
        if described is not None:
            raise described from None
        raise
    finally:
        engine.dispose()


def check_database_file(database_url: str) -> None:
    """Raise EnvironmentFault when the SQLite file behind `database_url` is damaged or truncated, or when the
    database server of a server URL cannot be used (check_server)."""
    path = sqlite_path(database_url)
    if path is None:
        if make_url(database_url).get_backend_name() != "sqlite":
            check_server(database_url)
        return
    reason = sqlite_fault(path)
    if reason is not None:
        raise corrupt_fault(path, reason)


def describe_sqlite_error(message: str, database_url: str | None) -> EnvironmentFault | None:
    """The one-line fault behind an SQLite error message from anywhere in a command, or None."""
    lowered, first = message.lower(), message.splitlines()[0][:120] if message else ""
    path = sqlite_path(database_url) if database_url else None
    where = str(path) if path is not None else "the configured database"
    if any(text in lowered for text in CORRUPT_MESSAGES):
        return corrupt_fault(where, f"is damaged (SQLite: {first})")
    if any(text in lowered for text in UNMIGRATED_MESSAGES):
        return EnvironmentFault(f"the SMA database at {where} is not migrated (SQLite: {first}); "
                                "run `sma up` or `sma db upgrade`")
    if any(text in lowered for text in UNWRITABLE_MESSAGES):
        return EnvironmentFault(f"database {where} cannot be written (SQLite: {first}): "
                                "give this user write permission on it and its folder (chmod u+rw)")
    return None
