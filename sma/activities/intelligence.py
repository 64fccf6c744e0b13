"""Activities of the intelligence loop (queue sma-workflows): analyse one project, remember its insights.

Thin wrappers over IntelligenceService. A project that is not configured (removed while a run was under
way) is a permanent error; anything else is retried by the workflow's policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.models.intelligence import AnalyseRequest, AnalyseResult, RememberRequest, RememberResult
from sma.settings import Settings

if TYPE_CHECKING:  # the workflow imports this module; keep its import light
    from sma.services.intelligence.service import IntelligenceService


class IntelligenceActivities:
    def __init__(self, service: IntelligenceService, settings: Settings | None = None) -> None:
        self.service = service
        self.settings = settings

    def _known(self, project_id: str) -> None:
        from sma.settings import ConfigError

        if self.settings is None:
            return
        try:
            self.settings.project(project_id)
        except ConfigError as exc:
            raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from None

    @activity.defn(name="intelligence_analyse")
    async def analyse(self, req: AnalyseRequest) -> AnalyseResult:
        self._known(req.project_id)
        return await self.service.analyse(req.project_id, req.as_of)

    @activity.defn(name="intelligence_remember")
    async def remember(self, req: RememberRequest) -> RememberResult:
        self._known(req.project_id)
        return await self.service.remember(req)


def build(settings: Settings, database: object) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-workflows worker."""
    import threading

    from sma.db.engine import Database
    from sma.services.intelligence.service import build_intelligence_service

    db = database if isinstance(database, Database) else Database(settings.database_url)
    service = build_intelligence_service(settings, db)
    if service.memory is not None and service.memory.backend.exists():
        # Load mem0 and the embedding model off the event loop now, not in the middle of the first script.
        threading.Thread(target=service.memory.backend.warm, name="sma-memory-warm", daemon=True).start()
    acts = IntelligenceActivities(service, settings)
    return [acts.analyse, acts.remember]
