"""AutonomyService on a real migrated database (SQLite, PostgreSQL): levels with history, kill switch, limits,
publish slots, the automatic fall back (QA streak and engagement drop) and its announcement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from sma.db.engine import Database, make_sync_engine
from sma.db.migrate import downgrade, upgrade
from sma.db.tables_autonomy import TABLES
from sma.models.autonomy import PolicyRequest
from sma.models.common import QAReport
from sma.models.pipeline import NotifyRequest, NotifyResult
from sma.services.autonomy.config import DEFAULT_GATES, GuardSettings
from sma.services.autonomy.service import AutonomyService
from sma.settings import DatabaseSettings, ProjectSettings, Settings

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


class RecordingNotifier:
    """A Notifier (the protocol the real ones implement) that keeps what it was asked to send."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[NotifyRequest] = []

    async def send(self, req: NotifyRequest) -> NotifyResult:
        self.sent.append(req)
        return NotifyResult(delivered=True, channel=self.name)


pytestmark = pytest.mark.both_databases


@pytest.fixture
def settings(tmp_path: Path, db_backend: str, request: pytest.FixtureRequest) -> Settings:
    url = request.getfixturevalue("migrated_db_url") if db_backend == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", database=DatabaseSettings(url=url), projects=[
        ProjectSettings(id="alpha", autonomy="autonomous",
                        guards=GuardSettings(daily_cap=2, platform_caps={"youtube": 1},
                                             fallback_after_qa_failures=2, topic_blocklist=["casino"])),
        ProjectSettings(id="beta", autonomy="manual"),
    ])


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    yield database
    await database.close()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def service(settings: Settings, db: Database, notifier: RecordingNotifier) -> AutonomyService:
    return AutonomyService(settings, db, notifier, clock=lambda: NOW)


def qa(passed: bool = True) -> list[QAReport]:
    return [QAReport(gate=g, passed=passed or g != "QA_TTS", score=0.9, threshold=0.8) for g in DEFAULT_GATES]


def request(run: str, stage: str = "approval", level: str = "autonomous", passed: bool = True, round_no: int = 1,
            platforms: tuple[str, ...] = ("local",), project: str = "alpha") -> PolicyRequest:
    return PolicyRequest(project_id=project, run_id=run, round=round_no, stage=stage, level=level,  # type: ignore[arg-type]
                         auto=True, qa=qa(passed), title="Unit tests", platforms=list(platforms))


def test_migration_matches_the_tables(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    engine = make_sync_engine(settings.database_url)
    names = {t.__tablename__ for t in TABLES}
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     SQLModel.metadata)
        assert [d for d in diffs if any(name in str(d) for name in names)] == []
    finally:
        engine.dispose()
    downgrade(settings.database_url, "0002")
    upgrade(settings.database_url)


async def test_levels_are_stored_with_history(service: AutonomyService) -> None:
    assert await service.level("beta") == "manual"  # from config until someone sets it
    await service.set_level("beta", "assisted", "telegram:@alice", "bot")
    await service.set_level("beta", "autonomous", "cli:bob", "cli")
    await service.set_level("beta", "manual", "admin", "dashboard", reason="launch week")
    assert await service.level("beta") == "manual"
    history = await service.history("beta")
    assert [(e.old, e.new, e.by, e.source) for e in history] == [
        ("autonomous", "manual", "admin", "dashboard"),
        ("assisted", "autonomous", "cli:bob", "cli"),
        ("manual", "assisted", "telegram:@alice", "bot"),
    ]
    assert history[0].reason == "launch week" and history[0].at.tzinfo is not None


async def test_kill_switch_pauses_and_resumes_every_project(service: AutonomyService) -> None:
    assert await service.pause(["alpha", "beta"], "telegram:@alice", "bot", "audit") == ["alpha", "beta"]
    assert await service.pause(["alpha"], "telegram:@alice", "bot") == []  # already paused: no new event
    verdict = await service.decide(request("r1", "publish"))
    assert verdict.verdict == "block" and "paused: by telegram:@alice (audit)" in verdict.reasons[0]
    human = await service.decide(request("r1", "publish").model_copy(update={"auto": False}))
    assert human.verdict == "block"
    assert await service.resume(["alpha", "beta"], "cli:bob", "cli") == ["alpha", "beta"]
    assert (await service.decide(request("r1", "publish"))).verdict == "approve"
    kinds = [(e.kind, e.by) for e in await service.history("alpha")]
    assert kinds == [("resume", "cli:bob"), ("pause", "telegram:@alice")]


