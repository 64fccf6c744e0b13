"""Migrations and the recorder's idempotent writes, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import inspect, text

from sma.db import repo
from sma.db.engine import Database, make_sync_engine, sync_url
from sma.db.migrate import current, downgrade, head, upgrade
from sma.db.tables import TABLES
from sma.models.common import ArtifactRef, StepState
from sma.models.pipeline import (
    Decision,
    PipelineStatus,
    PostResult,
    RunRecord,
    RunState,
    StepStatus,
    Topic,
)

RUN_ID = "content-demo-item1"
TABLE_NAMES = {t.__tablename__ for t in TABLES}
pytestmark = pytest.mark.both_databases


@pytest.fixture
def db_url(blank_db_url: str) -> str:
    # SQLite: a nested folder that does not exist yet, which the engine must create.
    return blank_db_url


@pytest.fixture
async def db(migrated_db_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_db_url)
    yield database
    await database.close()


def _record(state: RunState = RunState.RUNNING, steps: tuple[str, ...] = ("write_script",),
            posts: tuple[PostResult, ...] = (), round_: int = 1) -> RunRecord:
    status = PipelineStatus(
        workflow_id=RUN_ID,
        project_id="demo",
        item_id="item1",
        state=state,
        current_step=steps[-1],
        round=round_,
        title="Why uv is fast",
        steps={
            name: StepStatus(name=name, state=StepState.DONE, tier="t", seconds=1.5, attempts=1,
                             started_at="2026-01-01T10:00:00+00:00", notes=["ok"])
            for name in steps
        },
        artifacts={
            "voice": ArtifactRef(path="/store/ab.wav", sha256="ab" * 32, size=10, kind="audio"),
            "video": ArtifactRef(path="/store/cd.mp4", sha256="cd" * 32, size=20, kind="video"),
        },
        decisions=[Decision(round=1, approved=False, by="alice", feedback="shorter")],
        posts=list(posts),
    )
    topic = Topic(title="Why uv is fast", summary="s", source_urls=["https://example.com"])
    return RunRecord(status=status, topic=topic, platforms=["local"])


async def _count(db: Database, table: str) -> int:
    async with db.session() as session:
        return (await session.exec(text(f"SELECT count(*) FROM {table}"))).scalar_one()


def test_upgrade_creates_every_table(db_url: str) -> None:
    upgrade(db_url)
    engine = make_sync_engine(db_url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) >= TABLE_NAMES
        run_indexes = {ix["name"] for ix in inspector.get_indexes("pipeline_runs")}
        assert "ix_pipeline_runs_project_updated" in run_indexes
        for table in TABLE_NAMES:
            assert "project_id" in {c["name"] for c in inspector.get_columns(table)} or table == "projects"
    finally:
        engine.dispose()


def test_upgrade_twice_is_a_noop_and_current_is_head(db_url: str) -> None:
    assert current(db_url) is None
    upgrade(db_url)
    assert current(db_url) == head() is not None
    upgrade(db_url)
    assert current(db_url) == head()


def test_sync_url_maps_async_drivers() -> None:
    assert sync_url("sqlite+aiosqlite:////x/sma.db") == "sqlite:////x/sma.db"
    assert sync_url("postgresql+asyncpg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"


async def test_wal_and_foreign_keys_are_on(db: Database, db_backend: str) -> None:
    if db_backend != "sqlite":
        pytest.skip("SQLite pragmas")
    async with db.session() as session:
        assert (await session.exec(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await session.exec(text("PRAGMA foreign_keys"))).scalar_one() == 1
        assert (await session.exec(text("PRAGMA busy_timeout"))).scalar_one() == 5000


async def test_record_run_is_idempotent(db: Database) -> None:
    record = _record(posts=(PostResult(platform="local", status="published", url="file:///v.mp4"),))
    await repo.record_run(db, record)
    first = {t: await _count(db, t) for t in TABLE_NAMES}
    await repo.record_run(db, record)
    assert {t: await _count(db, t) for t in TABLE_NAMES} == first
    assert first == {
        "projects": 1, "content_items": 1, "pipeline_runs": 1, "step_runs": 1, "approvals": 1,
        "artifacts": 2, "posts": 1,
    }


async def test_record_run_reflects_updates(db: Database) -> None:
    await repo.record_run(db, _record())
    run = await repo.get_run(db, RUN_ID)
    assert run is not None and run.state == "running" and run.finished_at is None
    assert run.video_path == "/store/cd.mp4"
    assert run.started_at.tzinfo is not None

    done = _record(
        state=RunState.PUBLISHED,
        steps=("write_script", "render", "publish"),
        posts=(PostResult(platform="local", status="published"),
               PostResult(platform="youtube", status="failed", reason="no credentials")),
    )
    await repo.record_run(db, done)
    await repo.record_run(db, done)

    run = await repo.get_run(db, RUN_ID)
    assert run is not None
    assert run.state == "published" and run.current_step == "publish"
    assert run.finished_at is not None and run.updated_at >= run.started_at
    assert [s.name for s in await repo.list_steps(db, RUN_ID)] == ["write_script", "render", "publish"]
    posts = {p.platform: p for p in await repo.list_posts(db, RUN_ID)}
    assert posts["local"].published_at is not None
    assert posts["youtube"].status == "failed" and posts["youtube"].published_at is None
    assert [r.id for r in await repo.list_runs(db, project_id="demo", state="published")] == [RUN_ID]
    assert await repo.list_runs(db, project_id="other") == []


async def test_new_round_keeps_previous_round_steps(db: Database) -> None:
    await repo.record_run(db, _record(steps=("write_script", "render")))
    await repo.record_run(db, _record(steps=("write_script",), round_=2))
    steps = await repo.list_steps(db, RUN_ID)
    assert [(s.round, s.name) for s in steps] == [(1, "write_script"), (1, "render"), (2, "write_script")]


async def test_every_row_has_a_project(db: Database) -> None:
    await repo.record_run(db, _record(posts=(PostResult(platform="local", status="published"),)))
    for table in TABLE_NAMES - {"projects"}:
        async with db.session() as session:
            ids = (await session.exec(text(f"SELECT DISTINCT project_id FROM {table}"))).scalars().all()
        assert ids == ["demo"], table


async def test_ensure_project_updates_from_config(db: Database) -> None:
    class Cfg:
        id, name, niche = "demo", "Demo", "dev tools"

    await repo.record_run(db, _record())  # creates a placeholder project row
    await repo.ensure_project(db, Cfg())
    await repo.ensure_project(db, Cfg())
    async with db.session() as session:
        rows = (await session.exec(text("SELECT id, name, niche FROM projects"))).all()
    assert rows == [("demo", "Demo", "dev tools")]


async def test_portable_upsert_without_on_conflict(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The select-then-write path used for dialects without ON CONFLICT behaves the same."""
    monkeypatch.setattr(repo, "_ON_CONFLICT", {})
    await repo.record_run(db, _record())
    await repo.record_run(db, _record(state=RunState.FAILED, steps=("write_script", "voiceover")))
    await repo.record_run(db, _record(state=RunState.FAILED, steps=("write_script", "voiceover")))
    run = await repo.get_run(db, RUN_ID)
    assert run is not None and run.state == "failed" and run.finished_at is not None
    assert len(await repo.list_steps(db, RUN_ID)) == 2
    assert await _count(db, "artifacts") == 2 and await _count(db, "approvals") == 1


async def test_caller_owned_session(db: Database) -> None:
    async with db.session() as session, session.begin():
        await repo.record_run(session, _record())
        assert (await repo.get_run(session, RUN_ID)) is not None
    assert (await repo.get_run(db, RUN_ID)) is not None


async def test_repeated_keys_in_one_record_collapse(db: Database) -> None:
    record = _record()
    record.status.decisions.append(Decision(round=1, approved=True, by="bob"))
    await repo.record_run(db, record)
    approvals = await repo.list_approvals(db, RUN_ID)
    assert [(a.round, a.approved, a.by) for a in approvals] == [(1, True, "bob")]


def test_migrations_match_every_table(db_url: str) -> None:
    """The migrated schema equals the models on this backend (types, nullability, indexes)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    upgrade(db_url)
    engine = make_sync_engine(db_url)
    try:
        with engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                     SQLModel.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_downgrade_to_base_and_back(db_url: str) -> None:
    upgrade(db_url)
    downgrade(db_url, "base")
    assert current(db_url) is None
    upgrade(db_url)
    assert current(db_url) == head()
