"""The performance history adapter over the real tables: features come back as the pipeline recorded them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sma.db.engine import Database
from sma.db.tables_llm import ScriptAttempt
from sma.db.tables_publishing import PostMetric
from sma.models.intelligence import PostPerformance, VideoFeatures
from sma.services.autonomy.config import GuardSettings
from sma.services.intelligence.features import cluster_topics, daypart
from sma.services.intelligence.history import AnalyticsHistory
from sma.settings import ProjectSettings, Settings
from tests.intelligence_seed import script_for, seed

PUBLISHED = datetime(2026, 2, 10, 17, 30, tzinfo=UTC)  # 18:30 in Berlin, a Tuesday


def _post(run: str, platform: str, score: float, **features: object) -> PostPerformance:
    f = VideoFeatures(topic=f"Rust tip {run}", platform=platform, **features)  # type: ignore[arg-type]
    return PostPerformance(run_id=run, platform=platform, published_at=PUBLISHED, viral_score=score, title=f.topic,
                           features=f)


async def test_history_joins_metrics_scripts_and_runs(settings: Settings, database: Database) -> None:
    berlin = settings.model_copy(update={"projects": [ProjectSettings(
        id="test", guards=GuardSettings(timezone="Europe/Berlin"))]})
    posts = [_post("a", "tiktok", 2.5, hook_style="story", length_s=30.0, words_per_minute=160.0, has_code=True,
                   music_tier="procedural"),
             _post("b", "youtube", 0.7, hook_style="question", length_s=45.0, words_per_minute=140.0,
                   has_diagram=True, has_image=True, music_tier="cached")]
    await seed(database, "test", posts)
    async with database.session() as session:  # a later checkpoint, an unsupported one, a failed attempt
        session.add(PostMetric(project_id="test", run_id="a", platform="tiktok", checkpoint="48h", hours=48,
                               published_at=PUBLISHED, viral_score=3.0))
        session.add(PostMetric(project_id="test", run_id="b", platform="youtube", checkpoint="48h", hours=48,
                               published_at=PUBLISHED, status="unsupported"))
        bad = script_for(posts[0]).model_copy(update={"hook_style": "contrarian"})
        session.add(ScriptAttempt(project_id="test", run_id="a", attempt=2, passed=False,
                                  script_json=bad.model_dump_json()))
        await session.commit()

    found = {p.run_id: p for p in await AnalyticsHistory(database, berlin).posts("test", PUBLISHED - timedelta(days=1))}
    a, b = found["a"], found["b"]
    assert (a.viral_score, a.checkpoint, b.viral_score, b.checkpoint) == (3.0, "48h", 0.7, "24h")
    assert a.features.hook_style == "story"  # the passed attempt, not the later failed one
    assert (a.features.has_code, a.features.has_diagram, a.features.music_tier) == (True, False, "procedural")
    assert (b.features.has_diagram, b.features.has_image, b.features.music_tier) == (True, True, "cached")
    assert a.features.length_s == 30.0 and abs(a.features.words_per_minute - 160) < 3
    assert (a.features.hour, a.features.weekday, daypart(a.features.hour)) == (18, 1, "evening")
    assert a.title == "Rust tip a"
    pinned = await AnalyticsHistory(database, berlin, checkpoint="24h").posts("test", PUBLISHED - timedelta(days=1))
    assert {p.run_id: p.checkpoint for p in pinned} == {"a": "24h", "b": "24h"}
    assert await AnalyticsHistory(database, berlin).posts("test", PUBLISHED + timedelta(days=1)) == []


async def test_history_without_analytics_tables_is_empty(settings: Settings) -> None:
    empty = Database("sqlite+aiosqlite:///:memory:")
    try:
        assert await AnalyticsHistory(empty, settings).posts("test", PUBLISHED) == []
    finally:
        await empty.close()


def test_topic_clusters_name_themselves() -> None:
    titles = ["Rust async in practice", "Why Rust borrow checker helps", "Python typing tips", "Python 3.14 is out",
              "Knitting for engineers"]
    assert cluster_topics(titles) == ["rust", "rust", "python", "python", "other"]
