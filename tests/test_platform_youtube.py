"""YouTube Shorts adapter against a local server speaking the Data API v3 resumable upload protocol."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.db.tables_publishing import PublishRecord
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, settings_for
from tests.platform_fakes.youtube import FakeYouTube, google_error


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4")


@pytest.fixture
def yt() -> Iterator[FakeYouTube]:
    with FakeYouTube() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
async def h(yt: FakeYouTube, settings: Settings, database: Database, video_file: Path) -> Harness:
    s = settings_for(settings, api=api_for(youtube=yt.url, google_oauth=yt.url, youtube_analytics=yt.url))
    h = harness(s, database, video_file)
    await h.set_credentials("youtube", client_id=yt.client_id, client_secret=yt.client_secret,
                            refresh_token=yt.refresh_token)
    return h


async def test_publishes_a_short_with_metadata_in_chunks(h: Harness, yt: FakeYouTube) -> None:
    post = await h.service.publish(h.request(), "youtube")

    assert post.status == "published", post.reason
    [video] = yt.uploaded_videos()
    assert post.external_id == video["id"] and post.url == f"https://www.youtube.com/shorts/{video['id']}"
    assert video["snippet"]["title"] == "Why uv is so fast #Shorts"
    assert video["snippet"]["tags"] == ["python", "uv", "devtools"]
    assert video["status"] == {"privacyStatus": "public", "selfDeclaredMadeForKids": False, "uploadStatus": "uploaded"}
    assert video["size"] == h.video.size
    assert len(yt.calls("PUT", r"/upload/")) == -(-h.video.size // (256 * 1024)) >= 2  # one PUT per chunk
    assert len(yt.calls("POST", r"/token")) == 1  # no access token stored: refreshed before the first call
    record = await h.ledger.get("content-test-item1", "youtube")
    assert record is not None and record.state == "published" and "session_uri" in record.progress


async def test_a_second_publish_of_the_same_run_returns_the_first_post(h: Harness, yt: FakeYouTube) -> None:
    first = await h.service.publish(h.request(), "youtube")
    again = await h.service.publish(h.request(), "youtube")
    assert again == first
    assert len(yt.uploaded_videos()) == 1
    assert len(yt.calls("POST", r"/upload/youtube/v3/videos")) == 1


async def test_expired_token_is_refreshed_once_and_the_call_repeated(h: Harness, yt: FakeYouTube) -> None:
    await h.set_credentials("youtube", client_id=yt.client_id, client_secret=yt.client_secret,
                            refresh_token=yt.refresh_token, access_token=yt.issue_token(),
                            expires_at=utcnow() + timedelta(hours=1))
    yt.expire_all_tokens()  # revoked or expired early on the server side

    post = await h.service.publish(h.request(), "youtube")

    assert post.status == "published"
    assert len(yt.calls("POST", r"/token")) == 1
    stored = await h.credentials.get("test", "youtube")
    assert stored is not None and stored.expires_at is not None and stored.expires_at > utcnow() + timedelta(minutes=50)


async def test_token_close_to_expiry_is_refreshed_before_use(h: Harness, yt: FakeYouTube) -> None:
    old = yt.issue_token()
    await h.set_credentials("youtube", client_id=yt.client_id, client_secret=yt.client_secret,
                            refresh_token=yt.refresh_token, access_token=old,
                            expires_at=utcnow() + timedelta(seconds=60))  # inside the 300 s margin
    await h.service.publish(h.request(), "youtube")
    assert len(yt.calls("POST", r"/token")) == 1
    assert all(r.header("authorization") != f"Bearer {old}" for r in yt.log if r.path.startswith("/upload"))


async def test_short_rate_limit_is_waited_out_long_one_goes_to_temporal(h: Harness, yt: FakeYouTube) -> None:
    limited = google_error(429, "rateLimitExceeded", "Too many requests")
    yt.fail("POST", r"/upload/youtube/v3/videos", 429, limited, {"Retry-After": "1"})
    post = await h.service.publish(h.request(run_id="run-short-wait"), "youtube")
    assert post.status == "published"

    yt.fail("POST", r"/upload/youtube/v3/videos", 429, limited, {"Retry-After": "3600"})
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(run_id="run-long-wait"), "youtube")
    assert caught.value.retry_after == 3600


async def test_answer_lost_after_the_last_chunk_then_retry_finds_the_upload(h: Harness, yt: FakeYouTube) -> None:
    size = h.video.size
    yt.drop_after("PUT", r"/upload/", when=lambda r: r.status in (200, 201))  # applied, answer lost
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "youtube")
    assert len(yt.uploaded_videos()) == 1  # the platform has the video; we never heard back

    post = await h.service.publish(h.request(), "youtube")

    assert post.status == "published" and post.external_id == yt.uploaded_videos()[0]["id"]
    assert len(yt.uploaded_videos()) == 1
    assert len(yt.calls("POST", r"/upload/youtube/v3/videos")) == 1  # no second session
    assert yt.calls("PUT", r"/upload/")[-1].header("content-range") == f"bytes */{size}"


async def test_interrupted_upload_resumes_from_the_range_the_server_has(h: Harness, yt: FakeYouTube) -> None:
    yt.drop_after("PUT", r"/upload/")  # first chunk applied, connection lost
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "youtube")

    post = await h.service.publish(h.request(), "youtube")

    assert post.status == "published"
    ranges = [r.header("content-range") for r in yt.calls("PUT", r"/upload/")]
    assert ranges[0].startswith("bytes 0-") and ranges[1] == f"bytes */{h.video.size}"
    assert ranges[2].startswith(f"bytes {256 * 1024}-")  # resumed, not restarted
    assert len(yt.uploaded_videos()) == 1


async def test_expired_session_checks_the_channel_before_uploading_again(h: Harness, yt: FakeYouTube) -> None:
    await h.service.publish(h.request(), "youtube")
    async with h.database.session() as session:  # pretend the answer was lost and the session expired
        record = (await session.exec(select(PublishRecord))).one()
        record.state = "started"
        session.add(record)
        await session.commit()
    yt.sessions.clear()

    post = await h.service.publish(h.request(), "youtube")

    assert post.status == "published" and post.external_id == yt.uploaded_videos()[0]["id"]
    assert len(yt.uploaded_videos()) == 1 and len(yt.calls("GET", r"/playlistItems")) == 1
    assert len(yt.calls("POST", r"/thumbnails/set")) == 1  # set by the first attempt, not again


async def test_quota_and_revoked_refresh_token_fail_with_what_to_do(h: Harness, yt: FakeYouTube) -> None:
    yt.fail("POST", r"/upload/youtube/v3/videos", 403, google_error(403, "quotaExceeded", "quota"))
    post = await h.service.publish(h.request(run_id="run-quota"), "youtube")
    assert post.status == "failed" and "quota" in post.reason

    yt.refresh_token = "revoked"
    yt.expire_all_tokens()
    post = await h.service.publish(h.request(run_id="run-revoked"), "youtube")
    assert post.status == "failed"
    assert "sma credentials set test youtube" in post.reason


async def test_metrics_read_statistics_and_analytics(h: Harness, yt: FakeYouTube) -> None:
    post = await h.service.publish(h.request(), "youtube")
    yt.stats[post.external_id] = {"viewCount": 1200, "likeCount": 90, "commentCount": 7}
    yt.analytics[post.external_id] = {"estimatedMinutesWatched": 30, "averageViewDuration": 12.5,
                                      "averageViewPercentage": 61.0, "subscribersGained": 4, "shares": 11}
    source = await h.service.registry.metrics_source("test", "youtube")
    assert source is not None
    try:
        metrics = await source.metrics(post.external_id, {})
    finally:
        await source.aclose()
    assert (metrics.views, metrics.likes, metrics.comments, metrics.shares) == (1200, 90, 7, 11)
    assert metrics.watch_time_s == 1800 and metrics.avg_view_s == 12.5 and metrics.retention == 0.61
    assert metrics.followers_gained == 4


async def test_the_cover_with_the_hook_is_set_as_the_thumbnail(h: Harness, yt: FakeYouTube) -> None:
    post = await h.service.publish(h.request(), "youtube")
    assert post.status == "published", post.reason
    png = yt.thumbnails[post.external_id]
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(png)) as cover:
        assert cover.size == (1280, 720) and cover.format == "PNG"


async def test_a_refused_thumbnail_is_a_note_and_the_post_stands(h: Harness, yt: FakeYouTube) -> None:
    yt.thumbnails_forbidden = True
    post = await h.service.publish(h.request(), "youtube")
    assert post.status == "published" and "thumbnail not set" in post.reason, post.reason
    assert not yt.thumbnails


async def test_a_resumed_upload_sets_the_thumbnail_too(h: Harness, yt: FakeYouTube) -> None:
    yt.drop_after("PUT", r"/upload/")  # first chunk applied, connection lost
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "youtube")

    post = await h.service.publish(h.request(), "youtube")

    assert post.status == "published" and "thumbnail not set" not in post.reason, post.reason
    assert set(yt.thumbnails) == {post.external_id}


async def test_an_upload_found_finished_on_retry_sets_the_thumbnail_once(h: Harness, yt: FakeYouTube) -> None:
    yt.drop_after("PUT", r"/upload/", when=lambda r: r.status in (200, 201))  # applied, answer lost
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "youtube")
    assert not yt.thumbnails  # the first attempt never learned the video id

    post = await h.service.publish(h.request(), "youtube")
    again = await h.service.publish(h.request(), "youtube")

    assert post.status == "published" and set(yt.thumbnails) == {post.external_id}
    assert again.external_id == post.external_id and len(yt.calls("POST", r"/thumbnails/set")) == 1
