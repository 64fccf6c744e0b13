"""The dashboard steering a real ContentPipelineWorkflow on the Temporal dev server, with real workers.

One real pipeline run for the whole module (tests run in file order and share it): the HTTP client is
refused without a CSRF token, rejects round 1 through the UI (round 2 renders), then a real headless
Chromium logs in, looks at the pages (screenshots) and approves round 2, and the run is published. When
/usr/bin/chromium is absent the browser test is skipped and round 2 is approved over HTTP instead.
Also: starting a video from the Trends page, and pausing/triggering a real Temporal schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel import select
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowExecutionStatus,
)

from sma.client.handles import query_status, start_pipeline
from sma.dashboard.app import create_app
from sma.dashboard.testing import alogin
from sma.db import repo
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables_dashboard import AuditEntry
from sma.models.pipeline import PipelineInput, RunState, Topic
from sma.services.runs import pipeline_input
from sma.settings import PipelineSettings, ProjectSettings, Secrets, Settings
from tests.conftest import running_workers, wait_for

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOPIC = Topic(title="Dashboards that steer workflows",
              summary="A dashboard shows every run. One click approves a video and the workflow moves on.")


@dataclass
class Flow:
    settings: Settings
    database: Database
    app: FastAPI
    client: Client
    wf_id: str


@pytest.fixture(scope="module")
async def flow(client: Client, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Flow]:
    data = tmp_path_factory.mktemp("dashboard-flow") / "data"
    settings = Settings(data_dir=data, pipeline=PipelineSettings(target_seconds=7),
                        projects=[ProjectSettings(id="test", niche="developer tools", autonomy="manual")],
                        secrets=Secrets(admin_password=PASSWORD))
    data.mkdir(parents=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    suffix = f"-d{uuid.uuid4().hex[:8]}"
    async with running_workers(client, settings, database, suffix):
        inp = pipeline_input(settings, TOPIC, "test")
        wf_id = await start_pipeline(client, inp, suffix)
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL, timeout=240)
        app = create_app(settings, database=database, client=client)
        async with app.router.lifespan_context(app):
            yield Flow(settings, database, app, client, wf_id)
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf_id).terminate("test over")
    await database.close()


def _http(flow: Flow) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=flow.app), base_url="http://testserver")


async def test_csrf_refused_then_reject_through_the_ui(flow: Flow) -> None:
    async with _http(flow) as http:
        token = await alogin(http, PASSWORD)
        page = await http.get(f"/runs/{flow.wf_id}")
        assert "live from Temporal" in page.text and "Approve round 1" in page.text
        video = await http.get(f"/files/{flow.wf_id}/video")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        assert b"ftyp" in video.content[:16]
        for data in ({"round": "1"}, {"round": "1", "csrf_token": "forged"}):
            assert (await http.post(f"/approvals/{flow.wf_id}/approve", data=data)).status_code == 403
        status = await query_status(flow.client, flow.wf_id)
        assert status.state == RunState.AWAITING_APPROVAL and status.decisions == []  # nothing happened
        stale = await http.post(f"/approvals/{flow.wf_id}/approve", data={"round": "2", "csrf_token": token},
                                headers={"HX-Request": "true"})
        assert "you looked at round 2; the run is on round 1" in stale.text
        rejected = await http.post(f"/approvals/{flow.wf_id}/reject", headers={"HX-Request": "true"},
                                   data={"round": "1", "csrf_token": token, "feedback": "Make the hook shorter"})
        assert "Rejected round 1" in rejected.text
        again = await http.post(f"/approvals/{flow.wf_id}/reject", headers={"HX-Request": "true"},
                                data={"round": "1", "csrf_token": token, "feedback": "twice"})
        assert "not waiting for a decision" in again.text or "is on round 2" in again.text
        inflight = ""
        for _ in range(100):  # the run shows up in flight once its recorded state is running again
            inflight = (await http.get("/partials/inflight")).text
            if flow.wf_id in inflight:
                break
            await asyncio.sleep(0.1)
        assert flow.wf_id in inflight and "<progress" in inflight
        assert "Temporal is not answering" not in inflight
    status = await wait_for(flow.client, flow.wf_id, lambda s: s.round == 2 and s.state == RunState.AWAITING_APPROVAL,
                            timeout=240)
    assert [(d.round, d.approved, d.by, d.feedback) for d in status.decisions] == \
        [(1, False, "dashboard:admin", "Make the hook shorter")]


async def _serve(app: FastAPI) -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    """A real HTTP server on an ephemeral loopback port (the app's lifespan already ran)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SMA_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless browser test needs Debian's chromium at /usr/bin/chromium "
                                                  "(apt-get install -y chromium)")
