"""Transient faults are ridden out, a failed run is retried from its failed step, status tells the truth.

The pipeline tests run the real workflow on the dev server with real workers; the fault is a store whose
folders refuse new entries (tests/faults.py) from the moment the render starts.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from sma.activities.attempts import next_delay, will_retry
from sma.client import NotDecidable, RunClient
from sma.client.handles import start_pipeline
from sma.dashboard.app import create_app
from sma.dashboard.testing import alogin
from sma.db import repo
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables_dashboard import AuditEntry
from sma.models.common import StepState
from sma.models.pipeline import PipelineResult, PipelineStatus, RenderRequest, RunState, StepStatus, Topic
from sma.services.artifacts import ArtifactStore
from sma.services.media.ffmpeg import FFmpeg
from sma.services.media.render import RenderService
from sma.services.retry import failed_step
from sma.services.runs import pipeline_input, retry_lines
from sma.services.telegram.texts import status_detail
from sma.settings import MediaSettings, PipelineSettings, ProjectSettings, Secrets, Settings, TTSSettings
from sma.workflows.pipeline.steps import MEDIA_STEPS, RENDER
from tests.conftest import running_workers, wait_for
from tests.faults import DiskFault, leftovers
from tests.test_render import even_words, voice_args, write_ass

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "fault recovery password"
TOPIC = Topic(title="Disks fail, videos ship", summary="A disk refuses writes for a while. The run waits it out.")


# ---------------------------------------------------------------- policies


def test_media_steps_retry_with_a_budget() -> None:
    """Media steps keep trying through a fault of minutes: no attempt cap, backoff up to minutes, and a
    schedule-to-close budget that still ends a step that can never succeed."""
    assert {spec.name for spec in MEDIA_STEPS} == {"voiceover", "captions", "music", "background", "images",
                                                    "render", "check_video", "variant"}
    for spec in MEDIA_STEPS:
        assert spec.retry.maximum_attempts == 0, spec.name
        assert spec.retry.maximum_interval is not None and spec.retry.maximum_interval.total_seconds() >= 60, spec.name
        assert spec.budget is not None and spec.budget >= max(spec.start_to_close, timedelta(minutes=15)), spec.name


# ---------------------------------------------------------------- scratch files


def _small_render(tmp_path: Path) -> tuple[RenderService, RenderRequest]:
    store = ArtifactStore(tmp_path / "artifacts")
    ffmpeg = FFmpeg()
    work = tmp_path / "inputs"
    work.mkdir()
    ffmpeg.run(voice_args(2.0, work / "voice.wav"))
    voice = store.put(work / "voice.wav", kind="audio")
    captions = store.put(write_ass(work / "captions.ass", even_words("disks fail videos ship", 0.2, 1.8)),
                         kind="captions")
    req = RenderRequest(project_id="p", run_id=f"r-{uuid.uuid4().hex[:6]}", voice=voice, duration_s=2.0,
                        captions=captions)
    return RenderService(store, ffmpeg, MediaSettings(encoder="libx264")), req


def test_partial_render_removed_on_failure(tmp_path: Path) -> None:
    """The disk refuses writes while ffmpeg is encoding: the attempt fails and even its cleanup is refused,
    so the scratch files stay; the next attempt of the same process removes them and renders."""
    renderer, req = _small_render(tmp_path)
    store = renderer.store
    fault = DiskFault(store.root)
    started = threading.Event()

    def on_progress(fraction: float) -> None:
        if not started.is_set():
            started.set()
            fault.on()

    try:
        with pytest.raises(OSError):
            renderer.render(req, on_progress=on_progress)
        assert started.is_set(), "the fault must land during the encode"
        assert leftovers(store.root), "the refused cleanup leaves the scratch files (until the next attempt)"
    finally:
        fault.off()
    result = renderer.render(req)
    assert Path(result.video.path).is_file()
    assert leftovers(store.root) == []


def test_failed_store_write_leaves_no_partial(tmp_path: Path) -> None:
    """A copy into the store that fails leaves nothing next to the finished objects, and its scratch copy
    is gone at once when the scratch folder accepts the removal."""
    store = ArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "video.mp4"
    source.write_bytes(os.urandom(1 << 16))
    with DiskFault(store.objects), pytest.raises(OSError):
        store.put(source, kind="video", key="k")
    assert leftovers(store.root) == []
    assert store.lookup("k") is None
    ref = store.put(source, kind="video", key="k")
    assert store.lookup("k") == ref and leftovers(store.root) == []


def test_stale_tmp_swept_at_worker_start(tmp_path: Path) -> None:
    """The worker's start sweep removes scratch files of dead processes, this process's orphans and
    partial copies of the old layout, and keeps what a live staging call is writing."""
    store = ArtifactStore(tmp_path / "artifacts")
    with store.staging(".mp4") as live:
        dead = store.tmp / "999999999-render.mp4"
        dead.write_bytes(b"x")
        orphan = store.tmp / f"{os.getpid()}-orphan.mp4"
        orphan.write_bytes(b"x")
        old_partial = store.objects / "ab" / "abc.mp4.partial"
        old_partial.parent.mkdir()
        old_partial.write_bytes(b"x")
        foreign = store.tmp / "tmpbot-upload"  # not a `<pid>-` scratch name: someone else's, left alone
        foreign.mkdir()
        assert store.sweep_stale() == 3
        assert live.exists() and foreign.exists()
    assert not dead.exists() and not orphan.exists() and not old_partial.exists() and not live.exists()


# ---------------------------------------------------------------- pipeline under a disk fault


def _settings(root: Path) -> Settings:
    return Settings(data_dir=root / "data", pipeline=PipelineSettings(target_seconds=7),
                    projects=[ProjectSettings(id="test", niche="developer tools")])


@dataclass
class Observed:
    settings: Settings
    wf_id: str = ""
    db_at_render: PipelineStatus | None = None
    db_current_step: str = ""
    live_retrying: PipelineStatus | None = None
    db_retrying: PipelineStatus | None = None
    refused_while_running: str = ""
    result: PipelineResult | None = None
    left: list[Path] = field(default_factory=list)


async def _stored(database: Database, wf_id: str) -> PipelineStatus | None:
    row = await repo.get_run(database, wf_id)
    return PipelineStatus.model_validate_json(row.status_json) if row and row.status_json not in ("", "{}") else None


async def _until(probe, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def ridden_out(client: Client, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Observed]:
    """One autonomous run; the store refuses writes from the start of the render until the live status and
    the database copy both say the render is retrying, and a little longer."""
    settings = _settings(tmp_path_factory.mktemp("ridden"))
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    seen = Observed(settings=settings)
    suffix = f"-t{uuid.uuid4().hex[:8]}"
    artifacts = settings.data_dir / "artifacts"
    async with Database(settings.database_url) as database, running_workers(client, settings, database, suffix):
        inp = pipeline_input(settings, TOPIC, "test", autonomy="autonomous")
        seen.wf_id = wf_id = await start_pipeline(client, inp, suffix)
        fault = DiskFault(artifacts)
        try:
            await wait_for(client, wf_id, lambda s: s.steps["render"].state == "running", timeout=240)
            fault.on()
            seen.db_at_render = await _until(
                lambda: _db_step(database, wf_id, lambda s: s.current_step == "render"
                                 and s.steps["render"].state == "running" and bool(s.steps["render"].started_at)),
                20, "the database copy to show the render running")
            seen.db_current_step = (await repo.get_run(database, wf_id)).current_step  # type: ignore[union-attr]
            with pytest.raises(NotDecidable) as refused:
                await RunClient(client, Settings(), None).retry(wf_id, by="test")
            seen.refused_while_running = str(refused.value)
            seen.live_retrying = await _until(
                lambda: _live_step(client, wf_id, lambda s: s.steps["render"].retrying), 60,
                "the live status to show the render retrying")
            seen.db_retrying = await _until(
                lambda: _db_step(database, wf_id, lambda s: s.steps["render"].retrying), 30,
                "the database copy to show the render retrying")
            await asyncio.sleep(3)
        finally:
            fault.off()
        seen.result = await asyncio.wait_for(
            client.get_workflow_handle(wf_id, result_type=PipelineResult).result(), timeout=240)
    seen.left = leftovers(artifacts)
    yield seen


async def _db_step(database: Database, wf_id: str, predicate) -> PipelineStatus | None:  # type: ignore[no-untyped-def]
    status = await _stored(database, wf_id)
    return status if status is not None and predicate(status) else None


async def _live_step(client: Client, wf_id: str, predicate) -> PipelineStatus | None:  # type: ignore[no-untyped-def]
    status = (await RunClient(client, Settings(), None).status(wf_id)).status
    return status if predicate(status) else None


def _refused(error: str) -> bool:
    return "not permitted" in error or "Permission denied" in error


async def test_render_rides_out_transient_disk_fault(ridden_out: Observed) -> None:
    result = ridden_out.result
    assert result is not None and result.state == RunState.PUBLISHED
    assert len(list((ridden_out.settings.data_dir / "outbox").rglob("video.mp4"))) == 1
    assert ridden_out.left == [], ridden_out.left


async def test_status_shows_retrying_step_error(ridden_out: Observed) -> None:
    for status in (ridden_out.live_retrying, ridden_out.db_retrying):
        assert status is not None
        render = status.steps["render"]
        assert render.state == "running" and render.last_attempt >= 1 and _refused(render.error), render
        assert status.current_step == "render"
        [line] = retry_lines(status)
        assert line.startswith(f"render retrying: attempt {render.last_attempt} failed (")
    assert "still running" in ridden_out.refused_while_running


async def test_status_db_copy_tracks_current_step(ridden_out: Observed) -> None:
    """The database copy names the step that runs now (recorded when it starts), not the last one done."""
    assert ridden_out.db_current_step == "render"
    status = ridden_out.db_at_render
    assert status is not None and status.steps["music"].state in ("done", "skipped")


# ---------------------------------------------------------------- retry a failed run


async def _scheduled(client: Client, wf_id: str) -> list[str]:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def test_failed_run_retries_from_failed_step(client: Client, tmp_path: Path) -> None:
    """The render's budget runs out under a disk fault and the run fails; the dashboard's Retry resets it to
    the render: the script, voice and captions are not made again, and the run is published exactly once.
    `sma reopen` points at retry, and `sma retry` refuses the published run."""
    # This protects the retry, not QA_TTS: a Piper take of this short script can land near the WER limit,
    # and an autonomous run would then wait for a human instead of publishing.
    settings = _settings(tmp_path).model_copy(update={"secrets": Secrets(admin_password=PASSWORD),
                                                      "tts": TTSSettings(max_wer=0.5)})
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    artifacts = settings.data_dir / "artifacts"
    suffix = f"-t{uuid.uuid4().hex[:8]}"
    inp = pipeline_input(settings, TOPIC, "test", autonomy="autonomous").model_copy(
        update={"step_budgets_s": {"render": 45}})
    async with Database(settings.database_url) as database, running_workers(client, settings, database, suffix):
        wf_id = await start_pipeline(client, inp, suffix)
        fault = DiskFault(artifacts)
        try:
            await wait_for(client, wf_id, lambda s: s.steps["render"].state == "running", timeout=240)
            fault.on()
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(client.get_workflow_handle(wf_id).result(), timeout=180)
        finally:
            fault.off()
        failed = await _stored(database, wf_id)
        assert failed is not None and failed.state == RunState.FAILED and failed.steps["render"].state == "failed"
        with pytest.raises(NotDecidable, match="failed; retry it"):
            await RunClient(client, Settings(), None).reopen(wf_id, by="test")

        app = create_app(settings, database=database, client=client)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            token = await alogin(http, PASSWORD)
            assert "Retry from the failed step" in (await http.get(f"/runs/{wf_id}")).text
            retried = await http.post(f"/runs/{wf_id}/retry", data={"csrf_token": token})
            assert retried.status_code == 303 and "Retrying%20from%20render" in retried.headers["set-cookie"], \
                retried.headers
        done = await wait_for(client, wf_id, lambda s: s.state != RunState.RUNNING, timeout=240)
        assert done.state == RunState.PUBLISHED, (done.steps["approval"].notes, done.qa)
        result = await asyncio.wait_for(
            client.get_workflow_handle(wf_id, result_type=PipelineResult).result(), timeout=60)
        refused = await _sma(settings, client, "retry", wf_id)
        assert refused.returncode == 1 and "did not fail" in refused.stderr, refused
        async with database.session() as session:
            audited = [(a.action, a.outcome) for a in (await session.exec(select(AuditEntry))).all()]
        assert ("retry", "ok") in audited
        posts = await repo.list_posts(database, wf_id)
        row = await repo.get_run(database, wf_id)

    assert result.state == RunState.PUBLISHED
    assert result.status.steps["write_script"].attempts == 1 and result.status.steps["voiceover"].attempts == 1
    scheduled = await _scheduled(client, wf_id)
    for name in ("write_script", "voiceover", "captions", "music", "background", "images"):
        assert scheduled.count(name) == 1, (name, scheduled)
    assert scheduled.count("render") == 1 and scheduled.count("publish") == 1
    assert len(list((settings.data_dir / "outbox").rglob("video.mp4"))) == 1
    assert [p.status for p in posts] == ["published"]
    assert row is not None and row.state == "published" and row.finished_at is not None
    assert leftovers(artifacts) == []


async def _sma(settings: Settings, client: Client, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `sma` command against this test's data dir and dev server."""
    env = dict(os.environ, SMA_DATA_DIR=str(settings.data_dir),
               SMA_TEMPORAL__ADDRESS=client.service_client.config.target_host)
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "sma.cli", *args], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- pieces


