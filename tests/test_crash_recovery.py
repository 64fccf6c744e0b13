"""Kill -9 the CPU worker process in the middle of a render: a new worker finishes the run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from sma import queues
from sma.client.handles import activity_progress, start_pipeline
from sma.db.engine import Database
from sma.models.pipeline import PipelineResult, RunState, Topic
from sma.services.runs import pipeline_input
from sma.settings import Settings
from tests.conftest import running_workers, wait_for

REPO = Path(__file__).resolve().parents[1]


def _cpu_worker(settings: Settings, address: str, suffix: str) -> subprocess.Popen:
    env = dict(os.environ, SMA_DATA_DIR=str(settings.data_dir), SMA_TEMPORAL__ADDRESS=address)
    log = open(settings.data_dir / f"cpu-worker-{len(os.listdir(settings.data_dir))}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "sma.cli", "worker", "--queue", queues.CPU, "--suffix", suffix],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


async def _render_progress(client: Client, wf_id: str, timeout: float = 30.0) -> float:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        progress = await activity_progress(client, wf_id)
        if "render" in progress:
            return progress["render"]
        await asyncio.sleep(0.1)
    raise AssertionError("the render never reported progress")


async def _render_attempts(client: Client, wf_id: str) -> list[int]:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    scheduled = {
        e.event_id for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "render"
    }
    return [
        e.activity_task_started_event_attributes.attempt for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_kill_9_during_render_then_a_new_worker_finishes(
    client: Client, temporal_env: WorkflowEnvironment, settings: Settings, database: Database, suffix: str
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    address = client.service_client.config.target_host
    topic = Topic(title="Crash safe rendering", summary="Workers die. Videos still ship. Nothing ships twice.")
    inp = pipeline_input(settings, topic, "test", autonomy="autonomous")
    first = _cpu_worker(settings, address, suffix)
    second = None
    try:
        async with running_workers(client, settings, database, suffix, pools=(queues.WORKFLOWS, queues.GPU)):
            wf_id = await start_pipeline(client, inp, suffix)
            await wait_for(client, wf_id, lambda s: s.steps["render"].state == "running", timeout=240)
            progress = await _render_progress(client, wf_id)
            assert 0.0 <= progress < 1.0  # heartbeats carry the render's progress
            os.killpg(first.pid, signal.SIGKILL)  # the worker and its ffmpeg child, like a power cut
            first.wait()
            second = _cpu_worker(settings, address, suffix)
            result = await asyncio.wait_for(
                client.get_workflow_handle(wf_id, result_type=PipelineResult).result(), timeout=240)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)

    assert result.state == RunState.PUBLISHED
    assert max(await _render_attempts(client, wf_id)) >= 2, "the kill must land during the render"
    assert len(list((settings.data_dir / "outbox").rglob("video.mp4"))) == 1
    objects = settings.data_dir / "artifacts" / "objects"
    assert len(list(objects.rglob("*.mp4"))) == 2  # the background loop and the one final video
    leftovers = [p for p in (settings.data_dir / "artifacts" / "tmp").iterdir()]
    assert leftovers == [], leftovers
