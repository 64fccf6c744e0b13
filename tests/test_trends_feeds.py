"""RSS/Atom feeds as a trend source: real feedparser over real HTTP from a local server, per-project feed
lists, one broken feed reported without losing the others, and a real scan (dev server) that scores,
deduplicates across sources and stores feed items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from sma import queues
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.models.trends import ScanPlanRequest, TrendScanInput, TrendScanResult
from sma.services.trends.config import ProjectTrends, SourceEndpoints, SourceOptions, TrendSettings
from sma.services.trends.service import plan_scan
from sma.services.trends.sources.base import BadPayload, NotConfigured, Unavailable
from sma.services.trends.sources.feeds import FeedSource
from sma.services.trends.store import latest_scan, scan_results
from sma.settings import ProjectSettings, Settings
from tests.conftest import running_workers
from tests.trend_fakes.server import TrendApis, serve

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def apis() -> Iterator[TrendApis]:
    with serve(NOW.timestamp()) as fake:
        yield fake


def _settings(**options: float) -> TrendSettings:
    return TrendSettings(sources={"feeds": SourceOptions(timeout_s=5, **options)})


async def test_rss_and_atom_feeds_become_trend_items(apis: TrendApis) -> None:
    project = ProjectTrends(feeds=[f"{apis.base_url}/feeds/blog.rss", f"{apis.base_url}/feeds/news.atom"])
    result = await FeedSource(_settings()).fetch("p", project, NOW)
    titles = [i.title for i in result.items]
    assert titles == ["Rust 2.0 released", "Profiling SQLite queries in production",
                      "A tiny job queue on SQLite", "Why microservices cost more than you think"]  # untitled: dropped
    rust = result.items[0]
    assert rust.url == "https://blog.example.com/rust-2" and rust.comments == 42 and rust.popularity_raw == 43
    assert rust.summary == "The Rust 2.0 release adds async traits & a new edition."  # HTML removed
    assert rust.published_at == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert rust.velocity_raw == pytest.approx(43.0)  # per hour, one hour old
    assert "feed:blog.example.com" not in rust.tags and any(t.startswith("feed:127.0.0.1") for t in rust.tags)
    atom = result.items[2]
    assert atom.url == "https://news.example.org/queue" and atom.published_at == datetime(2026, 11, 23, 9, 0,
                                                                                           tzinfo=UTC)
    assert result.requests == 2 and "sma-trends" in apis.requests("/feeds/blog.rss")[0].headers["user-agent"]


async def test_one_broken_feed_is_a_note_and_all_broken_is_the_error(apis: TrendApis) -> None:
    good, page = f"{apis.base_url}/feeds/blog.rss", f"{apis.base_url}/feeds/not-a-feed"
    apis.fail("/feeds/down", 503, "maintenance", times=-1)
    down = f"{apis.base_url}/feeds/down"
    result = await FeedSource(_settings()).fetch("p", ProjectTrends(feeds=[good, down, page]), NOW)
    assert len(result.items) == 2
    assert any(down in n and "HTTP 503" in n for n in result.notes)
    assert any(page in n and "not an RSS or Atom feed" in n for n in result.notes)
    with pytest.raises(BadPayload, match="not an RSS or Atom feed"):
        await FeedSource(_settings()).fetch("p", ProjectTrends(feeds=[page]), NOW)
    with pytest.raises(Unavailable, match="HTTP 503"):
        await FeedSource(_settings()).fetch("p", ProjectTrends(feeds=[down]), NOW)
    with pytest.raises(NotConfigured, match=r"trends\.projects\.p\.feeds"):
        await FeedSource(_settings()).fetch("p", ProjectTrends(), NOW)


def test_feed_urls_must_be_http_and_projects_without_feeds_skip_the_source() -> None:
    with pytest.raises(ValueError, match="must start with http"):
        ProjectTrends(feeds=["file:///etc/passwd"])
    settings = TrendSettings(projects={"with": ProjectTrends(feeds=["https://blog.example.com/feed"]),
                                       "named": ProjectTrends(sources=["hackernews", "feeds"])})
    assert "feeds" in [p.source for p in plan_scan(settings, ScanPlanRequest(project_id="with")).sources]
    quiet = plan_scan(settings, ScanPlanRequest(project_id="without"))
    assert "feeds" not in [p.source for p in quiet.sources] + [r.source for r in quiet.skipped]
    named = plan_scan(settings, ScanPlanRequest(project_id="named"))
    assert [r.error for r in named.skipped] == ["no feeds configured (trends.projects.named.feeds)"]


async def test_a_scan_scores_and_merges_feed_items_with_other_sources(
        client: Client, tmp_path: Path, suffix: str) -> None:
    with serve(datetime.now(UTC).timestamp()) as apis:
        base = apis.base_url
        settings = Settings(
            data_dir=tmp_path / "data", projects=[ProjectSettings(id="test", niche="developer tools")],
            trends=TrendSettings(
                endpoints=SourceEndpoints(hackernews=base),
                sources={n: SourceOptions(timeout_s=5, initial_retry_s=0.2) for n in ("hackernews", "feeds")},
                embedding_model=str(tmp_path / "missing-model"),  # keyword filter: no model load here
                projects={"test": ProjectTrends(sources=["hackernews", "feeds"], include_keywords=["rust", "sqlite"],
                                                feeds=[f"{base}/feeds/blog.rss", f"{base}/feeds/news.atom",
                                                       f"{base}/feeds/gone"])}))
        settings.data_dir.mkdir(parents=True)
        upgrade(settings.database_url)
        database = Database(settings.database_url)
        try:
            async with running_workers(client, settings, database, suffix, pools=(queues.WORKFLOWS, queues.CPU)):
                result: TrendScanResult = await client.execute_workflow(
                    "TrendScanWorkflow", TrendScanInput(project_id="test"),
                    id=f"feeds-scan-{suffix}", task_queue=queues.WORKFLOWS + suffix, result_type=TrendScanResult)
            assert sorted(result.answered) == ["feeds", "hackernews"] and result.failed == []
            feeds = next(r for r in result.reports if r.source == "feeds")
            assert feeds.items == 4 and f"{base}/feeds/gone: feeds: HTTP 404" in feeds.error  # the others still count
            scan = await latest_scan(database, "test")
            assert scan is not None
            rows = await scan_results(database, scan.id)
        finally:
            await database.close()
    assert rows == sorted(rows, key=lambda r: -r.score) and all(r.score > 0 for r in rows)
    rust = next(r for r in rows if "rust 2.0" in r.title.lower())
    assert sorted(json.loads(rust.sources)) == ["feeds", "hackernews"] and rust.multi_source > 0
    assert any(r.title == "Profiling SQLite queries in production" for r in rows)
    assert not any("microservices" in r.title for r in rows)  # off the project's keywords
