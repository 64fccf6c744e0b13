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
import ipaddress
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, text
from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_dashboard import DashboardAdmin, DashboardSession, FormToken

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
        await session.exec(delete(DashboardSession).where(col(DashboardSession.token_hash) == token_hash(token)))


async def delete_all_sessions(db: Database) -> None:
    async with db.session() as session, session.begin():
        await session.exec(delete(DashboardSession))


async def purge_expired(db: Database) -> int:
    async with db.session() as session, session.begin():
        rows = (await session.exec(select(DashboardSession).where(DashboardSession.expires_at <= utcnow()))).all()
        for row in rows:
            await session.delete(row)
        return len(rows)


# ---------------------------------------------------------------- login throttle

THROTTLE_WINDOW_S = 300.0


def client_bucket(address: str) -> str:
    """The throttle's key for a client address; IPv6 by /64, the block one subscriber usually holds."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"client:{address[:64]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"client:{ip.ipv4_mapped}"
        return f"client:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"client:{ip}"


class _UsedUp(Exception):
    pass


class LoginThrottle:
    """How many passwords may be checked: `per_client` per address and `per_account` from all addresses, in
    windows of `window` seconds. Counted in the database before the check (`reserve`), each count a single
    conditional UPDATE, so concurrent attempts (or several dashboard processes) cannot overrun a limit."""

    def __init__(self, db: Database, per_client: int, per_account: int, window: float = THROTTLE_WINDOW_S) -> None:
        self.db, self.per_client, self.per_account, self.window = db, per_client, per_account, window

    async def reserve(self, client: str, account: str = ADMIN) -> bool:
        """Take one attempt from the address's and the account's allowance; False (nothing taken) when
        either is used up."""
        now = time.time()
        try:
            async with self.db.session() as session, session.begin():
                await session.exec(_FORGET_OLD_WINDOWS, params={"cutoff": now - self.window})  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
                for bucket, limit in ((client_bucket(client), self.per_client),
                                      (f"account:{account}", self.per_account)):
                    await session.exec(_OPEN_WINDOW, params={"bucket": bucket, "now": now})  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
                    taken = await session.exec(_TAKE, params={"bucket": bucket, "limit": limit})  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
                    if taken.rowcount != 1:
                        raise _UsedUp  # rolls back what the first allowance gave
        except _UsedUp:
            return False
        return True

    async def succeeded(self, client: str, account: str = ADMIN) -> None:
        """A right password: the address starts afresh and the account gets its attempt back."""
        async with self.db.session() as session, session.begin():
            await session.exec(_RESET, params={"bucket": client_bucket(client)})  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same
            await session.exec(_GIVE_BACK, params={"bucket": f"account:{account}"})  # type: ignore[call-overload]  # exec() is typed for select/DML; text() runs the same


_FORGET_OLD_WINDOWS = text("DELETE FROM dashboard_login_limits WHERE window_start <= :cutoff")
_OPEN_WINDOW = text("INSERT INTO dashboard_login_limits (bucket, window_start, attempts) VALUES (:bucket, :now, 0) "
                    "ON CONFLICT (bucket) DO NOTHING")
_TAKE = text("UPDATE dashboard_login_limits SET attempts = attempts + 1 WHERE bucket = :bucket AND attempts < :limit")
_RESET = text("DELETE FROM dashboard_login_limits WHERE bucket = :bucket")
_GIVE_BACK = text("UPDATE dashboard_login_limits SET attempts = attempts - 1 WHERE bucket = :bucket AND attempts > 0")


# ---------------------------------------------------------------- single-use form tokens

FORM_TOKEN_S = 1800
MAX_FORM_TOKENS = 1000  # live tokens kept; a flood of form views evicts the oldest, never grows the table


async def issue_form_token(db: Database, lifetime: float = FORM_TOKEN_S) -> str:
    """A new token for one login or setup form; only its hash is stored."""
    token, now = new_token(), time.time()
    async with db.session() as session, session.begin():
        await session.exec(delete(FormToken).where(col(FormToken.expires_at) <= now))
        session.add(FormToken(token_hash=token_hash(token), expires_at=now + lifetime))
        await session.flush()
        oldest_kept = (await session.exec(select(FormToken.expires_at).order_by(
            col(FormToken.expires_at).desc()).offset(MAX_FORM_TOKENS).limit(1))).first()
        if oldest_kept is not None:
            await session.exec(delete(FormToken).where(col(FormToken.expires_at) <= oldest_kept))
    return token


async def use_form_token(db: Database, token: str) -> bool:
    """True once for a token that was issued and has not expired; the row goes in the same statement."""
    if not token or len(token) > 128:
        return False
    async with db.session() as session, session.begin():
        result = await session.exec(delete(FormToken).where(
            col(FormToken.token_hash) == token_hash(token), col(FormToken.expires_at) > time.time()))
        return bool(result.rowcount == 1)
