"""Reads and writes of the autonomy tables. Every change of level or switch also writes an event row
(who, when, from where), so the history is the audit log the bot and dashboard show.

Writes that Temporal may repeat (a retried activity) are idempotent: QA outcomes are keyed by
(run, round), publish slots by run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database
from sma.db.tables import Project, utcnow
from sma.db.tables_autonomy import AutonomyEvent, AutonomyState, PublishSlot, QAOutcome
from sma.models.autonomy import LEVELS, Level


@dataclass(frozen=True)
class Limits:
    """Caps in force; `daily_cap` None and a platform missing from `platform_caps` mean no cap."""

    daily_cap: int | None
    platform_caps: dict[str, int]
    daily_override: bool
    platform_overrides: dict[str, int]


async def _ensure_project(session: AsyncSession, project_id: str) -> None:
    """A project row for the foreign keys (the recorder or `sma up` fills in name and niche)."""
    if await session.get(Project, project_id) is None:
        session.add(Project(id=project_id))
        await session.flush()


async def _state_for_update(session: AsyncSession, project_id: str) -> AutonomyState:
    await _ensure_project(session, project_id)
    state = await session.get(AutonomyState, project_id)
    if state is None:
        state = AutonomyState(project_id=project_id)
        session.add(state)
    return state


async def get_state(db: Database, project_id: str) -> AutonomyState | None:
    async with db.session() as session:
        return await session.get(AutonomyState, project_id)


def stored_level(state: AutonomyState | None) -> Level | None:
    if state is None or state.level not in LEVELS:
        return None
    return state.level


async def set_level(db: Database, project_id: str, level: Level, previous: str, by: str, source: str,
                    reason: str = "", kind: str = "level") -> AutonomyEvent:
    async with db.session() as session, session.begin():
        state = await _state_for_update(session, project_id)
        state.level = level
        state.updated_at = utcnow()
        event = AutonomyEvent(project_id=project_id, kind=kind, old=previous, new=level, by=by, source=source,
                              reason=reason)
        session.add(event)
    return event


async def set_paused(db: Database, project_id: str, paused: bool, by: str, source: str,
                     reason: str = "") -> AutonomyEvent | None:
    """Flip the kill switch; None when it was already in that position (nothing to log)."""
    async with db.session() as session, session.begin():
        state = await _state_for_update(session, project_id)
        if bool(state.paused) == paused:
            return None
        state.paused = paused
        state.paused_by = by if paused else ""
        state.paused_at = utcnow() if paused else None
        state.pause_reason = reason if paused else ""
        state.updated_at = utcnow()
        event = AutonomyEvent(project_id=project_id, kind="pause" if paused else "resume",
                              old="paused" if not paused else "running", new="paused" if paused else "running",
                              by=by, source=source, reason=reason)
        session.add(event)
    return event


async def set_limits(db: Database, project_id: str, by: str, source: str, daily_cap: int | None = None,
                     platform_caps: dict[str, int | None] | None = None, reset: bool = False) -> AutonomyEvent:
    """Override caps at run time (/limits); a platform set to None drops its override; reset drops all."""
    async with db.session() as session, session.begin():
        state = await _state_for_update(session, project_id)
        old = json.dumps({"daily": state.daily_cap, "platforms": json.loads(state.platform_caps or "{}")})
        overrides: dict[str, int] = {} if reset else json.loads(state.platform_caps or "{}")
        if reset:
            state.daily_cap = None
        if daily_cap is not None:
            state.daily_cap = daily_cap
        for platform, cap in (platform_caps or {}).items():
            if cap is None:
                overrides.pop(platform, None)
            else:
                overrides[platform] = cap
        state.platform_caps = json.dumps(overrides, sort_keys=True)
        state.updated_at = utcnow()
        new = json.dumps({"daily": state.daily_cap, "platforms": overrides})
        event = AutonomyEvent(project_id=project_id, kind="limits", old=old, new=new, by=by, source=source)
        session.add(event)
    return event


def limits(state: AutonomyState | None, daily_default: int | None,
           platform_defaults: dict[str, int | None]) -> Limits:
    """Overrides over the configured caps; a cap of 0 (or null in config) means no cap."""
    overrides: dict[str, int] = json.loads(state.platform_caps) if state and state.platform_caps else {}
    daily_override = state is not None and state.daily_cap is not None
    daily = state.daily_cap if state is not None and state.daily_cap is not None else daily_default
    merged = {**platform_defaults, **overrides}
    return Limits(
        daily_cap=daily or None,
        platform_caps={platform: cap for platform, cap in merged.items() if cap},
        daily_override=daily_override,
        platform_overrides=overrides,
    )


async def events(db: Database, project_id: str, limit: int = 20, kinds: tuple[str, ...] = ()) -> list[AutonomyEvent]:
    query = select(AutonomyEvent).where(AutonomyEvent.project_id == project_id)
    if kinds:
        query = query.where(col(AutonomyEvent.kind).in_(kinds))
    query = query.order_by(col(AutonomyEvent.at).desc(), col(AutonomyEvent.id).desc()).limit(limit)
    async with db.session() as session:
        return list((await session.exec(query)).all())


# ---------------------------------------------------------------- QA streaks


async def record_qa(db: Database, project_id: str, run_id: str, round_no: int, passed: bool,
                    failed_gates: list[str]) -> bool:
    """Remember one round's QA verdict; False when it was already recorded (a retried activity)."""
    try:
        async with db.session() as session, session.begin():
            await _ensure_project(session, project_id)
            existing = (await session.exec(select(QAOutcome).where(
                QAOutcome.run_id == run_id, QAOutcome.round == round_no))).first()
            if existing is not None:
                return False
            session.add(QAOutcome(project_id=project_id, run_id=run_id, round=round_no, passed=passed,
                                  failed_gates=json.dumps(failed_gates)))
    except IntegrityError:
        return False
    return True


