"""Step 3, approvals, reminders and progress: tell the creator what is happening.

The notifier (Telegram when a bot token is configured, else the log) is chosen in sma.wiring. A failed
delivery of a progress or script notice is reported as not delivered (never retried into a slower run); an
approval request that could not be sent raises, so Temporal retries it.
"""

from __future__ import annotations

from temporalio import activity

from sma.models.pipeline import NotifyRequest, NotifyResult
from sma.services.notify.notifier import Notifier


class NotifyActivities:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    @activity.defn(name="notify")
    async def notify(self, req: NotifyRequest) -> NotifyResult:
        return await self.notifier.send(req)
