"""Threads adapter against a local Threads API: container from a public URL, polling, threads_publish."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.platforms.config import MediaHostSettings
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.meta import graph_error
from tests.platform_fakes.storage import StaticFiles
from tests.platform_fakes.threads import VERSION, FakeThreads


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def th() -> Iterator[FakeThreads]:
    with FakeThreads() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def static(tmp_path: Path) -> Iterator[StaticFiles]:
    with StaticFiles(tmp_path / "public") as server:
        yield server  # type: ignore[misc]


async def _harness(th: FakeThreads, settings: Settings, database: Database, video: Path,
                   host: MediaHostSettings | None) -> Harness:
    s = settings_for(settings, platforms=["threads"], api=api_for(threads=th.url, threads_version=VERSION),
                     media_host=host or MediaHostSettings())
    h = harness(s, database, video)
    await h.set_credentials("threads", threads_user_id=th.user_id, access_token=th.token)
    return h


@pytest.fixture
async def h(th: FakeThreads, static: StaticFiles, settings: Settings, database: Database,
            video_file: Path) -> Harness:
    host = MediaHostSettings(kind="public_dir", public_dir=static.folder, public_base_url=f"{static.url}/media")
    return await _harness(th, settings, database, video_file, host)


async def test_container_polled_then_published_once(h: Harness, th: FakeThreads) -> None:
    post = await h.service.publish(h.request(), "threads")

    assert post.status == "published", post.reason
    [(media_id, item)] = th.posts.items()
    assert post.external_id == media_id and post.url == item["permalink"]
    [container] = th.containers.values()
    assert container["bytes"] == h.video.size and container["text"].startswith("Why uv is so fast")
    assert container["text"].endswith("#python")  # Threads links one topic tag per post


async def test_lost_answer_to_threads_publish_posts_once(h: Harness, th: FakeThreads) -> None:
    th.drop_after("POST", r"/threads_publish")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "threads")
    record = await h.ledger.get("content-test-item1", "threads")
    assert record is not None and record.state == "started"

    post = await h.service.publish(h.request(), "threads")

    assert post.status == "published" and "earlier attempt" in post.reason
    assert list(th.posts) == [post.external_id] and len(th.containers) == 1


async def test_needs_a_media_host(th: FakeThreads, settings: Settings, database: Database, video_file: Path) -> None:
    h = await _harness(th, settings, database, video_file, None)
    post = await h.service.publish(h.request(), "threads")
    assert post.status == "failed" and "publishing.media_host" in post.reason and not th.containers


async def test_rate_limit_and_expired_token(h: Harness, th: FakeThreads) -> None:
    error = graph_error(4, "Application request limit reached")
    th.fail("POST", r"/threads$", error.status, error.body)
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(run_id="run-limited"), "threads")
    assert caught.value.retry_after == 60

    th.token = "rotated"
    post = await h.service.publish(h.request(run_id="run-token"), "threads")
    assert post.status == "failed" and "sma credentials set test threads" in post.reason


async def test_processing_error_fails_with_the_reason(h: Harness, th: FakeThreads) -> None:
    th.fail("GET", r"/\d+$", 200, {"id": "x", "status": "ERROR", "error_message": "UNSUPPORTED_FORMAT"})
    post = await h.service.publish(h.request(), "threads")
    assert post.status == "failed" and "UNSUPPORTED_FORMAT" in post.reason and not th.posts


async def test_metrics_from_media_insights(h: Harness, th: FakeThreads) -> None:
    post = await h.service.publish(h.request(), "threads")
    th.insights[post.external_id] = {"views": 900, "likes": 30, "replies": 4, "reposts": 2, "quotes": 1}
    source = await h.service.registry.metrics_source("test", "threads")
    assert source is not None
    m = await source.metrics(post.external_id, {})
    await source.aclose()
    assert (m.views, m.likes, m.comments, m.shares) == (900, 30, 4, 3)