def _event(event_id: int, kind: EventType.ValueType, **attrs: object) -> HistoryEvent:
    event = HistoryEvent(event_id=event_id, event_type=kind)
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        event.activity_task_scheduled_event_attributes.activity_type.name = str(attrs["name"])
    elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
        event.activity_task_failed_event_attributes.scheduled_event_id = int(attrs["scheduled"])  # type: ignore[arg-type]
    return event


def test_retry_resets_to_the_task_before_the_failed_step() -> None:
    """The reset point is the workflow task that scheduled the failed step; a failed notification (best
    effort, it fails nothing) is not a step to retry."""
    wft = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    scheduled, failed = EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    events = [_event(4, wft), _event(5, scheduled, name="voiceover"), _event(9, wft),
              _event(10, scheduled, name="render"), _event(11, scheduled, name="notify"),
              _event(12, failed, scheduled=11), _event(13, failed, scheduled=10), _event(14, wft),
              _event(15, scheduled, name="notify"), _event(16, failed, scheduled=15)]
    assert failed_step(events) == ("render", 9)
    assert failed_step(events[:3]) is None


def test_attempt_recorder_knows_which_failures_retry() -> None:
    policy = RENDER.retry
    assert will_retry(PermissionError(1, "Operation not permitted"), 7, policy)
    assert not will_retry(ApplicationError("bad input", non_retryable=True), 1, policy)
    assert not will_retry(RuntimeError("x"), 3, RetryPolicy(maximum_attempts=3))
    assert next_delay(OSError("disk"), 1, policy) == timedelta(seconds=2)
    assert next_delay(OSError("disk"), 20, policy) == timedelta(minutes=2)  # capped
    assert next_delay(ApplicationError("later", next_retry_delay=timedelta(seconds=30)), 1, policy) == \
        timedelta(seconds=30)


def test_bot_status_says_why_a_step_retries() -> None:
    status = PipelineStatus(workflow_id="content-p-x", project_id="p", item_id="x", title="T",
                            steps={"render": StepStatus(name="render", state=StepState.RUNNING, retrying=True,
                                                        last_attempt=3, error="PermissionError: no")})
    assert "render: running retrying: attempt 3 failed: PermissionError: no" in status_detail(status)
    assert retry_lines(status) == ["render retrying: attempt 3 failed (PermissionError: no); retrying now"]
    failed = status.model_copy(update={"state": RunState.FAILED})
    assert "/retry content-p-x" in status_detail(failed)