async def qa_failure_streak(db: Database, project_id: str, limit: int = 100) -> int:
    """Consecutive failed rounds, newest first, until the first pass."""
    query = (select(QAOutcome.passed).where(QAOutcome.project_id == project_id)
             .order_by(col(QAOutcome.at).desc(), col(QAOutcome.id).desc()).limit(limit))
    async with db.session() as session:
        outcomes = list((await session.exec(query)).all())
    streak = 0
    for passed in outcomes:
        if passed:
            break
        streak += 1
    return streak


# ---------------------------------------------------------------- publish slots (daily caps)


async def slots_for_day(db: Database | AsyncSession, project_id: str, day: str,
                        exclude_run: str = "") -> tuple[int, dict[str, int]]:
    """Videos and posts per platform let through on a local day (other than `exclude_run`)."""
    query = select(PublishSlot).where(PublishSlot.project_id == project_id, PublishSlot.day == day)
    if isinstance(db, AsyncSession):
        rows = list((await db.exec(query)).all())
    else:
        async with db.session() as session:
            rows = list((await session.exec(query)).all())
    rows = [r for r in rows if r.run_id != exclude_run]
    per_platform: Counter[str] = Counter()
    for row in rows:
        per_platform.update(json.loads(row.platforms or "[]"))
    return len(rows), dict(per_platform)


async def reserve_slot(db: Database, project_id: str, run_id: str, day: str, platforms: list[str],
                       auto: bool) -> None:
    """Count this run against the day's caps; a repeat for the same run keeps the first reservation."""
    try:
        async with db.session() as session, session.begin():
            await _ensure_project(session, project_id)
            existing = (await session.exec(select(PublishSlot).where(PublishSlot.run_id == run_id))).first()
            if existing is None:
                session.add(PublishSlot(project_id=project_id, run_id=run_id, day=day,
                                        platforms=json.dumps(platforms), auto=auto))
    except IntegrityError:
        return


async def add_slot(session: AsyncSession, project_id: str, run_id: str, day: str, platforms: list[str],
                   auto: bool) -> None:
    """`reserve_slot` inside the caller's transaction (the locked check-and-take of AutonomyService)."""
    await _ensure_project(session, project_id)
    existing = (await session.exec(select(PublishSlot).where(PublishSlot.run_id == run_id))).first()
    if existing is None:
        session.add(PublishSlot(project_id=project_id, run_id=run_id, day=day, platforms=json.dumps(platforms),
                                auto=auto))
        await session.flush()


async def slot_of(db: Database, run_id: str) -> PublishSlot | None:
    async with db.session() as session:
        return (await session.exec(select(PublishSlot).where(PublishSlot.run_id == run_id))).first()
