"""Bluesky adapter against a local PDS speaking XRPC: session, blob upload, createRecord with our rkey."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.platforms.bluesky import new_tid, tag_facets
from sma.services.platforms.config import BlueskyOptions
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings
from tests.platform_fakes.bluesky import FakeBluesky, xrpc_error
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def bs() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        yield server  # type: ignore[misc]


async def _harness(bs: FakeBluesky, settings: Settings, database: Database, video: Path,
                   **options: object) -> Harness:
    s = settings_for(settings, platforms=["bluesky"], api=api_for(bluesky=bs.url), bluesky=BlueskyOptions(**options))
    h = harness(s, database, video)
    await h.set_credentials("bluesky", handle=bs.handle, app_password=bs.app_password)
    return h


@pytest.fixture
async def h(bs: FakeBluesky, settings: Settings, database: Database, video_file: Path) -> Harness:
    return await _harness(bs, settings, database, video_file)


def test_tid_and_hashtag_facets_follow_the_lexicon() -> None:
    tid = new_tid(now_us=1_700_000_000_000_000, clock_id=7)
    assert len(tid) == 13 and tid[0] in "234567abcdefghij" and tid < new_tid(now_us=1_700_000_000_000_001)
    [facet] = tag_facets("Schnell übersetzt #uv")  # byte offsets, not characters: 'ü' is two bytes
    assert facet["index"] == {"byteStart": 19, "byteEnd": 22} and facet["features"][0]["tag"] == "uv"


async def test_posts_a_video_record_with_tags_and_aspect_ratio(h: Harness, bs: FakeBluesky) -> None:
    post = await h.service.publish(h.request(), "bluesky")

    assert post.status == "published", post.reason
    [(uri, record)] = bs.records.items()
    rkey = uri.rsplit("/", 1)[1]
    assert post.external_id == uri and post.url == f"https://bsky.app/profile/{bs.handle}/post/{rkey}"
    value = record["value"]
    assert value["text"].endswith("#python #uv #devtools") and value["langs"] == ["en"]
    assert [f["features"][0]["tag"] for f in value["facets"]] == ["python", "uv", "devtools"]
    assert value["embed"]["aspectRatio"] == {"width": 360, "height": 640}
    [blob] = bs.blobs.values()
    assert len(blob) == h.video.size
    stored = await h.credentials.get("test", "bluesky")
    assert stored is not None and stored.reveal("did") == bs.did and stored.reveal("access_jwt") in bs.access


async def test_lost_answer_to_create_record_posts_once(h: Harness, bs: FakeBluesky) -> None:
    bs.drop_after("POST", r"createRecord")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "bluesky")
    record = await h.ledger.get("content-test-item1", "bluesky")
    assert record is not None and record.state == "started"

    post = await h.service.publish(h.request(), "bluesky")

    assert post.status == "published" and "earlier attempt" in post.reason
    assert list(bs.records) == [post.external_id]
    assert len(bs.calls("POST", r"createRecord")) == 1


async def test_crash_before_create_record_posts_on_retry_under_the_same_key(h: Harness, bs: FakeBluesky) -> None:
    bs.fail("POST", r"createRecord", 502, {"error": "BadGateway"})
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "bluesky")
    record = await h.ledger.get("content-test-item1", "bluesky")
    assert record is not None
    saved_rkey = json.loads(record.progress)["rkey"]

    post = await h.service.publish(h.request(), "bluesky")

    assert post.status == "published" and post.external_id.endswith(f"/{saved_rkey}") and len(bs.records) == 1


async def test_session_is_reused_and_renewed_not_logged_in_each_time(h: Harness, bs: FakeBluesky) -> None:
    await h.service.publish(h.request(run_id="run-1"), "bluesky")
    await h.service.publish(h.request(run_id="run-2"), "bluesky")
    assert len(bs.calls("POST", r"createSession")) == 1  # the stored session is used again

    bs.expire_sessions()
    post = await h.service.publish(h.request(run_id="run-3"), "bluesky")
    assert post.status == "published" and len(bs.calls("POST", r"refreshSession")) == 1
    assert len(bs.calls("POST", r"createSession")) == 1 and len(bs.records) == 3


async def test_wrong_app_password_fails_with_the_fix(h: Harness, bs: FakeBluesky) -> None:
    bs.app_password = "changed"
    post = await h.service.publish(h.request(), "bluesky")
    assert post.status == "failed" and "sma credentials set test bluesky" in post.reason
    assert "app password" in post.reason and not bs.records


async def test_rate_limit_returns_the_reset_wait(h: Harness, bs: FakeBluesky) -> None:
    error = xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded")
    bs.fail("POST", r"uploadBlob", error.status, error.body,
            headers={"ratelimit-limit": "5000", "ratelimit-remaining": "0",
                     "ratelimit-reset": str(int(time.time()) + 120)})
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(), "bluesky")
    assert caught.value.retry_after is not None and 100 < caught.value.retry_after <= 120


async def test_longer_than_three_minutes_is_refused_when_asked(bs: FakeBluesky, settings: Settings,
                                                              database: Database, video_file: Path) -> None:
    h = await _harness(bs, settings, database, video_file, max_duration_s=2.0, on_too_long="fail")
    post = await h.service.publish(h.request(), "bluesky")
    assert post.status == "failed" and "Bluesky accepts at most 2 s" in post.reason


async def test_metrics_are_likes_reposts_replies(h: Harness, bs: FakeBluesky) -> None:
    post = await h.service.publish(h.request(), "bluesky")
    bs.counts[post.external_id] = {"likeCount": 40, "repostCount": 5, "replyCount": 3, "quoteCount": 1}
    source = await h.service.registry.metrics_source("test", "bluesky")
    assert source is not None
    m = await source.metrics(post.external_id, {})
    await source.aclose()
    assert (m.views, m.likes, m.shares, m.comments, m.raw) == (None, 40, 5, 3, {"quotes": 1.0})
