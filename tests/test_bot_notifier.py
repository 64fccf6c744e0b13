"""TelegramNotifier against the local Bot API server: approvals asked once (across restarts), progress
edited in place, big videos linked, outages retried for approvals and shrugged off for progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telegram.error import NetworkError

from sma.bot.progress import ProgressPass, refresh_progress, with_percent
from sma.client import RunClient
from sma.db import repo
from sma.db.engine import Database
from sma.models.autonomy import ApprovalNotice
from sma.models.common import QAReport, StepState
from sma.models.pipeline import STEPS, NotifyRequest, PipelineStatus, RunRecord, StepStatus
from sma.models.topic import Topic
from sma.services.artifacts import ArtifactStore
from sma.services.notify.notifier import LogNotifier
from sma.services.telegram import store
from sma.services.telegram.notifier import TelegramNotifier
from sma.settings import Settings
from sma.wiring import notifier as make_notifier
from tests.test_autonomy_workflow import CHAT, make_settings, open_db
from tests.test_bot_server import FakeBotAPI

RUN = "content-test-notifier-1"


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def rig(bot_api: FakeBotAPI, tmp_path: Path) -> AsyncIterator[tuple[Settings, Database]]:
    settings = make_settings(tmp_path, bot_api, max_upload_mb=0.001, preview_url="https://sma.local/runs/{run_id}")
    database = await open_db(settings)
    yield settings, database
    await database.close()


def approval(round_no: int = 1, seq: int = 1, video: object = None) -> NotifyRequest:
    notice = ApprovalNotice(round=round_no, seq=seq, title="Tiny topic", script="Hook. Beat. Call to action.",
                            qa=[QAReport(gate="QA_TTS", passed=False, score=0.5, threshold=0.85, reasons=["WER"])],
                            platforms=["local", "youtube"], reasons=["manual: every video waits for a human"],
                            level="manual")
    return NotifyRequest(project_id="test", run_id=RUN, kind="approval", text="ready", approval=notice,
                         video=video)  # type: ignore[arg-type]


async def test_an_approval_is_asked_once_even_after_a_restart(rig: tuple[Settings, Database],
                                                              bot_api: FakeBotAPI) -> None:
    settings, database = rig
    notifier = TelegramNotifier.from_settings(settings, database)
    video = ArtifactStore(settings.data_dir / "artifacts").put_bytes(b"\x00" * 2048, ".mp4", kind="video")
    first = await notifier.send(approval(video=video))
    again = await notifier.send(approval(video=video))  # a retried activity
    assert first.delivered and first.notes[0].startswith("approval message")
    assert again.notes == ["approval already sent; not sent again"]
    [sent] = bot_api.of("sendMessage")
    text = sent.params["text"]
    assert "over the upload limit: https://sma.local/runs/content-test-notifier-1" in text
    assert "❌ QA_TTS 0.50 (min 0.85) - WER" in text and "Platforms: local, youtube" in text
    assert bot_api.of("sendVideo") == []  # over max_upload_mb: linked, not uploaded
    row = await store.latest_approval(database, RUN)
    assert row is not None and row.id is not None and row.state == "sent" and row.chat_id == CHAT
    assert await store.claim(database, row.id, "approved", "telegram:@alice")
    assert not await store.claim(database, row.id, "approved", "telegram:@bob")  # a second tap loses
    await notifier.close()

    restarted = TelegramNotifier.from_settings(settings, database)
    assert (await restarted.send(approval(video=video))).notes == ["approval already answered; not sent again"]
    assert len(bot_api.of("sendMessage")) == 1
    # The workflow's own "decided" notice leaves a message the bot already edited alone.
    decided = approval().model_copy(update={"kind": "decided"})
    assert (await restarted.send(decided)).notes == ["already shown as decided"]
    # A re-open asks again (a new seq) and retires the older ask.
    await restarted.send(approval(seq=2))
    assert len(bot_api.of("sendMessage")) == 2
    await restarted.close()


async def test_progress_is_one_message_edited_in_place(rig: tuple[Settings, Database], bot_api: FakeBotAPI) -> None:
    settings, database = rig
    notifier = TelegramNotifier.from_settings(settings, database)

    def progress(text: str) -> NotifyRequest:
        return NotifyRequest(project_id="test", run_id=RUN, kind="progress", text=text)

    assert (await notifier.send(progress("step 1"))).notes == ["progress sent"]
    assert (await notifier.send(progress("step 2"))).notes == ["progress edited"]
    assert (await notifier.send(progress("step 2"))).notes == ["progress unchanged"]
    row = await store.progress_row(database, RUN)
    assert row is not None
    bot_api.messages.pop((CHAT, row.message_id))  # someone deleted it in the chat
    assert (await notifier.send(progress("step 3"))).notes == ["progress sent"]
    assert len(bot_api.of("sendMessage")) == 2 and bot_api.of("sendMessage")[0].params["disable_notification"]
    await notifier.close()


async def test_outages_retry_approvals_and_never_fail_a_run_for_progress(
        rig: tuple[Settings, Database], bot_api: FakeBotAPI) -> None:
    settings, database = rig
    notifier = TelegramNotifier.from_settings(settings, database)
    await notifier.send(NotifyRequest(project_id="test", run_id=RUN, kind="progress", text="warm-up"))
    bot_api.fail_methods["sendMessage"] = 2
    with pytest.raises(NetworkError):
        await notifier.send(approval())  # the activity fails and Temporal retries it
    quiet = await notifier.send(NotifyRequest(project_id="test", run_id="other", kind="progress", text="x"))
    assert not quiet.delivered
    assert (await notifier.send(approval())).delivered  # the retry after the outage sends it, once
    assert len([c for c in bot_api.of("sendMessage") if "Tiny topic" in c.params["text"]]) == 2  # failed + sent
    row = await store.latest_approval(database, RUN)
    assert row is not None and row.state == "sent"
    await notifier.close()


def test_notifier_choice_follows_the_token(tmp_path: Path, bot_api: FakeBotAPI) -> None:
    with_token = make_settings(tmp_path, bot_api)
    assert isinstance(make_notifier(with_token, object()), TelegramNotifier)
    without = Settings(data_dir=tmp_path / "d")
    assert isinstance(make_notifier(without, object()), LogNotifier)
    unrouted = with_token.model_copy(update={"projects": [with_token.projects[0].model_copy(
        update={"telegram_chat_id": None})]})
    notifier = make_notifier(unrouted, object())
    assert isinstance(notifier, TelegramNotifier)


async def test_progress_follows_the_recorded_steps_and_keeps_the_render_percentage(
        rig: tuple[Settings, Database], bot_api: FakeBotAPI) -> None:
    """The bot's progress pass writes the message from the run rows the workflow records, once per change;
    with no heartbeat to read, a render percentage already shown stays."""
    settings, database = rig
    notifier = TelegramNotifier.from_settings(settings, database)
    reads = ProgressPass(settings, database, RunClient(None, settings, database), notifier)
    status = PipelineStatus(workflow_id=RUN, project_id="test", item_id="notifier-1", title="Tiny topic",
                            steps={name: StepStatus(name=name) for name in STEPS})

    async def record(step: str, state: StepState, tier: str = "") -> int:
        status.steps[step].state, status.steps[step].tier = state, tier
        status.current_step = step
        await repo.record_run(database, RunRecord(status=status, topic=Topic(title="Tiny topic")))
        return await refresh_progress(reads, since=datetime.now(UTC) - timedelta(minutes=1))

    try:
        assert await record("voiceover", StepState.DONE, "piper") == 1
        assert await record("render", StepState.RUNNING) == 1
        [message] = [m for m in bot_api.messages.values() if m["text"].startswith("Tiny topic (round 1)")]
        assert "✓ voiceover [piper]" in message["text"] and "… render" in message["text"]
        assert await refresh_progress(reads, since=datetime.now(UTC) - timedelta(minutes=1)) == 0  # no change
        row = await store.progress_row(database, RUN)
        assert row is not None
        await store.save_progress(database, "test", RUN, row.chat_id, row.message_id, with_percent(row.text, 0.4))
        assert await refresh_progress(reads, since=datetime.now(UTC) - timedelta(minutes=1)) == 0
        assert await record("render", StepState.DONE, "ffmpeg") == 1
        assert "✓ render [ffmpeg]" in message["text"] and len(bot_api.of("sendMessage")) == 1
    finally:
        await notifier.close()
