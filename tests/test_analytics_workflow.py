"""AnalyticsCollectorWorkflow on the time-skipping test server, with the real activities against a local
YouTube API: missed checkpoints are collected late and marked so, upcoming ones exactly on time."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import col, select
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from sma import queues
from sma.activities.analytics import AnalyticsActivities
from sma.db.engine import Database
from sma.db.tables_publishing import PostMetric
from sma.models.analytics import CollectorInput, CollectorResult
from sma.models.pipeline import PostResult
from sma.services.analytics.collector import build_analytics_service
from sma.services.platforms.credentials import Credentials
from sma.settings import Settings
from sma.workflows.analytics import AnalyticsCollectorWorkflow
from tests.platform_fakes.kit import api_for, settings_for
from tests.platform_fakes.youtube import FakeYouTube

HISTORY = Path(__file__).parent / "histories" / "analytics" / "collector.json"


@pytest.fixture(scope="module")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter)
    yield env
    await env.shutdown()


@pytest.fixture
def yt() -> Iterator[FakeYouTube]:
    with FakeYouTube() as server:
        yield server  # type: ignore[misc]


async def _seed(s: Settings, database: Database, yt: FakeYouTube, now_offsets: dict[str, timedelta]) -> None:
    """Published YouTube posts (and three earlier ones with 1h metrics, the baseline for the viral score)."""
    service = build_analytics_service(s, database)
    ledger = service.ledger
    store = service.registry.credentials
    assert store is not None
    await store.put(Credentials(project_id="test", platform="youtube", values={
        "client_id": SecretStr(yt.client_id), "client_secret": SecretStr(yt.client_secret),
        "refresh_token": SecretStr(yt.refresh_token)}))
    for run, published_at in now_offsets.items():
        video = f"vid-{run}"
        yt.stats[video] = {"viewCount": 1500, "likeCount": 120, "commentCount": 30}
        await ledger.begin("test", run, "youtube", f"Title {run}", "ab" * 32)
        await ledger.complete(run, "youtube", PostResult(platform="youtube", status="published", external_id=video,
                                                         url=f"https://www.youtube.com/shorts/{video}"),
                              published_at=published_at)  # type: ignore[arg-type]


async def test_missed_checkpoints_late_upcoming_on_time(ts_env: WorkflowEnvironment, settings: Settings,
                                                        database: Database, yt: FakeYouTube) -> None:
    s = settings_for(settings, api=api_for(youtube=yt.url, google_oauth=yt.url, youtube_analytics=yt.url))
    t0 = await ts_env.get_current_time()
    baseline_runs = {f"base{i}": t0 - timedelta(days=3 + i) for i in range(3)}
    await _seed(s, database, yt, {"down": t0 - timedelta(hours=30), "fresh": t0 - timedelta(minutes=30),
                                  **baseline_runs})
    for i, run in enumerate(baseline_runs):  # earlier posts: 1h metrics already collected, medians 1000 / 5%
        async with database.session() as session:
            session.add_all(PostMetric(project_id="test", run_id=run, platform="youtube", checkpoint=f"{h:g}h", hours=h,
                                   views=800 + 200 * i, engagement_rate=0.05, published_at=baseline_runs[run],
                                   due_at=baseline_runs[run], collected_at=t0 - timedelta(days=1))
                        for h in (1.0, 6.0, 24.0, 48.0, 168.0))
            await session.commit()
    suffix = f"-ts{uuid.uuid4().hex[:6]}"
    acts = AnalyticsActivities(build_analytics_service(s, database))
    async with Worker(ts_env.client, task_queue=queues.WORKFLOWS + suffix, workflows=[AnalyticsCollectorWorkflow],
                      activities=[acts.plan, acts.collect]):
        handle = await ts_env.client.start_workflow(
            AnalyticsCollectorWorkflow.run, CollectorInput(horizon_s=8 * 3600, replan_s=900),
            id=f"analytics-collector{suffix}", task_queue=queues.WORKFLOWS + suffix)
        result: CollectorResult = await handle.result()

    async with database.session() as session:
        rows = list((await session.exec(select(PostMetric).where(col(PostMetric.run_id).in_(["down", "fresh"]))
                                        .order_by(col(PostMetric.run_id), col(PostMetric.hours)))).all())
    got = {(r.run_id, r.checkpoint): r for r in rows}
    assert sorted(got) == [("down", "1h"), ("down", "24h"), ("down", "6h"), ("fresh", "1h"), ("fresh", "6h")]
    for name in ("1h", "6h", "24h"):  # the system was down: collected at the first run, marked late
        row = got[("down", name)]
        assert row.late and abs((row.collected_at - t0).total_seconds()) < 60
        assert row.lag_s >= 6 * 3600 - 60
    for name, hours in (("1h", 1), ("6h", 6)):  # due during the run: collected exactly when due
        row = got[("fresh", name)]
        assert not row.late and row.lag_s < 1
        assert abs((row.collected_at - (t0 - timedelta(minutes=30) + timedelta(hours=hours))).total_seconds()) < 2
    row = got[("fresh", "1h")]
    assert (row.views, row.likes, row.comments) == (1500, 120, 30)
    assert row.engagement_rate == pytest.approx(150 / 1500)
    assert row.baseline_n == 3 and row.baseline_views == 1000
    assert row.viral_score == pytest.approx((1501 / 1001) ** 0.6 * (0.101 / 0.051) ** 0.4, rel=1e-3)
    assert (result.collected, result.late, result.failed) == (5, 3, 0)
    assert result.passes > 8  # it re-planned while it waited

    history = await handle.fetch_history()
    if os.environ.get("SMA_WRITE_HISTORIES"):
        HISTORY.parent.mkdir(parents=True, exist_ok=True)
        HISTORY.write_text(json.dumps(history.to_json_dict(), indent=1))
    await Replayer(workflows=[AnalyticsCollectorWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history)


async def test_committed_history_replays() -> None:
    """Determinism guard (DESIGN.md convention 7): a recorded run replays against today's code."""
    assert HISTORY.is_file(), "record it with SMA_WRITE_HISTORIES=1 pytest tests/test_analytics_workflow.py"
    history = WorkflowHistory.from_json(HISTORY.stem, json.loads(HISTORY.read_text()))
    await Replayer(workflows=[AnalyticsCollectorWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        history)
