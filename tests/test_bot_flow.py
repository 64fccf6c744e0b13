"""The real python-telegram-bot Application, polling the local Bot API server, steering real workflows.

One test drives the full media pipeline (real voice, captions, render) through reject-with-reason and
approve; the others use the media doubles of tests/test_autonomy_workflow.py so that each command and
button gets its own run in a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import string
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from sma.bot.runner import RunningBot, start_bot
from sma.db.engine import Database
from sma.models.autonomy import ApprovalNotice
from sma.models.pipeline import NotifyRequest, PipelineResult, RunState, ScriptRequest
from sma.services.autonomy.service import AutonomyService
from sma.services.telegram import store
from sma.services.telegram.callbacks import CallbackCodec
from sma.services.telegram.notifier import TelegramNotifier, make_codec
from sma.settings import Settings
from tests.conftest import running_workers, wait_for
from tests.test_autonomy_workflow import (
    ALICE,
    CHAT,
    approval_messages,
    finished,
    make_settings,
    open_db,
    stub_pipeline,
)
from tests.test_bot_server import FakeBotAPI

STRANGER = 666


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def running_bot(settings: Settings, client: Client, suffix: str) -> AsyncIterator[RunningBot]:
    bot = await start_bot(settings, client, queue_suffix=suffix)
    try:
        yield bot
    finally:
        await bot.stop()


class Phone:
    """Alice (allow-listed) and a stranger, typing and tapping in the project's chat."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.alice = api.user(ALICE, "alice")
        self.stranger = api.user(STRANGER, "mallory")

    async def say(self, text: str, user: dict | None = None, chat: int = CHAT) -> str:
        """Send a message and return the text of the bot's (first) reply to it."""
        mark = len(self.api.calls)
        message_id = self.api.push_text(user or self.alice, chat, text)
        if chat > 0:  # a private chat: replies do not quote
            reply = await self.api.wait_call("sendMessage", lambda c: int(c.params["chat_id"]) == chat, after=mark)
            return reply.params["text"]
        return (await self.api.reply_to(message_id)).params["text"]

    async def tap(self, message: dict, label: str, user: dict | None = None) -> str:
        return await self.tap_data(message, self.api.buttons(message)[label], user)

    async def tap_data(self, message: dict, data: str, user: dict | None = None) -> str:
        query_id = self.api.push_callback(user or self.alice, message, data)
        answer = await self.api.answer_to(query_id)
        return answer.params.get("text", "")


def run_id_in(text: str) -> str:
    match = re.search(r"(content-test-[\w-]+)", text)
    assert match, text
    return match.group(1)


async def signals_received(client: Client, wf_id: str) -> int:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)


def progress_messages(api: FakeBotAPI, head: str) -> list[dict]:
    return [m for m in api.messages.values() if m.get("text", "").startswith(head)]


def garbage_payloads(codec: CallbackCodec, genuine: str, ref: int, count: int = 300) -> list[str]:
    """Random bytes, near-misses of the genuine data, and validly signed data for things that do not exist."""
    rng = random.Random(11)
    alphabet = string.ascii_letters + string.digits + ".-_|:"
    payloads = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64))) for _ in range(count)]
    body, _, sig = genuine.rpartition(".")
    payloads += [body + "." + sig[::-1], genuine[:-1] + ("A" if genuine[-1] != "A" else "B"), "o" + genuine[1:],
                 CallbackCodec(b"someone-elses-secret-0123456789").encode("a", ref, 1),
                 codec.encode("a", ref + 10_000, 1),  # signed, but no such approval
                 codec.encode("a", ref, 2),  # signed, but not the round this approval asked about
                 codec.encode("o", ref, 1)]  # re-open of an approval that is not expired
    return payloads


# ---------------------------------------------------------------- the full pipeline, from the phone


