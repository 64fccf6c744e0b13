"""LinkedIn adapter against a local REST API: multi-part video upload with ETags, then a post."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.platforms.errors import RetryLater
from sma.services.platforms.linkedin import little_text
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.linkedin import FakeLinkedIn, li_error


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def li() -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def h(li: FakeLinkedIn, settings: Settings, database: Database, video_file: Path) -> Harness:
    s = settings_for(settings, platforms=["linkedin"], api=api_for(linkedin=li.url))
    h = harness(s, database, video_file)
    await h.set_credentials("linkedin", author_urn=li.author, access_token=li.token)
    return h


def test_commentary_escapes_reserved_characters_and_links_hashtags() -> None:
    assert little_text("Why (uv) is *fast* #dev_tools") == r"Why \(uv\) is \*fast\* {hashtag|\#|dev_tools}"


async def test_uploads_parts_finalizes_with_etags_then_posts(h: Harness, li: FakeLinkedIn) -> None:
    post = await h.service.publish(h.request(), "linkedin")

    assert post.status == "published", post.reason
    [(urn, item)] = li.posts.items()
    assert post.external_id == urn and post.url == f"https://www.linkedin.com/feed/update/{urn}/"
    [video] = li.videos.values()
    assert len(video["parts"]) > 1 and li.uploaded(video) == Path(h.video.path).read_bytes()
    assert item["content"]["media"]["id"] == video["urn"] and item["visibility"] == "PUBLIC"
    assert item["commentary"].endswith(r"{hashtag|\#|python} {hashtag|\#|uv} {hashtag|\#|devtools}")
    assert all(r.header("linkedin-version") for r in li.calls("POST", r"/rest/"))


async def test_lost_answer_to_the_post_call_posts_once(h: Harness, li: FakeLinkedIn) -> None:
    li.drop_after("POST", r"/rest/posts")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "linkedin")
    record = await h.ledger.get("content-test-item1", "linkedin")
    assert record is not None and record.state == "started"

    post = await h.service.publish(h.request(), "linkedin")

    assert post.status == "published" and "earlier attempt" in post.reason
    assert list(li.posts) == [post.external_id] and len(li.calls("POST", r"/rest/posts")) == 1
    assert len(li.videos) == 1


async def test_without_read_permission_a_retry_asks_the_creator_to_check(h: Harness, li: FakeLinkedIn) -> None:
    """The finder is forbidden: a retry must not post blindly, so the creator is asked to look."""
    li.can_read_posts = False
    li.drop_after("POST", r"/rest/posts")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "linkedin")

    post = await h.service.publish(h.request(), "linkedin")

    assert post.status == "failed" and "look at the profile" in post.reason and len(li.posts) == 1


async def test_duplicate_refusal_on_a_retry_returns_the_earlier_post(h: Harness, li: FakeLinkedIn) -> None:
    li.drop_after("POST", r"/rest/posts")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "linkedin")
    li.fail("GET", r"/rest/posts", 200, {"elements": [], "paging": {}})  # the finder lags behind

    post = await h.service.publish(h.request(), "linkedin")

    assert post.status == "published" and list(li.posts) == [post.external_id]
    assert "already has this post" in post.reason


async def test_duplicate_of_another_run_is_refused(h: Harness, li: FakeLinkedIn) -> None:
    first = await h.service.publish(h.request(run_id="run-1"), "linkedin")
    again = await h.service.publish(h.request(run_id="run-2"), "linkedin")
    assert again.status == "failed" and f"duplicate of {first.external_id}" in again.reason and len(li.posts) == 1


async def test_server_error_and_rate_limit_retry_later(h: Harness, li: FakeLinkedIn) -> None:
    error = li_error(429, "TOO_MANY_REQUESTS", "Resource level throttle APPLICATION DAY limit reached")
    li.fail("POST", r"/rest/videos", error.status, error.body)
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(), "linkedin")
    assert caught.value.retry_after == 300

    li.fail("POST", r"/rest/posts", 504, {"status": 504, "message": "Gateway Timeout"})
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "linkedin")
    post = await h.service.publish(h.request(), "linkedin")
    assert post.status == "published" and len(li.posts) == 1 and len(li.videos) == 1


async def test_expired_token_fails_with_the_fix(h: Harness, li: FakeLinkedIn) -> None:
    li.token = "renewed"
    post = await h.service.publish(h.request(), "linkedin")
    assert post.status == "failed" and "sma credentials set test linkedin" in post.reason


async def test_no_metrics_source_for_linkedin(h: Harness) -> None:
    assert await h.service.registry.metrics_source("test", "linkedin") is None
