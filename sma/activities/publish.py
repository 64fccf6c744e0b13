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
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.activities.attempts import retries_left
from sma.models.pipeline import PostResult, PublishRequest, PublishResult
from sma.services.platforms.errors import RetryLater

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
            if not retries_left():
                return PostResult(platform=platform, status="failed",
                                  reason=f"{platform}: {exc} (gave up after {activity.info().attempt} attempts)")
            delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            raise ApplicationError(f"{platform}: {exc}", type="RetryLater", next_retry_delay=delay) from None
