"""The dashboard's read cache and Temporal memo: fast pages that never show data older than the database.

Real SQLite files and real engines: a commit from any other connection (another engine, as a worker
process would be) must be seen on the next read; the dashboard's own POSTs drop the cache and the
Temporal answers; an in-memory database is never cached; an unreachable Temporal does not hold pages.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, inspect

from sma.dashboard import queries
from sma.dashboard import temporal as temporal_module
from sma.dashboard.app import create_app
from sma.dashboard.cache import ReadCache, cache_for
from sma.dashboard.seed import seed_runs
from sma.dashboard.temporal import TemporalView
from sma.dashboard.testing import login
from sma.db import repo
from sma.db.engine import Database, make_sync_engine
from sma.db.migrate import downgrade, upgrade
from sma.models.pipeline import PipelineStatus, RunRecord, RunState, Topic
from sma.settings import Settings
from tests.test_dashboard_auth import PASSWORD, make_settings


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'sma.db'}"


def _record(run_id: str, title: str) -> RunRecord:
    status = PipelineStatus(workflow_id=run_id, project_id="test", item_id=run_id, title=title,
                            state=RunState.RUNNING)
    return RunRecord(status=status, topic=Topic(title=title))


async def test_reads_are_cached_until_another_connection_commits(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    reader, writer = Database(url), Database(url)  # two engines, as the dashboard and a worker process
    statements: list[str] = []
    event.listen(reader.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        await seed_runs(writer, 3, projects=("test",))
        assert sum((await queries.count_by_state(reader)).values()) == 3
        page = await queries.run_page(reader, queries.RunFilter(), 1, 50)
        assert page.total == 3 and await queries.run_total(reader) == 3
        before = len(statements)
        assert await queries.run_page(reader, queries.RunFilter(), 1, 50) is page
        assert sum((await queries.count_by_state(reader)).values()) == 3 and await queries.run_total(reader) == 3
        assert len(statements) == before  # the repeated reads came from the cache

        await repo.record_run(writer, _record("content-test-new", "A new run"))  # committed elsewhere
        fresh = await queries.run_page(reader, queries.RunFilter(), 1, 50)
        assert fresh.total == 4 and "content-test-new" in {r.id for r in fresh.items}  # exact reads follow
        assert sum((await queries.count_by_state(reader)).values()) == 4
        assert (await queries.run(reader, "content-test-new")).title == "A new run"  # type: ignore[union-attr]
        assert await queries.run_total(reader) == 3  # an aggregate may lag a commit by AGGREGATE_S

        cache = cache_for(reader)
        assert cache is not None and cache.hits >= 3
        cache.invalidate()  # what the app does after its own POSTs: aggregates too
        assert await queries.run_total(reader) == 4
    finally:
        await reader.close()
        await writer.close()


async def test_disabled_and_in_memory_caches_always_read(tmp_path: Path) -> None:
    memory = ReadCache("sqlite+aiosqlite://")
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert [await memory.get("k", load) for _ in range(3)] == [1, 2, 3]  # another connection = another database

    url = _url(tmp_path)
    upgrade(url)
    off = ReadCache(url)
    off.enabled = False
    assert [await off.get("k", load) for _ in range(2)] == [4, 5]
    on = ReadCache(url, max_age_s=0.05)
    assert [await on.get("k", load) for _ in range(2)] == [6, 6]
    await asyncio.sleep(0.06)  # entries also age out (time windows such as "last 24 h")
    assert await on.get("k", load) == 7
    on.close()


async def test_concurrent_misses_share_one_load(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    cache, loads, gate = ReadCache(url), 0, asyncio.Event()

    async def load() -> str:
        nonlocal loads
        loads += 1
        await gate.wait()
        return "rows"

    first = asyncio.create_task(cache.get("page", load))
    others = [asyncio.create_task(cache.get("page", load)) for _ in range(3)]
    await asyncio.sleep(0.01)
    first.cancel()  # the tab that started the load went away: the others still get its answer
    gate.set()
    assert await asyncio.gather(*others) == ["rows"] * 3 and loads == 1
    cache.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://testserver") as test_client:
        yield test_client


def test_pages_show_a_commit_from_elsewhere_and_posts_drop_the_caches(settings: Settings,
                                                                       client: TestClient) -> None:
    csrf = login(client, PASSWORD)
    assert "No runs yet" in client.get("/runs").text
    assert "No runs yet" in client.get("/runs").text  # now from the cache

    async def write() -> None:
        db = Database(settings.database_url)
        try:
            await repo.record_run(db, _record("content-test-late", "Written by a worker"))
        finally:
            await db.close()
    asyncio.run(write())
    assert "Written by a worker" in client.get("/runs").text
    assert "Written by a worker" in client.get("/runs/content-test-late").text

    d = client.app.state.dashboard  # type: ignore[attr-defined]
    d.temporal._memo[("status", "content-test-late")] = (time.monotonic() + 60, None)
    cache = cache_for(d.database)
    assert cache is not None and cache._exact
    response = client.post("/autonomy/test/pause", data={"csrf_token": csrf, "reason": "cache test"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert d.temporal._memo == {}  # a decision changes Temporal too: ask again
    assert "paused" in client.get("/autonomy").text.lower()


async def test_temporal_answers_are_shared_for_a_moment_and_forgotten_after_actions(settings: Settings) -> None:
    view = TemporalView(settings, client=object())  # type: ignore[arg-type]
    asked = 0

    async def work(_client: object) -> int:
        nonlocal asked
        asked += 1
        return asked

    assert [await view._shared("open", "", work) for _ in range(3)] == [1, 1, 1]
    view.forget()
    assert await view._shared("open", "", work) == 2
    assert await view._shared("open", "", work, ttl=0) == 2  # the kept answer had the default TTL
    view._memo.clear()
    assert await view._shared("open", "", work, ttl=0) == 3
    assert await view._shared("open", "", work) == 4  # ttl 0: not kept


async def test_an_unreachable_temporal_is_retried_in_the_background(settings: Settings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = 0

    async def hanging_connect(address: str, namespace: str, **_: object) -> None:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(30)

    settings.dashboard.temporal_timeout_s = 0.05
    view = TemporalView(settings)
    monkeypatch.setattr(temporal_module, "connect", hanging_connect)
    assert await view.client() is None  # the first attempt is waited for, up to its timeout
    assert "cannot reach Temporal" in view.last_error and attempts == 1
    view._failed_at -= temporal_module.RETRY_CONNECT_S  # the retry is due
    started = time.monotonic()
    assert await view.client() is None and await view.open_pipelines() is None
    assert time.monotonic() - started < 0.05  # pages went on while the retry runs in the background
    assert view._connecting is not None
    await asyncio.wait_for(view._connecting, 1)
    assert attempts == 2


def test_revision_0009_adds_and_drops_the_platform_index(tmp_path: Path) -> None:
    url = _url(tmp_path)

    def indexes() -> set[str]:
        engine = make_sync_engine(url)
        try:
            return {i["name"] for i in inspect(engine).get_indexes("posts")}
        finally:
            engine.dispose()

    upgrade(url)
    assert "ix_posts_platform" in indexes()
    downgrade(url, "0008")
    assert "ix_posts_platform" not in indexes()
    upgrade(url)
    assert "ix_posts_platform" in indexes()
