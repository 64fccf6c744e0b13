"""Adapters from the other capabilities to the dashboard's read protocols (sources.py).

- `StoredTrends`: trend scans and ranked results (sma.services.trends.store), with each item's score
  breakdown and whether the calendar already produced it.
- `StoredCalendar`: calendar slots (sma.services.scheduling.store); a reschedule (earlier or later) goes
  through sma.services.scheduling.moves, which also wakes the slot's workflows.
- `MemoryInsights`: insights and memories in the project memory (sma.services.memory), read in threads by
  the memory service; deleting goes through it too. Nothing is opened before the first visit, and a memory
  store that was never created is reported as empty instead of being created by a page view.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from sma.dashboard.cache import remember
from sma.dashboard.sources import (
    CalendarSlotView,
    InsightView,
    MemoryView,
    NoInsights,
    Sources,
    TrendItemView,
    TrendScanView,
)
from sma.db.engine import Database
from sma.settings import Settings

log = structlog.get_logger("sma.dashboard.adapters")


def _json(value: str, default: Any) -> Any:
    try:
        return json.loads(value or "")
    except ValueError:
        return default


class StoredTrends:
    available = True
    reason = "no trend scans yet: the trend-scan schedule has not stored a scan for this project"

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings, self.database = settings, database

    async def latest_scans(self, project_id: str, limit: int) -> list[TrendScanView]:
        from sma.services.trends import store

        projects = [project_id] if project_id else [p.id for p in self.settings.projects]
        scans = []
        try:
            for pid in projects:
                scans += await store.list_scans(self.database, pid, limit=limit)
            scans = sorted(scans, key=lambda s: s.started_at, reverse=True)[:limit]
            produced = await self._produced()
            views = []
            for scan in scans:
                rows = await store.scan_results(self.database, scan.id, limit=25)
                views.append(TrendScanView(
                    id=scan.id, project_id=scan.project_id, started_at=scan.started_at, finished_at=scan.finished_at,
                    sources=_json(scan.answered, []),
                    error="; ".join(f"{name} failed" for name in _json(scan.failed, [])),
                    items=[self._item(row, produced) for row in rows]))
            return views
        except DBAPIError as exc:
            log.warning("trend scans unreadable", error=str(exc.orig)[:200])
            return []

    async def _produced(self) -> dict[str, str]:
        """trend key -> workflow id of the calendar slot that produced it."""
        from sma.db.tables_trends import CalendarSlot

        query = select(CalendarSlot.trend_key, CalendarSlot.workflow_id).where(
            CalendarSlot.trend_key != "", CalendarSlot.workflow_id != "")
        async with self.database.session() as session:
            return dict((await session.exec(query)).all())

    @staticmethod
    def _item(row: Any, produced: dict[str, str]) -> TrendItemView:
        links = _json(row.links, [])
        breakdown = {"popularity": row.popularity, "velocity": row.velocity, "freshness": row.freshness,
                     "multi_source": row.multi_source}
        if row.niche_similarity is not None:
            breakdown["niche_similarity"] = row.niche_similarity
        if row.coverage_penalty:
            breakdown["coverage_penalty"] = -row.coverage_penalty
        urls = [u for u in [row.url, *(link.get("url", "") for link in links if isinstance(link, dict))] if u]
        return TrendItemView(
            id=f"{row.scan_id}:{row.key}", project_id=row.project_id, title=row.title, summary=row.summary,
            score=row.score, breakdown=breakdown, sources=_json(row.sources, []), urls=list(dict.fromkeys(urls)),
            produced_run=produced.get(row.key, ""))

    async def item(self, item_id: str) -> TrendItemView | None:
        from sma.db.tables_trends import TrendResult

        scan_id, _, key = item_id.partition(":")
        query = select(TrendResult).where(TrendResult.scan_id == scan_id, TrendResult.key == key)
        try:
            async with self.database.session() as session:
                row = (await session.exec(query)).first()
        except DBAPIError:
            return None
        return self._item(row, {}) if row is not None else None


class StoredCalendar:
    available = True
    reason = "no calendar slots in this week: the content scheduler plans slots from the latest trend scans"
    can_reschedule = True

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings, self.database = settings, database

    async def slots(self, start: datetime, end: datetime, project_id: str) -> list[CalendarSlotView]:
        return await remember(self.database, ("calendar.slots", start, end, project_id),
                              lambda: self._slots(start, end, project_id))

    async def _slots(self, start: datetime, end: datetime, project_id: str) -> list[CalendarSlotView]:
        from sma.services.scheduling import store

        try:
            rows = await store.list_slots(self.database, project_id or None, since=start)
        except DBAPIError as exc:
            log.warning("calendar unreadable", error=str(exc.orig)[:200])
            return []
        return [CalendarSlotView(id=f"{r.project_id}:{r.item_id}", project_id=r.project_id,
                                 platform=", ".join(_json(r.platforms, [])) or "any", at=r.slot_at, topic=r.title,
                                 run_id=r.workflow_id, state=r.state)
                for r in rows if r.slot_at < end]

    async def reschedule(self, slot_id: str, at: datetime, by: str, client: Any = None) -> str:
        from sma.client import RunClient
        from sma.services.scheduling.moves import move_slot

        project_id, _, item_id = slot_id.partition(":")
        tell = RunClient(client, self.settings, self.database).slot_moved if client is not None else None
        return await move_slot(self.database, tell, project_id, item_id, at, by)


class MemoryInsights:
    available = True
    reason = "no insights or memories yet: the daily intelligence run writes them after posts collect metrics"
    can_delete = True

    def __init__(self, service: Any, projects: list[str]) -> None:
        self.service = service
        self.projects = projects  # "all projects" = the configured ones (memory is keyed by project)

    def _exists(self) -> bool:
        exists = getattr(self.service.backend, "exists", None)
        return bool(exists()) if callable(exists) else True

    async def insights(self, project_id: str) -> list[InsightView]:
        from sma.services.memory.service import insight_from_memory

        views = []
        for memory in await self._list(project_id, "insight"):
            insight = insight_from_memory(memory)
            views.append(InsightView(
                id=memory.id, project_id=memory.project_id, text=memory.text,
                evidence=list(insight.evidence) if insight else [],
                confidence=insight.probability if insight else None, created_at=memory.updated_at or memory.created_at))
        return views

    async def memories(self, project_id: str, query: str, limit: int) -> list[MemoryView]:
        if query and project_id and self._exists():
            found = await self._guard(self.service.search(project_id, query, limit))
        else:
            found = await self._list(project_id, None)
        return [MemoryView(id=m.id, project_id=m.project_id, text=m.text, kind=m.kind,
                           created_at=m.updated_at or m.created_at) for m in found[:limit]]

    async def _list(self, project_id: str, kind: str | None) -> list[Any]:
        if not self._exists():
            return []
        projects = [project_id] if project_id else self.projects
        found: list[Any] = []
        for pid in projects:
            found += await self._guard(self.service.list(pid, kind))
        return found

    async def _guard(self, call: Any) -> list[Any]:
        try:
            return list(await call)
        except Exception as exc:  # the memory store is optional: a broken one must not break the page
            log.warning("memory unreadable", error=str(exc)[:200])
            return []

    async def delete_memory(self, memory_id: str, by: str) -> None:
        if not self._exists():
            raise LookupError(f"no memory with id {memory_id}")
        await self.service.delete(memory_id)
        log.info("memory deleted", memory=memory_id, by=by)


def installed_sources(settings: Settings, database: Database) -> Sources:
    """Adapters for what this installation has: stored trends and calendar, the memory when enabled."""
    sources = Sources(trends=StoredTrends(settings, database), calendar=StoredCalendar(settings, database))
    try:
        from sma.services.memory.service import build_memory_service

        memory = build_memory_service(settings)
    except Exception as exc:  # a memory backend that cannot even be configured: say so, keep the page
        log.warning("memory service unavailable", error=str(exc)[:200])
        memory = None
    if memory is None:
        disabled = NoInsights()
        disabled.reason = "the project memory is disabled (memory.enabled: false), so there are no insights"
        sources.insights = disabled
    else:
        sources.insights = MemoryInsights(memory, [p.id for p in settings.projects])
    return sources
