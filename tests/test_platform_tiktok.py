"""TikTok adapter against a local Content Posting API: chunked upload, status polling, inbox drafts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.media.ffmpeg import probe
from sma.services.platforms.config import TikTokOptions
from sma.services.platforms.errors import RetryLater
from sma.services.platforms.tiktok import chunk_plan
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.tiktok import FakeTikTok, tiktok_error

MB = 1024 * 1024


@pytest.fixture(scope="session")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "big.mp4", noise_qp=30)


@pytest.fixture
def tt() -> Iterator[FakeTikTok]:
    with FakeTikTok() as server:
        yield server  # type: ignore[misc]


async def _harness(tt: FakeTikTok, settings: Settings, database: Database, video: Path, **options: object) -> Harness:
    s = settings_for(settings, api=api_for(tiktok=tt.url), tiktok=TikTokOptions(chunk_mb=5, **options))
    h = harness(s, database, video)
    await h.set_credentials("tiktok", client_key=tt.client_key, client_secret=tt.client_secret,
                            refresh_token=tt.refresh_token)
    return h


@pytest.fixture
async def h(tt: FakeTikTok, settings: Settings, database: Database, big_video: Path) -> Harness:
    return await _harness(tt, settings, database, big_video)


def test_chunk_plan_follows_tiktok_rules() -> None:
    assert chunk_plan(3 * MB, 10 * MB) == (3 * MB, 1)          # under 5 MB: one piece
    assert chunk_plan(13 * MB, 5 * MB) == (5 * MB, 2)          # the last chunk takes the remainder
    assert chunk_plan(50_000_123, 10_000_000) == (10_000_000, 5)


async def test_direct_post_in_chunks_then_polls_to_complete(h: Harness, tt: FakeTikTok) -> None:
    post = await h.service.publish(h.request(), "tiktok")

    assert post.status == "published", post.reason
    [(post_id, posted)] = tt.posts.items()
    assert post.external_id == post_id and post.url == f"https://www.tiktok.com/@devtools.daily/video/{post_id}"
    assert posted["size"] == h.video.size
    ranges = [r.header("content-range") for r in tt.calls("PUT", r"/upload/")]
    assert ranges == [f"bytes 0-{5 * MB - 1}/{h.video.size}", f"bytes {5 * MB}-{h.video.size - 1}/{h.video.size}"]
    [init] = tt.calls("POST", r"/video/init/")
    info = init.json()["post_info"]
    assert info["privacy_level"] == "PUBLIC_TO_EVERYONE" and info["video_cover_timestamp_ms"] == 1000
    assert info["title"].endswith("#python #uv #devtools")
    stored = await h.credentials.get("test", "tiktok")
    assert stored is not None and stored.reveal("refresh_token") == tt.refresh_token  # rotated token kept


async def test_inbox_mode_sends_a_draft(tt: FakeTikTok, settings: Settings, database: Database,
                                        big_video: Path) -> None:
    h = await _harness(tt, settings, database, big_video, mode="inbox")
    post = await h.service.publish(h.request(), "tiktok")
    assert post.status == "published" and "inbox" in post.reason and not post.url
    assert tt.calls("POST", r"/inbox/video/init/") and not tt.calls("POST", r"/creator_info/")
    assert tt.posts == {}


async def test_lost_answer_to_the_last_chunk_does_not_post_twice(h: Harness, tt: FakeTikTok) -> None:
    tt.drop_after("PUT", r"/upload/", when=lambda r: r.status == 201)
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "tiktok")

    post = await h.service.publish(h.request(), "tiktok")

    assert post.status == "published" and len(tt.posts) == 1 and len(tt.publishes) == 1
    assert len(tt.calls("POST", r"/video/init/")) == 1


async def test_interrupted_upload_resumes_at_uploaded_bytes(h: Harness, tt: FakeTikTok) -> None:
    tt.drop_after("PUT", r"/upload/", when=lambda r: r.status == 206)
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "tiktok")
    post = await h.service.publish(h.request(), "tiktok")
    assert post.status == "published" and len(tt.posts) == 1
    ranges = [r.header("content-range") for r in tt.calls("PUT", r"/upload/")]
    assert len(ranges) == 2 and ranges[1].startswith(f"bytes {5 * MB}-")


async def test_privacy_the_account_does_not_allow_fails_fast(tt: FakeTikTok, settings: Settings,
                                                             database: Database, big_video: Path) -> None:
    tt.privacy = ["SELF_ONLY"]  # an unaudited app
    h = await _harness(tt, settings, database, big_video)
    post = await h.service.publish(h.request(), "tiktok")
    assert post.status == "failed" and "allows SELF_ONLY" in post.reason and "publishing.tiktok.privacy" in post.reason
    assert not tt.calls("POST", r"/video/init/")


async def test_longer_than_the_account_allows_is_trimmed(tt: FakeTikTok, h: Harness, tmp_path: Path) -> None:
    tt.max_duration = 2
    post = await h.service.publish(h.request(), "tiktok")
    assert post.status == "published"
    pub = next(iter(tt.publishes.values()))
    (tmp_path / "up.mp4").write_bytes(bytes(pub["data"]))
    assert probe(tmp_path / "up.mp4").duration_s <= 2.0 and pub["size"] < h.video.size


async def test_rate_limit_and_invalid_token(h: Harness, tt: FakeTikTok) -> None:
    error = tiktok_error(429, "rate_limit_exceeded", "Too many requests")
    tt.fail("POST", r"/video/init/", error.status, error.body)
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(run_id="run-limited"), "tiktok")
    assert caught.value.retry_after == 60

    tt.tokens.clear()  # every access token revoked: refresh once, then carry on
    post = await h.service.publish(h.request(run_id="run-revoked"), "tiktok")
    assert post.status == "published"
    assert len(tt.calls("POST", r"/oauth/token/")) == 2


async def test_metrics_from_the_video_query(h: Harness, tt: FakeTikTok) -> None:
    post = await h.service.publish(h.request(), "tiktok")
    tt.stats[post.external_id] = {"view_count": 9100, "like_count": 700, "comment_count": 35, "share_count": 88}
    source = await h.service.registry.metrics_source("test", "tiktok")
    assert source is not None
    m = await source.metrics(post.external_id, {})
    await source.aclose()
    assert (m.views, m.likes, m.comments, m.shares) == (9100, 700, 35, 88)
