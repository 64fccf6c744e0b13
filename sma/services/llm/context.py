"""Where the scriptwriter's context comes from besides the topic: memories and intelligence insights.

Both are protocols with empty defaults; Mem0 (memories) and the intelligence workflow (insights) plug in
later without touching the writer.
"""

from __future__ import annotations

from typing import Protocol

from sma.models.llm import Memory
from sma.models.pipeline import Topic


class MemoryProvider(Protocol):
    async def relevant(self, project_id: str, topic: Topic, limit: int) -> list[Memory]:
        """Memories relevant to `topic`: what the project already covered and what it learned."""
        ...


class InsightProvider(Protocol):
    async def insights(self, project_id: str, topic: Topic, limit: int) -> list[str]:
        """Current intelligence insights of the project (what works with its audience)."""
        ...


class NoMemory:
    async def relevant(self, project_id: str, topic: Topic, limit: int) -> list[Memory]:
        return []


class NoInsights:
    async def insights(self, project_id: str, topic: Topic, limit: int) -> list[str]:
        return []


class StaticMemory:
    """Fixed memories and insights (tests, demos, and the CLI's `--memory`)."""

    def __init__(self, memories: list[Memory] | None = None, insights: list[str] | None = None) -> None:
        self._memories = memories or []
        self._insights = insights or []

    async def relevant(self, project_id: str, topic: Topic, limit: int) -> list[Memory]:
        return self._memories[:limit]

    async def insights(self, project_id: str, topic: Topic, limit: int) -> list[str]:
        return self._insights[:limit]
