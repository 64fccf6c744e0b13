"""One end-to-end pipeline run with PostgreSQL as the application database (database.url: postgresql+asyncpg):
real dev server, real workers, FFmpeg, Piper and Whisper; every record the run leaves lands in PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from temporalio.client import Client

from sma.client.handles import start_pipeline
from sma.db import repo
from sma.db.engine import Database
from sma.models.pipeline import PipelineResult, RunState, Topic
from sma.services.runs import pipeline_input
from sma.settings import Settings
from tests.conftest import running_workers

TOPIC = Topic(title="Small tests catch big bugs",
              summary="A small test runs in a second. It catches the bug before your users do.")


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_autonomous_run_publishes_with_postgresql(client: Client, settings: Settings, database: Database,
                                                        suffix: str) -> None:
    assert settings.database_url.startswith("postgresql+asyncpg://")
    inp = pipeline_input(settings, TOPIC, "test", autonomy="autonomous")
    async with running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()

    assert result.state == RunState.PUBLISHED
    row = await repo.get_run(database, wf_id)
    assert row is not None and row.state == "published" and row.project_id == "test"
    assert [p.platform for p in await repo.list_posts(database, wf_id)] == ["local"]
    assert {s.name for s in await repo.list_steps(database, wf_id)} >= {"write_script", "render", "publish"}
    async with database.session() as session:
        slots = (await session.exec(text("SELECT run_id FROM publish_slots"))).scalars().all()  # type: ignore[call-overload]
        version = (await session.exec(text("SELECT version()"))).scalar_one()  # type: ignore[call-overload]
    assert slots == [wf_id] and version.startswith("PostgreSQL")
