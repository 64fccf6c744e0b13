"""Multi-host drill: the workflows, GPU and two CPU workers as separate processes, each with its own empty
data dir (no shared filesystem), sharing only one Temporal dev server, PostgreSQL and an S3 server. A run
publishes exactly once, and when the CPU worker holding the render is killed -9, the other one takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlmodel import select
from temporalio.client import Client

from sma import queues
from sma.client import RunClient
from sma.db.engine import Database
from sma.db.tables import Post
from sma.models.pipeline import RunState, Topic
from sma.services.runs import new_run_input
from sma.settings import load_settings
from sma.temporal_client import wait_for_pollers
from tests.pg_server import PostgresServer
from tests.s3_server import s3_server
from tests.test_crash_recovery import _render_attempts

pytestmark = pytest.mark.slow

TOPIC = Topic(title="Workers without a shared disk",
              summary="Each worker keeps its own cache. The bucket holds the artifacts. The database holds the state.")
S3_ENV = {"SMA_SECRETS__S3_ACCESS_KEY_ID": "test", "SMA_SECRETS__S3_SECRET_ACCESS_KEY": "test"}


@dataclass
class Fleet:
    root: Path
    address: str
    database_url: str
    endpoint: str
    suffix: str = field(default_factory=lambda: f"-mh{uuid.uuid4().hex[:6]}")
    bucket: str = field(default_factory=lambda: f"drill-{uuid.uuid4().hex[:8]}")
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def config(self, host: str) -> Path:
        data = self.root / host
        data.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{host}.yaml"
        path.write_text(yaml.safe_dump({
            "data_dir": str(data),
            "database": {"url": self.database_url},
            "artifacts": {"backend": "s3", "s3": {"bucket": self.bucket, "endpoint_url": self.endpoint}},
            "pipeline": {"target_seconds": 7},
            "projects": [{"id": "test", "niche": "developer tools"}],
        }))
        return path

    def env(self, host: str) -> dict[str, str]:
        return {**os.environ, **S3_ENV, "SMA_CONFIG": str(self.config(host)),
                "SMA_TEMPORAL__ADDRESS": self.address, "SMA_DATA_DIR": str(self.root / host)}

    def start(self, host: str, queue: str) -> None:
        log = (self.root / f"{host}.log").open("w")
        self.procs[host] = subprocess.Popen(
            [sys.executable, "-m", "sma.cli", "worker", "--queue", queue, "--suffix", self.suffix],
            env=self.env(host), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def pid_of(self, identity: str) -> str | None:
        pid = identity.split("@", 1)[0]
        return next((host for host, proc in self.procs.items() if str(proc.pid) == pid), None)

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def fleet(tmp_path: Path, client: Client, postgres_server: PostgresServer) -> Iterator[Fleet]:
    with s3_server() as endpoint:
        fleet = Fleet(tmp_path, client.service_client.config.target_host, postgres_server.migrated_database(),
                      endpoint)
        try:
            yield fleet
        finally:
            fleet.stop()


async def _kill_the_renderer(client: Client, fleet: Fleet, wf_id: str, timeout: float = 400) -> str:
    """Wait until a CPU worker has started the render, then kill -9 that worker; its host name."""
    handle = client.get_workflow_handle(wf_id)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for pending in (await handle.describe()).raw_description.pending_activities:
            if pending.activity_type.name == "render" and pending.last_worker_identity:
                host = fleet.pid_of(pending.last_worker_identity)
                if host is not None and host.startswith("cpu"):
                    os.kill(fleet.procs[host].pid, signal.SIGKILL)
                    return host
        await asyncio.sleep(0.2)
    description = await handle.describe()
    history = await handle.fetch_history()
    tail = [f"{e.event_id} {e.event_type}" for e in history.events[-8:]]
    raise AssertionError(f"the render never started on a CPU worker; status {description.status}, pending "
                         f"{[p.activity_type.name for p in description.raw_description.pending_activities]}, "
                         f"last events {tail}")


async def test_a_run_publishes_once_across_hosts_and_survives_losing_its_renderer(
        client: Client, fleet: Fleet) -> None:
    for host, queue in (("workflows", queues.WORKFLOWS), ("gpu", queues.GPU), ("cpu1", queues.CPU),
                        ("cpu2", queues.CPU)):
        fleet.start(host, queue)
    await wait_for_pollers(client, [q + fleet.suffix for q in queues.ALL], timeout=300)
    settings = load_settings(fleet.config("client"), env={**S3_ENV, "SMA_DATA_DIR": str(fleet.root / "client")})
    database = Database(settings.database_url)
    try:
        runs = RunClient(client, settings, database, queue_suffix=fleet.suffix)
        inp = await new_run_input(settings, database, TOPIC, "test", entry="drill", autonomy="autonomous")
        wf_id = (await runs.start_input(inp, force=True)).workflow_id

        killed = await _kill_the_renderer(client, fleet, wf_id)
        status = await runs.wait(wf_id, timedelta(minutes=10))

        assert status.state == RunState.PUBLISHED, status.error
        assert max(await _render_attempts(client, wf_id)) >= 2, "the render was taken over after the kill"
        async with database.session() as session:
            posts = (await session.exec(select(Post).where(Post.run_id == wf_id))).all()
        assert [(p.platform, p.status) for p in posts] == [("local", "published")]
    finally:
        await database.close()
    outboxes = list(fleet.root.glob("*/outbox/**/video.mp4"))
    assert [p.relative_to(fleet.root).parts[0] for p in outboxes] == ["workflows"]
    survivor = "cpu2" if killed == "cpu1" else "cpu1"
    fetched = {p.suffix for p in (fleet.root / survivor / "artifacts" / "objects").rglob("*.*")}
    assert ".wav" in fetched, "the surviving CPU worker fetched the voice the GPU worker made"
    assert not (fleet.root / "client" / "artifacts").exists() or not any(
        (fleet.root / "client" / "artifacts" / "objects").rglob("*.mp4"))
