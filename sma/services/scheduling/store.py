"""Reads and writes of the content calendar (calendar_slots); (project_id, item_id) is the business key."""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import col, select

from sma.db.engine import Database
from sma.db.tables import Post, utcnow
from sma.db.tables_trends import CalendarSlot
from sma.models.schedule import PlannedSlot


def to_planned(row: CalendarSlot) -> PlannedSlot:
    return PlannedSlot(
        project_id=row.project_id, item_id=row.item_id, workflow_id=row.workflow_id, title=row.title,
        slot_at=row.slot_at, start_at=row.start_at, platforms=json.loads(row.platforms), score=row.score,
        slot_score=row.slot_score, state=row.state, reschedules=row.reschedules,  # type: ignore[arg-type]  # str column; pydantic checks the Literal
        reasons=json.loads(row.reasons),
    )


async def add_slots(db: Database, rows: list[CalendarSlot]) -> list[CalendarSlot]:
    """Insert new slots; a slot whose item is already in the calendar is left as it is (idempotent)."""
    added = []
    async with db.session() as session, session.begin():
        for row in rows:
            existing = (await session.exec(select(CalendarSlot).where(
                CalendarSlot.project_id == row.project_id, CalendarSlot.item_id == row.item_id))).first()
            if existing is None:
                session.add(row)
                added.append(row)
    return added


async def get_slot(db: Database, project_id: str, item_id: str) -> CalendarSlot | None:
    async with db.session() as session:
        return (await session.exec(select(CalendarSlot).where(
            CalendarSlot.project_id == project_id, CalendarSlot.item_id == item_id))).first()


async def slot_by_workflow(db: Database, workflow_id: str) -> CalendarSlot | None:
    async with db.session() as session:
        return (await session.exec(select(CalendarSlot).where(CalendarSlot.workflow_id == workflow_id))).first()


async def update_slot(db: Database, project_id: str, item_id: str, note: str = "", **changes: object) -> None:
    async with db.session() as session, session.begin():
        row = (await session.exec(select(CalendarSlot).where(
            CalendarSlot.project_id == project_id, CalendarSlot.item_id == item_id))).first()
        if row is None:
            return
        for key, value in changes.items():
            setattr(row, key, value)
        if note:
            row.reasons = json.dumps([*json.loads(row.reasons), note])
        row.updated_at = utcnow()
        session.add(row)


async def list_slots(db: Database, project_id: str | None = None, since: datetime | None = None,
                     states: tuple[str, ...] | None = None) -> list[CalendarSlot]:
    query = select(CalendarSlot)
    if project_id is not None:
        query = query.where(CalendarSlot.project_id == project_id)
    if since is not None:
        query = query.where(CalendarSlot.slot_at >= since)
    if states:
        query = query.where(col(CalendarSlot.state).in_(states))
    query = query.order_by(col(CalendarSlot.slot_at), col(CalendarSlot.id))
    async with db.session() as session:
        return list((await session.exec(query)).all())


async def recent_posts(db: Database, project_id: str, since: datetime) -> list[tuple[str, str, datetime]]:
    """(run id, platform, published_at) of posts already out, for cooldowns and caps."""
    query = select(Post.run_id, Post.platform, Post.published_at).where(
        Post.project_id == project_id, Post.status == "published", col(Post.published_at) >= since)
    async with db.session() as session:
        return [(r, p, t) for r, p, t in (await session.exec(query)).all() if t is not None]