@pytest.mark.slow
async def test_reject_with_a_reason_then_approve_from_the_phone(
        client: Client, bot_api: FakeBotAPI, tmp_path: Path, suffix: str) -> None:
    settings = make_settings(tmp_path, bot_api)
    database = await open_db(settings)
    phone = Phone(bot_api)
    codec = make_codec(settings)
    try:
        async with running_workers(client, settings, database, suffix), running_bot(settings, client, suffix):
            wf_id = run_id_in(await phone.say("/new Small tests catch big bugs"))
            [first] = await bot_api.wait_for(lambda _: approval_messages(bot_api) or None, timeout=240)
            video = bot_api.of("sendVideo")[0]
            assert video.files["video"][4:8] == b"ftyp" and int(video.params["chat_id"]) == CHAT
            assert "Round 1" in first["text"] and "QA:" in first["text"] and "Platforms: local" in first["text"]
            row = await store.latest_approval(database, wf_id)
            assert row is not None and row.id is not None

            # A stranger's tap is refused and logged; hundreds of bad payloads change nothing.
            with structlog.testing.capture_logs() as logs:
                assert "only takes orders from its owners" in await phone.tap(first, "✅ Approve", phone.stranger)
            assert any(e["event"] == "refused stranger" and e["user_id"] == STRANGER for e in logs)
            payloads = garbage_payloads(codec, bot_api.buttons(first)["✅ Approve"], row.id)
            ids = [bot_api.push_callback(phone.alice, first, p) for p in payloads]
            answers = await bot_api.wait_for(lambda calls: (lambda got: got if len(got) == len(ids) else None)(
                [c for c in calls if c.method == "answerCallbackQuery" and c.params["callback_query_id"] in ids]),
                timeout=120)
            assert all("not valid" in a.params["text"] or "still open" in a.params["text"] for a in answers)
            assert await signals_received(client, wf_id) == 0
            status = await wait_for(client, wf_id, lambda s: True)
            assert (status.state, status.round, status.decisions) == (RunState.AWAITING_APPROVAL, 1, [])

            # Reject asks why; the reply is the feedback the script writer gets in round 2.
            assert "Tell me" in await phone.tap(first, "✏️ Reject")
            assert "Rejected. The script will be rewritten" in await phone.say("make it shorter")
            assert "Rejected by telegram:@alice" in first["text"] and "Reason: make it shorter" in first["text"]
            assert "✅ Approve" not in bot_api.buttons(first)
            second = (await bot_api.wait_for(
                lambda _: [m for m in approval_messages(bot_api) if "Round 2" in m["text"]], timeout=240))[0]
            assert "Already rejected by telegram:@alice" in await phone.tap_data(
                first, codec.encode("a", row.id, 1))  # the old round's button, replayed

            # A double tap approves once.
            reject_data = bot_api.buttons(second)["✏️ Reject"]
            taps = [bot_api.push_callback(phone.alice, second, bot_api.buttons(second)["✅ Approve"])
                    for _ in range(2)]
            replies = sorted([(await bot_api.answer_to(q)).params["text"] for q in taps])
            assert replies[0].startswith("Already approved by telegram:@alice") and replies[1] == "Approved ✅"
            result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()
            assert "Already approved" in await phone.tap_data(second, reject_data)
            # One progress message, edited in place from the recorded steps, ending on the published state.
            await bot_api.wait_for(lambda _: any("state: published" in m.get("text", "") for m in progress_messages(
                bot_api, "Small tests catch big bugs (")), timeout=30)

        assert result.state == RunState.PUBLISHED and result.rounds == 2
        assert [d.by for d in result.status.decisions] == ["telegram:@alice", "telegram:@alice"]
        assert result.status.feedback == ["make it shorter"]
        assert await signals_received(client, wf_id) == 2
        history = await client.get_workflow_handle(wf_id).fetch_history()
        requests = [ScriptRequest.model_validate_json(e.activity_task_scheduled_event_attributes.input.payloads[0].data)
                    for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                    and e.activity_task_scheduled_event_attributes.activity_type.name == "write_script"]
        assert requests[0].feedback == [] and requests[-1].feedback == ["make it shorter"]
        progress = progress_messages(bot_api, "Small tests catch big bugs (")
        assert len(progress) == 1 and "state: published" in progress[0]["text"]
        assert [c for c in bot_api.of("editMessageText") if c.params["message_id"] == progress[0]["message_id"]]
        assert "[piper]" in progress[0]["text"]

        # A restarted sender (new notifier, same database) does not ask again for answered approvals.
        sent_before = len(bot_api.of("sendMessage"))
        notifier = TelegramNotifier.from_settings(settings, database)
        for round_no, seq in ((1, 1), (2, 2)):
            notice = ApprovalNotice(round=round_no, seq=seq, title="Small tests catch big bugs")
            req = NotifyRequest(project_id="test", run_id=wf_id, kind="approval", text="again", approval=notice)
            assert "not sent again" in (await notifier.send(req)).notes[0]
        await notifier.close()
        assert len(bot_api.of("sendMessage")) == sent_before
    finally:
        await database.close()


