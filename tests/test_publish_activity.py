"""The `publish` activity in a real worker (built by sma.worker.build_worker) on the Temporal dev server:
platforms in parallel and independent, Retry-After as Temporal's next retry delay, a failed post on the
last attempt, and one full content pipeline run that ends on YouTube with its link."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from sma import queues
from sma.client.handles import start_pipeline
from sma.db.engine import Database
from sma.models.pipeline import PipelineResult, RunState, Topic
from sma.services.runs import pipeline_input
from sma.settings import Settings
from tests.conftest import running_workers
from tests.platform_fakes.driver import DriverInput, PublishDriverWorkflow
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.telegram import FakeTelegram
from tests.platform_fakes.tiktok import FakeTikTok, tiktok_error
from tests.platform_fakes.youtube import FakeYouTube


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def fakes() -> Iterator[tuple[FakeYouTube, FakeTikTok, FakeTelegram]]:
    with FakeYouTube() as yt, FakeTikTok() as tt, FakeTelegram() as tg:
        yield yt, tt, tg  # type: ignore[misc]


async def _setup(settings: Settings, database: Database, video_file: Path,
                 fakes: tuple[FakeYouTube, FakeTikTok, FakeTelegram], **publishing: object) -> Harness:
    yt, tt, tg = fakes
    s = settings_for(settings, api=api_for(youtube=yt.url, google_oauth=yt.url, tiktok=tt.url, telegram=tg.url),
                     **publishing)
    h = harness(s, database, video_file)
    await h.set_credentials("youtube", client_id=yt.client_id, client_secret=yt.client_secret,
                            refresh_token=yt.refresh_token)
    await h.set_credentials("tiktok", client_key=tt.client_key, client_secret=tt.client_secret,
                            refresh_token=tt.refresh_token)
    await h.set_credentials("telegram", chat_id=tg.channel, bot_token=tg.token)
    return h


async def _drive(client: Client, h: Harness, suffix: str, platforms: list[str], max_attempts: int = 5) -> list:
    from sma.worker import build_worker

    queue = queues.WORKFLOWS + suffix
    driver_queue = f"driver{suffix}"
    async with build_worker(client, queues.WORKFLOWS, h.settings, h.database, task_queue=queue), \
            Worker(client, task_queue=driver_queue, workflows=[PublishDriverWorkflow]):
        handle = await client.start_workflow(
            PublishDriverWorkflow.run, DriverInput(request=h.request(platforms=platforms), task_queue=queue,
                                                   max_attempts=max_attempts),
            id=f"driver-{uuid.uuid4().hex[:8]}", task_queue=driver_queue)
        return [post for result in await handle.result() for post in result.posts], handle  # type: ignore[return-value]


async def test_platforms_are_independent(client: Client, settings: Settings, database: Database, video_file: Path,
                                         fakes: tuple[FakeYouTube, FakeTikTok, FakeTelegram], suffix: str) -> None:
    _, tt, _ = fakes
    h = await _setup(settings, database, video_file, fakes)
    error = tiktok_error(403, "spam_risk_too_many_posts", "The daily post cap is reached")
    tt.fail("POST", r"/video/init/", error.status, error.body)
    posts, _ = await _drive(client, h, suffix, ["youtube", "tiktok", "telegram", "local"])
    by = {p.platform: p for p in posts}
    assert by["youtube"].status == "published" and by["youtube"].url.startswith("https://www.youtube.com/shorts/")
    assert by["telegram"].status == "published" and by["telegram"].url.startswith("https://t.me/devtoolsdaily/")
    assert by["local"].status == "published" and by["local"].url.startswith("file://")
    assert by["tiktok"].status == "failed" and "spam_risk_too_many_posts" in by["tiktok"].reason
    assert len(tt.calls("POST", r"/video/init/")) == 1  # fail fast: a permanent error is not retried


async def test_retry_after_becomes_the_next_retry_delay_and_the_last_attempt_reports(
        client: Client, settings: Settings, database: Database, video_file: Path,
        fakes: tuple[FakeYouTube, FakeTikTok, FakeTelegram], suffix: str) -> None:
    _, _, tg = fakes
    h = await _setup(settings, database, video_file, fakes, inline_retry_max_s=0)
    limited = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 2",
               "parameters": {"retry_after": 2}}
    tg.fail("POST", r"/sendVideo", 429, limited)
    started = time.monotonic()
    posts, handle = await _drive(client, h, suffix, ["telegram"])
    assert posts[0].status == "published" and time.monotonic() - started >= 2.0
    attempts = [e for e in (await handle.fetch_history()).events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert attempts[-1].activity_task_started_event_attributes.attempt == 2

    tg.fail("POST", r"/sendVideo", 429, {**limited, "parameters": {"retry_after": 0}}, times=5)
    h2 = await _setup(settings, database, video_file, fakes, inline_retry_max_s=0)
    h2.request = lambda **kw: Harness.request(h2, run_id="run-giveup", **kw)  # type: ignore[method-assign]
    posts, _ = await _drive(client, h2, suffix + "b", ["telegram"], max_attempts=2)
    assert posts[0].status == "failed" and "gave up after 2 attempts" in posts[0].reason


@pytest.mark.slow
async def test_a_content_pipeline_run_publishes_to_youtube_with_a_link(
        client: Client, settings: Settings, database: Database, suffix: str) -> None:
    with FakeYouTube() as yt:
        s = settings_for(settings, platforms=["local", "youtube"],
                         api=api_for(youtube=yt.url, google_oauth=yt.url))
        h = harness(s, database, make_video(s.data_dir / "seed.mp4", seconds=1, bitrate="100k"))
        await h.set_credentials("youtube", client_id=yt.client_id, client_secret=yt.client_secret,
                                refresh_token=yt.refresh_token)
        topic = Topic(title="Exactly once publishing", summary="A record before, a record after. Nothing twice.")
        inp = pipeline_input(s, topic, "test", autonomy="autonomous")
        async with running_workers(client, s, database, suffix):
            wf_id = await start_pipeline(client, inp, suffix)
            result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()
        assert result.state == RunState.PUBLISHED
        by = {p.platform: p for p in result.posts}
        [video] = yt.uploaded_videos()
        assert by["youtube"].status == "published" and by["youtube"].url.endswith(video["id"])
        assert video["snippet"]["title"].endswith("#Shorts") and by["local"].status == "published"
        notes = result.status.steps["publish"].notes
        assert any(n.startswith("youtube: published https://www.youtube.com/shorts/") for n in notes)
        record = await h.ledger.get(wf_id, "youtube")
        assert record is not None and record.state == "published" and record.attempts == 1
