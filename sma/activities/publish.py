"""Step 11: publish to one platform per activity, so each platform retries on its own."""

from __future__ import annotations

import time

from temporalio import activity

from sma.models.pipeline import PostResult, PublishRequest, PublishResult
from sma.services.platforms.base import Platform
from sma.settings import Settings


class PublishActivities:
    def __init__(self, platforms: dict[str, Platform]) -> None:
        self.platforms = platforms

    @activity.defn(name="publish")
    def publish(self, req: PublishRequest) -> PublishResult:
        started = time.perf_counter()
        posts = []
        for name in req.platforms:
            adapter = self.platforms.get(name)
            if adapter is None:
                posts.append(PostResult(platform=name, status="skipped",
                                        reason=f"no '{name}' adapter in this build"))
                continue
            posts.append(adapter.publish(req))
        return PublishResult(posts=posts, tier=",".join(req.platforms),
                             seconds=round(time.perf_counter() - started, 3))


def build(settings: Settings, database: object) -> list:
    """The activities this module contributes to the sma-workflows worker."""
    from sma.services.platforms.local import LocalOutbox

    return [PublishActivities({"local": LocalOutbox(settings.data_dir / "outbox")}).publish]