# ---------------------------------------------------------------- commands, buttons and media (media doubles)


@pytest.fixture
async def quick(client: Client, bot_api: FakeBotAPI, tmp_path: Path, suffix: str
                ) -> AsyncIterator[tuple[Settings, Database, Phone]]:
    settings = make_settings(tmp_path, bot_api, reminder_minutes=0.01, expiry_hours=1 / 1800)  # 0.6 s, 2 s
    database = await open_db(settings)
    try:
        async with stub_pipeline(client, settings, database, suffix), running_bot(settings, client, suffix):
            yield settings, database, Phone(bot_api)
    finally:
        await database.close()


async def test_commands_answer_and_strangers_are_refused(
        client: Client, quick: tuple[Settings, Database, Phone], bot_api: FakeBotAPI) -> None:
    settings, database, phone = quick
    assert "Projects here: test" in await phone.say("/start")
    help_text = await phone.say("/help")
    for command in ("/status", "/queue", "/new", "/trends", "/schedule", "/stats", "/autonomy", "/pause",
                    "/resume", "/limits", "/cancel", "/retry"):
        assert command in help_text
    assert bot_api.of("setMyCommands")[0].params["commands"][0]["command"] == "start"
    assert "No runs yet" in await phone.say("/status")
    assert "Nothing is waiting" in await phone.say("/queue")
    assert "No scored trends yet" in await phone.say("/trends")
    assert "No publishing schedule yet" in await phone.say("/schedule")
    assert "no stats yet" in await phone.say("/stats")
    assert "test: manual (configured manual)" in await phone.say("/autonomy")
    assert "Use /autonomy manual" in await phone.say("/autonomy reckless")
    assert "0 of 10 videos today" in await phone.say("/limits")
    assert "1 of 5" not in (reply := await phone.say("/limits daily 5")) and "0 of 5 videos today" in reply
    assert "Use /limits daily N" in await phone.say("/limits daily lots")
    assert "Publishing paused for test" in await phone.say("/pause")
    assert "already paused" in await phone.say("/pause")
    assert "Publishing resumed for test" in await phone.say("/resume")
    assert "I did not understand" in await phone.say("hello there", chat=ALICE)  # private chat
    silent = bot_api.push_text(phone.alice, CHAT, "just chatting in the group")
    assert "Projects here" in await phone.say("/start")  # the group chatter got no answer
    assert not [c for c in bot_api.of("sendMessage")
                if (c.params.get("reply_parameters") or {}).get("message_id") == silent]
    assert "Which run?" in await phone.say("/cancel")
    assert "I know no run content-test-nope" in await phone.say("/cancel content-test-nope")
    assert "Which run?" in await phone.say("/retry")
    assert "I know no run content-test-nope" in await phone.say("/retry content-test-nope")
    with structlog.testing.capture_logs() as logs:
        assert "only takes orders from its owners" in await phone.say("/pause", user=phone.stranger)
    assert any(e["event"] == "refused stranger" and e["user_id"] == STRANGER for e in logs)
    overview = await AutonomyService(settings, database).overview("test")
    assert not overview.paused and overview.limits.daily_cap == 5
    kinds = [(e.kind, e.source, e.by) for e in await AutonomyService(settings, database).history("test")]
    assert kinds[:3] == [("resume", "bot", "telegram:@alice"), ("pause", "bot", "telegram:@alice"),
                         ("limits", "bot", "telegram:@alice")]


async def test_autonomy_from_the_bot_releases_a_waiting_run(
        client: Client, quick: tuple[Settings, Database, Phone], bot_api: FakeBotAPI) -> None:
    settings, database, phone = quick
    wf_id = run_id_in(await phone.say("/new Why durable workflows matter"))
    await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
    queued = await phone.say("/queue")
    assert "1 run(s) need you" in queued
    reply = await phone.say("/autonomy autonomous")
    assert "manual → autonomous" in reply and "1 open run(s) were told" in reply
    result = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()
    assert result.state == RunState.PUBLISHED and result.status.decisions[0].by == "autonomy:autonomous"
    [event] = [e for e in await AutonomyService(settings, database).history("test") if e.kind == "level"]
    assert (event.old, event.new, event.by, event.source) == ("manual", "autonomous", "telegram:@alice", "bot")
    assert "[published] Why durable workflows matter" in await phone.say("/status")
    assert "1 published" in await phone.say("/stats")


