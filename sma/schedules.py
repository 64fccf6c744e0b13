"""Every Temporal Schedule of SMA, in one registry, created or updated idempotently (`sma up`).

`schedule_defs` lists each periodic workflow with its interval and input: the analytics collector (4 h)
and the intelligence analysis (24 h) once per deployment, a trend scan (4 h) and a content scheduler
(12 h) per project. A definition that is switched off is still listed (`enabled=False`) so that
`ensure_schedules` can delete it. `ensure_schedules` makes the server match the registry: it creates a
missing schedule, updates one whose definition changed (the definition's hash is kept in the schedule's
note), leaves an identical one alone and deletes one whose capability is switched off. A pause set by a
person survives an update.

`queue_suffix` comes from the caller (tests run each against their own worker pool); it is appended to the
schedule ids and the task queue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, SerializeAsAny
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from sma import queues
from sma.models.analytics import CollectorInput
from sma.models.ids import content_scheduler_id, trend_scan_id
from sma.models.intelligence import IntelligenceInput
from sma.models.schedule import SchedulerInput
from sma.models.trends import TrendScanInput
from sma.services.intelligence.config import intelligence_settings
from sma.settings import Settings

NOTE_PREFIX = "sma-definition:"
Kind = Literal["analytics-collector", "intelligence", "trend-scan", "content-scheduler"]
TREND_KINDS: frozenset[str] = frozenset({"trend-scan", "content-scheduler"})


class ScheduleDef(BaseModel):
    """One schedule: start `workflow` with `arg` every `every` on `task_queue`; the schedule id is also the
    id of the runs it starts (Temporal appends the fire time)."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: Kind
    workflow: str
    every: timedelta
    arg: SerializeAsAny[BaseModel]
    task_queue: str = queues.WORKFLOWS
    enabled: bool = True
    # Skip: a slow scan is never doubled. Buffer one: a long collector run is followed by one more.
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.BUFFER_ONE
    catchup: timedelta = timedelta(days=1)

    def definition_hash(self) -> str:
        blob = json.dumps({"workflow": self.workflow, "every": self.every.total_seconds(),
                           "input": self.arg.model_dump(mode="json"), "overlap": self.overlap.name,
                           "catchup": self.catchup.total_seconds(), "queue": self.task_queue}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def schedule(self) -> Schedule:
        action = ScheduleActionStartWorkflow(self.workflow, self.arg, id=self.id, task_queue=self.task_queue,
                                             execution_timeout=self.every + timedelta(hours=1))
        return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=self.every)]),
                        policy=SchedulePolicy(overlap=self.overlap, catchup_window=self.catchup),
                        state=ScheduleState(note=NOTE_PREFIX + self.definition_hash()))


def schedule_defs(settings: Settings, queue_suffix: str = "") -> list[ScheduleDef]:
    """Every schedule of the deployment, switched-off ones included (`enabled=False`)."""
    queue = queues.WORKFLOWS + queue_suffix
    analytics = timedelta(hours=settings.analytics.interval_h)
    intelligence = intelligence_settings(settings)
    defs = [
        ScheduleDef(id="analytics-collector" + queue_suffix, kind="analytics-collector",
                    workflow="AnalyticsCollectorWorkflow", every=analytics, task_queue=queue,
                    arg=CollectorInput(horizon_s=analytics.total_seconds(),
                                       replan_s=settings.analytics.replan_min * 60),
                    enabled=settings.analytics.enabled),
        # One analysis covers every project: adding a project changes the input, so the schedule is updated.
        ScheduleDef(id="intelligence" + queue_suffix, kind="intelligence", workflow="IntelligenceWorkflow",
                    every=timedelta(hours=intelligence.interval_h), task_queue=queue,
                    arg=IntelligenceInput(project_ids=[p.id for p in settings.projects]),
                    enabled=intelligence.enabled),
    ]
    for project in settings.projects:
        defs.append(ScheduleDef(
            id=trend_scan_id(project.id) + queue_suffix, kind="trend-scan", workflow="TrendScanWorkflow",
            every=timedelta(hours=settings.trends.interval_h), task_queue=queue,
            arg=TrendScanInput(project_id=project.id), enabled=settings.trends.enabled,
            overlap=ScheduleOverlapPolicy.SKIP))
        defs.append(ScheduleDef(
            id=content_scheduler_id(project.id) + queue_suffix, kind="content-scheduler",
            workflow="ContentSchedulerWorkflow", every=timedelta(hours=settings.scheduler.interval_h),
            task_queue=queue, arg=SchedulerInput(project_id=project.id),
            enabled=settings.scheduler.enabled, overlap=ScheduleOverlapPolicy.SKIP))
    return defs


async def _current_note(client: Client, schedule_id: str) -> str | None:
    """The note of an existing schedule, or None when there is no such schedule."""
    try:
        description = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.schedule.state.note or ""


async def ensure_one(client: Client, d: ScheduleDef) -> str:
    """Make one schedule match its definition: created | updated | unchanged | deleted | off."""
    note = await _current_note(client, d.id)
    if not d.enabled:
        if note is None:
            return "off"
        await client.get_schedule_handle(d.id).delete()
        return "deleted"
    desired = d.schedule()
    if note is None:
        try:
            await client.create_schedule(d.id, desired)
            return "created"
        except ScheduleAlreadyRunningError:
            note = ""  # created concurrently by another `sma up`: bring it up to date below
    if note == desired.state.note:
        return "unchanged"

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        desired.state.paused = current.description.schedule.state.paused  # a pause set by a person stays
        return ScheduleUpdate(schedule=desired)

    await client.get_schedule_handle(d.id).update(replace)
    return "updated"


async def ensure_schedules(client: Client, settings: Settings, queue_suffix: str = "", *,
                           kinds: Collection[str] | None = None,
                           defs: Sequence[ScheduleDef] | None = None) -> dict[str, str]:
    """Make the server's schedules match the registry (or `defs`, or only the given `kinds` of it);
    returns {schedule id: created|updated|unchanged|deleted|off}."""
    chosen = list(defs) if defs is not None else schedule_defs(settings, queue_suffix)
    if kinds is not None:
        chosen = [d for d in chosen if d.kind in kinds]
    return {d.id: await ensure_one(client, d) for d in chosen}
