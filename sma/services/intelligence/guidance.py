"""Hook guidance for the offline template tier: the learned best hook style per platform.

The template writer is synchronous, so this read is too; it is cached (`memory.cache_s`) and costs nothing
while the project has never stored a memory (no store folder: nothing is loaded). `use_preferred` decides
per topic, deterministically, whether a script follows the insight: with probability P(best) of the style,
capped at `exploit_max` so the other styles keep being posted and measured (probability matching, the
spirit of Thompson sampling). The same topic always gets the same decision.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from sma.services.memory.backend import Mem0Backend
from sma.services.memory.service import MemoryService, insight_from_memory

log = structlog.get_logger("sma.intelligence")


@dataclass(frozen=True)
class HookPreference:
    platform: str
    style: str
    p_best: float  # how sure the analysis is that this style is the platform's best
    lift: float
    text: str  # the insight as remembered (recorded in Script.memories_used when given to a script)


class HookGuidance(Protocol):
    def preferences(self, project_id: str) -> dict[str, HookPreference]:
        """The preferred hook style per platform (platforms without a confident insight are absent)."""
        ...


class NoGuidance:
    def preferences(self, project_id: str) -> dict[str, HookPreference]:
        return {}


class StaticGuidance:
    def __init__(self, preferences: list[HookPreference]) -> None:
        self._preferences = {p.platform: p for p in preferences}

    def preferences(self, project_id: str) -> dict[str, HookPreference]:
        return dict(self._preferences)


def preferences_from(memories: list[Any]) -> dict[str, HookPreference]:
    out: dict[str, HookPreference] = {}
    for memory in memories:
        insight = insight_from_memory(memory)
        if insight is None or insight.kind != "hook" or insight.direction != "better":
            continue
        if insight.key != f"hook:{insight.platform}":  # only the platform's best, not the runners-up
            continue
        out[insight.platform] = HookPreference(platform=insight.platform, style=insight.subject,
                                               p_best=insight.p_best, lift=insight.lift, text=insight.text)
    return out


class MemoryHookGuidance:
    """Reads the `hook:<platform>` insights of a project from Mem0, cached for `cache_s` seconds."""

    def __init__(self, backend: Mem0Backend, cache_s: float = 300.0) -> None:
        self.backend = backend
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, dict[str, HookPreference]]] = {}
        self._lock = threading.Lock()

    def preferences(self, project_id: str) -> dict[str, HookPreference]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(project_id)
            if hit is not None and now - hit[0] < self.cache_s:
                return hit[1]
        if not self.backend.exists():
            return {}
        try:
            memories = self.backend.run(lambda memory: MemoryService.list_sync(memory, project_id, "insight"))
        except Exception as exc:  # memory trouble must not stop a script: the template works without insights
            log.warning("hook guidance unavailable", project=project_id, error=str(exc)[:300])
            return {}
        found = preferences_from(memories)
        with self._lock:
            self._cache[project_id] = (now, found)
        return found

    def invalidate(self, project_id: str | None = None) -> None:
        with self._lock:
            if project_id is None:
                self._cache.clear()
            else:
                self._cache.pop(project_id, None)


def pick(preferences: dict[str, HookPreference], platforms: list[str]) -> HookPreference | None:
    """The preference of the run's platforms the analysis is surest about (ties: the first platform)."""
    mine = [preferences[p] for p in platforms if p in preferences]
    return max(mine, key=lambda p: p.p_best) if mine else None


def use_preferred(preference: HookPreference, topic_key: str, exploit_max: float) -> bool:
    """True for a fraction min(P(best), exploit_max) of topics, the same answer for the same topic."""
    digest = hashlib.sha256(f"{preference.platform}|{preference.style}|{topic_key}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return draw < min(exploit_max, preference.p_best)


_SHARED: dict[int, MemoryHookGuidance] = {}
_SHARED_LOCK = threading.Lock()


def guidance_for(backend: Mem0Backend, cache_s: float) -> MemoryHookGuidance:
    """One guidance cache per backend in a process, so a finished intelligence run invalidates what the
    template reads."""
    with _SHARED_LOCK:
        guidance = _SHARED.get(id(backend))
        if guidance is None:
            guidance = _SHARED[id(backend)] = MemoryHookGuidance(backend, cache_s)
        return guidance
