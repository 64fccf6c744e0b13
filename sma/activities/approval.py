"""Step 10's question to the autonomy policy: approve, ask a human, or block (queue sma-workflows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity

from sma.models.autonomy import PolicyRequest, PolicyVerdict
from sma.settings import Settings

if TYPE_CHECKING:
    from sma.services.autonomy.service import AutonomyService


class ApprovalActivities:
    def __init__(self, service: AutonomyService) -> None:
        self.service = service

    @activity.defn(name="approval_policy")
    async def approval_policy(self, req: PolicyRequest) -> PolicyVerdict:
        return await self.service.decide(req)


def build(settings: Settings, database: object) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-workflows worker."""
    from sma.activities.notify import make_notifier
    from sma.services.autonomy.service import AutonomyService

    if database is None:
        raise ValueError("the approval policy needs the database: pass one to build_worker for sma-workflows")
    from sma.services.scheduling.calendar import CalendarService
    from sma.services.scheduling.history import PostMetricsHistory

    calendar = CalendarService(settings, database, PostMetricsHistory(database))  # type: ignore[arg-type]  # database arrives untyped from the worker
    service = AutonomyService(settings, database, notifier=make_notifier(settings, database),  # type: ignore[arg-type]  # database arrives untyped from the worker
                              calendar=calendar)
    return [ApprovalActivities(service).approval_policy]