async def test_expired_run_reopens_from_the_queue_and_a_finished_run_refuses_taps(
        client: Client, quick: tuple[Settings, Database, Phone], bot_api: FakeBotAPI) -> None:
    phone = quick[2]
    wf_id = run_id_in(await phone.say("/new Expiring topic"))
    [first] = await bot_api.wait_for(lambda _: approval_messages(bot_api) or None)
    await wait_for(client, wf_id, lambda s: s.state == RunState.EXPIRED)
    await bot_api.wait_call("sendMessage", lambda c: c.params["text"].startswith("⏰"))
    await bot_api.wait_for(lambda _: "Expired" in first["text"])
    # /queue lists the expired run with a Re-open button; tapping it asks again with a fresh message.
    assert "1 run(s) need you" in await phone.say("/queue")
    [queue_message] = await bot_api.wait_for(
        lambda _: [m for m in bot_api.messages.values() if "expired, kept as a draft" in m.get("text", "")])
    assert "↩️ Re-open" in bot_api.buttons(queue_message)
    assert "Re-opened" in await phone.tap(queue_message, "↩️ Re-open")
    await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
    fresh = await bot_api.wait_for(lambda _: [m for m in approval_messages(bot_api) if m is not first])
    assert "Approved" in await phone.tap(fresh[0], "✅ Approve")
    await finished(client, wf_id)
    assert (await wait_for(client, wf_id, lambda s: True)).state == RunState.PUBLISHED

    # A run cancelled while waiting: its still-open button says the run is over.
    other = run_id_in(await phone.say("/new Cancelled topic"))
    await wait_for(client, other, lambda s: s.state == RunState.AWAITING_APPROVAL)
    waiting = await bot_api.wait_for(
        lambda _: [m for m in approval_messages(bot_api) if "Cancelled topic" in m["text"]])
    assert "Cancelling" in await phone.say(f"/cancel {other}")
    await finished(client, other)
    assert "already finished (cancelled)" in await phone.tap(waiting[0], "✅ Approve")
    assert await signals_received(client, other) == 0


async def test_a_photo_starts_a_run_with_that_media(
        client: Client, quick: tuple[Settings, Database, Phone], bot_api: FakeBotAPI) -> None:
    phone = quick[2]
    sent = bot_api.push_photo(phone.alice, CHAT, b"\xff\xd8\xff\xe0fake-jpeg-bytes", caption="#test Coffee for coders")
    reply = await bot_api.reply_to(sent)
    wf_id = run_id_in(reply.params["text"])
    status = await wait_for(client, wf_id, lambda s: s.steps["analyse_media"].state != "pending")
    assert status.title == "Coffee for coders"
    history = await client.get_workflow_handle(wf_id).fetch_history()
    start_input = history.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
    assert b"/artifacts/objects/" in start_input and b".jpg" in start_input
    assert bot_api.of("getFile")
    await client.get_workflow_handle(wf_id).cancel()
    await finished(client, wf_id)
    await asyncio.sleep(0)


async def test_updates_survive_telegram_outages_and_restarts(
        client: Client, bot_api: FakeBotAPI, tmp_path: Path, suffix: str) -> None:
    settings = make_settings(tmp_path, bot_api)
    database = await open_db(settings)
    alice = bot_api.user(ALICE, "alice")
    try:
        bot_api.fail_methods["getUpdates"] = 2  # Telegram answers 502 twice; the poller backs off and goes on
        async with running_bot(settings, client, suffix):
            first = bot_api.push_text(alice, CHAT, "/start")
            await bot_api.reply_to(first, timeout=20)
        assert bot_api.fail_methods["getUpdates"] == 0
        # Sent while the bot was down: delivered when it is back, and /start is not handled twice.
        second = bot_api.push_text(alice, CHAT, "/help")
        async with running_bot(settings, client, suffix):
            await bot_api.reply_to(second)
            await asyncio.sleep(1.5)  # a full poll cycle: nothing else arrives
        replies = [c for c in bot_api.of("sendMessage") if (c.params.get("reply_parameters") or {}).get(
            "message_id") in (first, second)]
        assert len(replies) == 2
    finally:
        await database.close()


