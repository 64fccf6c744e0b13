"""Temporal Schedules on the dev server (the time-skipping server has none): idempotent create/update/delete,
and the analytics-collector schedule really starts a collector run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.worker import Worker

from sma import queues
from sma.activities.analytics import AnalyticsActivities
from sma.db.engine import Database
from sma.schedules import ensure_schedules
from sma.services.analytics.collector import build_analytics_service
from sma.services.platforms.config import AnalyticsSettings
from sma.settings import Settings
from sma.workflows.analytics import AnalyticsCollectorWorkflow

ANALYTICS = ["analytics-collector"]


async def test_the_default_table_also_creates_trend_scheduler_and_intelligence_schedules(
    client: Client, settings: Settings, suffix: str
) -> None:
    outcome = await ensure_schedules(client, settings, suffix)
    assert set(outcome) == {f"analytics-collector{suffix}", f"intelligence{suffix}",
                            f"trend-scan-test{suffix}", f"content-scheduler-test{suffix}"}
    assert set(outcome.values()) == {"created"}


def _with(settings: Settings, **analytics: object) -> Settings:
    return settings.model_copy(update={"analytics": AnalyticsSettings(**analytics)})


async def test_ensure_schedules_creates_updates_and_deletes_idempotently(client: Client, settings: Settings,
                                                                         suffix: str) -> None:
    sid = f"analytics-collector{suffix}"
    assert await ensure_schedules(client, settings, suffix,
                                  kinds=ANALYTICS) == {sid: "created"}
    assert await ensure_schedules(client, settings, suffix,
                                  kinds=ANALYTICS) == {sid: "unchanged"}
    handle = client.get_schedule_handle(sid)
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(hours=4)
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "AnalyticsCollectorWorkflow" and action.task_queue == queues.WORKFLOWS + suffix

    await handle.pause(note="paused by a person")
    assert await ensure_schedules(client, _with(settings, interval_h=2), suffix,
                                  kinds=ANALYTICS) == {sid: "updated"}
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(hours=2)
    assert described.schedule.state.paused  # the person's pause survives the update

    assert await ensure_schedules(client, _with(settings, enabled=False), suffix,
                                  kinds=ANALYTICS) == {sid: "deleted"}
    with pytest.raises(RPCError):
        await handle.describe()
    assert await ensure_schedules(client, _with(settings, enabled=False), suffix,
                                  kinds=ANALYTICS) == {sid: "off"}


async def test_the_schedule_starts_a_collector_run(client: Client, settings: Settings, database: Database,
                                                   suffix: str) -> None:
    fast = _with(settings, interval_h=2 / 3600, replan_min=0.5 / 60)  # a 2 s horizon, re-planning every 0.5 s
    await ensure_schedules(client, fast, suffix)
    handle = client.get_schedule_handle(f"analytics-collector{suffix}")
    acts = AnalyticsActivities(build_analytics_service(fast, database))
    try:
        async with Worker(client, task_queue=queues.WORKFLOWS + suffix, workflows=[AnalyticsCollectorWorkflow],
                          activities=[acts.plan, acts.collect]):
            await handle.trigger()
            for _ in range(100):
                recent = (await handle.describe()).info.recent_actions
                if recent:
                    break
                await asyncio.sleep(0.1)
            run = recent[0].action
            result = await asyncio.wait_for(
                client.get_workflow_handle(run.workflow_id, run_id=run.first_execution_run_id).result(), 30)
    finally:
        await handle.delete()
    assert run.workflow_id.startswith(f"analytics-collector{suffix}")
    assert result["passes"] >= 2 and result["collected"] == 0  # nothing published yet: nothing to collect
