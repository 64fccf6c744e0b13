"""The project memory behind the seams other capabilities defined:

- `MemoryContext` is the LLM scriptwriter's `MemoryProvider` (covered topics and notes relevant to the
  topic) and `InsightProvider` (the current insights, the ones closest to the topic first);
- `MemoryCoverageChecker` is the trend scorer's `CoverageChecker`: a topic close in meaning to something
  the project already covered is penalised by that similarity; the default title check still applies.

A project that never stored a memory costs nothing here: no store folder, nothing is loaded.
"""

from __future__ import annotations

from typing import Any

import structlog

from sma.models.llm import Memory
from sma.models.pipeline import Topic
from sma.models.trends import CoverageResult
from sma.services.memory.service import MemoryService, StoredMemory

log = structlog.get_logger("sma.memory")
KINDS = {"coverage": "coverage", "insight": "insight"}


def _topic_query(topic: Topic) -> str:
    return " ".join([topic.title, topic.summary[:500]]).strip()


def to_memory(stored: StoredMemory) -> Memory:
    return Memory(text=stored.text, kind=KINDS.get(stored.kind, "note"))  # type: ignore[arg-type]  # str kind; pydantic checks the Literal


class MemoryContext:
    def __init__(self, memory: MemoryService) -> None:
        self.memory = memory

    async def relevant(self, project_id: str, topic: Topic, limit: int) -> list[Memory]:
        if limit <= 0 or not self.memory.backend.exists():
            return []
        try:
            found = await self.memory.search(project_id, _topic_query(topic), limit, kinds=("coverage", "note"))
        except Exception as exc:  # the writer works without memories; say so in the log
            log.warning("memories unavailable for the script", project=project_id, error=str(exc)[:300])
            return []
        return [to_memory(m) for m in found]

    async def insights(self, project_id: str, topic: Topic, limit: int) -> list[str]:
        if limit <= 0 or not self.memory.backend.exists():
            return []
        try:
            near = await self.memory.search(project_id, _topic_query(topic), limit, kinds=("insight",), threshold=0.0)
            every = await self.memory.list(project_id, "insight")
        except Exception as exc:
            log.warning("insights unavailable for the script", project=project_id, error=str(exc)[:300])
            return []
        ordered = [m.text for m in near] + [m.text for m in every]
        return list(dict.fromkeys(ordered))[:limit]


class MemoryCoverageChecker:
    """Semantic coverage from the project memory, combined with another checker (the larger penalty wins)."""

    name = "mem0"

    def __init__(self, memory: MemoryService, threshold: float, fallback: Any = None) -> None:
        self.memory = memory
        self.threshold = threshold
        self.fallback = fallback

    async def _semantic(self, project_id: str, titles: list[str]) -> CoverageResult:
        penalties, by = [0.0] * len(titles), [""] * len(titles)
        if not self.memory.backend.exists():
            return CoverageResult(penalties=penalties, covered_by=by)
        for i, title in enumerate(titles):
            hits = await self.memory.search(project_id, title, 1, kinds=("coverage",), threshold=self.threshold)
            if hits and hits[0].score is not None:
                penalties[i] = round(min(1.0, float(hits[0].score)), 4)
                by[i] = hits[0].text.removeprefix("Covered: ")
        return CoverageResult(penalties=penalties, covered_by=by)

    async def check(self, project_id: str, titles: list[str]) -> CoverageResult:
        try:
            result = await self._semantic(project_id, titles)
        except Exception as exc:  # trend scans go on with the default check alone
            log.warning("semantic coverage unavailable", project=project_id, error=str(exc)[:300])
            result = CoverageResult(penalties=[0.0] * len(titles), covered_by=[""] * len(titles))
        names = [self.name]
        if self.fallback is not None:
            other = await self.fallback.check(project_id, titles)
            names.append(getattr(self.fallback, "name", "fallback"))
            for i, penalty in enumerate(other.penalties):
                if penalty > result.penalties[i]:
                    result.penalties[i], result.covered_by[i] = penalty, other.covered_by[i]
        result.checker = "+".join(names)
        return result
