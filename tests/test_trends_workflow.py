"""TrendScanWorkflow end to end on the dev server: real workers, real HTTP clients against the local fake
APIs (one source down, one rate-limited once), real SQLite; and the Temporal Schedules that start it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from sma import queues
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.models.trends import TrendScanInput, TrendScanResult
from sma.schedules import TREND_KINDS, ensure_schedules, schedule_defs
from sma.services.trends.config import ProjectTrends, SourceEndpoints, SourceOptions, TrendSettings
from sma.services.trends.store import latest_scan, scan_results
from sma.settings import ProjectSettings, Secrets, Settings
from tests.conftest import running_workers
from tests.trend_fakes.server import TrendApis, serve


@pytest.fixture
def apis() -> Iterator[TrendApis]:
    with serve(datetime.now(UTC).timestamp()) as fake:
        yield fake


@pytest.fixture
def scan_settings(tmp_path: Path, apis: TrendApis) -> Settings:
    base = apis.base_url
    fast = SourceOptions(timeout_s=5, max_attempts=3, initial_retry_s=0.2, max_retry_after_s=5)
    return Settings(
        data_dir=tmp_path / "data",
        projects=[ProjectSettings(id="test", niche="software engineering and developer tools")],
        secrets=Secrets(youtube_api_key=SecretStr("AIza-test-key")),
        trends=TrendSettings(
            endpoints=SourceEndpoints(reddit=base, hackernews=base, google_trends=base, github=base, youtube=base),
            sources={name: fast for name in ("reddit", "hackernews", "google_trends", "github", "youtube")},
            embedding_model=str(tmp_path / "missing-model"),  # the niche test loads the real one; here: fallback
            projects={"test": ProjectTrends(subreddits=["programming"], include_keywords=["rust", "sqlite"],
                                            exclude_keywords=["cats"], youtube_queries=["rust"])},
        ),
    )


@pytest.fixture
async def scan_db(scan_settings: Settings) -> Database:
    scan_settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(scan_settings.database_url)
    db = Database(scan_settings.database_url)
    yield db  # type: ignore[misc]
    await db.close()


POOLS = (queues.WORKFLOWS, queues.CPU)


async def test_scan_survives_a_failing_source_and_reports_it(client: Client, scan_settings: Settings,
                                                             scan_db: Database, apis: TrendApis, suffix: str) -> None:
    apis.fail("/search/repositories", 500, {"message": "Server Error"}, times=-1)  # GitHub is down for good
    apis.fail("/r/", 429, {"message": "Too Many Requests", "error": 429}, headers={"Retry-After": "1"})
    async with running_workers(client, scan_settings, scan_db, suffix, pools=POOLS):
        result: TrendScanResult = await client.execute_workflow(
            "TrendScanWorkflow", TrendScanInput(project_id="test"), id=f"scan-{suffix}",
            task_queue=queues.WORKFLOWS + suffix, result_type=TrendScanResult)
    assert sorted(result.answered) == ["google_trends", "hackernews", "reddit", "youtube"]
    assert result.failed == ["github"]
    github = next(r for r in result.reports if r.source == "github")
    assert "HTTP 500" in github.error
    assert len(apis.requests("/search/repositories")) == 3  # its own retry policy: 3 attempts
    assert len(apis.requests("/r/programming/hot.json")) == 2  # waited for Retry-After, then answered
    assert any("keyword-only" in n for n in result.notes)
    assert result.top and "cats" not in " ".join(result.top).lower()

    scan = await latest_scan(scan_db, "test")
    assert scan is not None and json.loads(scan.failed) == ["github"] and scan.raw_items == result.raw_items
    rows = await scan_results(scan_db, scan.id)
    assert [r.rank for r in rows] == list(range(1, len(rows) + 1))
    assert rows == sorted(rows, key=lambda r: -r.score)
    rust = next(r for r in rows if len(json.loads(r.sources)) > 1)  # one topic merged across sources
    assert "rust 2.0" in rust.title.lower() and len(json.loads(rust.links)) >= 2
    assert rust.multi_source > 0 and rust.score == pytest.approx(
        0.35 * rust.popularity + 0.30 * rust.velocity + 0.20 * rust.freshness + 0.15 * rust.multi_source
        - 0.50 * rust.coverage_penalty, abs=1e-5)


async def test_every_source_down_still_stores_an_empty_scan(client: Client, scan_settings: Settings,
                                                            scan_db: Database, apis: TrendApis, suffix: str) -> None:
    for prefix in ("/r/", "/api/", "/trending/", "/search/", "/youtube/"):
        apis.fail(prefix, 400, {"message": "bad request"}, times=-1)
    async with running_workers(client, scan_settings, scan_db, suffix, pools=POOLS):
        result: TrendScanResult = await client.execute_workflow(
            "TrendScanWorkflow", TrendScanInput(project_id="test"), id=f"scan-{suffix}",
            task_queue=queues.WORKFLOWS + suffix, result_type=TrendScanResult)
    assert result.answered == [] and len(result.failed) == 5 and result.stored == 0
    assert len(apis.log) == 5  # 400 is permanent: no retries


async def test_schedules_are_created_idempotently_and_fire(client: Client, scan_settings: Settings,
                                                           scan_db: Database, suffix: str) -> None:
    scan_settings.projects.append(ProjectSettings(id="other"))
    first = await ensure_schedules(client, scan_settings, suffix, kinds=TREND_KINDS)
    assert set(first.values()) == {"created"} and len(first) == 4
    ids = list(first)
    try:
        again = await ensure_schedules(client, scan_settings, suffix, kinds=TREND_KINDS)
        assert set(again.values()) == {"unchanged"} and list(again) == ids  # idempotent
        scan_id = f"trend-scan-test{suffix}"
        described = await client.get_schedule_handle(scan_id).describe()
        assert described.schedule.spec.intervals[0].every.total_seconds() == 4 * 3600
        every = {d.id: d.every.total_seconds() / 3600 for d in schedule_defs(scan_settings, suffix)}
        assert every[f"content-scheduler-test{suffix}"] == 12
        async with running_workers(client, scan_settings, scan_db, suffix, pools=POOLS):
            await client.get_schedule_handle(scan_id).trigger()
            for _ in range(200):
                desc = await client.get_schedule_handle(scan_id).describe()
                if desc.info.recent_actions:
                    break
                await asyncio.sleep(0.1)
            started = desc.info.recent_actions[0].action
            result = await client.get_workflow_handle(started.workflow_id).result()
        assert result["project_id"] == "test" and result["answered"]
        scan_settings.scheduler.enabled = False
        off = await ensure_schedules(client, scan_settings, suffix, kinds=TREND_KINDS)
        assert off[f"content-scheduler-test{suffix}"] == "deleted"
    finally:
        for schedule_id in ids:
            with contextlib.suppress(Exception):
                await client.get_schedule_handle(schedule_id).delete()
