"""Step 3, approvals, reminders and progress: tell the creator what is happening.

Telegram when a bot token is configured, else the log. A failed delivery of a progress or script notice
is reported as not delivered (never retried into a slower run); an approval request that could not be
sent raises, so Temporal retries it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def make_notifier(settings: Settings, database: object) -> Notifier:
    """The Telegram notifier when a token is configured (and a database holds its messages), else the log."""
    from sma.services.notify import LogNotifier

    if settings.secrets.telegram_bot_token is None or database is None:
        return LogNotifier()
    from sma.bot.notifier import TelegramNotifier

    return TelegramNotifier.from_settings(settings, database)  # type: ignore[arg-type]  # database arrives untyped from the worker


def build(settings: Settings, database: object) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-workflows worker."""
    return [NotifyActivities(make_notifier(settings, database)).notify]
