"""Each trend source, with its real httpx client, against a local server speaking the API's wire format:
normal answers, 429 with Retry-After, 5xx, malformed bodies, quota errors and missing keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sma.services.trends.config import ProjectTrends, SourceEndpoints, SourceOptions, TrendSettings
from sma.services.trends.sources.base import BadPayload, NotConfigured, RateLimited, Rejected, Unavailable
from sma.services.trends.sources.github import GitHubSource
from sma.services.trends.sources.google_trends import GoogleTrendsSource, approx_traffic
from sma.services.trends.sources.hackernews import HackerNewsSource
from sma.services.trends.sources.reddit import RedditSource
from sma.services.trends.sources.youtube import YouTubeSource
from tests.trend_fakes.server import TrendApis, serve

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PROJECT = ProjectTrends(subreddits=["programming"], github_topics=["rust"], youtube_queries=["rust"])


@pytest.fixture
def apis() -> Iterator[TrendApis]:
    with serve(NOW.timestamp()) as fake:
        yield fake


def trend_settings(base: str) -> TrendSettings:
    endpoints = SourceEndpoints(reddit=base, hackernews=base, google_trends=base, github=base, youtube=base)
    return TrendSettings(endpoints=endpoints,
                         sources={name: SourceOptions(timeout_s=5) for name in TrendSettings().sources})


async def test_reddit_hot_listing(apis: TrendApis) -> None:
    result = await RedditSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)
    titles = [i.title for i in result.items]
    assert "Rust 2.0 released with async traits" in titles
    assert "Weekly off-topic thread" not in titles  # stickied
    rust = result.items[0]
    assert rust.popularity_raw == 4210 and rust.comments == 812
    assert rust.velocity_raw == pytest.approx(4210 / 3.0)
    assert rust.url == "https://www.reddit.com/r/programming/comments/1a2b3c/slug/"
    sent = apis.requests("/r/programming/hot.json")[0]
    assert sent.query["limit"] == "50" and "sma-trends" in sent.headers["user-agent"]


async def test_hackernews_front_page_and_query(apis: TrendApis) -> None:
    source = HackerNewsSource(trend_settings(apis.base_url))
    result = await source.fetch("p", ProjectTrends(), NOW)
    assert [i.popularity_raw for i in result.items] == [1290, 310, 120]
    assert apis.requests("/api/v1/search")[0].query["tags"] == "front_page"
    await source.fetch("p", ProjectTrends(hn_query="rust"), NOW)
    query = apis.requests("/api/v1/search")[1].query
    assert query["query"] == "rust" and query["numericFilters"].startswith("created_at_i>")


async def test_google_trends_rss(apis: TrendApis) -> None:
    result = await GoogleTrendsSource(trend_settings(apis.base_url)).fetch("p", ProjectTrends(region="DE"), NOW)
    assert [i.title for i in result.items] == ["rust 2.0", "champions league", "sqlite"]
    assert result.items[1].popularity_raw == 2_000_000
    assert result.items[0].url == "https://news.example.com/rust"
    assert result.items[0].published_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert apis.requests("/trending/rss")[0].query == {"geo": "DE"}
    assert approx_traffic("200,000+") == 200_000 and approx_traffic("2K+") == 2000 and approx_traffic("?") == 0


async def test_github_search(apis: TrendApis) -> None:
    result = await GitHubSource(trend_settings(apis.base_url), token="ghp_secret").fetch("p", PROJECT, NOW)
    assert result.items[0].title == "sqlite-queue: A tiny SQLite-backed job queue"
    assert result.items[2].title == "someone/dotfiles"  # no description
    sent = apis.requests("/search/repositories")[0]
    assert sent.query["q"] == "created:>2026-11-09 topic:rust" and sent.query["sort"] == "stars"
    assert sent.headers["authorization"] == "Bearer ghp_secret"


async def test_youtube_search_then_statistics(apis: TrendApis) -> None:
    result = await YouTubeSource(trend_settings(apis.base_url), api_key="AIza-test").fetch("p", PROJECT, NOW)
    assert [i.external_id for i in result.items] == ["vidRust20", "vidSqlite"]
    assert result.items[0].popularity_raw == 1_250_000  # viewCount arrives as a string
    assert apis.requests("/youtube/v3/videos")[0].query["id"] == "vidRust20,vidSqlite"


async def test_youtube_most_popular_chart(apis: TrendApis) -> None:
    result = await YouTubeSource(trend_settings(apis.base_url), api_key="k").fetch("p", ProjectTrends(), NOW)
    assert len(result.items) == 3
    query = apis.requests("/youtube/v3/videos")[0].query
    assert query["chart"] == "mostPopular" and query["videoCategoryId"] == "28"


async def test_youtube_without_key_is_not_configured(apis: TrendApis) -> None:
    with pytest.raises(NotConfigured):
        await YouTubeSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)
    assert apis.log == []


async def test_youtube_quota_exceeded_is_a_rate_limit_without_wait(apis: TrendApis) -> None:
    from tests.trend_fakes.payloads import youtube_error

    apis.fail("/youtube/v3/", 403, youtube_error(403, "quotaExceeded", "quota", "youtube.quota"))
    with pytest.raises(RateLimited) as caught:
        await YouTubeSource(trend_settings(apis.base_url), api_key="k").fetch("p", ProjectTrends(), NOW)
    assert caught.value.retry_after is None


async def test_429_with_retry_after(apis: TrendApis) -> None:
    apis.fail("/r/", 429, {"message": "Too Many Requests", "error": 429}, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as caught:
        await RedditSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)
    assert caught.value.retry_after == 7
    assert "Too Many Requests" in str(caught.value)
    result = await RedditSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)  # next one is fine
    assert result.items


async def test_reddit_429_with_ratelimit_reset_header(apis: TrendApis) -> None:
    apis.fail("/r/", 429, b"", headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "42"})
    with pytest.raises(RateLimited) as caught:
        await RedditSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)
    assert caught.value.retry_after == 42


async def test_github_rate_limit_403_uses_reset_epoch(apis: TrendApis) -> None:
    reset = int(time.time()) + 30
    apis.fail("/search/", 403, {"message": "API rate limit exceeded for 127.0.0.1.",
                                "documentation_url": "https://docs.github.com/rest/rate-limit"},
              headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)})
    with pytest.raises(RateLimited) as caught:
        await GitHubSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)
    assert 25 <= (caught.value.retry_after or 0) <= 31


async def test_server_error_is_retryable(apis: TrendApis) -> None:
    apis.fail("/api/v1/search", 503, b"upstream down")
    with pytest.raises(Unavailable) as caught:
        await HackerNewsSource(trend_settings(apis.base_url)).fetch("p", ProjectTrends(), NOW)
    assert caught.value.retryable


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2", b"\xff\xfe garbage"])
async def test_malformed_json_is_bad_payload(apis: TrendApis, body: bytes) -> None:
    apis.fail("/api/v1/search", 200, body)
    with pytest.raises(BadPayload) as caught:
        await HackerNewsSource(trend_settings(apis.base_url)).fetch("p", ProjectTrends(), NOW)
    assert not caught.value.retryable


async def test_wrong_shape_is_bad_payload(apis: TrendApis) -> None:
    apis.fail("/r/", 200, {"kind": "t3", "data": {}})
    with pytest.raises(BadPayload, match="Listing"):
        await RedditSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)
    apis.fail("/r/", 200, {"kind": "Listing", "data": {"children": [{"kind": "t3", "data": {"id": "x"}}]}})
    with pytest.raises(BadPayload, match=r"title|score"):
        await RedditSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)


async def test_malformed_rss_is_bad_payload(apis: TrendApis) -> None:
    apis.fail("/trending/rss", 200, "<rss><channel><item><title>unclosed")
    with pytest.raises(BadPayload, match="XML"):
        await GoogleTrendsSource(trend_settings(apis.base_url)).fetch("p", ProjectTrends(), NOW)


async def test_client_error_is_rejected(apis: TrendApis) -> None:
    apis.fail("/search/", 422, {"message": "Validation Failed"})
    with pytest.raises(Rejected, match="Validation Failed"):
        await GitHubSource(trend_settings(apis.base_url)).fetch("p", PROJECT, NOW)


async def test_unreachable_server_is_unavailable() -> None:
    settings = trend_settings("http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(Unavailable):
        await HackerNewsSource(settings).fetch("p", ProjectTrends(), NOW)
