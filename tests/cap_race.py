"""One side of the cap race (tests/test_cap_race.py): a separate process with its own engine asks the publish
guard for slots, starting each round at the same moment as its rival (a multiprocessing barrier)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier

from sma.db.engine import Database
from sma.models.autonomy import PolicyRequest
from sma.models.common import QAReport
from sma.services.autonomy.config import DEFAULT_GATES, GuardSettings
from sma.services.autonomy.service import AutonomyService
from sma.settings import ProjectSettings, Settings

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def settings(projects: list[str]) -> Settings:
    return Settings(projects=[ProjectSettings(id=p, autonomy="autonomous", guards=GuardSettings(daily_cap=1))
                              for p in projects])


def publish_request(project: str, run_id: str) -> PolicyRequest:
    qa = [QAReport(gate=g, passed=True, score=0.9, threshold=0.8) for g in DEFAULT_GATES]
    return PolicyRequest(project_id=project, run_id=run_id, round=1, stage="publish", level="autonomous",
                         auto=True, qa=qa, title="Race", platforms=["local"])


async def _race(url: str, name: str, projects: list[str], barrier: Barrier) -> dict[str, str]:
    database = Database(url)
    service = AutonomyService(settings(projects), database, clock=lambda: NOW)
    try:
        await service.overview(projects[0])  # connect before the start line, so both start warm
        verdicts = {}
        for project in projects:
            await asyncio.to_thread(barrier.wait, 60)
            verdict = await service.decide(publish_request(project, f"{project}-{name}"))
            verdicts[project] = verdict.verdict
        return verdicts
    finally:
        await database.close()


def race(url: str, name: str, projects: list[str], barrier: Barrier) -> dict[str, str]:
    """The process entry point: the verdict of this worker's run in each project."""
    return asyncio.run(_race(url, name, projects, barrier))
