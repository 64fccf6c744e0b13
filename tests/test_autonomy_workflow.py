"""The approval step of ContentPipelineWorkflow with the autonomy policy, on real Temporal servers.

The workflow, the script, notify (Telegram, against the local Bot API server), approval policy, publish
and record activities are the real ones on the sma-workflows worker. The media steps (voice, captions,
render, video QA) are test doubles with the same activity names and contracts: they return instantly,
so each run takes a second or two and every level and guard gets its own run. The full media pipeline
with the bot is exercised in tests/test_bot_flow.py.

Timers (reminder, expiry) run on the time-skipping test server; everything else on the dev server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imageio_ffmpeg
import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sma import queues
from sma.bot.progress import ProgressPass, refresh_progress
from sma.client import NotDecidable, RunClient
from sma.client.handles import start_pipeline
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.models.common import ArtifactRef, QAReport
from sma.models.media import VariantRequest, VariantResult
from sma.models.pipeline import (
    ApproveSignal,
    BackgroundRequest,
    BackgroundResult,
    CaptionRequest,
    CaptionResult,
    ImagesRequest,
    ImagesResult,
    MusicRequest,
    MusicResult,
    PipelineResult,
    RejectSignal,
    RenderRequest,
    RenderResult,
    RunState,
    Topic,
    VideoCheckRequest,
    VideoCheckResult,
    VoiceRequest,
    VoiceResult,
)
from sma.services.artifacts import ArtifactStore
from sma.services.autonomy import store
from sma.services.autonomy.config import GuardSettings
from sma.services.autonomy.service import AutonomyService
from sma.services.runs import pipeline_input
from sma.services.telegram.notifier import TelegramNotifier
from sma.settings import BotSettings, PipelineSettings, ProjectSettings, Settings
from sma.worker import build_worker
from tests.conftest import wait_for
from tests.test_bot_server import TOKEN, FakeBotAPI


def _runs(client: Client, settings: Settings | None = None, database: Database | None = None) -> RunClient:
    return RunClient(client, settings or Settings(), database)

CHAT = -1001234567890
ALICE = 1001
HISTORIES = Path(__file__).parent / "histories"
TOPIC = Topic(title="Small tests catch big bugs",
              summary="A small test runs in a second. It catches the bug before your users do.")


@functools.cache
def tiny_mp4() -> bytes:
    """A real one-second H.264/AAC file (the publisher probes what it publishes), made once per session."""
    out = Path(tempfile.mkdtemp(prefix="sma-tiny-")) / "tiny.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=c=black:s=108x192:d=1:r=10", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono",
                    "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(out)], check=True, timeout=60)
    return out.read_bytes()


def make_settings(tmp_path: Path, api: FakeBotAPI, guards: GuardSettings | None = None,
                  autonomy: str = "manual", **bot: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        pipeline=PipelineSettings(target_seconds=7),
        projects=[ProjectSettings(id="test", niche="developer tools", autonomy=autonomy,  # type: ignore[arg-type]
                                  telegram_chat_id=CHAT, guards=guards or GuardSettings())],
        bot=BotSettings(allowed_user_ids=[ALICE], api_base_url=api.base_url, file_base_url=api.file_url,
                        **{"poll_timeout_s": 1, **bot}),  # type: ignore[arg-type]
        secrets={"telegram_bot_token": TOKEN, "callback_secret": "a-test-callback-secret-0123456789"},
    )


class StubMedia:
    """Test doubles of steps 4-9 (same names and contracts): instant, with a tiny file as the video."""

    def __init__(self, store: ArtifactStore, fail_gate: str | None = None,
                 render_gate: asyncio.Event | None = None) -> None:
        self.store = store
        self.fail_gate = fail_gate
        self.render_gate = render_gate  # when set, render reports 40 % and waits for it (at most 20 s)

    def _qa(self, gate: str) -> QAReport:
        failed = gate == self.fail_gate
        return QAReport(gate=gate, passed=not failed, score=0.2 if failed else 1.0, threshold=0.8,
                        reasons=["stubbed failure"] if failed else [])

    def _file(self, data: bytes, suffix: str, kind: str) -> ArtifactRef:
        return self.store.put_bytes(data, suffix, kind=kind)

    @activity.defn(name="voiceover")
    async def voiceover(self, req: VoiceRequest) -> VoiceResult:
        audio = self._file(b"RIFF" + req.text.encode(), ".wav", "audio")
        return VoiceResult(audio=audio, duration_s=3.0, qa=self._qa("QA_TTS"), tier="stub-voice")

    @activity.defn(name="captions")
    async def captions(self, req: CaptionRequest) -> CaptionResult:
        ass = self._file(b"[Script Info]\n" + req.script_text.encode(), ".ass", "captions")
        words = self.store.put_json([{"text": "hi", "start": 0.0, "end": 0.5}], kind="words")
        return CaptionResult(ass=ass, words=words, word_count=1, qa=self._qa("QA_CAPTIONS"), tier="stub-whisper")

    @activity.defn(name="music")
    async def music(self, req: MusicRequest) -> MusicResult:
        return MusicResult(tier="stub")

    @activity.defn(name="background")
    async def background(self, req: BackgroundRequest) -> BackgroundResult:
        return BackgroundResult(tier="stub")

    @activity.defn(name="images")
    async def images(self, req: ImagesRequest) -> ImagesResult:
        return ImagesResult(tier="stub")

    @activity.defn(name="render")
    async def render(self, req: RenderRequest) -> RenderResult:
        if self.render_gate is not None:
            activity.heartbeat(0.4)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.render_gate.wait(), timeout=20)
        video = self._file(tiny_mp4(), ".mp4", "video")
        return RenderResult(video=video, duration_s=1.0, encoder="stub", tier="stub-ffmpeg")

    @activity.defn(name="check_video")
    async def check_video(self, req: VideoCheckRequest) -> VideoCheckResult:
        return VideoCheckResult(reports=[self._qa("QA_RENDER"), self._qa("QA_VISUAL")], tier="stub")

    @activity.defn(name="variant")
    async def variant(self, req: VariantRequest) -> VariantResult:
        """Every platform takes the master as it is."""
        return VariantResult(platform=req.platform, video=req.video)


@contextlib.asynccontextmanager
async def stub_pipeline(client: Client, settings: Settings, database: Database, suffix: str,
                        fail_gate: str | None = None, render_gate: asyncio.Event | None = None
                        ) -> AsyncIterator[None]:
    """The real sma-workflows worker, plus the media doubles on the cpu and gpu queues."""
    media = StubMedia(ArtifactStore(settings.data_dir / "artifacts"), fail_gate, render_gate)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(build_worker(client, queues.WORKFLOWS, settings, database,
                                                     task_queue=queues.WORKFLOWS + suffix))
        await stack.enter_async_context(Worker(client, task_queue=queues.GPU + suffix,
                                               activities=[media.voiceover, media.captions]))
        await stack.enter_async_context(Worker(client, task_queue=queues.CPU + suffix, activities=[
            media.music, media.background, media.images, media.render, media.check_video, media.variant]))
        yield


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    yield server
    await server.stop()


async def open_db(settings: Settings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return Database(settings.database_url)


async def start(client: Client, settings: Settings, suffix: str, autonomy: str = "manual",
                topic: Topic = TOPIC) -> str:
    inp = pipeline_input(settings, topic, "test", autonomy=autonomy)  # type: ignore[arg-type]
    return await start_pipeline(client, inp, suffix)


async def result(client: Client, wf_id: str) -> PipelineResult:
    return await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()


async def finished(client: Client, wf_id: str) -> None:
    """Wait until the workflow is closed (a cancelled run still records its last state first)."""
    with contextlib.suppress(WorkflowFailureError):
        await client.get_workflow_handle(wf_id).result()


async def dashboard_page(settings: Settings, database: Database, client: Client, path: str) -> str:
    """A dashboard page as the logged-in admin sees it, served by the real app over ASGI."""
    import httpx
    from pydantic import SecretStr

    from sma.dashboard.app import create_app
    from sma.dashboard.testing import alogin

    password = "correct horse battery"
    secured = settings.model_copy(update={"secrets": settings.secrets.model_copy(
        update={"admin_password": SecretStr(password)})})
    app = create_app(secured, database=database, client=client)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                   base_url="http://testserver") as http:
        await alogin(http, password)
        page = await http.get(path)
    assert page.status_code == 200, page.text[:300]
    return page.text


def approval_messages(api: FakeBotAPI) -> list[dict]:
    """Messages the bot sent with Approve / Reject buttons."""
    return [m for m in api.messages.values() if "✅ Approve" in api.buttons(m)]


def now_window(minutes_before: int = 60, minutes_after: int = 60) -> str:
    now = datetime.now(UTC)
    start_, end = now - timedelta(minutes=minutes_before), now + timedelta(minutes=minutes_after)
    return f"{start_:%H:%M}-{end:%H:%M}"


# ---------------------------------------------------------------- reminder and expiry (time-skipping server)


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter)
    yield env
    await env.shutdown()


async def test_reminder_then_expiry_then_reopen_then_approve(
        skipping_env: WorkflowEnvironment, bot_api: FakeBotAPI, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, bot_api, reminder_minutes=60, expiry_hours=24)
    database = await open_db(settings)
    client, suffix = skipping_env.client, f"-t{uuid.uuid4().hex[:8]}"
    try:
        async with stub_pipeline(client, settings, database, suffix):
            wf_id = await start(client, settings, suffix)
            await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL, timeout=60)
            [first] = await bot_api.wait_for(lambda _: approval_messages(bot_api) or None)
            assert bot_api.of("sendVideo"), "the video goes out before the buttons"

            await skipping_env.sleep(timedelta(minutes=61))
            reminder = await bot_api.wait_call("sendMessage", lambda c: c.params["text"].startswith("⏰"))
            assert reminder.params["reply_parameters"]["message_id"] == first["message_id"]
            assert (await wait_for(client, wf_id, lambda s: True)).state == RunState.AWAITING_APPROVAL

            await skipping_env.sleep(timedelta(hours=24))
            expired = await wait_for(client, wf_id, lambda s: s.state == RunState.EXPIRED, timeout=60)
            assert expired.artifacts["video"].path and Path(expired.artifacts["video"].path).is_file()
            await bot_api.wait_for(lambda _: "Re-open" in "".join(bot_api.buttons(first)))
            assert "Expired" in first["text"]
            assert len([c for c in bot_api.of("sendMessage") if c.params["text"].startswith("⏰")]) == 1

            # A decision on an expired run is refused; re-open brings a fresh approval message.
            with pytest.raises(NotDecidable, match="expired"):
                await _runs(client).approve(wf_id, 1, by="tester")
            await _runs(client).reopen(wf_id, by="tester")
            await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL, timeout=60)
            second = await bot_api.wait_for(lambda _: [m for m in approval_messages(bot_api) if m is not first])
            assert len(second) == 1
            await _runs(client).approve(wf_id, 1, by="tester")
            done = await result(client, wf_id)
            assert done.state == RunState.PUBLISHED
            assert done.status.steps["approval"].notes[0] == "approved by tester"
            # The workflow's "decided" notice edits the message the person did not tap.
            await bot_api.wait_for(lambda _: "Approved by tester" in second[0]["text"])
            history = await client.get_workflow_handle(wf_id).fetch_history()
            if os.environ.get("SMA_WRITE_HISTORIES"):
                (HISTORIES / "content_pipeline_expire_reopen.json").write_text(history.to_json())
    finally:
        await database.close()


# ---------------------------------------------------------------- levels and guards (dev server)


@pytest.fixture
async def rig(client: Client, bot_api: FakeBotAPI, tmp_path: Path, suffix: str):
    """(client, settings factory, database holder): each test chooses its guards before starting workers."""
    made: list[Database] = []

    async def build(guards: GuardSettings | None = None, autonomy: str = "manual", **bot: object
                    ) -> tuple[Settings, Database]:
        settings = make_settings(tmp_path, bot_api, guards, autonomy, **bot)
        made.append(await open_db(settings))
        return settings, made[-1]

    yield build
    for database in made:
        await database.close()


async def test_assisted_publishes_on_its_own_when_every_gate_passes(
        client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    settings, database = await rig()
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = await start(client, settings, suffix, "assisted")
        done = await result(client, wf_id)
    assert done.state == RunState.PUBLISHED
    assert done.status.decisions[0].by == "autonomy:assisted" and done.status.decisions[0].auto
    assert done.status.steps["approval"].tier == "auto"
    assert approval_messages(bot_api) == []
    # The run sent no progress notices; the bot's progress pass writes one message from the recorded steps.
    assert not [m for m in bot_api.messages.values() if m.get("text", "").startswith(TOPIC.title)]
    notifier = TelegramNotifier.from_settings(settings, database)
    try:
        reads = ProgressPass(settings, database, RunClient(client, settings, database), notifier)
        assert await refresh_progress(reads, since=datetime.now(UTC) - timedelta(minutes=10)) == 1
    finally:
        await notifier.close()
    [progress] = [m for m in bot_api.messages.values() if m.get("text", "").startswith(TOPIC.title)]
    assert "state: published" in progress["text"]
    assert "[stub-voice]" in progress["text"] and "✓ render [stub-ffmpeg]" in progress["text"]


async def test_assisted_asks_when_a_gate_fails(client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    settings, database = await rig()
    async with stub_pipeline(client, settings, database, suffix, fail_gate="QA_TTS"):
        wf_id = await start(client, settings, suffix, "assisted")
        status = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        assert any("QA_TTS failed" in note for note in status.steps["approval"].notes)
        [message] = await bot_api.wait_for(lambda _: approval_messages(bot_api) or None)
        assert "❌ QA_TTS" in message["text"] and "Why you: assisted: QA did not pass" in message["text"]
        await client.get_workflow_handle(wf_id).signal("reject", RejectSignal(round=1, feedback="redo", by="t"))
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL and s.round == 2)
        await client.get_workflow_handle(wf_id).signal("approve", ApproveSignal(round=2, by="t"))
        done = await result(client, wf_id)
    assert done.state == RunState.PUBLISHED and done.rounds == 2


async def test_switching_to_autonomous_releases_a_waiting_run(
        client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    settings, database = await rig()
    service = AutonomyService(settings, database)
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = await start(client, settings, suffix, "manual")
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        [message] = await bot_api.wait_for(lambda _: approval_messages(bot_api) or None)
        change = await _runs(client, settings, database).set_level("test", "autonomous", by="tester", source="cli",
                                                                   service=service)
        assert (change.previous, change.signalled) == ("manual", 1)
        done = await result(client, wf_id)
    assert done.state == RunState.PUBLISHED and done.status.autonomy == "autonomous"
    assert done.status.decisions[0].by == "autonomy:autonomous"
    await bot_api.wait_for(lambda _: "Approved by autonomy:autonomous" in message["text"])
    assert "✅ Approve" not in bot_api.buttons(message)


async def test_kill_switch_holds_until_resume(client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    settings, database = await rig(autonomy="autonomous")
    service = AutonomyService(settings, database)
    await service.pause(["test"], "telegram:@alice", "bot", "audit")
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = await start(client, settings, suffix, "autonomous")
        held = await wait_for(client, wf_id, lambda s: s.state == RunState.HELD)
        assert held.steps["approval"].notes[0] == "held: publishing is paused: by telegram:@alice (audit)"
        await bot_api.wait_call("sendMessage", lambda c: "approved but held" in c.params["text"])
        assert await service.resume(["test"], "telegram:@alice", "bot") == ["test"]
        assert await _runs(client, settings, database).recheck(["test"], by="telegram:@alice", reason="resumed") == 1
        done = await result(client, wf_id)
    assert done.state == RunState.PUBLISHED and len(done.posts) == 1


async def test_a_capped_run_is_held_with_a_notice_and_a_cap_of_zero_releases_it(
        client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    """The 11th video of a day is not held silently: the chat hears why and when it goes on; 0 is no cap."""
    settings, database = await rig(GuardSettings(daily_cap=1), autonomy="autonomous")
    service = AutonomyService(settings, database)
    today = datetime.now(UTC).date().isoformat()
    await store.reserve_slot(database, "test", "content-test-earlier", today, ["local"], auto=True)
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = await start(client, settings, suffix, "autonomous")
        held = await wait_for(client, wf_id, lambda s: s.state == RunState.HELD)
        assert held.steps["approval"].notes[0] == "held: daily cap reached: 1 of 1 videos published today"
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        assert held.steps["approval"].notes[1].startswith(f"held: released {tomorrow} 00:00 UTC (in ")
        notice = await bot_api.wait_call("sendMessage", lambda c: "approved but held" in c.params["text"])
        assert "daily cap reached" in notice.params["text"] and "00:00 UTC" in notice.params["text"]
        page = await dashboard_page(settings, database, client, f"/runs/{wf_id}")
        assert "Approved but held, not published yet: daily cap reached: 1 of 1" in page
        assert f"released {tomorrow} 00:00 UTC" in page
        await service.set_limits("test", "telegram:@alice", "bot", daily_cap=0)
        await _runs(client, settings, database).recheck(["test"], by="telegram:@alice", reason="limits")
        done = await result(client, wf_id)
    assert done.state == RunState.PUBLISHED


async def test_quiet_hours_hold_then_a_level_drop_asks_a_human_then_cancel(
        client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    settings, database = await rig(GuardSettings(quiet_hours=now_window()), autonomy="autonomous")
    service = AutonomyService(settings, database)
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = await start(client, settings, suffix, "autonomous")
        held = await wait_for(client, wf_id, lambda s: s.state == RunState.HELD)
        assert "quiet hours" in held.steps["approval"].notes[0]
        await _runs(client, settings, database).set_level("test", "manual", by="tester", source="cli", service=service)
        asked = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        assert asked.autonomy == "manual" and asked.posts == []  # nothing was published by the automatic approval
        await bot_api.wait_for(lambda _: approval_messages(bot_api) or None)
        await _runs(client).cancel(wf_id, by="tester")
        await finished(client, wf_id)
        final = await wait_for(client, wf_id, lambda s: True)
    assert final.state == RunState.CANCELLED and final.posts == []
    with pytest.raises(NotDecidable, match="finished"):
        await _runs(client).approve(wf_id, 1, by="tester")


async def test_blocklisted_topic_waits_for_a_human(client: Client, rig, suffix: str) -> None:
    settings, database = await rig(GuardSettings(topic_blocklist=["big bugs"]), autonomy="autonomous")
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = await start(client, settings, suffix, "autonomous")
        status = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        assert "blocklist (big bugs)" in status.steps["approval"].notes[0]
        await _runs(client).cancel(wf_id, by="tester")
        await finished(client, wf_id)


async def test_repeated_qa_failures_fall_back_to_assisted(
        client: Client, rig, suffix: str, bot_api: FakeBotAPI) -> None:
    settings, database = await rig(GuardSettings(fallback_after_qa_failures=1), autonomy="autonomous")
    async with stub_pipeline(client, settings, database, suffix, fail_gate="QA_VISUAL"):
        wf_id = await start(client, settings, suffix, "autonomous")
        status = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        assert status.autonomy == "assisted"
        assert any("fell back to assisted" in note for note in status.steps["approval"].notes)
        announcement = await bot_api.wait_call("sendMessage", lambda c: "fell back from autonomous" in c.params["text"])
        assert int(announcement.params["chat_id"]) == CHAT
        assert await AutonomyService(settings, database).level("test") == "assisted"
        await _runs(client).cancel(wf_id, by="tester")
        await finished(client, wf_id)
