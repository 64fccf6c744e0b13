"""What the API (and the MCP server) share across requests: settings, the database, the Temporal client,
the rate limiter. The database and client open on first use when not injected: a mounted app's lifespan
does not run, so the API cannot rely on one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio.client import Client

from sma.api import tokens
from sma.api.errors import ApiError
from sma.api.ratelimit import RateLimiter, retry_after
from sma.db.engine import Database
from sma.settings import Settings

DEFAULT_PER_MINUTE = 120


@dataclass
class ApiContext:
    settings: Settings
    database_given: Database | None = None
    client_given: Client | None = None
    per_minute: int = DEFAULT_PER_MINUTE
    queue_suffix: str = ""  # routes started runs to '<queue><suffix>' workers (tests)
    limiter: RateLimiter = field(init=False)
    _database: Database | None = field(default=None, init=False)
    _client: Client | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.per_minute)

    async def database(self) -> Database:
        if self.database_given is not None:
            return self.database_given
        async with self._lock:
            if self._database is None:
                self._database = Database(self.settings.database_url)
        return self._database

    async def client(self) -> Client:
        if self.client_given is not None:
            return self.client_given
        async with self._lock:
            if self._client is None:
                from sma.temporal_client import client_for

                try:
                    self._client = await client_for(self.settings)
                except Exception as exc:
                    raise ApiError(503, f"Temporal is not reachable at {self.settings.temporal_address}: "
                                        f"start it with `sma up`", code="temporal_unavailable") from exc
        return self._client

    async def close(self) -> None:
        if self._database is not None:
            await self._database.close()
            self._database = None

    async def authenticate(self, token: str, needed: tokens.Scope = "read") -> tokens.Caller:
        """The caller behind a bearer token, counted against its rate limit; ApiError 401/403/429."""
        if not token:
            raise ApiError(401, "missing bearer token: send 'Authorization: Bearer sma_<id>_<secret>' "
                                "(create one with `sma api token create`)", headers={"WWW-Authenticate": "Bearer"})
        caller = await tokens.verify(await self.database(), token)
        if caller is None:
            raise ApiError(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
        wait = self.limiter.take(caller.token_id)
        if wait:
            raise ApiError(429, f"rate limit of {self.per_minute} requests per minute reached; retry later",
                           headers={"Retry-After": retry_after(wait)}, details={"retry_after_s": round(wait, 3)})
        if not caller.allows(needed):
            raise ApiError(403, f"this token's scope is '{caller.scope}'; this needs a '{needed}' token",
                           code="insufficient_scope")
        return caller


def bearer(header: str | None) -> str:
    """The token of an 'Authorization: Bearer <token>' header, or ''."""
    if not header:
        return ""
    kind, _, value = header.strip().partition(" ")
    return value.strip() if kind.lower() == "bearer" else ""
