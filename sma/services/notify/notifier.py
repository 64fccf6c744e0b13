"""Notifications to the creator. The foundation channel is the log; Telegram (issue 5) plugs in here."""

from __future__ import annotations

from typing import Protocol

import structlog

from sma.models.pipeline import NotifyRequest, NotifyResult


class Notifier(Protocol):
    name: str

    async def send(self, req: NotifyRequest) -> NotifyResult: ...


class LogNotifier:
    """Always-available channel: a structured log line the dashboard and `sma status` can show."""

    name = "log"

    def __init__(self) -> None:
        self.log = structlog.get_logger("sma.notify")

    async def send(self, req: NotifyRequest) -> NotifyResult:
        # Progress repeats the whole step list at every step: debug, so the log keeps the notices that matter.
        emit = self.log.debug if req.kind == "progress" else self.log.info
        emit("notify", project=req.project_id, run=req.run_id, kind=req.kind, text=req.text)
        return NotifyResult(delivered=True, channel=self.name, tier=self.name)
