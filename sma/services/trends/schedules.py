"""Temporal Schedules of the trends and calendar capability, as plain data plus an idempotent `ensure`.

Per project: `trend-scan-<project>` starts TrendScanWorkflow every `trends.interval_h` (4 h) and
`content-scheduler-<project>` starts ContentSchedulerWorkflow every `scheduler.interval_h` (12 h). Overlaps
are skipped (a slow scan is never doubled). `ensure_trend_schedules` creates what is missing, updates what
exists and deletes what is switched off, so calling it at every start-up is safe (sma/schedules.py's
`ensure_schedules` calls it after its own table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.client import ScheduleOverlapPolicy as Overlap
from temporalio.service import RPCError, RPCStatusCode

from sma import queues
from sma.models.schedule import SchedulerInput
from sma.models.trends import TrendScanInput
from sma.settings import Settings


@dataclass(frozen=True)
class ScheduleDef:
    schedule_id: str
    workflow: str
    workflow_id: str  # Temporal appends the fire time to it
    every: timedelta
    arg: BaseModel
    task_queue: str

    def schedule(self) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(self.workflow, self.arg, id=self.workflow_id,
                                               task_queue=self.task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=self.every)]),
            policy=SchedulePolicy(overlap=Overlap.SKIP),
        )


def schedule_defs(settings: Settings, suffix: str = "") -> list[tuple[ScheduleDef, bool]]:
    """Every schedule of this capability for the configured projects, with whether it should exist."""
    task_queue = queues.WORKFLOWS + suffix
    defs: list[tuple[ScheduleDef, bool]] = []
    for project in settings.projects:
        defs.append((ScheduleDef(f"trend-scan-{project.id}{suffix}", "TrendScanWorkflow",
                                 f"trend-scan-{project.id}{suffix}", timedelta(hours=settings.trends.interval_h),
                                 TrendScanInput(project_id=project.id), task_queue),
                     settings.trends.enabled))
        defs.append((ScheduleDef(f"content-scheduler-{project.id}{suffix}", "ContentSchedulerWorkflow",
                                 f"content-scheduler-{project.id}{suffix}",
                                 timedelta(hours=settings.scheduler.interval_h),
                                 SchedulerInput(project_id=project.id), task_queue),
                     settings.scheduler.enabled))
    return defs


async def ensure_trend_schedules(client: Client, settings: Settings, suffix: str = "") -> dict[str, str]:
    """Create what is missing, update what exists (a pause set by a person stays), delete what is switched
    off; returns {schedule id: created|updated|deleted|off}."""
    outcome: dict[str, str] = {}
    for definition, enabled in schedule_defs(settings, suffix):
        handle = client.get_schedule_handle(definition.schedule_id)
        if not enabled:
            try:
                await handle.delete()
                outcome[definition.schedule_id] = "deleted"
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                outcome[definition.schedule_id] = "off"
            continue
        schedule = definition.schedule()
        try:
            await client.create_schedule(definition.schedule_id, schedule)
            outcome[definition.schedule_id] = "created"
        except ScheduleAlreadyRunningError:
            def replace(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                new.state.paused = current.description.schedule.state.paused
                return ScheduleUpdate(schedule=new)

            await handle.update(replace)
            outcome[definition.schedule_id] = "updated"
    return outcome
