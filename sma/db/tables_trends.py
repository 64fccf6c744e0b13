"""Tables of the trends and calendar capability (registered on SQLModel.metadata by import).

- trend_scans: one row per scan: which sources answered (JSON reports), notes (e.g. keyword-only filter).
- trend_results: the ranked topics of a scan with every term of their score, so the dashboard and
  /trends can show why an item ranks where it does.
- calendar_slots: the content calendar: one row per topic picked for production, with its posting slot,
  the time its pipeline starts, and its state; (project_id, item_id) is the business key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, utcnow


def _project_fk() -> Any:
    return Field(foreign_key="projects.id", index=True, ondelete="CASCADE")


def _time(optional: bool = False, index: bool = False) -> Any:
    if optional:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, index=index)


def _text(default: str = "") -> Any:
    return Field(default=default, sa_type=sa.Text)


class TrendScan(SQLModel, table=True):
    __tablename__ = "trend_scans"

    id: str = Field(primary_key=True)  # the scan workflow's run id
    project_id: str = _project_fk()
    started_at: datetime = _time(index=True)
    finished_at: datetime | None = _time(optional=True)
    answered: str = _text("[]")  # JSON list of source names
    failed: str = _text("[]")
    reports: str = _text("[]")  # JSON list of SourceReport
    notes: str = _text("[]")
    raw_items: int = 0
    merged: int = 0
    filtered_out: int = 0
    stored: int = 0


class TrendResult(SQLModel, table=True):
    __tablename__ = "trend_results"
    __table_args__ = (sa.UniqueConstraint("scan_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    scan_id: str = Field(foreign_key="trend_scans.id", index=True, ondelete="CASCADE")
    key: str = Field(index=True)
    rank: int = 0
    title: str = _text()
    summary: str = _text()
    url: str = _text()
    sources: str = _text("[]")
    links: str = _text("[]")  # JSON list of TrendLink
    published_at: datetime | None = _time(optional=True)
    score: float = 0.0
    popularity: float = 0.0
    velocity: float = 0.0
    freshness: float = 0.0
    multi_source: float = 0.0
    coverage_penalty: float = 0.0
    covered_by: str = _text()
    niche_similarity: float | None = None
    keyword_hits: str = _text("[]")
    created_at: datetime = _time()


class CalendarSlot(SQLModel, table=True):
    __tablename__ = "calendar_slots"
    __table_args__ = (sa.UniqueConstraint("project_id", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    item_id: str
    workflow_id: str = ""
    trend_key: str = Field(default="", index=True)
    title: str = _text()
    topic: str = _text("{}")  # Topic JSON
    platforms: str = _text("[]")
    score: float = 0.0
    slot_score: float = 0.0
    slot_at: datetime = _time(index=True)
    start_at: datetime = _time()
    state: str = Field(default="planned", index=True)  # planned | started | published | failed | cancelled
    reschedules: int = 0
    reasons: str = _text("[]")
    created_at: datetime = _time()
    updated_at: datetime = _time()


TRENDS_TABLES: tuple[type[SQLModel], ...] = (TrendScan, TrendResult, CalendarSlot)
