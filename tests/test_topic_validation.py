"""No run starts from a blank, whitespace-only, control-character or over-long topic, at any entry point:
the Topic contract, `sma run`, `sma demo`, the dashboard, the bot's /new and captions, trend items and the
calendar. Escape codes and control characters are removed; what remains must fit the limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from typer.testing import CliRunner

from sma.cli import app as cli_app
from sma.dashboard.app import create_app
from sma.dashboard.testing import alogin
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.models.pipeline import Topic
from sma.models.topic import SUMMARY_MAX, TITLE_MAX, TopicError
from sma.models.trends import RankedTrend, ScoreBreakdown, StoreScanRequest, TrendItem
from sma.services.scheduling.calendar import CalendarService
from sma.services.scheduling.history import NoHistory
from sma.services.trends.store import ensure_project_row, save_scan
from sma.settings import ProjectSettings, Secrets, Settings
from tests.conftest import wait_for
from tests.test_autonomy_workflow import CHAT
from tests.test_bot_flow import Phone, bot_api, quick, run_id_in  # noqa: F401  (fixtures)
from tests.test_bot_server import FakeBotAPI
from tests.test_scheduler_calendar import NOW

runner = CliRunner()
PASSWORD = "correct horse battery"
BLANK = ["", "   ", "\t\n \r\n", "\x1b[31m\x1b[0m", "\x00\x07\x08\x7f", "\u202e\u2066", "\x1b]0;owned\x07"]
LONG = "x" * 100_000


@pytest.mark.parametrize("title", BLANK)
def test_blank_whitespace_and_control_only_titles_are_refused(title: str) -> None:
    with pytest.raises(TopicError, match="the topic is empty"):
        Topic.checked(title)


def test_escape_codes_and_control_characters_are_removed() -> None:
    topic = Topic.checked("\x1b[1;31mRed\x1b[0m alert\x07\n\tnow\u202e \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
                          summary="line one\x1b[2J\x00\r\n\n\n\nline two \x9b31m")
    assert topic.title == "Red alert now link"
    assert topic.summary == "line one\n\nline two"
    assert Topic.checked("Family 👨\u200d👩\u200d👧 time").title == "Family 👨\u200d👩\u200d👧 time"  # ZWJ stays


def test_over_long_title_and_summary_name_the_limit() -> None:
    with pytest.raises(TopicError, match=f"title is 100000 characters; the limit is {TITLE_MAX}"):
        Topic.checked(LONG)
    with pytest.raises(TopicError, match=f"summary is {SUMMARY_MAX + 1} characters; the limit is {SUMMARY_MAX}"):
        Topic.checked("Fine title", summary="y" * (SUMMARY_MAX + 1))
    assert len(Topic.checked("z" * TITLE_MAX).title) == TITLE_MAX
    with pytest.raises(ValueError):  # the contract itself refuses, not only the helper
        Topic(title=LONG)


def test_machine_topics_are_cut_to_the_limits_not_refused() -> None:
    topic = Topic.from_source("word " * 100, summary="s " * 5000)
    assert len(topic.title) <= TITLE_MAX and topic.title.endswith("…") and "wor…" not in topic.title
    assert len(topic.summary) <= SUMMARY_MAX
    with pytest.raises(TopicError, match="empty"):
        Topic.from_source("\x1b[2J\x1b[H")


# ---------------------------------------------------------------- sma run, sma demo


@pytest.mark.parametrize("title", ["   ", "\x1b[31m\x1b[0m", LONG])
def test_sma_run_refuses_a_bad_topic_before_starting(tmp_path: Path, title: str) -> None:
    env = {"SMA_DATA_DIR": str(tmp_path / "data"), "SMA_TEMPORAL__ADDRESS": "127.0.0.1:1"}  # never reached
    result = runner.invoke(cli_app, ["run", "--topic", title], env=env)
    assert result.exit_code == 2, result.output
    assert "error: the topic" in result.output and ("empty" in result.output or "limit is 200" in result.output)
    summary = runner.invoke(cli_app, ["run", "--topic", "Fine", "--summary", "s" * 5000], env=env)
    assert summary.exit_code == 2 and "limit is 4000" in summary.output


@pytest.mark.parametrize("title", ["", "   ", "\x1b[2J", LONG])
def test_sma_demo_refuses_a_bad_topic_before_starting_the_stack(tmp_path: Path, title: str) -> None:
    result = runner.invoke(cli_app, ["demo", "--topic", title, "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2, result.output
    assert "error: the topic" in result.output and "starting the embedded stack" not in result.output
    assert not (tmp_path / "data" / "temporal").exists()


# ---------------------------------------------------------------- dashboard


@pytest.fixture
async def dashboard(client: Client, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, Settings]]:
    settings = Settings(data_dir=tmp_path / "data", projects=[ProjectSettings(id="test")],
                        secrets=Secrets(admin_password=PASSWORD))
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    app = create_app(settings, database=database, client=client)
    async with app.router.lifespan_context(app):
        yield app, settings
    await database.close()


@pytest.mark.parametrize("title", ["   ", "\x1b[31m\x1b[0m\u202e", LONG])
async def test_dashboard_start_refuses_a_bad_topic(dashboard: tuple[FastAPI, Settings], title: str) -> None:
    app, _ = dashboard
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        token = await alogin(http, PASSWORD)
        sent = await http.post("/trends/start", data={"csrf_token": token, "title": title, "project": "test"})
        assert sent.status_code == 303 and sent.headers["location"] == "/trends"
        page = (await http.get("/trends")).text
    assert "the topic is empty" in page or "the limit is 200" in page


# ---------------------------------------------------------------- bot: /new and media captions


async def test_bot_new_refuses_bad_topics_and_cleans_escape_codes(
        client: Client, quick: tuple[Settings, Database, Phone]) -> None:  # noqa: F811
    phone = quick[2]
    assert "What about?" in await phone.say("/new    ")
    assert "Nothing was started: the topic is empty" in await phone.say("/new \x1b[31m\x1b[0m \u202e")
    assert "the limit is 200" in await phone.say("/new " + "long " * 100)
    wf_id = run_id_in(await phone.say(f"/new \x1b[1;31mRed alert\x1b[0m {uuid.uuid4().hex[:6]}"))
    status = await wait_for(client, wf_id, lambda s: bool(s.title))
    assert status.title.startswith("Red alert ") and "\x1b" not in status.title
    await client.get_workflow_handle(wf_id).terminate("test over")


async def test_bot_caption_over_the_limit_starts_nothing(
        quick: tuple[Settings, Database, Phone], bot_api: FakeBotAPI) -> None:  # noqa: F811
    phone = quick[2]
    sent = bot_api.push_photo(phone.alice, CHAT, b"\xff\xd8\xff\xe0fake-jpeg", caption="#test " + "x" * 300)
    reply = await bot_api.reply_to(sent)
    assert "Nothing was started" in reply.params["text"] and "the limit is 200" in reply.params["text"]
    assert not bot_api.of("getFile")  # refused before downloading anything


# ---------------------------------------------------------------- trend items and the calendar


def test_trend_items_are_cleaned_and_escape_only_titles_become_blank() -> None:
    item = TrendItem(source="hn", external_id="1", title="\x1b[31mRust\x1b[0m 2.0\nreleased", summary="a\x00b")
    assert (item.title, item.summary) == ("Rust 2.0 released", "ab")
    assert TrendItem(source="hn", external_id="2", title="\x1b[2J\x1b[H").title == ""  # rank() drops blank titles


async def test_calendar_cuts_long_trend_titles_and_skips_blank_ones(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", projects=[ProjectSettings(id="p")])
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        await ensure_project_row(db, "p")
        titles = ["\x1b[2J\x1b[H", "\x1b[31mRust\x1b[0m " + "very " * 80 + "long"]
        candidates = [RankedTrend(key=f"k{i}", title=t, breakdown=ScoreBreakdown(score=0.9))
                      for i, t in enumerate(titles)]
        await save_scan(db, StoreScanRequest(project_id="p", scan_id=uuid.uuid4().hex, started_at=NOW,
                                             finished_at=NOW, candidates=candidates), candidates, [])
        service = CalendarService(settings, db, NoHistory())
        [slot] = (await service.plan("p", NOW)).new
        assert slot.title.startswith("Rust very") and len(slot.title) <= TITLE_MAX
        due = await service.check("p", slot.item_id, slot.start_at)
        assert due.action == "start" and due.pipeline is not None
        assert due.pipeline.topic.title == slot.title
    finally:
        await db.close()
