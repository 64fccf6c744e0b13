"""Fault drill: the artifact store refuses writes for 60 s during the render; the run still ships, once.

Real dev server, real workers: the render runs in a separate `sma worker --queue sma-cpu` process (the
workflow and GPU pools run in this process, as in test_crash_recovery). The fault is tests/faults.py's
DiskFault over the whole artifacts folder (the immutable attribute as root, where chmod stops nothing).
While it lasts, `sma status` (the real command) must say the render is retrying and why.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from sma import queues
from sma.client import RunClient
from sma.client.handles import start_pipeline
from sma.db import repo
from sma.db.engine import Database
from sma.models.pipeline import PipelineResult, RunState, Topic
from sma.services.runs import pipeline_input
from sma.settings import Settings
from tests.conftest import running_workers, wait_for
from tests.faults import DiskFault, leftovers

REPO = Path(__file__).resolve().parents[1]
FAULT_S = 60.0

pytestmark = pytest.mark.slow


def _env(settings: Settings, address: str) -> dict[str, str]:
    return dict(os.environ, SMA_DATA_DIR=str(settings.data_dir), SMA_TEMPORAL__ADDRESS=address)


def _cpu_worker(settings: Settings, address: str, suffix: str) -> subprocess.Popen:
    log = open(settings.data_dir / "cpu-worker.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "sma.cli", "worker", "--queue", queues.CPU, "--suffix", suffix],
        cwd=REPO, env=_env(settings, address), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


async def _sma_status(settings: Settings, address: str, wf_id: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sma.cli", "status", wf_id, cwd=REPO, env=_env(settings, address),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return out.decode()


async def _render_attempts(client: Client, wf_id: str) -> int:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    scheduled = {e.event_id for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "render"}
    return max(e.activity_task_started_event_attributes.attempt for e in history.events
               if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
               and e.activity_task_started_event_attributes.scheduled_event_id in scheduled)


async def test_render_rides_out_60s_read_only_artifacts(
    client: Client, settings: Settings, database: Database, suffix: str
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    artifacts = settings.data_dir / "artifacts"
    address = client.service_client.config.target_host
    topic = Topic(title="Read only disks", summary="The disk refuses writes for a minute. The video still ships once.")
    inp = pipeline_input(settings, topic, "test", autonomy="autonomous")
    worker = _cpu_worker(settings, address, suffix)
    fault = DiskFault(artifacts)
    try:
        async with running_workers(client, settings, database, suffix, pools=(queues.WORKFLOWS, queues.GPU)):
            wf_id = await start_pipeline(client, inp, suffix)
            await wait_for(client, wf_id, lambda s: s.steps["render"].state == "running", timeout=240)
            fault.on()
            lifted = asyncio.get_running_loop().time() + FAULT_S
            retrying = await wait_for(client, wf_id, lambda s: True, timeout=1)
            while not retrying.steps["render"].retrying and asyncio.get_running_loop().time() < lifted - 10:
                await asyncio.sleep(0.5)
                retrying = (await RunClient(client, settings, None).status(wf_id)).status
            assert retrying.steps["render"].retrying, retrying.steps["render"]
            printed = await _sma_status(settings, address, wf_id)
            stored = await repo.get_run(database, wf_id)
            await asyncio.sleep(max(0.0, lifted - asyncio.get_running_loop().time()))
            fault.off()
            result = await asyncio.wait_for(
                client.get_workflow_handle(wf_id, result_type=PipelineResult).result(), timeout=240)
    finally:
        fault.off()
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)

    assert "render retrying: attempt" in printed and "not permitted" in printed, printed
    assert stored is not None and stored.current_step == "render" and '"retrying":true' in stored.status_json
    assert result.state == RunState.PUBLISHED
    assert await _render_attempts(client, wf_id) >= 2
    assert len(list((settings.data_dir / "outbox").rglob("video.mp4"))) == 1
    assert [p.status for p in await repo.list_posts(database, wf_id)] == ["published"]
    assert leftovers(artifacts) == [], leftovers(artifacts)
