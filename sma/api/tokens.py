"""API tokens: `sma_<id>_<secret>`, stored as the SHA-256 of the secret, scoped, revocable.

The secret is 256 random bits, so a plain SHA-256 is as strong as a slow password hash here and costs
nothing per request. The id finds the row; the hash is compared in constant time. An unknown id, a wrong
secret and a revoked token are refused alike.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import update
from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_api import ApiToken

Scope = Literal["read", "write"]
SCOPES: tuple[Scope, ...] = ("read", "write")
PREFIX = "sma"
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write per token per minute


class TokenError(ValueError):
    """Bad input to a token command (unknown scope or id)."""


@dataclass(frozen=True)
class Caller:
    """Who made an API or MCP request."""

    token_id: str
    name: str
    scope: Scope

    def allows(self, needed: Scope) -> bool:
        return needed == "read" or self.scope == "write"

    @property
    def by(self) -> str:
        """How the engine records this caller's decisions (approvals, level changes)."""
        return f"api:{self.name or self.token_id}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, else None."""
    parts = token.strip().split("_")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create(db: Database, name: str, scope: str) -> tuple[str, ApiToken]:
    """A new token; returns the token text (shown once, never stored) and its row."""
    if scope not in SCOPES:
        raise TokenError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")
    row = ApiToken(id=token_id, name=name[:100], scope=scope, secret_hash=_hash(secret))
    async with db.session() as session, session.begin():
        session.add(row)
    return f"{PREFIX}_{token_id}_{secret}", row


async def list_tokens(db: Database) -> list[ApiToken]:
    async with db.session() as session:
        return list((await session.exec(select(ApiToken).order_by(col(ApiToken.created_at)))).all())


async def revoke(db: Database, token_id: str) -> ApiToken:
    """Revoke a token by id (idempotent); TokenError when no such token exists."""
    async with db.session() as session, session.begin():
        row = await session.get(ApiToken, token_id)
        if row is None:
            raise TokenError(f"no API token with id {token_id!r}: see `sma api token list`")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(row)
        return row


async def verify(db: Database, token: str) -> Caller | None:
    """The caller behind a live token, or None; notes when it was last used."""
    parsed = parse(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    async with db.session() as session:
        row = await session.get(ApiToken, token_id)
    if row is None or not hmac.compare_digest(row.secret_hash.encode(), _hash(secret).encode()):
        return None
    if row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        await _touch(db, token_id, now)
    return Caller(row.id, row.name, row.scope)  # type: ignore[arg-type]  # str column; scopes are checked when a token is made


async def _touch(db: Database, token_id: str, now: datetime) -> None:
    async with db.session() as session, session.begin():
        await session.exec(update(ApiToken).where(col(ApiToken.id) == token_id)
                           .values(last_used_at=now))
