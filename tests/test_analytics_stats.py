"""`sma stats` through the real command line, over publish records and metrics in a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from sma.cli import app
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables import utcnow
from sma.db.tables_publishing import PostMetric
from sma.logging import reset_logging
from sma.models.pipeline import PostResult
from sma.services.platforms.ledger import PublishLedger

runner = CliRunner()


async def _seed(url: str) -> None:
    database = Database(url)
    ledger = PublishLedger(database)
    now = utcnow()
    posts = [("run-a", "youtube", now - timedelta(days=2), "https://www.youtube.com/shorts/a"),
             ("run-a", "local", now - timedelta(days=2), "file:///outbox/run-a/video.mp4"),
             ("run-b", "tiktok", now - timedelta(hours=3), "https://www.tiktok.com/@x/video/1"),
             ("run-old", "youtube", now - timedelta(days=40), "https://www.youtube.com/shorts/old")]
    for run, platform, at, url_ in posts:
        await ledger.begin("test", run, platform, f"Title of {run}", "cd" * 32)
        await ledger.complete(run, platform, PostResult(platform=platform, status="published", url=url_,
                                                        external_id=run), published_at=at)
    async with database.session() as session:
        for hours, views, late in ((1.0, 300, False), (6.0, 900, True), (24.0, 2500, False)):
            session.add(PostMetric(project_id="test", run_id="run-a", platform="youtube", checkpoint=f"{hours:g}h",
                                   hours=hours, views=views, likes=views // 10, comments=5, shares=2,
                                   engagement_rate=(views // 10 + 7) / views, viral_score=1.7 if hours == 24 else None,
                                   late=late))
        session.add(PostMetric(project_id="test", run_id="run-b", platform="tiktok", checkpoint="1h", hours=1.0,
                               views=1000, likes=80, engagement_rate=0.08, late=True))
        await session.commit()
    await database.close()


def test_stats_table_and_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (tmp_path / "config.yaml").write_text(f"data_dir: {data}\nlogging: {{console: false, json_file: false}}\n"
                                          "projects: [{id: test}]\n")
    (tmp_path / "secrets.yaml").write_text("{}\n")
    url = f"sqlite+aiosqlite:///{data / 'sma.db'}"
    data.mkdir()
    upgrade(url)
    asyncio.run(_seed(url))
    args = ["--config", str(tmp_path / "config.yaml"), "--secrets", str(tmp_path / "secrets.yaml"), "stats"]
    try:
        table = runner.invoke(app, [*args, "--days", "7"])
        as_json = runner.invoke(app, [*args, "--days", "7", "--json"])
        empty = runner.invoke(app, [*args, "--days", "7", "--project", "other"])
    finally:
        reset_logging()
    assert table.exit_code == 0, table.output
    assert "youtube" in table.output and "24h" in table.output and "2500" in table.output and "1.70" in table.output
    assert "1h*" in table.output  # the TikTok checkpoint was collected late
    assert "run-old" not in table.output and "Title of run-old" not in table.output
    payload = json.loads(as_json.stdout)
    by_platform = {(p["run_id"], p["platform"]): p for p in payload["posts"]}
    assert set(by_platform) == {("run-a", "youtube"), ("run-a", "local"), ("run-b", "tiktok")}
    assert by_platform[("run-a", "youtube")]["checkpoint"] == "24h"
    assert by_platform[("run-a", "local")]["views"] is None
    assert payload["platforms"]["youtube"] == {"posts": 1, "views": 2500, "median_engagement_rate": (250 + 7) / 2500,
                                               "median_viral_score": 1.7}
    assert empty.exit_code == 0 and "none" in empty.output
