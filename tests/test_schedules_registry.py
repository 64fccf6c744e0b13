"""The one schedules registry lists every periodic workflow with its interval, overlap and queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import ScheduleOverlapPolicy

from sma import queues
from sma.schedules import schedule_defs
from sma.settings import ProjectSettings, Settings


def test_registry_lists_every_schedule_once_per_deployment_or_project(settings: Settings) -> None:
    settings.projects.append(ProjectSettings(id="other"))
    defs = {d.id: d for d in schedule_defs(settings, "-t1")}
    assert set(defs) == {"analytics-collector-t1", "intelligence-t1", "trend-scan-test-t1", "trend-scan-other-t1",
                         "content-scheduler-test-t1", "content-scheduler-other-t1"}
    assert {d.task_queue for d in defs.values()} == {queues.WORKFLOWS + "-t1"}
    assert defs["analytics-collector-t1"].every == timedelta(hours=4)
    assert defs["intelligence-t1"].every == timedelta(hours=24)
    assert defs["trend-scan-other-t1"].every == timedelta(hours=4)
    assert defs["content-scheduler-test-t1"].every == timedelta(hours=12)
    assert defs["trend-scan-test-t1"].overlap == ScheduleOverlapPolicy.SKIP  # a slow scan is never doubled
    assert defs["analytics-collector-t1"].overlap == ScheduleOverlapPolicy.BUFFER_ONE


def test_a_switched_off_schedule_stays_listed_so_it_can_be_deleted(settings: Settings) -> None:
    settings.trends.enabled = False
    scans = [d for d in schedule_defs(settings) if d.kind == "trend-scan"]
    assert scans and not any(d.enabled for d in scans)


def test_a_changed_input_changes_the_definition_hash(settings: Settings) -> None:
    (before,) = [d for d in schedule_defs(settings) if d.kind == "intelligence"]
    settings.projects.append(ProjectSettings(id="other"))
    (after,) = [d for d in schedule_defs(settings) if d.kind == "intelligence"]
    assert before.definition_hash() != after.definition_hash()  # ensure_schedules updates the schedule
