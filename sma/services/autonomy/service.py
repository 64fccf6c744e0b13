"""AutonomyService: the policy the approval step asks, and the levels, switches and limits behind it.

It gathers the situation (config, stored state, today's publish slots, the clock), asks the pure policy,
and applies the side effects the policy implies: counting QA outcomes, falling back from `autonomous`
to `assisted` after N consecutive failures or an engagement drop (announced in the project's chat), and
reserving a publish slot when the publish guard lets a run through. The caps are exact across worker
processes and hosts: the slot is counted and taken under a database lock (sma.db.locks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from sma.db.engine import Database
from sma.db.locks import exclusive
from sma.db.tables_autonomy import AutonomyEvent
from sma.models.autonomy import Level, PolicyRequest, PolicyVerdict
from sma.models.pipeline import NotifyRequest
from sma.services.autonomy import guards as g
from sma.services.autonomy import store
from sma.services.autonomy.levels import project_level
from sma.services.autonomy.policy import Situation, effective_level, evaluate
from sma.services.notify.notifier import Notifier
from sma.settings import ProjectSettings, Settings

log = structlog.get_logger("sma.autonomy")


@dataclass(frozen=True)
class ProjectAutonomy:
    """What /autonomy, /limits and the dashboard show for one project."""

    project_id: str
    level: Level
    configured: Level
    paused: bool
    paused_by: str
    pause_reason: str
    limits: store.Limits
    published_today: int
    per_platform_today: dict[str, int]
    day: str
    level_set: bool = False  # a level was stored (bot, dashboard, CLI, fall back); else the config's applies


class AutonomyService:
    def __init__(self, settings: Settings, database: Database, notifier: Notifier | None = None,
                 clock: Callable[[], datetime] | None = None, calendar: Any = None) -> None:
        self.settings = settings
        self.calendar = calendar  # CalendarService: runs started for a slot wait for it before publishing
        self.database = database
        self.notifier = notifier
        self.clock = clock or (lambda: datetime.now(UTC))

    def project(self, project_id: str) -> ProjectSettings:
        return self.settings.project(project_id)

    # ------------------------------------------------------------ the policy

    async def decide(self, req: PolicyRequest) -> PolicyVerdict:
        project = self.project(req.project_id)
        if req.stage == "approval":
            await self._count_qa(req, project)
        situation = await self._situation(req, project)
        verdict = evaluate(situation)
        if req.stage == "publish" and verdict.verdict == "approve" and self.calendar is not None:
            hold = await self.calendar.hold(req.run_id, situation.now_utc)
            if hold.wait_s > 0:
                verdict = PolicyVerdict(verdict="block", level=verdict.level, retry_after_s=hold.wait_s,
                                        reasons=[hold.reason])
        if req.stage == "publish" and verdict.verdict == "approve":
            verdict = await self._reserve_slot(req, project, situation, verdict)
        verdict = await self._maybe_fall_back(req, project, situation, verdict)
        verdict.reminder_s = self.settings.bot.reminder_minutes * 60
        verdict.expiry_s = self.settings.bot.expiry_hours * 3600
        log.info("policy", project=req.project_id, run=req.run_id, round=req.round, stage=req.stage,
                 verdict=verdict.verdict, level=verdict.level, reasons=verdict.reasons)
        return verdict

    async def _reserve_slot(self, req: PolicyRequest, project: ProjectSettings, situation: Situation,
                            verdict: PolicyVerdict) -> PolicyVerdict:
        """Count the caps again and take the slot in one locked transaction (exact across workers).

        The first evaluation ran without the lock (the calendar hold writes, so it stays outside); here only
        the day's slots are read again, since they are what another worker may have changed meanwhile.
        """
        day = g.local_day(situation.now_utc, project.guards.zone())
        async with exclusive(self.database, f"publish-slots:{req.project_id}") as session:
            published, per_platform = await store.slots_for_day(session, req.project_id, day, req.run_id)
            recheck = evaluate(replace(situation, published_today=published, per_platform=per_platform))
            if recheck.verdict != "approve":
                return recheck
            await store.add_slot(session, req.project_id, req.run_id, day, req.platforms, req.auto)
        return verdict

    async def _situation(self, req: PolicyRequest, project: ProjectSettings) -> Situation:
        state = await store.get_state(self.database, req.project_id)
        now = self.clock()
        day = g.local_day(now, project.guards.zone())
        published, per_platform = await store.slots_for_day(self.database, req.project_id, day, req.run_id)
        limits = store.limits(state, project.guards.daily_cap, project.guards.platform_caps)
        note = ""
        if state is not None and state.paused:
            note = f"by {state.paused_by}" + (f" ({state.pause_reason})" if state.pause_reason else "")
        return Situation(req=req, guards=project.guards, now_utc=now, stored_level=store.stored_level(state),
                         paused=bool(state and state.paused), pause_note=note, published_today=published,
                         per_platform=per_platform, daily_cap=limits.daily_cap, platform_caps=limits.platform_caps)

    async def _count_qa(self, req: PolicyRequest, project: ProjectSettings) -> None:
        problems = g.qa_problems(req.qa, project.guards.required_gates)
        failed = sorted({r.gate for r in req.qa if not r.passed or r.score < r.threshold})
        await store.record_qa(self.database, req.project_id, req.run_id, req.round, not problems, failed)

    async def _maybe_fall_back(self, req: PolicyRequest, project: ProjectSettings, situation: Situation,
                               verdict: PolicyVerdict) -> PolicyVerdict:
        limit = project.guards.fallback_after_qa_failures
        level = effective_level(req.level, situation.stored_level, req.pinned)
        if req.stage != "approval" or level != "autonomous" or limit <= 0:
            return verdict
        streak = await store.qa_failure_streak(self.database, req.project_id)
        if streak < limit:
            return verdict
        reason = f"{streak} consecutive QA failures (limit {limit})"
        await self.fall_back(req.project_id, reason)
        verdict.level = "assisted"
        verdict.fallback = True
        verdict.reasons = [*verdict.reasons, f"autonomy fell back to assisted: {reason}"]
        if verdict.verdict == "approve":  # cannot happen with failed QA, but never auto-approve on a fall back
            verdict.verdict = "ask"
        return verdict

    # ------------------------------------------------------------ levels

    async def level(self, project_id: str) -> Level:
        """The project's current level: the stored one, else the configured one (levels.project_level)."""
        state = await store.get_state(self.database, project_id)
        return project_level(store.stored_level(state), self.project(project_id).autonomy)[0]

    async def set_level(self, project_id: str, level: Level, by: str, source: str,
                        reason: str = "") -> AutonomyEvent:
        previous = await self.level(project_id)
        event = await store.set_level(self.database, project_id, level, previous, by, source, reason)
        log.info("autonomy level", project=project_id, old=previous, new=level, by=by, source=source)
        return event

    async def fall_back(self, project_id: str, reason: str, trigger: str = "qa") -> bool:
        """Drop an autonomous project to assisted and say so in its chat; False if it was not autonomous."""
        previous = await self.level(project_id)
        if previous != "autonomous":
            return False
        await store.set_level(self.database, project_id, "assisted", previous, "autonomy-guard", "guard",
                              reason, kind="fallback")
        log.warning("autonomy fell back", project=project_id, reason=reason, trigger=trigger)
        await self._announce(project_id, f"Autonomy of project '{project_id}' fell back from autonomous to "
                                         f"assisted: {reason}. Use /autonomy autonomous to switch it back.")
        return True

    async def report_engagement(self, project_id: str, recent: float, baseline: float) -> bool:
        """Called by analytics: fall back when recent engagement is far enough below the baseline."""
        threshold = self.project(project_id).guards.fallback_engagement_drop
        if threshold <= 0 or baseline <= 0:
            return False
        drop = 1.0 - recent / baseline
        if drop < threshold:
            return False
        return await self.fall_back(project_id, f"engagement dropped {drop:.0%} below its baseline "
                                                f"(limit {threshold:.0%})", trigger="engagement")

    async def _announce(self, project_id: str, text: str) -> None:
        if self.notifier is None:
            return
        try:
            await self.notifier.send(NotifyRequest(project_id=project_id, run_id="", kind="autonomy", text=text))
        except Exception as exc:  # an announcement never breaks the policy
            log.warning("autonomy announcement failed", project=project_id, error=str(exc))

    # ------------------------------------------------------------ kill switch and limits

    async def pause(self, project_ids: list[str], by: str, source: str, reason: str = "") -> list[str]:
        """Hold every publish of these projects; returns the ones that were not paused already."""
        changed = []
        for project_id in project_ids:
            self.project(project_id)
            if await store.set_paused(self.database, project_id, True, by, source, reason):
                changed.append(project_id)
        return changed

    async def resume(self, project_ids: list[str], by: str, source: str) -> list[str]:
        changed = []
        for project_id in project_ids:
            self.project(project_id)
            if await store.set_paused(self.database, project_id, False, by, source):
                changed.append(project_id)
        return changed

    async def set_limits(self, project_id: str, by: str, source: str, daily_cap: int | None = None,
                         platform_caps: dict[str, int | None] | None = None, reset: bool = False) -> AutonomyEvent:
        self.project(project_id)
        if daily_cap is not None and daily_cap < 0:
            raise ValueError("a cap cannot be negative")
        if any(v is not None and v < 0 for v in (platform_caps or {}).values()):
            raise ValueError("a cap cannot be negative")
        return await store.set_limits(self.database, project_id, by, source, daily_cap, platform_caps, reset)

    async def overview(self, project_id: str) -> ProjectAutonomy:
        project = self.project(project_id)
        state = await store.get_state(self.database, project_id)
        day = g.local_day(self.clock(), project.guards.zone())
        published, per_platform = await store.slots_for_day(self.database, project_id, day)
        return ProjectAutonomy(
            project_id=project_id, level=project_level(store.stored_level(state), project.autonomy)[0],
            configured=project.autonomy, level_set=store.stored_level(state) is not None,
            paused=bool(state and state.paused), paused_by=state.paused_by if state else "",
            pause_reason=state.pause_reason if state else "",
            limits=store.limits(state, project.guards.daily_cap, project.guards.platform_caps),
            published_today=published, per_platform_today=per_platform, day=day,
        )

    async def history(self, project_id: str, limit: int = 10) -> list[AutonomyEvent]:
        return await store.events(self.database, project_id, limit)
