"""Facebook Reels and Instagram Reels adapters against a local Graph API, with the three media hosts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.engine import Database
from sma.services.media.ffmpeg import probe
from sma.services.platforms.config import FacebookOptions, MediaHostSettings, S3Host
from sma.services.platforms.errors import RetryLater
from sma.settings import Settings
from tests.platform_fakes.kit import Harness, api_for, harness, make_video, script, settings_for
from tests.platform_fakes.meta import VERSION, FakeGraph, graph_error
from tests.platform_fakes.storage import FakeCloudinary, FakeS3, StaticFiles


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "short.mp4", bitrate="600k")


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def static(tmp_path: Path) -> Iterator[StaticFiles]:
    with StaticFiles(tmp_path / "public") as server:
        yield server  # type: ignore[misc]


async def _harness(graph: FakeGraph, settings: Settings, database: Database, video_file: Path,
                   **publishing: object) -> Harness:
    publishing.setdefault("api", api_for(graph=graph.url, graph_version=VERSION, facebook_upload=graph.url))
    s = settings_for(settings, **publishing)
    h = harness(s, database, video_file)
    await h.set_credentials("facebook", page_id=graph.page_id, page_access_token="EAAG-page-token")
    await h.set_credentials("instagram", ig_user_id=graph.ig_user_id, access_token="EAAG-ig-token")
    return h


@pytest.fixture
async def h(graph: FakeGraph, static: StaticFiles, settings: Settings, database: Database, video_file: Path) -> Harness:
    host = MediaHostSettings(kind="public_dir", public_dir=static.folder, public_base_url=f"{static.url}/media")
    return await _harness(graph, settings, database, video_file, media_host=host)


# ---------------------------------------------------------------- Facebook


async def test_facebook_reel_start_upload_finish_and_poll(h: Harness, graph: FakeGraph) -> None:
    post = await h.service.publish(h.request(platforms=["facebook"]), "facebook")

    assert post.status == "published", post.reason
    [reel] = graph.published_reels()
    assert post.url == f"https://www.facebook.com/reel/{post.external_id}"
    assert bytes(reel["data"]) == Path(h.video.path).read_bytes()
    assert reel["description"].endswith("#python #uv #devtools") and reel["state"] == "PUBLISHED"
    assert graph.calls("POST", r"/video-upload/")[0].header("file_size") == str(h.video.size)
    assert len(graph.calls("GET", rf"/{post.external_id}$")) == graph.processing_polls + 1  # polled to complete


async def test_facebook_lost_finish_answer_is_not_published_twice(h: Harness, graph: FakeGraph) -> None:
    graph.drop_after("POST", r"/video_reels", when=lambda r: r.status == 200 and r.body == {"success": True})
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "facebook")

    post = await h.service.publish(h.request(), "facebook")

    assert post.status == "published" and len(graph.published_reels()) == 1
    finishes = [r for r in graph.calls("POST", r"/video_reels") if r.form().get("upload_phase") == "finish"]
    assert len(finishes) == 1


async def test_facebook_lost_upload_answer_goes_on_to_finish(h: Harness, graph: FakeGraph) -> None:
    graph.drop_after("POST", r"/video-upload/")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "facebook")
    post = await h.service.publish(h.request(), "facebook")
    assert post.status == "published"
    assert len(graph.calls("POST", r"/video-upload/")) == 1 and len(graph.videos) == 1


async def test_facebook_expired_token_asks_for_reauth_and_rate_limit_retries(h: Harness, graph: FakeGraph) -> None:
    graph.valid_tokens.discard("EAAG-page-token")
    post = await h.service.publish(h.request(run_id="run-expired"), "facebook")
    assert post.status == "failed" and "sma credentials set test facebook" in post.reason

    graph.valid_tokens.add("EAAG-page-token")
    error = graph_error(32, "Page request limit reached", kind="OAuthException")
    graph.fail("POST", r"/video_reels", error.status, error.body)
    with pytest.raises(RetryLater) as caught:
        await h.service.publish(h.request(run_id="run-limited"), "facebook")
    assert caught.value.retry_after == 60


async def test_too_long_video_is_trimmed_or_refused(graph: FakeGraph, settings: Settings, database: Database,
                                                    video_file: Path) -> None:
    h = await _harness(graph, settings, database, video_file, facebook=FacebookOptions(max_duration_s=2.0))
    post = await h.service.publish(h.request(run_id="run-trim"), "facebook")
    assert post.status == "published"
    uploaded = bytes(graph.published_reels()[0]["data"])
    trimmed = Path(h.artifacts.tmp.parent / "check.mp4")
    trimmed.write_bytes(uploaded)
    assert 1.0 < probe(trimmed).duration_s <= 2.0

    h = await _harness(graph, settings, database, video_file,
                       facebook=FacebookOptions(max_duration_s=2.0, on_too_long="fail"))
    post = await h.service.publish(h.request(run_id="run-refuse"), "facebook")
    assert post.status == "failed" and "Facebook Reels accepts at most 2 s" in post.reason


async def test_facebook_metrics_from_video_insights(h: Harness, graph: FakeGraph) -> None:
    graph.insights["555"] = {"blue_reels_play_count": 4000, "post_video_avg_time_watched": 7300,
                             "post_video_view_time": 29_200_000, "post_video_followers": 12,
                             "post_video_social_actions": {"COMMENT": 14, "SHARE": 33},
                             "post_video_likes_by_reaction_type": {"REACTION_LIKE": 200, "REACTION_LOVE": 25}}
    source = await h.service.registry.metrics_source("test", "facebook")
    assert source is not None
    m = await source.metrics("555", {})
    await source.aclose()
    assert (m.views, m.likes, m.comments, m.shares, m.followers_gained) == (4000, 225, 14, 33, 12)
    assert m.avg_view_s == 7.3 and m.watch_time_s == 29200


# ---------------------------------------------------------------- Instagram


async def test_instagram_container_fetches_the_public_url_then_publishes(h: Harness, graph: FakeGraph) -> None:
    post = await h.service.publish(h.request(), "instagram")

    assert post.status == "published", post.reason
    [container] = graph.containers.values()
    assert container["bytes"] == h.video.size  # Instagram really fetched the file from the public URL
    assert container["thumb_offset"] == "1000" and container["share_to_feed"] == "true"
    assert post.url == graph.media[post.external_id]["permalink"]
    assert len(graph.calls("GET", r"/\d+$")) >= graph.processing_polls + 1  # polled IN_PROGRESS -> FINISHED


async def test_instagram_lost_publish_answer_finds_the_post(h: Harness, graph: FakeGraph) -> None:
    graph.drop_after("POST", r"/media_publish")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "instagram")

    post = await h.service.publish(h.request(), "instagram")

    assert post.status == "published" and len(graph.media) == 1
    assert post.external_id == next(iter(graph.media))
    assert len(graph.calls("POST", r"/media_publish")) == 1


async def test_instagram_lost_container_answer_makes_one_post(h: Harness, graph: FakeGraph) -> None:
    graph.drop_after("POST", rf"/{graph.ig_user_id}/media$")
    with pytest.raises(RetryLater):
        await h.service.publish(h.request(), "instagram")
    post = await h.service.publish(h.request(), "instagram")
    assert post.status == "published"
    assert len(graph.containers) == 2 and len(graph.media) == 1  # the orphan container expires unpublished


async def test_instagram_needs_a_media_host_and_a_reachable_url(graph: FakeGraph, settings: Settings,
                                                                database: Database, video_file: Path,
                                                                tmp_path: Path) -> None:
    h = await _harness(graph, settings, database, video_file)
    post = await h.service.publish(h.request(run_id="run-nohost"), "instagram")
    assert post.status == "failed" and "publishing.media_host" in post.reason

    host = MediaHostSettings(kind="public_dir", public_dir=tmp_path / "nowhere", public_base_url="http://127.0.0.1:9")
    h = await _harness(graph, settings, database, video_file, media_host=host)
    post = await h.service.publish(h.request(run_id="run-unreachable"), "instagram")
    assert post.status == "failed" and "could not process the video" in post.reason


async def test_instagram_caption_limits(h: Harness, graph: FakeGraph) -> None:
    req = h.request()
    req.script = script(hashtags=[f"tag{i}" for i in range(40)], description="word " * 1000)
    post = await h.service.publish(req, "instagram")
    assert post.status == "published"
    caption = next(iter(graph.containers.values()))["caption"]
    assert len(caption) <= 2200 and caption.count("#") == 30 and caption.endswith("#tag29")
    assert "…" in caption


async def test_instagram_through_an_s3_bucket(graph: FakeGraph, settings: Settings, database: Database,
                                              video_file: Path) -> None:
    with FakeS3() as s3:
        host = MediaHostSettings(kind="s3", s3=S3Host(endpoint=s3.url, bucket="media", path_style=True))  # type: ignore[attr-defined]
        h = await _harness(graph, settings, database, video_file, media_host=host)
        await h.set_credentials("s3", access_key_id=s3.access_key, secret_access_key=s3.secret_key)  # type: ignore[attr-defined]
        post = await h.service.publish(h.request(), "instagram")
        assert post.status == "published", post.reason
        assert list(s3.objects) == [f"/media/sma/{h.video.sha256}.mp4"]  # type: ignore[attr-defined]
        assert next(iter(graph.containers.values()))["bytes"] == h.video.size
        assert len(s3.calls("GET", r"/media/")) == 1  # Instagram's fetch, through the presigned GET


async def test_instagram_through_cloudinary(graph: FakeGraph, settings: Settings, database: Database,
                                            video_file: Path) -> None:
    with FakeCloudinary() as cloud:
        h = await _harness(graph, settings, database, video_file, api=api_for(
            graph=graph.url, graph_version=VERSION, cloudinary=cloud.url), media_host=MediaHostSettings(
            kind="cloudinary", cloudinary={"cloud_name": "demo", "folder": "sma"}))
        await h.set_credentials("cloudinary", api_key=cloud.api_key, api_secret=cloud.api_secret)  # type: ignore[attr-defined]
        post = await h.service.publish(h.request(), "instagram")
        assert post.status == "published", post.reason
        assert list(cloud.assets) == [f"sma/{h.video.sha256}"]  # type: ignore[attr-defined]


async def test_instagram_metrics_from_media_insights(h: Harness, graph: FakeGraph) -> None:
    graph.insights["777"] = {"views": 5200, "likes": 310, "comments": 22, "shares": 40, "saved": 65,
                             "ig_reels_avg_watch_time": 6100, "ig_reels_video_view_total_time": 31_720_000}
    source = await h.service.registry.metrics_source("test", "instagram")
    assert source is not None
    m = await source.metrics("777", {})
    await source.aclose()
    assert (m.views, m.likes, m.comments, m.shares, m.saves) == (5200, 310, 22, 40, 65)
    assert m.avg_view_s == 6.1 and m.watch_time_s == 31720
