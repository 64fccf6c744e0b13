"""The content calendar's logic: pick topics, give them slots, and keep each slot honest over time.

- `plan`: top topics of recent scans not yet produced or scheduled, up to the daily production limit,
  each given the best allowed slot (optimizer.py); written to calendar_slots.
- `check`: what a slot's workflow does now: wait until `slot - lead`, start the pipeline, or stop; a slot
  missed by more than the grace (workers were down) is moved to the next free slot, never rushed.
- `hold`: how long a finished video waits for its slot before publishing (0 = now); a video that is
  ready only after its slot passed gets the next free slot. Posting happens once: one slot per item, one
  pipeline per item (workflow id `content-<project>-<item>`).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import structlog

from sma.db.engine import Database
from sma.db.tables_trends import CalendarSlot
from sma.models.ids import content_workflow_id, keyed_item_id
from sma.models.pipeline import PipelineInput, Topic
from sma.models.schedule import (
    PlanCalendarResult,
    SlotCheck,
    SlotHold,
    SlotUpdate,
)
from sma.models.topic import TopicError
from sma.services.runs import new_run_input
from sma.services.scheduling import store
from sma.services.scheduling.history import EngagementHistory
from sma.services.scheduling.optimizer import (
    Busy,
    Constraints,
    EngagementModel,
    allocate,
    allowed,
    candidate_times,
    slot_score,
    take,
)
from sma.services.trends.store import ensure_project_row, produced_titles, recent_results
from sma.services.trends.text import similarity
from sma.settings import Settings

log = structlog.get_logger("sma.scheduling")
ACTIVE = ("planned", "started", "published")
MAX_RESCHEDULES = 5


class CalendarService:
    def __init__(self, settings: Settings, database: Database, history: EngagementHistory) -> None:
        self.settings = settings
        self.database = database
        self.history = history

    # ------------------------------------------------------------ planning

    async def plan(self, project_id: str, now: datetime) -> PlanCalendarResult:
        project = self.settings.project(project_id)
        sched = self.settings.scheduler
        await ensure_project_row(self.database, project.id, project.name, project.niche)
        notes: list[str] = []
        topics = await self._topics(project_id, now)
        model = await self._model(project_id, project.platforms, now)
        constraints = await self._constraints(project_id, project.platforms, now)
        lead = timedelta(minutes=sched.lead_time_min)
        times = candidate_times(now + lead, now + timedelta(hours=sched.horizon_h), sched.slot_minutes)
        choices = allocate(len(topics), project.platforms, times, model, constraints)
        if len(choices) < len(topics):
            notes.append(f"{len(topics) - len(choices)} topics left for later: no allowed slot in the next "
                         f"{sched.horizon_h:g} h (limit {sched.production_limit(project_id)} a day, caps, "
                         "cooldowns, quiet hours)")
        if not topics:
            notes.append("no new topic above the minimum score in recent scans")
        rows = [self._row(project_id, topics[c.index], c.slot_at, c.score, lead, project.platforms, model)
                for c in choices]
        added = await store.add_slots(self.database, rows)
        pending = await store.list_slots(self.database, project_id, states=("planned",))
        log.info("calendar planned", project=project_id, new=len(added), pending=len(pending))
        return PlanCalendarResult(new=[store.to_planned(r) for r in added],
                                  pending=[store.to_planned(r) for r in pending], notes=notes)

    async def _topics(self, project_id: str, now: datetime) -> list[dict[str, Any]]:
        sched = self.settings.scheduler
        results = await recent_results(self.database, project_id, now - timedelta(hours=sched.max_topic_age_h))
        slots = await store.list_slots(self.database, project_id, states=ACTIVE)
        taken_keys = {s.trend_key for s in slots}
        seen = [s.title for s in slots] + await produced_titles(self.database, project_id)
        picked: list[dict[str, Any]] = []
        for row in sorted(results, key=lambda r: (-r.score, r.title)):
            if row.score < sched.min_topic_score or row.key in taken_keys:
                continue
            if any(similarity(row.title, other) >= sched.produced_similarity for other in seen):
                continue
            urls = [link["url"] for link in json.loads(row.links) if link.get("url")]
            try:
                topic = Topic.from_source(row.title, row.summary, source_urls=urls[:10])
            except TopicError as exc:
                log.info("trend skipped for the calendar", project=project_id, key=row.key, reason=str(exc))
                continue
            picked.append({"key": row.key, "title": topic.title, "topic": topic, "score": row.score})
            seen.append(row.title)
            if len(picked) >= sched.production_limit(project_id) * max(1, int(sched.horizon_h // 24) + 1):
                break
        return picked

    async def _model(self, project_id: str, platforms: list[str], now: datetime) -> EngagementModel:
        sched = self.settings.scheduler
        samples = await self.history.samples(project_id, now - timedelta(days=sched.history_days))
        zone = self.settings.project(project_id).guards.zone()
        return EngagementModel(samples, platforms, zone, self._prior_hours(project_id), sched.prior_strength)

    def _prior_hours(self, project_id: str) -> dict[str, list[int]]:
        """The audience fingerprint's best hours (intelligence loop) where it has them, else the defaults."""
        from sma.services.intelligence.config import intelligence_settings
        from sma.services.intelligence.fingerprint import FingerprintHours
        from sma.services.intelligence.reports import report_store

        hours = FingerprintHours(report_store(self.settings), intelligence_settings(self.settings).min_posts)
        return hours.default_hours(project_id, self.settings.scheduler.default_hours)

    async def _constraints(self, project_id: str, platforms: list[str], now: datetime,
                           exclude_item: str = "") -> Constraints:
        guards = self.settings.project(project_id).guards
        sched = self.settings.scheduler
        look_back = now - timedelta(days=2)
        busy: list[Busy] = []
        per_day: dict[str, int] = {}
        calendar_runs = set()
        for slot in await store.list_slots(self.database, project_id, since=look_back, states=ACTIVE):
            calendar_runs.add(slot.workflow_id)
            if slot.item_id == exclude_item:
                continue
            busy += [Busy(p, slot.slot_at) for p in json.loads(slot.platforms)]
            day = slot.slot_at.astimezone(guards.zone()).date().isoformat()
            per_day[day] = per_day.get(day, 0) + 1
        # Posts made outside the calendar (runs started by hand) count for cooldowns and caps too.
        busy += [Busy(p, t) for run, p, t in await store.recent_posts(self.database, project_id, look_back)
                 if p in platforms and run not in calendar_runs]
        return Constraints(
            zone=guards.zone(), quiet=guards.quiet_window(), daily_cap=guards.daily_limit(),
            platform_caps=guards.platform_limits(),
            cooldown_h={p: sched.cooldown(project_id, p) for p in platforms},
            production_limit=sched.production_limit(project_id), busy=busy, produced_per_day=per_day)

    def _row(self, project_id: str, topic: dict[str, Any], slot_at: datetime, score: float, lead: timedelta,
             platforms: list[str], model: EngagementModel) -> CalendarSlot:
        item_id = keyed_item_id(topic["title"], topic["key"], limit=30, key_chars=6)
        title = topic["title"]
        return CalendarSlot(
            project_id=project_id, item_id=item_id, workflow_id=content_workflow_id(project_id, item_id),
            trend_key=topic["key"], title=title,
            topic=topic["topic"].model_dump_json(),
            platforms=json.dumps(platforms), score=topic["score"], slot_score=score, slot_at=slot_at,
            start_at=slot_at - lead, reasons=json.dumps([model.basis(p) for p in platforms]))

    # ------------------------------------------------------------ a slot over time

    async def check(self, project_id: str, item_id: str, now: datetime) -> SlotCheck:
        slot = await store.get_slot(self.database, project_id, item_id)
        if slot is None:
            return SlotCheck(action="stop", reason="the slot is no longer in the calendar")
        if slot.state != "planned":
            return SlotCheck(action="stop", slot_at=slot.slot_at, reason=f"the slot is {slot.state}")
        grace = timedelta(minutes=self.settings.scheduler.missed_grace_min)
        if now > slot.slot_at + grace:
            moved = await self._reschedule(slot, now)
            if moved is None:
                return SlotCheck(action="stop", slot_at=slot.slot_at, reason="missed and no free slot: cancelled")
            slot = moved
        if now < slot.start_at:
            return SlotCheck(action="wait", wait_s=(slot.start_at - now).total_seconds(), slot_at=slot.slot_at)
        try:
            pipeline = await self._pipeline(slot)
        except TopicError as exc:
            await store.update_slot(self.database, project_id, item_id, state="cancelled", note=f"not started: {exc}")
            return SlotCheck(action="stop", slot_at=slot.slot_at, reason=f"not started: {exc}")
        return SlotCheck(action="start", slot_at=slot.slot_at, pipeline=pipeline)

    async def _pipeline(self, slot: CalendarSlot) -> PipelineInput:
        stored = json.loads(slot.topic)
        topic = Topic.from_source(stored.get("title", ""), stored.get("summary", ""), stored.get("facts"),
                                  stored.get("source_urls"))
        return await new_run_input(self.settings, self.database, topic, slot.project_id, entry="calendar",
                                   platforms=json.loads(slot.platforms), item_id=slot.item_id)

    async def _reschedule(self, slot: CalendarSlot, now: datetime) -> CalendarSlot | None:
        """Move a missed slot to the best allowed time ahead (lead time included); None if there is none or
        it was moved too often (then it is cancelled)."""
        platforms = json.loads(slot.platforms)
        if slot.reschedules >= MAX_RESCHEDULES:
            await store.update_slot(self.database, slot.project_id, slot.item_id, state="cancelled",
                                    note=f"cancelled after {MAX_RESCHEDULES} missed slots")
            return None
        sched = self.settings.scheduler
        lead = timedelta(minutes=sched.lead_time_min)
        constraints = await self._constraints(slot.project_id, platforms, now, exclude_item=slot.item_id)
        model = await self._model(slot.project_id, platforms, now)
        horizon = now + timedelta(hours=max(sched.horizon_h, 48.0))
        best = None
        for when in candidate_times(now + lead, horizon, sched.slot_minutes):
            if allowed(when, platforms, constraints):
                score = slot_score(model, when, platforms)
                if best is None or score > best[0] + 1e-9:
                    best = (score, when)
                if when - best[1] > timedelta(hours=24):
                    break  # the best of the next day is good enough; no need to look further
        if best is None:
            await store.update_slot(self.database, slot.project_id, slot.item_id, state="cancelled",
                                    note=f"missed {slot.slot_at:%Y-%m-%d %H:%M} UTC and no free slot ahead")
            return None
        take(best[1], platforms, constraints)
        note = f"missed {slot.slot_at:%Y-%m-%d %H:%M} UTC; moved to {best[1]:%Y-%m-%d %H:%M} UTC"
        await store.update_slot(self.database, slot.project_id, slot.item_id, note=note, slot_at=best[1],
                                start_at=best[1] - lead, slot_score=round(best[0], 4),
                                reschedules=slot.reschedules + 1)
        log.info("slot rescheduled", project=slot.project_id, item=slot.item_id, note=note)
        return await store.get_slot(self.database, slot.project_id, slot.item_id)

    async def update(self, upd: SlotUpdate) -> None:
        await store.update_slot(self.database, upd.project_id, upd.item_id, note=upd.note, state=upd.state)

    async def hold(self, wf_id: str, now: datetime) -> SlotHold:
        """Publish-time check for a calendar run: wait for the slot, publish now, or take the next slot."""
        slot = await store.slot_by_workflow(self.database, wf_id)
        if slot is None or slot.state in ("cancelled", "published"):
            return SlotHold(reason="not a calendar run" if slot is None else f"slot {slot.state}")
        if now < slot.slot_at:
            return SlotHold(wait_s=(slot.slot_at - now).total_seconds(), slot_at=slot.slot_at,
                            reason=f"waiting for its calendar slot {slot.slot_at:%Y-%m-%d %H:%M} UTC")
        grace = timedelta(minutes=self.settings.scheduler.missed_grace_min)
        if now <= slot.slot_at + grace:
            return SlotHold(slot_at=slot.slot_at, reason="its calendar slot is now")
        platforms = json.loads(slot.platforms)
        constraints = await self._constraints(slot.project_id, platforms, now, exclude_item=slot.item_id)
        model = await self._model(slot.project_id, platforms, now)
        times = candidate_times(now, now + timedelta(hours=48), self.settings.scheduler.slot_minutes)
        choice = allocate(1, platforms, times, model, constraints)
        if not choice:
            return SlotHold(slot_at=slot.slot_at, reason="slot missed and no free slot in 48 h: publishing now")
        new = choice[0].slot_at
        await store.update_slot(self.database, slot.project_id, slot.item_id, slot_at=new,
                                reschedules=slot.reschedules + 1,
                                note=f"ready after its slot {slot.slot_at:%H:%M} UTC; "
                                     f"moved to {new:%Y-%m-%d %H:%M} UTC")
        return SlotHold(wait_s=(new - now).total_seconds(), slot_at=new, rescheduled=True,
                        reason=f"missed its slot; rescheduled to {new:%Y-%m-%d %H:%M} UTC")

