"""Project memory on Mem0: insights kept up to date by key, covered topics, semantic search, deletion.

Each project is a Mem0 `user_id`. Every memory carries metadata `kind` (insight | coverage | note) and a
business `key` ("hook:tiktok", "coverage:<run>"): writing a key that exists UPDATES that memory (Mem0 keeps
the old text in its history), so a superseded insight is replaced, never piled up; an insight that no
longer holds is deleted. Structured writes never call an LLM (`infer=False`).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

import structlog

from sma.models.intelligence import Insight, RememberResult
from sma.services.memory.backend import Mem0Backend, MemoryUnavailable

log = structlog.get_logger("sma.memory")
Outcome = Literal["added", "updated", "unchanged"]
T = TypeVar("T")
LIST_LIMIT = 100_000  # a project's memories of one kind; far above any real count


@dataclass(frozen=True)
class StoredMemory:
    id: str
    project_id: str
    text: str
    kind: str = "note"
    key: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CoveredItem:
    run_id: str
    title: str
    platforms: list[str]
    published_at: datetime | None = None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _stored(project_id: str, item: dict[str, Any]) -> StoredMemory:
    meta = dict(item.get("metadata") or {})
    return StoredMemory(id=str(item["id"]), project_id=project_id, text=item.get("memory", ""),
                        kind=str(meta.get("kind", "note")), key=str(meta.get("key", "")), metadata=meta,
                        score=item.get("score"), created_at=_time(item.get("created_at")),
                        updated_at=_time(item.get("updated_at")))


def insight_metadata(insight: Insight) -> dict[str, Any]:
    return {"kind": "insight", "key": insight.key, "insight": insight.kind, "platform": insight.platform,
            "subject": insight.subject, "direction": insight.direction, "lift": round(insight.lift, 4),
            "low": round(insight.low, 4), "high": round(insight.high, 4),
            "probability": round(insight.probability, 6), "p_best": round(insight.p_best, 4), "n": insight.n,
            "n_rest": insight.n_rest,
            "evidence": list(insight.evidence), "date": insight.date}


def insight_from_memory(memory: StoredMemory) -> Insight | None:
    meta = memory.metadata
    try:
        return Insight(key=memory.key, kind=meta["insight"], platform=meta.get("platform", ""), text=memory.text,
                       direction=meta.get("direction", "better"), subject=meta.get("subject", ""),
                       lift=meta["lift"], low=meta["low"], high=meta["high"], probability=meta["probability"],
                       p_best=meta.get("p_best", 0.0), n=meta["n"], n_rest=meta.get("n_rest", 0),
                       evidence=list(meta.get("evidence") or []),
                       date=meta.get("date", ""))
    except (KeyError, ValueError, TypeError):
        return None


class MemoryService:
    """Async face of the project memory; every call runs in a thread with the store open."""

    def __init__(self, backend: Mem0Backend) -> None:
        self.backend = backend
        self.config = backend.config

    async def _call(self, fn: Callable[[Any], T]) -> T:
        return await asyncio.to_thread(self.backend.run, fn)

    # ------------------------------------------------------------ reads (blocking helpers take the memory)

    @staticmethod
    def list_sync(memory: Any, project_id: str, kind: str | None = None, **where: Any) -> list[StoredMemory]:
        filters: dict[str, Any] = {"user_id": project_id, **where}
        if kind:
            filters["kind"] = kind
        found = memory.get_all(filters=filters, top_k=LIST_LIMIT)
        items = [_stored(project_id, item) for item in found.get("results", [])]
        return sorted(items, key=lambda m: (m.created_at.timestamp() if m.created_at else 0.0, m.id))

    async def list(self, project_id: str, kind: str | None = None) -> list[StoredMemory]:
        if not self.backend.exists():  # nothing stored yet: do not load anything
            return []
        return await self._call(lambda memory: self.list_sync(memory, project_id, kind))

    async def search(self, project_id: str, query: str, limit: int, kinds: tuple[str, ...] = (),
                     threshold: float | None = None) -> builtins.list[StoredMemory]:
        """The memories closest in meaning to `query`, best first, above the threshold."""
        query = " ".join(query.split())[:1000]
        if not query or not self.backend.exists():
            return []
        filters: dict[str, Any] = {"user_id": project_id}
        if len(kinds) == 1:
            filters["kind"] = kinds[0]
        elif kinds:
            filters["kind"] = {"in": list(kinds)}
        floor = self.config.search_threshold if threshold is None else threshold

        def find(memory: Any) -> list[StoredMemory]:
            found = memory.search(query, top_k=max(1, limit), filters=filters, threshold=floor)
            return [_stored(project_id, item) for item in found.get("results", [])]

        return await self._call(find)

    async def get(self, memory_id: str) -> StoredMemory | None:
        def fetch(memory: Any) -> StoredMemory | None:
            item = memory.get(memory_id)
            return _stored(str(item.get("user_id", "")), item) if item else None

        return await self._call(fetch)

    # ------------------------------------------------------------ writes

    @staticmethod
    def upsert_sync(memory: Any, project_id: str, key: str, text: str, metadata: dict[str, Any]) -> Outcome:
        meta = {**metadata, "key": key}
        existing = MemoryService.list_sync(memory, project_id, key=key)
        if not existing:
            memory.add(text, user_id=project_id, metadata=meta, infer=False)
            return "added"
        current, *duplicates = existing
        for extra in duplicates:  # written concurrently by two runs: keep one
            memory.delete(extra.id)
        same = current.text == text and all(current.metadata.get(k) == v for k, v in meta.items())
        if same:
            return "unchanged"
        memory.update(current.id, text=text, metadata=meta)
        return "updated"

    async def upsert(self, project_id: str, key: str, text: str, metadata: dict[str, Any]) -> Outcome:
        return await self._call(lambda memory: self.upsert_sync(memory, project_id, key, text, metadata))

    async def sync_insights(self, project_id: str, insights: builtins.list[Insight],
                            prune: bool = True) -> RememberResult:
        """Make the project's insight memories match `insights`: update by key, add new, delete the stale."""
        def apply(memory: Any) -> RememberResult:
            result = RememberResult()
            for insight in insights:
                outcome = self.upsert_sync(memory, project_id, insight.key, insight.text, insight_metadata(insight))
                setattr(result, outcome, getattr(result, outcome) + 1)
            if prune:
                keep = {i.key for i in insights}
                for stale in self.list_sync(memory, project_id, "insight"):
                    if stale.key not in keep:
                        memory.delete(stale.id)
                        result.removed += 1
            return result

        result: RememberResult = await self._call(apply)
        log.info("insights remembered", project=project_id, added=result.added, updated=result.updated,
                 unchanged=result.unchanged, removed=result.removed)
        return result

    async def remember_coverage(self, project_id: str, items: builtins.list[CoveredItem],
                                limit: int | None = None) -> int:
        """One `coverage` memory per produced run, added once (the text is what the trend scorer matches).
        At most `limit` new ones per call, newest first: each costs an embedding and two disk commits, so a
        long backlog is caught up over several runs instead of stalling one."""
        def apply(memory: Any) -> int:
            known = {m.key for m in self.list_sync(memory, project_id, "coverage")}
            added = 0
            newest = sorted(items, key=lambda i: i.published_at.timestamp() if i.published_at else 0.0, reverse=True)
            for item in newest:
                key = f"coverage:{item.run_id}"
                if limit is not None and added >= limit:
                    break
                if key in known:
                    continue
                meta = {"kind": "coverage", "key": key, "run_id": item.run_id, "platforms": sorted(item.platforms),
                        "date": item.published_at.date().isoformat() if item.published_at else ""}
                memory.add(f"Covered: {' '.join(item.title.split())}", user_id=project_id, metadata=meta, infer=False)
                known.add(key)
                added += 1
            return added

        added: int = await self._call(apply)
        return added

    async def note(self, project_id: str, text: str, metadata: dict[str, Any] | None = None,
                   infer: bool = False) -> builtins.list[str]:
        """A free-text note; with `infer`, Mem0's configured LLM extracts and merges the facts."""
        if infer and not self.backend.can_infer:
            raise MemoryUnavailable("memory extraction needs memory.llm_provider (none is configured)")
        meta = {"kind": "note", **(metadata or {})}

        def add(memory: Any) -> list[str]:
            out = memory.add(text, user_id=project_id, metadata=meta, infer=infer)
            return [str(r["id"]) for r in out.get("results", []) if r.get("id")]

        return await self._call(add)

    async def delete(self, memory_id: str) -> None:
        def remove(memory: Any) -> None:
            if memory.get(memory_id) is None:
                raise LookupError(f"no memory with id {memory_id}")
            memory.delete(memory_id)

        await self._call(remove)

    async def history(self, memory_id: str) -> builtins.list[dict[str, Any]]:
        """Mem0's record of a memory's versions (ADD, UPDATE, DELETE events)."""
        return await self._call(lambda memory: list(memory.history(memory_id)))


def build_memory_service(settings: Any) -> MemoryService | None:
    """The configured memory service, or None when `memory.enabled` is false."""
    from sma.services.memory.backend import backend_for
    from sma.services.memory.config import memory_settings

    config = memory_settings(settings)
    if not config.enabled:
        return None
    return MemoryService(backend_for(config, settings.data_dir, getattr(settings, "secrets", None)))
