"""IntelligenceWorkflow on the time-skipping test server with the real activities (analytics tables, Mem0),
its committed history replayed, and its 24 h Schedule on the dev server."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from sma import queues
from sma.activities.intelligence import IntelligenceActivities
from sma.db.engine import Database
from sma.models.intelligence import IntelligenceInput, IntelligenceResult
from sma.schedules import ensure_schedules, schedule_defs
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.guidance import guidance_for
from sma.services.intelligence.history import AnalyticsHistory
from sma.services.intelligence.reports import ReportStore
from sma.services.intelligence.service import IntelligenceService
from sma.services.memory.config import MemorySettings
from sma.services.memory.service import MemoryService
from sma.settings import Settings
from sma.wiring import intelligence_activities
from sma.workflows.intelligence import IntelligenceWorkflow
from tests.intelligence_seed import seed
from tests.intelligence_sim import history
from tests.memory_fixtures import new_project, settings_for, shared_backend

HISTORY = Path(__file__).parent / "histories" / "intelligence" / "run.json"


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter)
    yield env
    await env.shutdown()


async def test_daily_run_learns_remembers_and_does_not_pile_up(ts_env: WorkflowEnvironment, database: Database,
                                                               tmp_path: Path) -> None:
    project_id = new_project()
    settings = settings_for(project_id, ["tiktok", "youtube"])
    now = await ts_env.get_current_time()
    await seed(database, project_id, history(4, boost={("tiktok", "question"): 2.0}, end=now - timedelta(hours=1)))
    backend = shared_backend()
    service = IntelligenceService(IntelligenceSettings(coverage_per_run=10), AnalyticsHistory(database, settings),
                                  ReportStore(tmp_path), MemoryService(backend),
                                  guidance_for(backend, MemorySettings().cache_s))
    acts = IntelligenceActivities(service, settings)
    suffix = f"-ts{uuid.uuid4().hex[:6]}"
    results: list[IntelligenceResult] = []
    # No timers here: keep the server's clock on real time, so both runs see the seeded window.
    with ts_env.auto_time_skipping_disabled():
        async with Worker(ts_env.client, task_queue=queues.WORKFLOWS + suffix, workflows=[IntelligenceWorkflow],
                          activities=[acts.analyse, acts.remember]):
            for day in range(2):  # what the schedule does on two consecutive days
                handle = await ts_env.client.start_workflow(
                    IntelligenceWorkflow.run, IntelligenceInput(project_ids=["removed", project_id]),
                    id=f"intelligence{suffix}-{day}", task_queue=queues.WORKFLOWS + suffix)
                results.append(await handle.result())

    first, second = results
    broken, ok = first.projects
    assert "unknown project 'removed'" in broken.error and broken.remembered is None  # noted; the next one ran
    assert ok.posts == 300 and len(ok.insights) == 1 and ok.insights[0].startswith("On tiktok, question hooks")
    assert ok.remembered is not None and (ok.remembered.added, ok.remembered.coverage_added) == (1, 10)
    again = second.projects[1].remembered
    assert again is not None and (again.added, again.updated + again.unchanged, again.removed) == (0, 1, 0)
    stored = await MemoryService(backend).list(project_id, "insight")
    assert [m.text for m in stored] == ok.insights  # one memory, kept current: not piled up
    assert len(await MemoryService(backend).list(project_id, "coverage")) == 20
    report = ReportStore(tmp_path).load(project_id)
    assert report is not None and report.posts == 300 and {fp.platform for fp in report.fingerprints} == {
        "tiktok", "youtube"}

    recorded = await handle.fetch_history()
    if os.environ.get("SMA_WRITE_HISTORIES"):
        HISTORY.parent.mkdir(parents=True, exist_ok=True)
        HISTORY.write_text(json.dumps(recorded.to_json_dict(), indent=1))
    await Replayer(workflows=[IntelligenceWorkflow], data_converter=pydantic_data_converter).replay_workflow(recorded)


async def test_committed_history_replays() -> None:
    """Determinism guard (DESIGN.md convention 7)."""
    assert HISTORY.is_file(), "record it with SMA_WRITE_HISTORIES=1 pytest tests/test_intelligence_workflow.py"
    recorded = WorkflowHistory.from_json(HISTORY.stem, json.loads(HISTORY.read_text()))
    await Replayer(workflows=[IntelligenceWorkflow], data_converter=pydantic_data_converter).replay_workflow(recorded)


def test_wiring_builds_its_activities(settings: Settings) -> None:
    acts = intelligence_activities(settings, Database(settings.database_url))
    assert [a.__name__ for a in (acts.analyse, acts.remember)] == ["analyse", "remember"]
    assert not (settings.data_dir / "memory").exists()  # nothing stored yet: nothing opened or created


async def test_schedule_runs_every_24_hours(client: Client, settings: Settings) -> None:
    suffix = f"-s{uuid.uuid4().hex[:6]}"
    (definition,) = [d for d in schedule_defs(settings, suffix) if d.kind == "intelligence"]
    try:
        assert await ensure_schedules(client, settings, suffix, defs=[definition]) == {
            f"intelligence{suffix}": "created"}
        assert await ensure_schedules(client, settings, suffix, defs=[definition]) == {
            f"intelligence{suffix}": "unchanged"}
        described = await client.get_schedule_handle(f"intelligence{suffix}").describe()
        assert described.schedule.spec.intervals[0].every == timedelta(hours=24)
        action = described.schedule.action
        assert action.workflow == "IntelligenceWorkflow"  # type: ignore[attr-defined]
        assert action.task_queue == queues.WORKFLOWS + suffix  # type: ignore[attr-defined]
        assert definition.arg == IntelligenceInput(project_ids=["test"])
    finally:
        await client.get_schedule_handle(f"intelligence{suffix}").delete()
