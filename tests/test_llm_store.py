"""The llm tables: migration 0002 matches the models; call and attempt records; spend for the budget."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlmodel import SQLModel

from sma.db.engine import Database, make_sync_engine
from sma.db.migrate import upgrade
from sma.db.tables import Project, utcnow
from sma.db.tables_llm import LLM_TABLES
from sma.models.llm import CallRecord, ScriptAttemptRecord
from sma.services.llm.store import DBUsageStore, MemoryUsageStore, start_of_day, summarize

MY_TABLES = {t.__tablename__ for t in LLM_TABLES}  # type: ignore[attr-defined]


pytestmark = pytest.mark.both_databases


@pytest.fixture
def url(blank_db_url: str) -> str:
    return blank_db_url


@pytest.fixture
async def store(migrated_db_url: str) -> AsyncIterator[DBUsageStore]:
    database = Database(migrated_db_url)
    yield DBUsageStore(database)
    await database.close()


def _call(cost: float, project: str = "p1", outcome: str = "ok", days_ago: int = 0) -> CallRecord:
    return CallRecord(project_id=project, run_id="r1", stage="script", provider="openai", model="gpt-4o-mini",
                      tokens_in=100, tokens_out=50, cost_usd=cost, latency_ms=120, outcome=outcome,  # type: ignore[arg-type]
                      created_at=utcnow() - timedelta(days=days_ago))


def test_migration_0002_matches_the_llm_tables(url: str) -> None:
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) >= MY_TABLES
            diffs = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                     SQLModel.metadata)
    finally:
        engine.dispose()
    mine = [d for d in diffs if MY_TABLES & set(str(d).split("'"))]
    assert mine == []


async def test_calls_are_recorded_and_summed_per_project_and_day(store: DBUsageStore) -> None:
    for record in (_call(0.01), _call(0.02), _call(0.5, days_ago=1), _call(0.04, project="p2"),
                   _call(0.0, outcome="budget_blocked")):
        await store.record_call(record)

    assert await store.spent_since("p1", start_of_day()) == pytest.approx(0.03)
    assert await store.spent_since("p2", start_of_day()) == pytest.approx(0.04)
    async with store.database.session() as session:
        ids = set((await session.exec(select(Project.id))).scalars().all())  # type: ignore[call-overload]
    assert {"p1", "p2"} <= ids  # placeholder projects keep the foreign keys valid

    rows = summarize(await store.calls(start_of_day() - timedelta(days=1)))
    today = [r for r in rows if r.project_id == "p1" and r.day == utcnow().date().isoformat()]
    assert [(r.calls, r.tokens_in, r.cost_usd) for r in today] == [(2, 200, 0.03)]  # blocked call not counted
    assert len(await store.calls(start_of_day(), "p2")) == 1


async def test_attempts_are_kept_idempotently(store: DBUsageStore) -> None:
    def attempt(n: int, passed: bool, tier: str = "template") -> ScriptAttemptRecord:
        return ScriptAttemptRecord(project_id="p1", run_id="r1", round=1, attempt=n, tier=tier, script_json="{}",
                                   qa_json=json.dumps({"passed": passed}), passed=passed)

    await store.record_attempt(attempt(1, False))
    await store.record_attempt(attempt(1, False, tier="openai:gpt-4o-mini"))  # a retried activity
    await store.record_attempt(attempt(2, True))
    kept = await store.attempts("r1")
    assert [(a.attempt, a.tier, a.passed) for a in kept] == [(1, "openai:gpt-4o-mini", False), (2, "template", True)]


async def test_memory_store_answers_like_the_database() -> None:
    memory = MemoryUsageStore()
    await memory.record_call(_call(0.01))
    await memory.record_call(_call(0.5, days_ago=1))
    assert await memory.spent_since("p1", start_of_day()) == pytest.approx(0.01)


async def test_budget_holds_are_seen_by_every_worker(store: DBUsageStore) -> None:
    """A call in flight in one worker (its own engine) counts against the budget another worker checks."""
    other = DBUsageStore(Database(store.database.url))
    try:
        await store.record_call(_call(0.25))
        first, spent = await store.hold("p1", 0.5, budget=1.0, since=start_of_day())
        assert first is not None and spent == pytest.approx(0.25)
        refused, seen = await other.hold("p1", 0.5, budget=1.0, since=start_of_day())
        assert refused is None and seen == pytest.approx(0.75)
        assert await other.held("p1") == pytest.approx(0.5)
        await store.release(first)
        second, _ = await other.hold("p1", 0.5, budget=1.0, since=start_of_day())
        assert second is not None
        await other.release(second)
        assert await store.held("p1") == 0.0
    finally:
        await other.database.close()
