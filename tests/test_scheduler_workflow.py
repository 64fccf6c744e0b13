"""ContentSchedulerWorkflow and CalendarSlotWorkflow on the time-skipping test server: a simulated day of
slots honoured to the minute, a worker restart and a second scheduler run in the middle posting nothing
twice, and a video ready only after its slot moved to the next free slot (posted once). Time advances by
waiting on workflow results (the test server skips to the next timer); its `sleep` cannot cross a timer
that fires, so "workers down past the slot" is covered at the service level (test_calendar_service.py).

The pipeline here is a stand-in registered under the real name `ContentPipelineWorkflow` that does what
the real one does around the calendar (produce, ask the calendar's hold, publish once) without rendering.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from sma.activities.scheduler import SchedulerActivities
from sma.client import RunClient
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables import ContentItem
from sma.models.ids import slot_workflow_id
from sma.models.pipeline import PipelineInput, PipelineResult, PipelineStatus, RunState
from sma.models.schedule import SchedulerInput, SchedulerResult, SlotHold, SlotHoldRequest, SlotResult
from sma.models.trends import RankedTrend, ScoreBreakdown, StoreScanRequest, TrendLink
from sma.services.autonomy.config import GuardSettings
from sma.services.scheduling.calendar import CalendarService
from sma.services.scheduling.history import NoHistory
from sma.services.scheduling.moves import move_slot
from sma.services.scheduling.store import list_slots
from sma.services.trends.config import SchedulerSettings
from sma.services.trends.store import ensure_project_row, save_scan
from sma.settings import ProjectSettings, Settings
from sma.workflows.scheduler import CalendarSlotWorkflow, ContentSchedulerWorkflow

PROJECT = "cal"
SLOT_HISTORY = Path(__file__).parent / "histories" / "scheduler" / "slot_moved_earlier.json"
QUIET = (time(22, 0), time(7, 0))


class Published(BaseModel):
    workflow_id: str
    at: datetime


class PublishLog:
    def __init__(self) -> None:
        self.posts: list[Published] = []
        self.lock = threading.Lock()

    @activity.defn(name="stub_publish")
    async def publish(self, post: Published) -> None:
        with self.lock:
            self.posts.append(post)


PRODUCTION = {"minutes": 20.0}  # how long the stand-in "renders"; a test may make it late


@workflow.defn(name="ContentPipelineWorkflow", sandboxed=False)
class StandInPipeline:
    """Produces for a while, then waits for its calendar slot as the publish gate does, then publishes."""

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        wf_id = workflow.info().workflow_id
        await workflow.sleep(timedelta(minutes=PRODUCTION["minutes"]))
        for _ in range(5):
            hold = await workflow.execute_activity(
                "calendar_slot_hold", SlotHoldRequest(workflow_id=wf_id, now=workflow.now()), result_type=SlotHold,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=3))
            if hold.wait_s <= 0:
                break
            await workflow.sleep(timedelta(seconds=hold.wait_s))
        await workflow.execute_activity("stub_publish", Published(workflow_id=wf_id, at=workflow.now()),
                                        start_to_close_timeout=timedelta(seconds=30))
        status = PipelineStatus(workflow_id=wf_id, project_id=inp.project_id, item_id=inp.item_id,
                                state=RunState.PUBLISHED)
        return PipelineResult(workflow_id=wf_id, state=RunState.PUBLISHED, status=status)


@pytest.fixture(scope="module")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=pydantic_data_converter)
    yield env
    await env.shutdown()


@pytest.fixture
def cal_settings(tmp_path: Path) -> Settings:
    guards = GuardSettings(timezone="UTC", daily_cap=5, quiet_hours="22:00-07:00")
    return Settings(
        data_dir=tmp_path / "data",
        projects=[ProjectSettings(id=PROJECT, niche="developer tools", platforms=["youtube"], guards=guards,
                                  autonomy="autonomous")],
        scheduler=SchedulerSettings(daily_production_limit=3, lead_time_min=60, horizon_h=24, missed_grace_min=30,
                                    cooldown_h={"youtube": 3.0}),
    )


@pytest.fixture
async def cal_db(cal_settings: Settings) -> AsyncIterator[Database]:
    cal_settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(cal_settings.database_url)
    db = Database(cal_settings.database_url)
    yield db
    await db.close()


async def seed_topics(db: Database, now: datetime, titles: list[str]) -> None:
    await ensure_project_row(db, PROJECT)
    candidates = [RankedTrend(key=f"k{i}-{uuid.uuid4().hex[:6]}", title=t, sources=["hackernews"],
                              links=[TrendLink(source="hackernews", url=f"https://hn/{i}", title=t)],
                              breakdown=ScoreBreakdown(score=1.0 - i / 10))
                  for i, t in enumerate(titles)]
    req = StoreScanRequest(project_id=PROJECT, scan_id=f"scan-{uuid.uuid4().hex[:6]}", started_at=now,
                           finished_at=now, candidates=candidates)
    await save_scan(db, req, candidates, [])


@asynccontextmanager
async def worker(client: Client, settings: Settings, db: Database, log: PublishLog, queue: str) -> AsyncIterator[None]:
    calendar = CalendarService(settings, db, NoHistory())

    async def this_client() -> Client:
        return client

    async with Worker(client, task_queue=queue,
                      workflows=[ContentSchedulerWorkflow, CalendarSlotWorkflow, StandInPipeline, Clock],
                      activities=[*SchedulerActivities(calendar, this_client).all(), log.publish],
                      max_cached_workflows=0):  # no sticky queues: a restarted worker takes every task at once
        yield


async def run_scheduler(client: Client, suffix: str, n: int) -> SchedulerResult:
    return await client.execute_workflow(ContentSchedulerWorkflow.run, SchedulerInput(project_id=PROJECT),
                                         id=f"content-scheduler-{PROJECT}-{n}-{suffix}",
                                         task_queue="sma-workflows" + suffix)


def local_hour_ok(at: datetime) -> bool:
    return QUIET[1] <= at.time() < QUIET[0]


@workflow.defn(name="TestClock", sandboxed=False)
class Clock:
    """Waiting on this through the test client lets the server skip time until it wakes."""

    @workflow.run
    async def run(self, hours: float) -> None:
        await workflow.sleep(timedelta(hours=hours))


async def slot_result(env: WorkflowEnvironment, item_id: str, queue: str) -> SlotResult:
    """Let simulated time run until the slot workflow is done (a slot workflow is a child of the
    scheduler, so its handle here does not unlock time skipping: a clock workflow's handle does)."""
    handle = env.client.get_workflow_handle(slot_workflow_id(PROJECT, item_id), result_type=SlotResult)
    for _ in range(48):
        description = await handle.describe()
        if description.close_time is not None:
            return await handle.result()
        await env.client.execute_workflow(Clock.run, 1.0, id=f"clock-{uuid.uuid4().hex[:8]}", task_queue=queue)
    raise AssertionError("the slot workflow did not finish within two simulated days")


async def test_a_day_of_slots_with_a_restart_in_the_middle(skipping: WorkflowEnvironment, cal_settings: Settings,
                                                           cal_db: Database) -> None:
    client, suffix, log = skipping.client, f"-t{uuid.uuid4().hex[:8]}", PublishLog()
    queue = "sma-workflows" + suffix
    PRODUCTION["minutes"] = 20.0
    now = await skipping.get_current_time()
    await seed_topics(cal_db, now, ["Rust 2.0 released", "SQLite in production", "Postgres 19 is out"])
    async with cal_db.session() as session, session.begin():  # already produced: must never be picked
        session.add(ContentItem(id="old-1", project_id=PROJECT, title="Postgres 19 is out: what changed"))

    async with worker(client, cal_settings, cal_db, log, queue):
        first = await run_scheduler(client, suffix, 1)
        assert len(first.planned) == 2 and len(first.timers_started) == 2
        ordered = sorted(first.planned, key=lambda s: s.slot_at)
        assert (await slot_result(skipping, ordered[0].item_id, queue)).state == "published"  # time skips to it
        assert [p.workflow_id for p in log.posts] == [ordered[0].workflow_id]
    # The worker is gone (a crash or a deploy); a new one starts and the schedule fires the scheduler again.
    async with worker(client, cal_settings, cal_db, log, queue):
        second = await run_scheduler(client, suffix, 2)
        assert second.planned == []  # nothing new: both topics are in the calendar, the third was produced
        # One timer, not two. On a loaded machine the test server may already have skipped time past the second
        # slot while the first was awaited; then it is published and the scheduler leaves it alone.
        second_slot = slot_workflow_id(PROJECT, ordered[1].item_id)
        done = (await client.get_workflow_handle(second_slot).describe()).close_time is not None
        assert second.already_running == ([] if done else [second_slot])
        assert (await slot_result(skipping, ordered[1].item_id, queue)).state == "published"

    assert sorted(p.workflow_id for p in log.posts) == sorted(s.workflow_id for s in ordered)  # each once
    rows = {r.workflow_id: r for r in await list_slots(cal_db, PROJECT)}
    for post in log.posts:
        # At the slot, never before; the test server may let virtual time run while a loaded machine is slow
        # to pick up an activity, so a few seconds of lateness are tolerated (a minute at most).
        assert 0 <= (post.at - rows[post.workflow_id].slot_at).total_seconds() < 60
        assert local_hour_ok(post.at)
        assert rows[post.workflow_id].state == "published"
    times = sorted(r.slot_at for r in rows.values())
    assert times[1] - times[0] >= timedelta(hours=3)  # the YouTube cooldown
    assert all("Postgres" not in r.title for r in rows.values())
    for slot in ordered:  # each pipeline started ahead of its slot by the lead time, by a durable timer
        started = await client.get_workflow_handle(slot.workflow_id).describe()
        assert started.start_time <= slot.slot_at - timedelta(minutes=55)


async def test_a_video_ready_after_its_slot_is_moved_not_rushed_or_doubled(
        skipping: WorkflowEnvironment, cal_settings: Settings, cal_db: Database) -> None:
    client, suffix, log = skipping.client, f"-t{uuid.uuid4().hex[:8]}", PublishLog()
    queue = "sma-workflows" + suffix
    PRODUCTION["minutes"] = 150.0  # lead is 60 min, grace 30: the video is ready an hour after its slot
    now = await skipping.get_current_time()
    await seed_topics(cal_db, now, ["Zig 1.0 released"])
    try:
        async with worker(client, cal_settings, cal_db, log, queue):
            [slot] = (await run_scheduler(client, suffix, 1)).planned
            result = await slot_result(skipping, slot.item_id, queue)
    finally:
        PRODUCTION["minutes"] = 20.0
    assert result.state == "published"
    [row] = await list_slots(cal_db, PROJECT)
    assert row.reschedules == 1 and row.slot_at > slot.slot_at + timedelta(minutes=90)
    assert any("moved to" in note for note in json.loads(row.reasons))
    [post] = log.posts
    assert post.workflow_id == slot.workflow_id and 0 <= (post.at - row.slot_at).total_seconds() < 60
    assert local_hour_ok(post.at)


async def timers_started(client: Client, wf_id: str, n: int) -> None:
    """Wait (in real time: reading history does not let the test server skip time) for the n-th timer."""
    for _ in range(200):
        history = await client.get_workflow_handle(wf_id).fetch_history()
        if sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{wf_id} never started timer {n}")


async def test_a_slot_moved_earlier_wakes_its_timer_and_publishes_at_the_new_time(
        skipping: WorkflowEnvironment, cal_settings: Settings, cal_db: Database) -> None:
    client, suffix, log = skipping.client, f"-t{uuid.uuid4().hex[:8]}", PublishLog()
    queue = "sma-workflows" + suffix
    cal_settings.projects[0].guards.quiet_hours = None  # the moves below may land at any hour
    now = await skipping.get_current_time()
    await seed_topics(cal_db, now, ["Deno 3 ships a package manager"])
    async with worker(client, cal_settings, cal_db, log, queue):
        [slot] = (await run_scheduler(client, suffix, 1)).planned
        now = await skipping.get_current_time()
        tell = RunClient(client, Settings(), None).slot_moved
        later, earlier = slot.slot_at + timedelta(hours=5), slot.slot_at + timedelta(hours=1)
        with pytest.raises(ValueError, match="too soon"):
            await move_slot(cal_db, tell, PROJECT, slot.item_id, now + timedelta(minutes=10), "tester", now=now)
        await move_slot(cal_db, tell, PROJECT, slot.item_id, later, "tester", now=now)
        await timers_started(client, slot_workflow_id(PROJECT, slot.item_id), 2)  # now sleeping until `later`
        said = await move_slot(cal_db, tell, PROJECT, slot.item_id, earlier, "tester", now=now)
        assert said == f"moved to {earlier:%Y-%m-%d %H:%M} UTC"
        result = await slot_result(skipping, slot.item_id, queue)
    history = await client.get_workflow_handle(slot_workflow_id(PROJECT, slot.item_id)).fetch_history()
    if os.environ.get("SMA_WRITE_HISTORIES"):
        SLOT_HISTORY.parent.mkdir(parents=True, exist_ok=True)
        SLOT_HISTORY.write_text(json.dumps(history.to_json_dict(), indent=1))
    await Replayer(workflows=[CalendarSlotWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
    assert result.state == "published"
    [post] = log.posts
    assert 0 <= (post.at - earlier).total_seconds() < 60  # at the earlier time, not the later one
    [row] = await list_slots(cal_db, PROJECT)
    assert row.slot_at == earlier and "by tester" in row.reasons
    with pytest.raises(ValueError, match="has not published"):
        await move_slot(cal_db, tell, PROJECT, slot.item_id, earlier + timedelta(days=1), "tester", now=now)


async def test_committed_slot_history_replays() -> None:
    """Determinism guard (DESIGN.md convention 7): a slot that waited, was woken by a move and started its
    pipeline replays against today's code."""
    assert SLOT_HISTORY.is_file(), "record it with SMA_WRITE_HISTORIES=1 pytest tests/test_scheduler_workflow.py"
    history = WorkflowHistory.from_json(SLOT_HISTORY.stem, json.loads(SLOT_HISTORY.read_text()))
    await Replayer(workflows=[CalendarSlotWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
