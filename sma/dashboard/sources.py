"""Read protocols for capabilities whose tables may not exist yet: trends, the calendar, insights, memory.

Each page asks its source. The `No*` sources have nothing and say why, so a page shows an honest empty
state instead of failing; `adapters.installed_sources` picks the real adapters (adapters.py) for what the
installation has; tests pass their own sources to `create_app(sources=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class TrendItemView:
    id: str
    project_id: str
    title: str
    summary: str = ""
    score: float = 0.0
    breakdown: dict[str, float] = field(default_factory=dict)  # component -> contribution, e.g. velocity
    sources: list[str] = field(default_factory=list)  # source names (hackernews, reddit, ...)
    urls: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    produced_run: str = ""  # workflow id when a video was already made from it


@dataclass(frozen=True)
class TrendScanView:
    id: str
    project_id: str
    started_at: datetime
    finished_at: datetime | None = None
    sources: list[str] = field(default_factory=list)
    items: list[TrendItemView] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class CalendarSlotView:
    id: str
    project_id: str
    platform: str
    at: datetime
    topic: str = ""
    run_id: str = ""
    state: str = "planned"


@dataclass(frozen=True)
class InsightView:
    id: str
    project_id: str
    text: str
    evidence: list[str] = field(default_factory=list)
    confidence: float | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class MemoryView:
    id: str
    project_id: str
    text: str
    kind: str = "note"
    created_at: datetime | None = None


class TrendSource(Protocol):
    available: bool
    reason: str

    async def latest_scans(self, project_id: str, limit: int) -> list[TrendScanView]: ...

    async def item(self, item_id: str) -> TrendItemView | None: ...


class CalendarSource(Protocol):
    available: bool
    reason: str
    can_reschedule: bool

    async def slots(self, start: datetime, end: datetime, project_id: str) -> list[CalendarSlotView]: ...

    async def reschedule(self, slot_id: str, at: datetime, by: str, client: Any = None) -> str: ...


class InsightSource(Protocol):
    available: bool
    reason: str
    can_delete: bool

    async def insights(self, project_id: str) -> list[InsightView]: ...

    async def memories(self, project_id: str, query: str, limit: int) -> list[MemoryView]: ...

    async def delete_memory(self, memory_id: str, by: str) -> None: ...


class NoTrends:
    available = False
    reason = "no trend scans yet: trend discovery has not stored any scans in this database"

    async def latest_scans(self, project_id: str, limit: int) -> list[TrendScanView]:
        return []

    async def item(self, item_id: str) -> TrendItemView | None:
        return None


class NoCalendar:
    available = False
    reason = "no calendar slots yet: the content scheduler has not planned any slots in this database"
    can_reschedule = False

    async def slots(self, start: datetime, end: datetime, project_id: str) -> list[CalendarSlotView]:
        return []

    async def reschedule(self, slot_id: str, at: datetime, by: str, client: Any = None) -> str:
        raise LookupError("the content calendar is not available in this installation yet")


class NoInsights:
    available = False
    reason = "no insights or memories yet: the intelligence and memory services have not stored any"
    can_delete = False

    async def insights(self, project_id: str) -> list[InsightView]:
        return []

    async def memories(self, project_id: str, query: str, limit: int) -> list[MemoryView]:
        return []

    async def delete_memory(self, memory_id: str, by: str) -> None:
        raise LookupError("the memory service is not available in this installation yet")


@dataclass
class Sources:
    trends: TrendSource = field(default_factory=NoTrends)
    calendar: CalendarSource = field(default_factory=NoCalendar)
    insights: InsightSource = field(default_factory=NoInsights)
