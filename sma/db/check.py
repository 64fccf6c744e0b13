"""Is the SMA database there, whole and migrated? Answered without creating or changing anything.

A damaged SQLite file is recognised from its 100-byte header (the magic string, the page size and the page
count SQLite trusts), which costs one read; damage deeper inside shows up as SQLite's own "malformed" error
during use, which the `sma` entrypoint turns into the same one line (`corrupt_fault`).
"""

from __future__ import annotations

from pathlib import Path

from sma.db.engine import sqlite_path
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


def check_database_file(database_url: str) -> None:
    """Raise EnvironmentFault when the SQLite file behind `database_url` is damaged or truncated."""
    path = sqlite_path(database_url)
    if path is None:
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
