"""Chaos: kill -9 the worker process between the platform call and the record update.

The worker is the real `python -m sma.cli worker --queue sma-workflows` in its own process group. The fake
YouTube server applies the last chunk of the upload (the video exists on the platform) and holds its answer;
the test kills the worker at that moment, starts a new one and releases the answer into the dead socket.
After the heartbeat timeout Temporal retries the activity on the new worker, which finds the publish record
still `started`, asks the saved upload session where it stands, and completes with the same video:
exactly one post exists on the platform.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from sma import queues
from sma.db.engine import Database
from sma.settings import Settings
from sma.temporal_client import wait_for_pollers
from tests.platform_fakes.driver import DriverInput, PublishDriverWorkflow
from tests.platform_fakes.kit import api_for, harness, make_video, settings_for
from tests.platform_fakes.youtube import FakeYouTube

REPO = Path(__file__).resolve().parents[1]


def _worker(s: Settings, address: str, suffix: str, yt: FakeYouTube, n: int) -> subprocess.Popen:
    assert s.secrets.fernet_key is not None
    env = dict(os.environ, SMA_DATA_DIR=str(s.data_dir), SMA_TEMPORAL__ADDRESS=address,
               SMA_SECRETS__FERNET_KEY=s.secrets.fernet_key.get_secret_value(),
               SMA_PUBLISHING__API__YOUTUBE=yt.url, SMA_PUBLISHING__API__GOOGLE_OAUTH=yt.url,
               SMA_PUBLISHING__HEARTBEAT_S="0.5", SMA_LOGGING__CONSOLE="false",
               SMA_PROJECTS=json.dumps([{"id": "test", "platforms": ["local", "youtube"]}]))
    log = open(s.data_dir / f"publish-worker-{n}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "sma.cli", "worker", "--queue", queues.WORKFLOWS,
                             "--suffix", suffix], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def test_kill_9_between_platform_call_and_record_update_posts_once(
        client: Client, settings: Settings, database: Database, suffix: str) -> None:
    address = client.service_client.config.target_host
    with FakeYouTube() as yt:
        s = settings_for(settings, api=api_for(youtube=yt.url, google_oauth=yt.url))
        h = harness(s, database, make_video(s.data_dir / "clip.mp4", seconds=2, bitrate="800k"))
        await h.set_credentials("youtube", client_id=yt.client_id, client_secret=yt.client_secret,
                                refresh_token=yt.refresh_token)
        held = yt.hold_after("PUT", r"/upload/", when=lambda r: r.status in (200, 201))
        queue, driver_queue = queues.WORKFLOWS + suffix, f"driver{suffix}"
        first = _worker(s, address, suffix, yt, 1)
        second = None
        try:
            await wait_for_pollers(client, [queue], timeout=60)
            async with Worker(client, task_queue=driver_queue, workflows=[PublishDriverWorkflow]):
                handle = await client.start_workflow(
                    PublishDriverWorkflow.run,
                    DriverInput(request=h.request(platforms=["youtube"]), task_queue=queue, heartbeat_s=2.0),
                    id=f"chaos-{uuid.uuid4().hex[:8]}", task_queue=driver_queue)
                assert await asyncio.to_thread(held.reached.wait, 60), "the upload never reached the platform"
                assert len(yt.uploaded_videos()) == 1  # the platform has it; the worker has not heard back
                os.killpg(first.pid, signal.SIGKILL)  # like a power cut, before the record is completed
                await asyncio.to_thread(first.wait, 10)
                record = await h.ledger.get("content-test-item1", "youtube")
                assert record is not None and record.state == "started"
                second = _worker(s, address, suffix, yt, 2)
                held.release.set()
                [result] = await asyncio.wait_for(handle.result(), 90)
        finally:
            held.release.set()
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)

    [post] = result.posts
    [video] = yt.uploaded_videos()
    assert post.status == "published" and post.external_id == video["id"]
    assert len(yt.calls("POST", r"/upload/youtube/v3/videos")) == 1  # one upload session, never a second
    assert yt.calls("PUT", r"/upload/")[-1].header("content-range") == f"bytes */{h.video.size}"
    record = await h.ledger.get("content-test-item1", "youtube")
    assert record is not None and record.state == "published" and record.attempts == 2
    starts = [e.activity_task_started_event_attributes.attempt for e in (await handle.fetch_history()).events
              if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert max(starts) >= 2
