"""Step 3 and approval notices: tell the creator what is happening (best effort)."""

from __future__ import annotations

from temporalio import activity

from sma.models.pipeline import NotifyRequest, NotifyResult
from sma.services.notify import Notifier
from sma.settings import Settings


class NotifyActivities:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @activity.defn(name="notify")
    async def notify(self, req: NotifyRequest) -> NotifyResult:
        return await self.notifier.send(req)


def build(settings: Settings, database: object) -> list:
    """The activities this module contributes to the sma-workflows worker."""
    from sma.services.notify import LogNotifier

    return [NotifyActivities(LogNotifier()).notify]
