"""The calendar service against a real SQLite file: planning, a slot missed while workers were down, the
publish-time hold, and that the migration matches the tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from sma.db.engine import Database, make_sync_engine
from sma.db.migrate import downgrade, upgrade
from sma.db.tables_trends import TRENDS_TABLES
from sma.models.trends import RankedTrend, ScoreBreakdown, StoreScanRequest
from sma.services.autonomy.config import GuardSettings
from sma.services.scheduling.calendar import CalendarService
from sma.services.scheduling.history import NoHistory
from sma.services.scheduling.store import get_slot, list_slots
from sma.services.trends.config import SchedulerSettings
from sma.services.trends.store import ensure_project_row, save_scan
from sma.settings import ProjectSettings, Settings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def cal_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        projects=[ProjectSettings(id="p", platforms=["youtube", "tiktok"],
                                  guards=GuardSettings(timezone="Europe/Berlin", quiet_hours="22:00-07:00"))],
        scheduler=SchedulerSettings(daily_production_limit=2, lead_time_min=60, missed_grace_min=30))


@pytest.fixture
async def service(cal_settings: Settings) -> AsyncIterator[CalendarService]:
    cal_settings.data_dir.mkdir(parents=True)
    upgrade(cal_settings.database_url)
    db = Database(cal_settings.database_url)
    await ensure_project_row(db, "p")
    titles = ["Rust 2.0 released", "SQLite in production", "Zig 1.0 released", "Rust 2.0 is released!"]
    candidates = [RankedTrend(key=f"k{i}", title=t, breakdown=ScoreBreakdown(score=1 - i / 10))
                  for i, t in enumerate(titles)]
    await save_scan(db, StoreScanRequest(project_id="p", scan_id=uuid.uuid4().hex, started_at=NOW, finished_at=NOW,
                                         candidates=candidates), candidates, [])
    yield CalendarService(cal_settings, db, NoHistory())
    await db.close()


async def test_plan_respects_limit_and_skips_near_duplicates(service: CalendarService) -> None:
    plan = await service.plan("p", NOW)
    titles = [s.title for s in plan.new]
    assert "Rust 2.0 is released!" not in titles  # a near-duplicate of a better-ranked topic
    days = [s.slot_at.astimezone(service.settings.project("p").guards.zone()).date() for s in plan.new]
    assert all(days.count(d) <= 2 for d in days)  # daily production limit
    for slot in plan.new:
        assert slot.start_at == slot.slot_at - timedelta(minutes=60)
        assert 7 <= slot.slot_at.astimezone(service.settings.project("p").guards.zone()).hour < 22
        assert slot.workflow_id == f"content-p-{slot.item_id}"
    again = await service.plan("p", NOW)
    assert again.new == [] and {s.item_id for s in again.pending} == {s.item_id for s in plan.new}


async def test_check_waits_starts_and_moves_a_missed_slot(service: CalendarService) -> None:
    [slot, *_] = (await service.plan("p", NOW)).new
    early = await service.check("p", slot.item_id, NOW)
    assert early.action == "wait" and early.wait_s == (slot.start_at - NOW).total_seconds()
    due = await service.check("p", slot.item_id, slot.start_at + timedelta(minutes=5))
    assert due.action == "start" and due.pipeline is not None
    assert due.pipeline.item_id == slot.item_id
    assert due.pipeline.platforms == ["youtube", "tiktok"]
    down_until = slot.slot_at + timedelta(hours=3)  # every worker was down past the slot and its grace
    moved = await service.check("p", slot.item_id, down_until)
    row = await get_slot(service.database, "p", slot.item_id)
    assert row is not None and row.reschedules == 1 and row.slot_at >= down_until + timedelta(minutes=60)
    assert moved.action == "wait" and "missed" in json.loads(row.reasons)[-1]


async def test_hold_waits_for_the_slot_then_publishes_or_moves(service: CalendarService) -> None:
    [slot, *_] = (await service.plan("p", NOW)).new
    assert (await service.hold("content-p-unknown", NOW)).wait_s == 0  # not a calendar run: no hold
    before = await service.hold(slot.workflow_id, slot.slot_at - timedelta(minutes=10))
    assert before.wait_s == 600 and before.slot_at == slot.slot_at
    assert (await service.hold(slot.workflow_id, slot.slot_at + timedelta(minutes=10))).wait_s == 0  # in grace
    late = await service.hold(slot.workflow_id, slot.slot_at + timedelta(hours=2))
    assert late.rescheduled and late.wait_s > 0
    rows = await list_slots(service.database, "p")
    assert len(rows) == len({r.item_id for r in rows})  # moved, never duplicated


def test_migration_matches_the_tables(cal_settings: Settings) -> None:
    cal_settings.data_dir.mkdir(parents=True)
    upgrade(cal_settings.database_url)
    engine = make_sync_engine(cal_settings.database_url)
    names = {t.__tablename__ for t in TRENDS_TABLES}
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        assert [d for d in diffs if any(name in str(d) for name in names)] == []
    finally:
        engine.dispose()
    downgrade(cal_settings.database_url, "0004")
    upgrade(cal_settings.database_url)
