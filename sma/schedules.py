"""Temporal Schedules of the periodic workflows, created or updated idempotently (called by `sma up`).

Each entry of `SCHEDULES` says which workflow runs how often with which input; `ensure_schedules` makes
the server match the table: it creates a missing schedule, updates one whose definition changed (the
definition's hash is kept in the schedule's note), leaves an identical one alone and deletes one whose
capability is switched off. Trend scan, content scheduler and intelligence schedules are added as entries
here by their issues; nothing else changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel
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
from sma.services.intelligence import schedule as intelligence_schedule
from sma.settings import Settings

NOTE_PREFIX = "sma-definition:"


@dataclass(frozen=True)
class ScheduleDef:
    id: str
    workflow: str
    interval: Callable[[Settings], timedelta]
    make_input: Callable[[Settings], BaseModel]
    enabled: Callable[[Settings], bool]
    overlap: ScheduleOverlapPolicy = ScheduleOverlapPolicy.BUFFER_ONE
    catchup: timedelta = timedelta(days=1)


def _analytics_interval(settings: Settings) -> timedelta:
    return timedelta(hours=settings.analytics.interval_h)


def _analytics_input(settings: Settings) -> BaseModel:
    return CollectorInput(horizon_s=_analytics_interval(settings).total_seconds(),
                          replan_s=settings.analytics.replan_min * 60)


SCHEDULES: tuple[ScheduleDef, ...] = (
    ScheduleDef(id="analytics-collector", workflow="AnalyticsCollectorWorkflow", interval=_analytics_interval,
                make_input=_analytics_input, enabled=lambda s: s.analytics.enabled),
    ScheduleDef(id=intelligence_schedule.SCHEDULE_ID, workflow=intelligence_schedule.WORKFLOW,
                interval=intelligence_schedule.interval, make_input=intelligence_schedule.make_input,
                enabled=intelligence_schedule.enabled),
)


def _definition_hash(d: ScheduleDef, settings: Settings, suffix: str) -> str:
    blob = json.dumps({"workflow": d.workflow, "every": d.interval(settings).total_seconds(),
                       "input": d.make_input(settings).model_dump(mode="json"), "overlap": d.overlap.name,
                       "catchup": d.catchup.total_seconds(), "queue": queues.WORKFLOWS + suffix}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_schedule(d: ScheduleDef, settings: Settings, suffix: str = "") -> Schedule:
    every = d.interval(settings)
    action = ScheduleActionStartWorkflow(
        d.workflow, d.make_input(settings), id=d.id + suffix, task_queue=queues.WORKFLOWS + suffix,
        execution_timeout=every + timedelta(hours=1))
    return Schedule(action=action, spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
                    policy=SchedulePolicy(overlap=d.overlap, catchup_window=d.catchup),
                    state=ScheduleState(note=NOTE_PREFIX + _definition_hash(d, settings, suffix)))


async def _current_note(client: Client, schedule_id: str) -> str | None:
    """The note of an existing schedule, or None when there is no such schedule."""
    try:
        description = await client.get_schedule_handle(schedule_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return description.schedule.state.note or ""


async def ensure_schedules(client: Client, settings: Settings, *, suffix: str = "",
                           schedules: tuple[ScheduleDef, ...] = SCHEDULES) -> dict[str, str]:
    """Make the server's schedules match `schedules`; returns {schedule id: created|updated|unchanged|deleted|off}."""
    outcome: dict[str, str] = {}
    for d in schedules:
        schedule_id = d.id + suffix
        note = await _current_note(client, schedule_id)
        if not d.enabled(settings):
            if note is not None:
                await client.get_schedule_handle(schedule_id).delete()
            outcome[schedule_id] = "deleted" if note is not None else "off"
            continue
        desired = build_schedule(d, settings, suffix)
        if note is None:
            try:
                await client.create_schedule(schedule_id, desired)
                outcome[schedule_id] = "created"
                continue
            except ScheduleAlreadyRunningError:
                note = ""  # created concurrently by another `sma up`: bring it up to date below
        if note == desired.state.note:
            outcome[schedule_id] = "unchanged"
            continue

        def replace(current: ScheduleUpdateInput, new: Schedule = desired) -> ScheduleUpdate:
            new.state.paused = current.description.schedule.state.paused  # a pause set by a person stays
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(schedule_id).update(replace)
        outcome[schedule_id] = "updated"
    if schedules is SCHEDULES:  # per-project trend-scan and content-scheduler schedules
        from sma.services.trends.schedules import ensure_trend_schedules

        outcome.update(await ensure_trend_schedules(client, settings, suffix=suffix))
    return outcome
