"""Step 11: publish to one platform per activity, so each platform retries on its own.

A thin wrapper over PublishService. Transient platform errors become retryable ApplicationErrors that
carry the platform's Retry-After as `next_retry_delay`; on the last attempt (per the retry policy) they
become a `failed` post instead, so the run still reports every platform. The activity heartbeats while it
works, so with a heartbeat timeout a killed worker is noticed in seconds and the retry resumes from the
publish record (see sma/services/platforms/service.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.models.pipeline import PostResult, PublishRequest, PublishResult
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings

if TYPE_CHECKING:  # the workflow imports this module; keep its import light
    from sma.services.platforms.service import PublishService


@contextlib.asynccontextmanager
async def heartbeating(every_s: float) -> AsyncIterator[None]:
    """Heartbeat every `every_s` seconds while the body runs (the task inherits the activity context)."""

    async def beat() -> None:
        while True:
            activity.heartbeat("publishing")
            await asyncio.sleep(every_s)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _last_attempt() -> bool:
    info = activity.info()
    maximum = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return maximum > 0 and info.attempt >= maximum


class PublishActivities:
    def __init__(self, service: PublishService, heartbeat_s: float = 5.0) -> None:
        self.service = service
        self.heartbeat_s = heartbeat_s

    @activity.defn(name="publish")
    async def publish(self, req: PublishRequest) -> PublishResult:
        started = time.perf_counter()
        async with heartbeating(self.heartbeat_s):
            posts = [await self._one(req, name) for name in req.platforms]
        return PublishResult(posts=posts, tier=",".join(req.platforms),
                             seconds=round(time.perf_counter() - started, 3))

    async def _one(self, req: PublishRequest, platform: str) -> PostResult:
        try:
            return await self.service.publish(req, platform)
        except RetryLater as exc:
            if _last_attempt():
                return PostResult(platform=platform, status="failed",
                                  reason=f"{platform}: {exc} (gave up after {activity.info().attempt} attempts)")
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(f"{platform}: {exc}", type="RetryLater", next_retry_delay=delay) from None


def build(settings: Settings, database: object) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-workflows worker: every platform adapter,
    chosen per request by the project's `platforms` list and its stored credentials."""
    from sma.db.engine import Database
    from sma.services.platforms.service import build_publish_service

    db = database if isinstance(database, Database) else Database(settings.database_url)
    service = build_publish_service(settings, db)
    return [PublishActivities(service, settings.publishing.heartbeat_s).publish]