async def test_caps_count_reserved_slots_per_local_day(service: AutonomyService) -> None:
    first = await service.decide(request("r1", "publish", platforms=("local", "youtube")))
    again = await service.decide(request("r1", "publish", platforms=("local", "youtube")))  # a retried activity
    assert first.verdict == again.verdict == "approve"
    youtube = await service.decide(request("r2", "publish", platforms=("youtube",)))
    assert youtube.verdict == "block" and "youtube cap reached: 1 of 1" in youtube.reasons[0]
    assert (await service.decide(request("r3", "publish"))).verdict == "approve"
    full = await service.decide(request("r4", "publish"))
    assert full.verdict == "block" and "daily cap reached: 2 of 2" in full.reasons[0]
    await service.set_limits("alpha", "telegram:@alice", "bot", daily_cap=5, platform_caps={"youtube": None})
    assert (await service.decide(request("r4", "publish"))).verdict == "approve"
    view = await service.overview("alpha")
    assert (view.published_today, view.limits.daily_cap, view.limits.daily_override) == (3, 5, True)
    assert view.limits.platform_caps == {"youtube": 1}  # the override was dropped: back to config
    await service.set_limits("alpha", "cli:bob", "cli", reset=True)
    assert (await service.overview("alpha")).limits.daily_cap == 2
    with pytest.raises(ValueError):
        await service.set_limits("alpha", "x", "cli", daily_cap=-1)


async def test_consecutive_qa_failures_fall_back_to_assisted_and_say_so(
        service: AutonomyService, notifier: RecordingNotifier) -> None:
    assert (await service.decide(request("r1", passed=False))).fallback is False
    assert (await service.decide(request("r1", passed=False))).fallback is False  # same round: counted once
    assert (await service.decide(request("r2", passed=True))).verdict == "approve"  # a pass resets the streak
    await service.decide(request("r3", passed=False))
    verdict = await service.decide(request("r4", passed=False))
    assert verdict.fallback and verdict.level == "assisted" and verdict.verdict == "ask"
    assert await service.level("alpha") == "assisted"
    [event] = [e for e in await service.history("alpha") if e.kind == "fallback"]
    assert (event.old, event.new, event.source) == ("autonomous", "assisted", "guard")
    assert "2 consecutive QA failures" in event.reason
    [announcement] = notifier.sent
    assert announcement.kind == "autonomy" and "fell back" in announcement.text
    # A run still marked autonomous is capped by the stored level from now on.
    capped = await service.decide(request("r5", passed=True))
    assert (capped.verdict, capped.level) == ("approve", "assisted")


async def test_engagement_drop_falls_back_once(service: AutonomyService, notifier: RecordingNotifier) -> None:
    assert not await service.report_engagement("alpha", recent=0.8, baseline=1.0)  # 20 % drop: fine
    assert await service.report_engagement("alpha", recent=0.3, baseline=1.0)
    assert not await service.report_engagement("alpha", recent=0.1, baseline=1.0)  # already assisted
    assert await service.level("alpha") == "assisted" and len(notifier.sent) == 1
    assert "engagement dropped 70%" in notifier.sent[0].text


async def test_verdicts_carry_the_approval_timers(service: AutonomyService, settings: Settings) -> None:
    verdict = await service.decide(request("r1", level="manual"))
    assert verdict.reminder_s == settings.bot.reminder_minutes * 60
    assert verdict.expiry_s == settings.bot.expiry_hours * 3600


def test_cli_shows_and_sets_levels_with_history(tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from sma.cli import app

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "temporal": {"address": "127.0.0.1:9"},
        "logging": {"console": False, "json_file": False},
        "projects": [{"id": "alpha", "autonomy": "manual"}, {"id": "beta"}]}))
    runner = CliRunner()

    def sma(*args: str) -> str:
        result = runner.invoke(app, ["--config", str(config), *args], env={"SMA_CONFIG": ""})
        assert result.exit_code == 0, result.output
        return result.output

    assert "alpha: manual (configured manual)" in sma("autonomy")
    assert "alpha: manual -> assisted (Temporal not reachable" in sma("autonomy", "alpha", "assisted")
    shown = sma("autonomy", "alpha")
    assert "alpha: assisted (configured manual)" in shown and "level: manual -> assisted  by cli:" in shown
    assert "via cli" in shown
    bad = runner.invoke(app, ["--config", str(config), "autonomy", "alpha", "reckless"])
    assert bad.exit_code != 0 and "manual, assisted or autonomous" in bad.output
    ambiguous = runner.invoke(app, ["--config", str(config), "autonomy", "autonomous"])
    assert ambiguous.exit_code != 0 and "which project" in ambiguous.output
    no_token = runner.invoke(app, ["--config", str(config), "bot"])
    assert no_token.exit_code != 0 and "no Telegram bot token" in no_token.output
