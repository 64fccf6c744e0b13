"""Login, sessions and CSRF tokens of the dashboard.

The admin password is hashed with argon2id (argon2-cffi, OWASP's parameters) and
comes from `secrets.admin_password` (re-hashed whenever the secret changes) or is set once on first start
through /setup with a one-time token that only the person who started the dashboard sees. Sessions are
server-side: the cookie holds 256 random bits, the table only their SHA-256. Hashing is CPU-bound, so
callers run `hash_password`/`verify_password` in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete
from sqlmodel import select

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_dashboard import DashboardAdmin, DashboardSession

ADMIN = "admin"
MIN_PASSWORD = 10
# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 50 ms per login on one core.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens (never short-circuits on the first differing byte)."""
    return hmac.compare_digest(a.encode(), b.encode())


def password_problem(password: str, repeat: str) -> str:
    """Why a new password is refused, or '' when it is acceptable."""
    if password != repeat:
        return "the two passwords differ"
    if len(password) < MIN_PASSWORD:
        return f"use at least {MIN_PASSWORD} characters"
    return ""


# ---------------------------------------------------------------- the admin row


async def get_admin(db: Database, username: str = ADMIN) -> DashboardAdmin | None:
    async with db.session() as session:
        return await session.get(DashboardAdmin, username)


async def store_admin(db: Database, password_hash: str, source: str, username: str = ADMIN) -> None:
    now = utcnow()
    async with db.session() as session, session.begin():
        row = await session.get(DashboardAdmin, username)
        if row is None:
            row = DashboardAdmin(username=username, created_at=now)
        row.password_hash, row.source, row.updated_at = password_hash, source, now
        session.add(row)


async def sync_admin_from_secret(db: Database, secret: str | None) -> bool:
    """Make the stored hash match `secrets.admin_password` when it is set; True when the row changed.

    When the secret changes, every session is logged out (a changed password must lock out old logins).
    """
    if not secret:
        return False
    row = await get_admin(db)
    if row is not None and row.source == "secrets" and await asyncio.to_thread(verify_password, row.password_hash,
                                                                               secret):
        return False
    await store_admin(db, await asyncio.to_thread(hash_password, secret), "secrets")
    await delete_all_sessions(db)
    return True


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionInfo:
    username: str
    csrf_token: str
    expires_at: datetime


async def create_session(db: Database, username: str, lifetime: timedelta, client: str = "",
                         user_agent: str = "") -> tuple[str, SessionInfo]:
    """A new session; returns the cookie token (never stored) and what the table keeps."""
    token, now = new_token(), utcnow()
    row = DashboardSession(token_hash=token_hash(token), username=username, csrf_token=new_token(),
                           client=client[:64], user_agent=user_agent[:200], created_at=now, last_seen=now,
                           expires_at=now + lifetime)
    async with db.session() as session, session.begin():
        session.add(row)
    return token, SessionInfo(row.username, row.csrf_token, row.expires_at)


async def load_session(db: Database, token: str, idle: timedelta, touch_every: timedelta = timedelta(minutes=1)
                       ) -> SessionInfo | None:
    """The live session behind a cookie token, or None (unknown, expired or idle too long)."""
    if not token or len(token) > 128:
        return None
    key, now = token_hash(token), utcnow()
    async with db.session() as session, session.begin():
        row = await session.get(DashboardSession, key)
        if row is None:
            return None
        if row.expires_at <= now or row.last_seen + idle <= now:
            await session.delete(row)
            return None
        if now - row.last_seen >= touch_every:  # write at most once a minute per session
            row.last_seen = now
            session.add(row)
        return SessionInfo(row.username, row.csrf_token, row.expires_at)


async def delete_session(db: Database, token: str) -> None:
    async with db.session() as session, session.begin():
        await session.exec(delete(DashboardSession).where(DashboardSession.token_hash == token_hash(token)))  # type: ignore[call-overload,arg-type]


async def delete_all_sessions(db: Database) -> None:
    async with db.session() as session, session.begin():
        await session.exec(delete(DashboardSession))  # type: ignore[call-overload]


async def purge_expired(db: Database) -> int:
    async with db.session() as session, session.begin():
        rows = (await session.exec(select(DashboardSession).where(DashboardSession.expires_at <= utcnow()))).all()
        for row in rows:
            await session.delete(row)
        return len(rows)


# ---------------------------------------------------------------- login throttle


class LoginThrottle:
    """At most `limit` failed logins per client in `window` seconds (in memory: one dashboard process)."""

    def __init__(self, limit: int, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, client: str) -> deque[float]:
        fails, cutoff = self._fails[client], time.monotonic() - self.window
        while fails and fails[0] < cutoff:
            fails.popleft()
        return fails

    def blocked(self, client: str) -> bool:
        return len(self._recent(client)) >= self.limit

    def failed(self, client: str) -> None:
        self._recent(client).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        self._fails.pop(client, None)
