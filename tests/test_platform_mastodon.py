"""Mastodon adapter (the official Mastodon.py SDK) against a local instance API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.platforms.config import MastodonOptions
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, harness, make_video, settings_for
from tests.platform_fakes.mastodon import FakeMastodon


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def md() -> Iterator[FakeMastodon]:
    with FakeMastodon() as server:
        yield server  # type: ignore[misc]


async def _harness(md: FakeMastodon, settings: Settings, database: Database, video: Path,
                   **options: object) -> Harness:
    s = settings_for(settings, platforms=["mastodon"], mastodon=MastodonOptions(**options))
    h = harness(s, database, video)
    await h.set_credentials("mastodon", instance_url=md.url, access_token=md.token)
    return h


@pytest.fixture
async def h(md: FakeMastodon, settings: Settings, database: Database, video_file: Path) -> Harness:
    return await _harness(md, settings, database, video_file)


async def test_posts_the_processed_video_with_an_idempotency_key(h: Harness, md: FakeMastodon) -> None:
    post = await h.service.publish(h.request(), "mastodon")

    assert post.status == "published", post.reason
    [(status_id, status)] = md.statuses.items()
    assert post.external_id == status_id and post.url == f"{md.url}/@devtools/{status_id}"
    assert status["_text"].startswith("Why uv is so fast") and status["_text"].endswith("#python #uv #devtools")
    [media] = status["media_attachments"]
    assert md.media[media["id"]]["_size"] == h.video.size
    [call] = md.calls("POST", r"/api/v1/statuses")
    assert call.header("idempotency-key") == f"sma-content-test-item1-{media['id']}"
    assert len(md.calls("GET", r"/api/v1/media/")) == 2  # 206 while processing, then 200


async def test_lost_answer_to_the_status_call_posts_once(h: Harness, md: FakeMastodon) -> None:
    md.drop_after("POST", r"/api/v1/statuses")  # the status exists; the worker never hears of it
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "mastodon")
    record = await h.ledger.get("content-test-item1", "mastodon")
    assert record is not None and record.state == "started"

    post = await h.service.publish(h.request(), "mastodon")

    assert post.status == "published" and len(md.statuses) == 1 and post.external_id in md.statuses
    assert "earlier attempt" in post.reason
    assert len(md.calls("POST", r"/api/v1/statuses")) == 1 and len(md.calls("POST", r"/api/v2/media")) == 1


async def test_retry_with_the_same_key_returns_the_first_status(h: Harness, md: FakeMastodon) -> None:
    """Past the timeline lookup (e.g. the account posted 40 more since), the key alone prevents a copy."""
    md.drop_after("POST", r"/api/v1/statuses")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "mastodon")
    md.fail("GET", r"/api/v1/accounts/\d+/statuses", 200, [])  # the first status is no longer in view
    [media_id] = list(md.media)
    md.media[media_id]["_status"] = None  # and the media still looks unattached

    post = await h.service.publish(h.request(), "mastodon")

    assert post.status == "published" and len(md.statuses) == 1 and post.external_id in md.statuses
    assert len(md.calls("POST", r"/api/v1/statuses")) == 2


async def test_rate_limit_waits_and_server_errors_retry(h: Harness, md: FakeMastodon) -> None:
    reset = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    md.fail("POST", r"/api/v2/media", 429, {"error": "Too many requests"},
            headers={"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    post = await h.service.publish(h.request(run_id="run-limited"), "mastodon")
    assert post.status == "published" and len(md.calls("POST", r"/api/v2/media")) == 2

    md.fail("POST", r"/api/v1/statuses", 503, {"error": "Service Unavailable"})
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(run_id="run-503"), "mastodon")
    post = await h.service.publish(h.request(run_id="run-503"), "mastodon")
    assert post.status == "published" and len(md.statuses) == 2


async def test_revoked_token_fails_with_the_fix(h: Harness, md: FakeMastodon) -> None:
    md.token = "another-token"
    post = await h.service.publish(h.request(), "mastodon")
    assert post.status == "failed"
    assert "sma credentials set test mastodon" in post.reason and "access token" in post.reason
    assert "mst-access-token" not in post.reason


async def test_text_is_fitted_to_the_instance_limit(md: FakeMastodon, settings: Settings, database: Database,
                                                    video_file: Path) -> None:
    md.max_chars = 120
    h = await _harness(md, settings, database, video_file, max_chars=120)
    req = h.request()
    req.script.description = "A long explanation. " * 30
    post = await h.service.publish(req, "mastodon")
    assert post.status == "published", post.reason
    [status] = md.statuses.values()
    assert len(status["_text"]) <= 120 and status["_text"].endswith("#python #uv #devtools")


async def test_too_big_for_the_instance_is_refused(md: FakeMastodon, settings: Settings, database: Database,
                                                   video_file: Path) -> None:
    h = await _harness(md, settings, database, video_file, max_mb=0.01)
    post = await h.service.publish(h.request(), "mastodon")
    assert post.status == "failed" and "Mastodon accepts at most" in post.reason
    assert not md.calls("POST", r"/api/v2/media")


async def test_metrics_are_favourites_boosts_and_replies(h: Harness, md: FakeMastodon) -> None:
    post = await h.service.publish(h.request(), "mastodon")
    md.statuses[post.external_id].update(favourites_count=12, reblogs_count=3, replies_count=2)
    source = await h.service.registry.metrics_source("test", "mastodon")
    assert source is not None
    m = await source.metrics(post.external_id, {})
    await source.aclose()
    assert (m.views, m.likes, m.shares, m.comments) == (None, 12, 3, 2)
