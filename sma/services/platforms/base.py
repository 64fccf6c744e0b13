"""The interface every publishing adapter implements, and what the publish service hands it.

Exactly-once is a contract between the service and the adapter: the service writes an idempotency record
before the adapter runs and completes it after; the adapter saves every platform-side id it is given
(upload session, container, publish id) with `ctx.save(...)` *before* the step that could create a post,
and on a retry reads `ctx.data` first and asks the platform what became of the earlier attempt, so it
resumes or returns the existing post instead of creating a second one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult, PublishRequest
from sma.services.platforms.metadata import PostDraft


@dataclass(frozen=True)
class VideoFile:
    """The file to upload (possibly re-cut to the platform's cap) and what the adapters need to know of it."""

    path: Path
    sha256: str
    size: int
    duration_s: float
    width: int = 0
    height: int = 0


@dataclass
class PublishContext:
    """Progress of earlier attempts (`data`) and the way to persist new progress before a risky step."""

    request: PublishRequest
    data: dict[str, Any]
    started_at: datetime
    attempt: int
    saver: Callable[[dict[str, Any]], Awaitable[None]]
    notes: list[str] = field(default_factory=list)

    async def save(self, **values: Any) -> None:
        """Merge `values` into the record's progress and commit it before returning."""
        self.data.update(values)
        await self.saver(dict(self.data))


class Platform(Protocol):
    name: str

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        """Publish once: a retry of the same run must return the first post, never a second copy."""
        ...

    async def aclose(self) -> None:
        ...


class MetricsSource(Protocol):
    name: str

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        """Lifetime counters of one post now; fields the platform does not give stay None."""
        ...

    async def aclose(self) -> None:
        ...