async def test_trends_tap_to_produce_and_the_schedule(
        client: Client, quick: tuple[Settings, Database, Phone], bot_api: FakeBotAPI) -> None:
    from datetime import UTC, datetime, timedelta

    from sma.db.tables import Project
    from sma.db.tables_trends import CalendarSlot, TrendResult, TrendScan

    _, database, phone = quick
    async with database.session() as session, session.begin():
        session.add(Project(id="test"))
    async with database.session() as session, session.begin():
        session.add(TrendScan(id="scan-1", project_id="test"))
    async with database.session() as session, session.begin():
        session.add(TrendResult(project_id="test", scan_id="scan-1", key="k1", title="Rust in the kernel",
                                summary="Why it matters.", url="https://example.com/rust", score=0.91))
        session.add(TrendResult(project_id="test", scan_id="scan-1", key="k2", title="uv is fast", score=0.55))
        session.add(CalendarSlot(project_id="test", item_id="i1", title="uv is fast",
                                 slot_at=datetime.now(UTC) + timedelta(hours=3)))
    listing = await phone.say("/trends")
    assert "1. Rust in the kernel (score 0.91)" in listing and "2. uv is fast" in listing
    [message] = [m for m in bot_api.messages.values() if m.get("text", "").startswith("Top topics")]
    first_button = next(label for label in bot_api.buttons(message) if "Rust" in label)
    produced = await phone.tap(message, first_button)
    assert produced.startswith("Producing 'Rust in the kernel'")
    assert "already being produced" in await phone.tap(message, first_button)  # a double tap starts one run
    wf_id = run_id_in(produced)
    status = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
    assert status.title == "Rust in the kernel"
    assert "uv is fast" in await phone.say("/schedule")
    await client.get_workflow_handle(wf_id).cancel()
    await finished(client, wf_id)


async def test_progress_shows_the_render_percentage(
        client: Client, bot_api: FakeBotAPI, tmp_path: Path, suffix: str) -> None:
    settings = make_settings(tmp_path, bot_api, render_progress_s=0.2)
    database = await open_db(settings)
    gate = asyncio.Event()
    phone = Phone(bot_api)
    try:
        async with stub_pipeline(client, settings, database, suffix, render_gate=gate), \
                running_bot(settings, client, suffix):
            wf_id = run_id_in(await phone.say("/new Rendering slowly"))
            await wait_for(client, wf_id, lambda s: s.current_step == "render")
            [progress] = await bot_api.wait_for(lambda _: [
                m for m in bot_api.messages.values() if "… render 40%" in m.get("text", "")], timeout=20)
            gate.set()
            await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
            await bot_api.wait_for(lambda _: "✓ render [stub-ffmpeg]" in progress["text"])
            await client.get_workflow_handle(wf_id).cancel()
            await finished(client, wf_id)
    finally:
        await database.close()


async def test_sma_bot_runs_as_a_process_and_stops_on_sigterm(
        client: Client, bot_api: FakeBotAPI, tmp_path: Path) -> None:
    """The process `sma up` starts: `sma bot` with a config and a secrets file, stopped by SIGTERM."""
    import os
    import signal
    import sys

    import yaml

    from tests.test_bot_server import TOKEN

    config, secrets = tmp_path / "config.yaml", tmp_path / "secrets.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "temporal": {"address": client.service_client.config.target_host},
        "logging": {"console": False},
        "bot": {"allowed_user_ids": [ALICE], "api_base_url": bot_api.base_url, "file_base_url": bot_api.file_url,
                "poll_timeout_s": 1},
        "projects": [{"id": "test", "telegram_chat_id": CHAT}]}))
    secrets.write_text(yaml.safe_dump({"telegram_bot_token": TOKEN}))
    (tmp_path / "data").mkdir()
    # As runtime.Stack starts its children: `python -m sma.cli`, configured through the environment.
    env = {**os.environ, "SMA_CONFIG": str(config), "SMA_SECRETS_FILE": str(secrets)}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "sma.cli", "bot", cwd=str(tmp_path), env=env)
    try:
        await bot_api.wait_call("setMyCommands", timeout=60)
        message_id = bot_api.push_text(bot_api.user(ALICE, "alice"), CHAT, "/help")
        assert "/autonomy" in (await bot_api.reply_to(message_id)).params["text"]
        message_id = bot_api.push_text(bot_api.user(ALICE, "alice"), CHAT, "/autonomy")  # reads the database
        assert "test: manual" in (await bot_api.reply_to(message_id)).params["text"]
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
