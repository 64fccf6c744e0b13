"""X adapter against a local API v2: chunked media upload, processing status, post, timeline lookup."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.platforms.config import XOptions
from sma.services.platforms.errors import RetryLater
from sma.services.platforms.metadata import x_length
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.x import FakeX, x_problem


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def xs() -> Iterator[FakeX]:
    with FakeX() as server:
        yield server  # type: ignore[misc]


async def _harness(xs: FakeX, settings: Settings, database: Database, video: Path, **options: object) -> Harness:
    s = settings_for(settings, platforms=["x"], api=api_for(x=xs.url), x=XOptions(**{"chunk_mb": 0.1, **options}))
    h = harness(s, database, video)
    await h.set_credentials("x", client_id=xs.client_id, refresh_token=xs.refresh_token)
    return h


@pytest.fixture
async def h(xs: FakeX, settings: Settings, database: Database, video_file: Path) -> Harness:
    return await _harness(xs, settings, database, video_file)


def test_weighted_length_counts_cjk_twice_and_urls_as_23() -> None:
    assert x_length("uv") == 2 and x_length("速い") == 4 and x_length("see https://example.com/a/very/long/path") == 27


async def test_uploads_in_chunks_waits_for_processing_then_posts(h: Harness, xs: FakeX) -> None:
    post = await h.service.publish(h.request(), "x")

    assert post.status == "published", post.reason
    [(post_id, tweet)] = xs.posts.items()
    assert post.external_id == post_id and post.url == f"https://x.com/i/status/{post_id}"
    [(media_id, media)] = xs.media.items()
    assert tweet["attachments"]["media_keys"] == [media["key"]] and media["category"] == "tweet_video"
    assert xs.data_of(media_id) == Path(h.video.path).read_bytes()
    assert len(media["segments"]) == -(-h.video.size // int(0.1 * 1024 * 1024))
    assert tweet["text"].endswith("#python #uv #devtools") and x_length(tweet["text"]) <= 280
    stored = await h.credentials.get("test", "x")
    assert stored is not None and stored.reveal("refresh_token") == xs.refresh_token  # rotated token kept


async def test_lost_answer_to_the_post_call_posts_once(h: Harness, xs: FakeX) -> None:
    xs.drop_after("POST", r"/2/tweets")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "x")
    record = await h.ledger.get("content-test-item1", "x")
    assert record is not None and record.state == "started"

    post = await h.service.publish(h.request(), "x")

    assert post.status == "published" and "earlier attempt" in post.reason
    assert list(xs.posts) == [post.external_id] and len(xs.calls("POST", r"/2/tweets")) == 1
    assert len(xs.calls("POST", r"/initialize")) == 1


async def test_post_missing_from_the_timeline_is_not_posted_blindly(h: Harness, xs: FakeX) -> None:
    """The timeline lags; X refuses the same text again; the creator is asked to check instead."""
    xs.drop_after("POST", r"/2/tweets")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "x")
    xs.fail("GET", r"/2/users/\d+/tweets", 200, {"meta": {"result_count": 0}})

    post = await h.service.publish(h.request(), "x")

    assert post.status == "failed" and "check the account" in post.reason and len(xs.posts) == 1


async def test_failed_post_call_is_retried_with_the_uploaded_media(h: Harness, xs: FakeX) -> None:
    xs.fail("POST", r"/2/tweets", 503, {"title": "Service Unavailable"})
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "x")
    post = await h.service.publish(h.request(), "x")
    assert post.status == "published" and len(xs.posts) == 1 and len(xs.media) == 1


async def test_rate_limit_waits_until_the_reset(h: Harness, xs: FakeX) -> None:
    error = x_problem(429, "Too Many Requests", "Too Many Requests")
    xs.fail("POST", r"/initialize", 429, error.body,
            headers={"x-rate-limit-limit": "17", "x-rate-limit-remaining": "0",
                     "x-rate-limit-reset": str(int(time.time()) + 600)})
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(), "x")
    assert caught.value.retry_after is not None and 580 < caught.value.retry_after <= 600


async def test_revoked_refresh_token_fails_with_the_fix(h: Harness, xs: FakeX) -> None:
    xs.refresh_token = "revoked"
    post = await h.service.publish(h.request(), "x")
    assert post.status == "failed" and "sma credentials set test x" in post.reason and not xs.posts


async def test_expired_access_token_is_refreshed_once(h: Harness, xs: FakeX) -> None:
    await h.service.publish(h.request(run_id="run-1"), "x")
    xs.tokens.clear()
    post = await h.service.publish(h.request(run_id="run-2", title="Second video"), "x")
    assert post.status == "published" and len(xs.calls("POST", r"/oauth2/token")) == 2


async def test_longer_than_the_cap_is_trimmed(xs: FakeX, settings: Settings, database: Database,
                                              video_file: Path) -> None:
    h = await _harness(xs, settings, database, video_file, max_duration_s=2.0)
    post = await h.service.publish(h.request(), "x")
    assert post.status == "published"
    [media] = xs.media.values()
    assert media["total"] < h.video.size


async def test_metrics_from_public_metrics(h: Harness, xs: FakeX) -> None:
    post = await h.service.publish(h.request(), "x")
    xs.posts[post.external_id]["public_metrics"].update(impression_count=5000, like_count=80, reply_count=4,
                                                        retweet_count=9, quote_count=1, bookmark_count=6)
    source = await h.service.registry.metrics_source("test", "x")
    assert source is not None
    m = await source.metrics(post.external_id, {})
    await source.aclose()
    assert (m.views, m.likes, m.comments, m.shares, m.saves) == (5000, 80, 4, 10, 6)