async def test_browser_logs_in_and_approves_round_two(flow: Flow, tmp_path: Path) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="the playwright package is not installed")
    shots = _shots(tmp_path)
    server, task, base = await _serve(flow.app)
    try:
        async with playwright_api.async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1440, "height": 1000})
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(base + "/")
                assert "/login" in page.url
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_url(base + "/")
                await page.wait_for_selector("text=Workers and schedules")
                await page.wait_for_selector("text=sma-workflows", timeout=10_000)  # the polled health part
                await page.wait_for_timeout(800)  # let the polled parts land
                await page.screenshot(path=str(shots / "overview.png"), full_page=True)

                await page.goto(f"{base}/runs/{flow.wf_id}")
                await page.wait_for_selector("video")
                await page.wait_for_selector("text=live from Temporal")
                await page.screenshot(path=str(shots / "run-detail.png"), full_page=True)

                await page.goto(base + "/approvals")
                card = page.locator(f'[data-run="{flow.wf_id}"]')
                await card.locator("video").wait_for()
                await page.screenshot(path=str(shots / "approvals.png"), full_page=True)
                await card.locator('[data-testid="approve"]').click()
                await card.locator("text=Approved round 2").wait_for(timeout=15_000)

                await page.goto(f"{base}/runs/{flow.wf_id}")
                await page.locator("#live .badge.ok", has_text="published").wait_for(timeout=120_000)
                await page.screenshot(path=str(shots / "run-published.png"), full_page=True)
            finally:
                await context.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    print(f"\nscreenshots in {shots}")


async def test_run_is_published_after_the_decision(flow: Flow) -> None:
    status = await query_status(flow.client, flow.wf_id)
    if status.state == RunState.AWAITING_APPROVAL:  # the browser test was skipped: approve over HTTP
        async with _http(flow) as http:
            token = await alogin(http, PASSWORD)
            approved = await http.post(f"/approvals/{flow.wf_id}/approve", data={"round": "2", "csrf_token": token})
            assert "Approved round 2" in approved.text
    status = await wait_for(flow.client, flow.wf_id, lambda s: s.state == RunState.PUBLISHED, timeout=120)
    assert [(d.round, d.approved, d.by) for d in status.decisions] == \
        [(1, False, "dashboard:admin"), (2, True, "dashboard:admin")]
    [post] = await repo.list_posts(flow.database, flow.wf_id)
    assert post.platform == "local" and post.status == "published"
    async with flow.database.session() as session:
        audit = [(a.action, a.outcome, a.actor) for a in (await session.exec(select(AuditEntry))).all()]
    assert ("reject", "ok", "admin") in audit and ("approve", "ok", "admin") in audit
    assert ("approve", "refused", "admin") in audit  # the stale round
    async with _http(flow) as http:
        await alogin(http, PASSWORD)
        page = (await http.get(f"/runs/{flow.wf_id}")).text
        assert "Earlier rounds" in page and "Make the hook shorter" in page and "final" in page
        assert flow.wf_id in (await http.get("/posts")).text


async def test_start_a_video_from_the_trends_page(flow: Flow) -> None:
    async with _http(flow) as http:
        token = await alogin(http, PASSWORD)
        started = await http.post("/trends/start", data={"csrf_token": token, "title": "Started from the browser",
                                                         "summary": "A topic typed into the dashboard.",
                                                         "project": "test"})
        assert started.status_code == 303 and started.headers["location"].startswith("/runs?q=content-test-started")
    wf_id = started.headers["location"].split("q=")[1]
    handle = flow.client.get_workflow_handle(wf_id)
    try:
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.terminate("test over")  # no worker polls the default queue in tests


async def test_schedules_can_be_paused_resumed_and_triggered(flow: Flow) -> None:
    schedule_id = f"dashboard-test-{uuid.uuid4().hex[:6]}"
    action = ScheduleActionStartWorkflow(
        "ContentPipelineWorkflow", PipelineInput(project_id="test", item_id="sched", topic=TOPIC),
        id=f"content-test-sched-{schedule_id}", task_queue="sma-workflows-nowhere")
    handle = await flow.client.create_schedule(schedule_id, Schedule(action=action, spec=ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=timedelta(hours=4))])))
    try:
        async with _http(flow) as http:
            token = await alogin(http, PASSWORD)
            page = (await http.get("/system")).text
            assert schedule_id in page and "every 4 h" in page and "Temporal server" in page
            paused = await http.post(f"/system/schedules/{schedule_id}/pause", data={"csrf_token": token},
                                     follow_redirects=True)
            assert f"Schedule {schedule_id} paused." in paused.text
            assert (await handle.describe()).schedule.state.paused
            resumed = await http.post(f"/system/schedules/{schedule_id}/unpause", data={"csrf_token": token},
                                      follow_redirects=True)
            assert f"Schedule {schedule_id} resumed." in resumed.text
            assert not (await handle.describe()).schedule.state.paused
            triggered = await http.post(f"/system/schedules/{schedule_id}/trigger", data={"csrf_token": token},
                                        follow_redirects=True)
            assert f"Schedule {schedule_id} triggered now." in triggered.text
            missing = await http.post("/system/schedules/nope/pause", data={"csrf_token": token},
                                      follow_redirects=True)
            assert "schedule nope" in missing.text
        for _ in range(50):
            if (await handle.describe()).info.num_actions > 0:
                break
            await asyncio.sleep(0.1)
        assert (await handle.describe()).info.num_actions == 1
    finally:
        await handle.delete()
        with contextlib.suppress(Exception):
            async for wf in flow.client.list_workflows(f"WorkflowId STARTS_WITH 'content-test-sched-{schedule_id}'"):
                await flow.client.get_workflow_handle(wf.id).terminate("test over")

