"""Chaos for the short-form networks: kill -9 the worker between the posting call and the record update.

Like tests/test_publish_chaos.py: the real `sma worker` runs in its own process group; the local server of
each network applies the call that creates the post (Mastodon statuses, Bluesky createRecord, X tweets,
Threads threads_publish, LinkedIn posts) and holds its answer; the test kills the worker at that moment,
starts a new one and releases the answer into the dead socket. Temporal retries the activity on the new
worker, which finds the record `started` with the saved progress, asks the network what became of the
first call, and completes with that post: exactly one post exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from sma import queues
from sma.db.engine import Database
from sma.services.platforms.config import MediaHostSettings
from sma.settings import Settings
from sma.temporal_client import wait_for_pollers
from tests.platform_fakes.bluesky import FakeBluesky
from tests.platform_fakes.driver import DriverInput, PublishDriverWorkflow
from tests.platform_fakes.kit import api_for, harness, make_video, settings_for
from tests.platform_fakes.linkedin import FakeLinkedIn
from tests.platform_fakes.mastodon import FakeMastodon
from tests.platform_fakes.server import FakeServer
from tests.platform_fakes.storage import StaticFiles
from tests.platform_fakes.threads import VERSION, FakeThreads
from tests.platform_fakes.x import FakeX

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Network:
    make: Callable[[], FakeServer]
    post_call: str                                  # the request that creates the post
    api: Callable[[Any], dict[str, str]]            # publishing.api overrides
    creds: Callable[[Any], dict[str, str]]
    posts: Callable[[Any], int]


NETWORKS = {
    "mastodon": Network(FakeMastodon, r"/api/v1/statuses", lambda f: {},
                        lambda f: {"instance_url": f.url, "access_token": f.token}, lambda f: len(f.statuses)),
    "bluesky": Network(FakeBluesky, r"createRecord", lambda f: {"bluesky": f.url},
                       lambda f: {"handle": f.handle, "app_password": f.app_password}, lambda f: len(f.records)),
    "x": Network(FakeX, r"/2/tweets", lambda f: {"x": f.url},
                 lambda f: {"client_id": f.client_id, "refresh_token": f.refresh_token}, lambda f: len(f.posts)),
    "threads": Network(FakeThreads, r"/threads_publish", lambda f: {"threads": f.url, "threads_version": VERSION},
                       lambda f: {"threads_user_id": f.user_id, "access_token": f.token}, lambda f: len(f.posts)),
    "linkedin": Network(FakeLinkedIn, r"/rest/posts", lambda f: {"linkedin": f.url},
                        lambda f: {"author_urn": f.author, "access_token": f.token}, lambda f: len(f.posts)),
}


def _worker(s: Settings, address: str, suffix: str, platform: str, n: int) -> subprocess.Popen:
    assert s.secrets.fernet_key is not None
    env = dict(os.environ, SMA_DATA_DIR=str(s.data_dir), SMA_TEMPORAL__ADDRESS=address,
               SMA_SECRETS__FERNET_KEY=s.secrets.fernet_key.get_secret_value(),
               SMA_PUBLISHING__HEARTBEAT_S="0.5", SMA_PUBLISHING__POLL_INTERVAL_S="0.05",
               SMA_LOGGING__CONSOLE="false",
               SMA_PROJECTS=json.dumps([{"id": "test", "platforms": ["local", platform]}]))
    for key, value in s.publishing.api.model_dump().items():
        env[f"SMA_PUBLISHING__API__{key.upper()}"] = str(value)
    host = s.publishing.media_host
    if host.kind == "public_dir":
        env.update(SMA_PUBLISHING__MEDIA_HOST__KIND="public_dir", SMA_PUBLISHING__MEDIA_HOST__PUBLIC_DIR=str(
            host.public_dir), SMA_PUBLISHING__MEDIA_HOST__PUBLIC_BASE_URL=host.public_base_url)
    log = open(s.data_dir / f"publish-worker-{platform}-{n}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "sma.cli", "worker", "--queue", queues.WORKFLOWS,
                             "--suffix", suffix], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.mark.parametrize("platform", list(NETWORKS))
async def test_kill_9_between_the_post_call_and_the_record_posts_once(
        platform: str, client: Client, settings: Settings, database: Database, suffix: str, tmp_path: Path) -> None:
    network = NETWORKS[platform]
    address = client.service_client.config.target_host
    with network.make() as fake, StaticFiles(tmp_path / "public") as static:
        host = MediaHostSettings(kind="public_dir", public_dir=static.folder, public_base_url=f"{static.url}/media")
        s = settings_for(settings, platforms=["local", platform], api=api_for(**network.api(fake)),
                         media_host=host)
        h = harness(s, database, make_video(s.data_dir / "clip.mp4", seconds=2, bitrate="800k"))
        await h.set_credentials(platform, **network.creds(fake))
        held = fake.hold_after("POST", network.post_call, when=lambda r: r.status < 300)
        queue, driver_queue = queues.WORKFLOWS + suffix, f"driver{suffix}"
        first = _worker(s, address, suffix, platform, 1)
        second = None
        try:
            await wait_for_pollers(client, [queue], timeout=60)
            async with Worker(client, task_queue=driver_queue, workflows=[PublishDriverWorkflow]):
                handle = await client.start_workflow(
                    PublishDriverWorkflow.run,
                    DriverInput(request=h.request(platforms=[platform]), task_queue=queue, heartbeat_s=2.0),
                    id=f"chaos-{platform}-{uuid.uuid4().hex[:8]}", task_queue=driver_queue)
                assert await asyncio.to_thread(held.reached.wait, 60), "the post call never reached the network"
                assert network.posts(fake) == 1  # the network has the post; the worker has not heard back
                os.killpg(first.pid, signal.SIGKILL)
                await asyncio.to_thread(first.wait, 10)
                record = await h.ledger.get("content-test-item1", platform)
                assert record is not None and record.state == "started"
                second = _worker(s, address, suffix, platform, 2)
                held.release.set()
                [result] = await asyncio.wait_for(handle.result(), 90)
        finally:
            held.release.set()
            for proc in (first, second):
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=30)

        [post] = result.posts
        assert post.status == "published", post.reason
        assert network.posts(fake) == 1 and len(fake.calls("POST", network.post_call)) == 1
    record = await h.ledger.get("content-test-item1", platform)
    assert record is not None and record.state == "published" and record.attempts == 2
    assert record.external_id == post.external_id
