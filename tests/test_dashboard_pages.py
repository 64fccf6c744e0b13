"""Dashboard pages against a real SQLite database: empty states, 10,000-run pagination, run detail with
artifacts (safe file serving), analytics and usage charts, autonomy and credential actions, and the
pages backed by read protocols (trends, calendar, insights) with test-only sources."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlmodel import select

from sma.dashboard import charts
from sma.dashboard.app import create_app
from sma.dashboard.seed import seed_runs
from sma.dashboard.sources import (
    CalendarSlotView,
    InsightView,
    MemoryView,
    Sources,
    TrendItemView,
    TrendScanView,
)
from sma.dashboard.testing import login
from sma.db import repo
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables_autonomy import AutonomyEvent, AutonomyState
from sma.db.tables_dashboard import AuditEntry
from sma.db.tables_publishing import PostMetric
from sma.models.common import ArtifactRef, QAReport, StepState
from sma.models.llm import CallRecord, ScriptAttemptRecord
from sma.models.pipeline import (
    Beat,
    Decision,
    PipelineStatus,
    PostResult,
    RunRecord,
    RunState,
    Script,
    StepStatus,
    Topic,
)
from sma.services.llm.store import DBUsageStore
from sma.settings import Secrets, Settings
from tests.test_dashboard_auth import PASSWORD, make_settings

T = Any


def run_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against the (migrated) database in a loop of its own, before or after the app runs."""
    async def go() -> T:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.close()
    return asyncio.run(go())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://testserver") as test_client:
        login(test_client, PASSWORD)
        yield test_client


EMPTY_STATES = {
    "/": ["Nothing is waiting for approval", "No finished videos yet", "Nothing published today", "No upcoming slots"],
    "/partials/inflight": ["Nothing in flight", "Temporal is not answering"],
    "/partials/health": ["Temporal is unreachable"],
    "/runs": ["No runs yet"],
    "/approvals": ["Nothing is waiting for approval"],
    "/trends": ["No trend scans yet", "Start a video now"],
    "/calendar": ["No calendar slots this week", "content scheduler plans slots"],
    "/posts": ["No posts yet"],
    "/analytics": ["No metrics collected yet", "no data yet"],
    "/insights": ["Opening the project memory"],
    "/partials/insights": ["No insights or memories yet", "daily intelligence run"],
    "/autonomy": ["No changes yet", "manual"],
    "/projects": ["none stored", "No Fernet key configured"],
    "/providers": ["No LLM calls in this period", "No voiceovers in this period"],
    "/system": ["Temporal is unreachable", "No failed runs or steps", "Schedules unknown"],
}


def test_every_page_has_an_honest_empty_state(client: TestClient) -> None:
    for path, expected in EMPTY_STATES.items():
        response = client.get(path)
        assert response.status_code == 200, path
        for text in expected:
            assert text in response.text, (path, text)
    assert client.get("/runs/content-test-nothing").status_code == 404


def test_ten_thousand_runs_paginate_quickly(settings: Settings, client: TestClient) -> None:
    started = time.perf_counter()
    run_db(settings, lambda db: seed_runs(db, 10_000, projects=("test", "other")))
    seeded = time.perf_counter() - started
    timings = {}
    for path in ("/runs", "/runs?page=150", "/runs?state=published&page=40", "/runs?project=other&q=uv",
                 "/runs?since=2000-01-01&until=2100-01-01&page=200", "/", "/posts?page=50"):
        begin = time.perf_counter()
        response = client.get(path)
        timings[path] = (time.perf_counter() - begin) * 1000
        assert response.status_code == 200, path
    print(f"\nseeded 10,000 runs in {seeded:.2f} s; page times (ms): "
          + ", ".join(f"{p} {ms:.0f}" for p, ms in timings.items()))
    first = client.get("/runs").text
    assert "1\u201350 of 10,000" in first and "page 1 of 200" in first and first.count('href="/runs/content-') == 50
    deep = client.get("/runs?page=150").text
    assert "7451\u20137500 of 10,000" in deep and 'rel="next"' in deep and 'rel="prev"' in deep
    assert "of 10,000" in client.get("/runs?page=999").text  # out of range: clamps to the last page
    published = client.get("/runs?state=published").text
    assert re.search(r"of (\d[\d,]*)", published) and "awaiting approval</span>" not in published
    search = client.get("/runs?q=%23123").text  # titles end with '#<i>'
    assert "#123<" in search and "of 10,000" not in search


def _write(path: Path, data: bytes) -> ArtifactRef:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ArtifactRef(path=str(path), sha256="0" * 64, size=len(data), kind="file", media_type="video/mp4")


def _recorded_run(settings: Settings, tmp_path: Path) -> str:
    store = settings.data_dir / "artifacts" / "objects"
    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir(parents=True)
    outside.write_text("not for the browser")
    video = _write(store / "ab" / "video.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(5000))
    voice = _write(store / "cd" / "voice.wav", b"RIFF" + bytes(100)).model_copy(update={"media_type": "audio/wav"})
    html = _write(store / "ef" / "page.html", b"<script>alert(1)</script>").model_copy(
        update={"media_type": "text/html"})
    link = store / "gh" / "link.mp4"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    status = PipelineStatus(
        workflow_id="content-test-demo-1", project_id="test", item_id="demo-1", state=RunState.AWAITING_APPROVAL,
        current_step="approval", round=2, title="Why <b>uv</b> is fast",
        steps={"write_script": StepStatus(name="write_script", state=StepState.DONE, tier="openai:gpt-4o-mini",
                                          seconds=3.2, attempts=2, notes=["retried after QA"]),
               "render": StepStatus(name="render", state=StepState.DONE, tier="libx264", seconds=11.5, attempts=1)},
        artifacts={"video": video, "voice": voice, "page": html,
                   "escape": video.model_copy(update={"path": str(outside)}),
                   "link": video.model_copy(update={"path": str(link)}),
                   "traversal": video.model_copy(update={"path": str(store / ".." / ".." / ".." / "outside" /
                                                                      "secret.txt")})},
        qa=[QAReport(gate="QA_SCRIPT", passed=True, score=0.9, threshold=0.7),
            QAReport(gate="QA_RENDER", passed=False, score=0.4, threshold=0.8, reasons=["black frames at 3.2 s"])],
        decisions=[Decision(round=1, approved=False, by="dashboard:admin", feedback="shorter hook")],
        posts=[PostResult(platform="local", status="skipped", reason="not approved yet")],
    )
    record = RunRecord(status=status, topic=Topic(title="Why uv is fast"), platforms=["local"])
    script = Script(title="Why uv is fast", hook="Ever waited on pip?", hook_style="question",
                    beats=[Beat(narration="uv resolves in parallel."), Beat(narration="It caches wheels.")],
                    cta="Try it today.")

    async def work(db: Database) -> None:
        await repo.record_run(db, record)
        usage = DBUsageStore(db)
        await usage.record_call(CallRecord(project_id="test", run_id=status.workflow_id, stage="script",
                                           provider="openai", model="gpt-4o-mini", tokens_in=900, tokens_out=300,
                                           cost_usd=0.0125, latency_ms=840, outcome="ok"))
        await usage.record_attempt(ScriptAttemptRecord(project_id="test", run_id=status.workflow_id, round=2,
                                                       attempt=1, tier="openai:gpt-4o-mini", title=script.title,
                                                       script_json=script.model_dump_json(), qa_json="{}",
                                                       passed=True, cost_usd=0.0125))
    run_db(settings, work)
    return status.workflow_id


def test_run_detail_shows_timeline_qa_script_cost_and_video(settings: Settings, client: TestClient,
                                                            tmp_path: Path) -> None:
    run_id = _recorded_run(settings, tmp_path)
    page = client.get(f"/runs/{run_id}").text
    assert "Why &lt;b&gt;uv&lt;/b&gt; is fast" in page and "<b>uv</b>" not in page  # escaped
    for text in ("openai:gpt-4o-mini", "retried after QA", "libx264", "QA_RENDER", "black frames at 3.2 s",
                 "Ever waited on pip?", "It caches wheels.", "$0.0125", "shorter hook", "Open in Temporal UI",
                 "http://127.0.0.1:8233/namespaces/default/workflows/content-test-demo-1",
                 f'src="/files/{run_id}/video"', "Approve round 2", "Edit the script instead", "Brand guidelines"):
        assert text in page, text
    live = client.get(f"/runs/{run_id}/live").text
    assert "recorded state" in live and "write script" in live
    assert "No log lines mention this run" in client.get(f"/runs/{run_id}/logs").text
    queue = client.get("/approvals").text
    assert "Why &lt;b&gt;uv&lt;/b&gt; is fast" in queue and "QA_RENDER" in queue and "Ever waited on pip?" in queue
    assert "Nothing is waiting" not in queue
    overview = client.get("/").text
    assert run_id in overview and '<span class="badge warn">1</span>' in client.get("/partials/approvals/count").text


def test_artifact_files_are_served_only_from_the_store(settings: Settings, client: TestClient,
                                                       tmp_path: Path) -> None:
    run_id = _recorded_run(settings, tmp_path)
    video = client.get(f"/files/{run_id}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    ranged = client.get(f"/files/{run_id}/video", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # the player can seek
    html = client.get(f"/files/{run_id}/page")
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"].startswith("attachment")
    for name in ("escape", "link", "traversal", "nothing", "..%2F..%2Fetc%2Fpasswd"):
        response = client.get(f"/files/{run_id}/{name}")
        assert response.status_code == 404 and "not for the browser" not in response.text, name
    assert client.get("/files/..%2F..%2F/video").status_code == 404


def test_posts_page_lists_posts_with_safe_links(settings: Settings, client: TestClient) -> None:
    status = PipelineStatus(workflow_id="content-test-p1", project_id="test", item_id="p1",
                            state=RunState.PUBLISHED, title="Posted video",
                            posts=[PostResult(platform="youtube", status="published", url="https://youtu.be/abc"),
                                   PostResult(platform="tiktok", status="failed", url="javascript:alert(1)",
                                              reason="quota")])
    run_db(settings, lambda db: repo.record_run(db, RunRecord(status=status, topic=Topic(title="Posted video"))))
    page = client.get("/posts").text
    assert 'href="https://youtu.be/abc"' in page and "quota" in page
    assert 'href="javascript:' not in page
    assert "Posted video" in client.get("/posts?platform=youtube").text
    assert "No posts yet" not in client.get("/posts?status=failed").text
    assert "Posted video" in client.get("/").text  # today's posts


def test_analytics_and_usage_charts_are_server_rendered_svg(settings: Settings, client: TestClient) -> None:
    now = datetime.now(UTC)

    async def work(db: Database) -> None:
        usage = DBUsageStore(db)
        for day in range(3):
            for provider, cost in (("openai", 0.02), ("anthropic", 0.05)):
                await usage.record_call(CallRecord(project_id="test", stage="script", provider=provider, model="m",
                                                   cost_usd=cost, outcome="ok", created_at=now - timedelta(days=day)))
        async with db.session() as session, session.begin():
            for i in range(6):
                for hours, views in ((1, 50), (24, 400 + 100 * i)):
                    session.add(PostMetric(project_id="test", run_id=f"r{i}", platform=("youtube", "tiktok")[i % 2],
                                           checkpoint=f"{hours}h", hours=hours, published_at=now - timedelta(days=i),
                                           views=views, engagement_rate=0.05 + i / 100, viral_score=1 + i / 10))
        await usage.record_attempt(ScriptAttemptRecord(
            project_id="test", run_id="r1", tier="t", script_json=Script(
                title="t", hook="h", hook_style="statistic", beats=[Beat(narration="n")]).model_dump_json(),
            qa_json="{}", passed=True))
    run_db(settings, work)
    analytics = client.get("/analytics").text
    assert "statistic" in analytics and "unknown" in analytics  # hook style read from the script JSON
    assert analytics.count("<svg") >= 12 and "<circle" in analytics and "<rect" in analytics
    assert "6 post(s)" in analytics and "youtube" in analytics and "tiktok" in analytics
    assert ": 400</title>" in analytics and ": 50</title>" not in analytics  # each post at its latest checkpoint
    providers = client.get("/providers").text
    assert "openai" in providers and "anthropic" in providers and "<polyline" in providers
    assert "$0.21" in providers  # 3 days x (0.02 + 0.05)


def test_charts_are_readable_and_escaped() -> None:
    assert charts.nice_max(0) == (1.0, 0.25)
    assert charts.nice_max(7.3) == (8.0, 2.0)
    assert charts.nice_max(1234) == (1500.0, 500.0)
    assert [charts.compact(v) for v in (0, 12, 1.5, 1234, 2_500_000)] == ["0", "12", "1.5", "1.2k", "2.5M"]
    svg = charts.line_chart("t", ["<script>", "b"], [charts.Series("s&p", [1, 2])])
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "s&amp;p" in svg
    many = charts.bar_chart("t", [f"{h:02d}h" for h in range(24)], list(range(24)))
    assert many.count("<rect") == 24 and many.count('text-anchor="middle" fill="#475569"') <= 12  # labels thinned
    assert "no data yet" in charts.line_chart("t", [], [])


def _rows(settings: Settings, model: type) -> list:
    async def work(db: Database) -> list:
        async with db.session() as session:
            return list((await session.exec(select(model))).all())
    return run_db(settings, work)


def test_autonomy_actions_go_through_the_service_and_are_audited(settings: Settings, client: TestClient) -> None:
    token = client.get("/autonomy").text.split('name="csrf_token" value="')[1].split('"')[0]
    changed = client.post("/autonomy/test/level", data={"csrf_token": token, "level": "assisted"})
    assert "test: manual → assisted" in changed.text and "<td>dashboard:admin</td>" in changed.text
    assert "unknown level" in client.post("/autonomy/test/level", data={"csrf_token": token, "level": "yolo"}).text
    assert "unknown project" in client.post("/autonomy/nope/level", data={"csrf_token": token,
                                                                          "level": "manual"}).text
    paused = client.post("/autonomy/test/pause", data={"csrf_token": token, "reason": "launch week"})
    assert "publishing paused" in paused.text and "launch week" in paused.text
    caps = client.post("/autonomy/test/limits", data={"csrf_token": token, "daily_cap": "5", "cap_local": "2"})
    assert "caps saved" in caps.text
    bad = client.post("/autonomy/test/limits", data={"csrf_token": token, "daily_cap": "-1"})
    assert "caps not changed" in bad.text
    resumed = client.post("/autonomy/kill-switch", data={"csrf_token": token, "action": "resume"})
    assert "1 project(s) resumed" in resumed.text
    [state] = _rows(settings, AutonomyState)
    assert (state.level, state.paused, state.daily_cap) == ("assisted", False, 5)
    events = _rows(settings, AutonomyEvent)
    assert {e.kind for e in events} == {"level", "pause", "resume", "limits"}
    assert all(e.by == "dashboard:admin" and e.source == "dashboard" for e in events)
    actions = [(a.action, a.outcome) for a in _rows(settings, AuditEntry)]
    assert ("autonomy_level", "ok") in actions and ("autonomy_level", "refused") in actions
    assert ("pause", "ok") in actions and ("kill_switch", "ok") in actions and ("limits", "refused") in actions
    assert "kill switch" in client.get("/system").text.lower()  # the audit log is on the system page


def test_credentials_are_write_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secrets=Secrets(admin_password=PASSWORD,
                                                       fernet_key=Fernet.generate_key().decode()))
    with TestClient(create_app(settings)) as client:
        token = login(client, PASSWORD)
        missing = client.post("/projects/test/credentials", data={"csrf_token": token, "platform": "youtube",
                                                                  "client_id": "abc"})
        assert "youtube needs client_secret, refresh_token" in missing.text
        saved = client.post("/projects/test/credentials", data={
            "csrf_token": token, "platform": "youtube", "client_id": "abc", "client_secret": "S3CRET-value",
            "refresh_token": "R3FRESH-value", "expires_at": "2030-01-01T00:00:00Z"})
        assert "youtube credentials of test saved (encrypted)" in saved.text
        assert "client_secret" in saved.text and "S3CRET-value" not in saved.text and "R3FRESH" not in saved.text
        again = client.post("/projects/test/credentials", data={"csrf_token": token, "platform": "youtube",
                                                                "client_id": "xyz"})  # others keep their values
        assert "saved" in again.text
        deleted = client.post("/projects/test/credentials/youtube/delete", data={"csrf_token": token})
        assert "deleted" in deleted.text and "none stored" in deleted.text


# ---------------------------------------------------------------- pages behind read protocols


@dataclass
class FakeTrends:
    """Test-only source with the TrendSource protocol (the real adapter arrives with trend discovery)."""

    available: bool = True
    reason: str = ""
    scans: list[TrendScanView] = field(default_factory=list)

    async def latest_scans(self, project_id: str, limit: int) -> list[TrendScanView]:
        return self.scans[:limit]

    async def item(self, item_id: str) -> TrendItemView | None:
        return next((i for s in self.scans for i in s.items if i.id == item_id), None)


@dataclass
class FakeCalendar:
    available: bool = True
    reason: str = ""
    can_reschedule: bool = True
    moved: list[tuple[str, datetime, str]] = field(default_factory=list)

    async def slots(self, start: datetime, end: datetime, project_id: str) -> list[CalendarSlotView]:
        at = start + timedelta(days=2, hours=9)
        return [CalendarSlotView(id="slot-1", project_id="test", platform="youtube", at=at, topic="Git worktrees")]

    async def reschedule(self, slot_id: str, at: datetime, by: str, client: object = None) -> str:
        self.moved.append((slot_id, at, by))
        return f"moved to {at:%Y-%m-%d %H:%M} UTC"


@dataclass
class FakeInsights:
    available: bool = True
    reason: str = ""
    can_delete: bool = True
    deleted: list[str] = field(default_factory=list)

    async def insights(self, project_id: str) -> list[InsightView]:
        return [InsightView(id="i1", project_id="test", text="Question hooks beat bold claims",
                            evidence=["12 posts: 1.4x median views"], confidence=0.8)]

    async def memories(self, project_id: str, query: str, limit: int) -> list[MemoryView]:
        return [MemoryView(id="m1", project_id="test", text="Covered uv in March", kind="coverage")]

    async def delete_memory(self, memory_id: str, by: str) -> None:
        self.deleted.append(memory_id)


def test_trends_calendar_and_insights_render_their_sources(settings: Settings) -> None:
    item = TrendItemView(id="t1", project_id="test", title="Rust 2.0 rumours", summary="Talk of an edition",
                         score=0.87, breakdown={"velocity": 0.5, "relevance": 0.37}, sources=["hackernews"],
                         urls=["https://news.ycombinator.com/item?id=1", "javascript:alert(1)"])
    scan = TrendScanView(id="s1", project_id="test", started_at=datetime.now(UTC), sources=["hackernews"],
                         items=[item])
    calendar, insights = FakeCalendar(), FakeInsights()
    sources = Sources(trends=FakeTrends(scans=[scan]), calendar=calendar, insights=insights)
    with TestClient(create_app(settings, sources=sources)) as client:
        token = login(client, PASSWORD)
        trends = client.get("/trends").text
        assert "Rust 2.0 rumours" in trends and "velocity" in trends and "0.87" in trends and "Produce now" in trends
        assert 'href="https://news.ycombinator.com/item?id=1"' in trends and "javascript:" not in trends
        produced = client.post("/trends/produce", data={"csrf_token": token, "item_id": "t1"})
        assert "Temporal is unreachable; nothing was started" in produced.text  # honest, and audited below
        unknown = client.post("/trends/produce", data={"csrf_token": token, "item_id": "zzz"})
        assert "not known" in unknown.text
        page = client.get("/calendar").text
        assert "Git worktrees" in page and "reschedule" in page
        moved = client.post("/calendar/slot-1/reschedule", data={"csrf_token": token, "at": "2031-05-04T18:30"})
        assert "Slot moved to 2031-05-04 18:30 UTC" in moved.text
        assert calendar.moved == [("slot-1", datetime(2031, 5, 4, 18, 30, tzinfo=UTC), "dashboard:admin")]
        assert "is not a date" in client.post("/calendar/slot-1/reschedule", data={"csrf_token": token,
                                                                                   "at": "soon"}).text
        page = client.get("/partials/insights").text
        assert "Question hooks beat bold claims" in page and "1.4x median views" in page and "80%" in page
        deleted = client.post("/insights/memories/m1/delete", data={"csrf_token": token})
        assert "Memory deleted" in deleted.text and insights.deleted == ["m1"]
    actions = {(a.action, a.outcome) for a in _rows(settings, AuditEntry)}
    assert {("produce", "error"), ("reschedule", "ok"), ("reschedule", "refused"), ("delete_memory", "ok")} <= actions


def test_installed_sources_refuse_unknown_targets_clearly(client: TestClient) -> None:
    token = client.get("/calendar").text.split('name="csrf_token" value="')[1].split('"')[0]
    moved = client.post("/calendar/test:nope/reschedule", data={"csrf_token": token, "at": "2031-05-04T18:30"})
    assert "no calendar slot &#39;test:nope&#39;" in moved.text
    deleted = client.post("/insights/memories/x/delete", data={"csrf_token": token})
    assert "no memory with id x" in deleted.text  # and no memory store was created by trying
    started = client.post("/trends/start", data={"csrf_token": token, "title": ""})
    assert "the topic is empty" in started.text


def test_stored_trend_scans_and_calendar_slots_are_shown_and_steerable(settings: Settings,
                                                                         client: TestClient) -> None:
    from sma.db.tables_trends import CalendarSlot
    from sma.models.trends import RankedTrend, ScoreBreakdown, SourceReport, StoreScanRequest, TrendLink
    from sma.services.scheduling import store as calendar_store
    from sma.services.trends import store as trend_store

    now = datetime.now(UTC)
    slot_at = now + timedelta(days=1)
    trend = RankedTrend(key="rust-2", title="Rust 2.0 rumours", summary="Talk of an edition",
                        url="https://news.ycombinator.com/item?id=1", sources=["hackernews", "reddit"],
                        links=[TrendLink(source="reddit", url="https://reddit.com/r/rust/1", title="t")],
                        breakdown=ScoreBreakdown(popularity=0.9, velocity=0.7, freshness=0.5, multi_source=1.0,
                                                 coverage_penalty=0.1, niche_similarity=0.4, score=0.83))

    async def work(db: Database) -> None:
        await trend_store.ensure_project_row(db, "test")
        await trend_store.save_scan(db, StoreScanRequest(
            project_id="test", scan_id="scan-1", started_at=now, finished_at=now,
            reports=[SourceReport(source="hackernews", ok=True, items=30),
                     SourceReport(source="devto", ok=False, error="HTTP 503")]), [trend], [])
        await calendar_store.add_slots(db, [CalendarSlot(
            project_id="test", item_id="rust-2-abc", title="Rust 2.0 rumours", trend_key="rust-2",
            platforms='["youtube"]', slot_at=slot_at, start_at=slot_at - timedelta(minutes=30))])
    run_db(settings, work)
    page = client.get("/trends").text
    for text in ("Rust 2.0 rumours", "0.83", "velocity", "coverage penalty", "niche similarity", "hackernews",
                 "devto failed", 'href="https://reddit.com/r/rust/1"', "Produce now"):
        assert text in page, text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    produced = client.post("/trends/produce", data={"csrf_token": token, "item_id": "scan-1:rust-2"})
    assert "Temporal is unreachable" in produced.text  # the item was found; starting needs Temporal
    week = client.get(f"/calendar?week={slot_at.date().isoformat()}").text
    assert "Rust 2.0 rumours" in week and "youtube" in week and "reschedule" in week
    new = (slot_at + timedelta(days=2)).replace(second=0, microsecond=0)
    moved = client.post("/calendar/test:rust-2-abc/reschedule",
                        data={"csrf_token": token, "at": new.strftime("%Y-%m-%dT%H:%M")})
    assert f"Slot moved to {new:%Y-%m-%d %H:%M} UTC" in moved.text
    too_soon = client.post("/calendar/test:rust-2-abc/reschedule",
                           data={"csrf_token": token, "at": now.strftime("%Y-%m-%dT%H:%M")})
    assert "too soon" in too_soon.text
    [row] = run_db(settings, lambda db: calendar_store.list_slots(db, "test"))
    assert row.slot_at == new and row.start_at == new - timedelta(minutes=30)
    assert "by dashboard:admin" in row.reasons


def test_revision_0006_upgrades_and_downgrades(tmp_path: Path) -> None:
    from sqlalchemy import inspect

    from sma.db.engine import make_sync_engine
    from sma.db.migrate import downgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"

    def shape() -> tuple[set[str], set[str]]:
        engine = make_sync_engine(url)
        try:
            inspector = inspect(engine)
            return set(inspector.get_table_names()), {i["name"] for i in inspector.get_indexes("pipeline_runs")}
        finally:
            engine.dispose()

    upgrade(url)
    tables, indexes = shape()
    assert {"dashboard_admin", "dashboard_sessions", "dashboard_audit", "dashboard_script_edits"} <= tables
    assert {"ix_pipeline_runs_updated_id", "ix_pipeline_runs_state_updated", "ix_pipeline_runs_title_id"} <= indexes
    downgrade(url, "0005")
    tables, indexes = shape()
    assert not any(t.startswith("dashboard_") for t in tables) and "ix_pipeline_runs_updated_id" not in indexes
    upgrade(url)
    assert "dashboard_audit" in shape()[0]


async def test_memory_adapter_maps_insights_and_deletes_through_the_service() -> None:
    """The adapter over the memory service (a stand-in for its Mem0 store, which loads a model)."""
    from sma.dashboard.adapters import MemoryInsights
    from sma.models.intelligence import Insight
    from sma.services.memory.service import StoredMemory, insight_metadata

    insight = Insight(key="hook:youtube", kind="hook", platform="youtube", text="Questions beat claims on YouTube",
                      lift=1.4, low=1.1, high=1.8, probability=0.93, n=12, evidence=["12 posts, 1.4x median views"])
    memories = [StoredMemory(id="m1", project_id="test", text=insight.text, kind="insight", key=insight.key,
                             metadata=insight_metadata(insight)),
                StoredMemory(id="m2", project_id="test", text="Covered uv in March", kind="coverage")]

    @dataclass
    class Backend:
        created: bool = True

        def exists(self) -> bool:
            return self.created

    @dataclass
    class Service:
        backend: Backend = field(default_factory=Backend)
        deleted: list[str] = field(default_factory=list)

        async def list(self, project_id: str, kind: str | None = None) -> list[StoredMemory]:
            return [m for m in memories if kind in (None, m.kind)]

        async def search(self, project_id: str, query: str, limit: int) -> list[StoredMemory]:
            return [m for m in memories if query.lower() in m.text.lower()][:limit]

        async def delete(self, memory_id: str) -> None:
            self.deleted.append(memory_id)

    service = Service()
    adapter = MemoryInsights(service, ["test"])
    [view] = await adapter.insights("")
    assert (view.text, view.evidence, view.confidence) == (insight.text, insight.evidence, 0.93)
    assert [m.id for m in await adapter.memories("", "", 10)] == ["m1", "m2"]
    assert [m.id for m in await adapter.memories("test", "uv", 10)] == ["m2"]
    await adapter.delete_memory("m2", "dashboard:admin")
    assert service.deleted == ["m2"]
    service.backend.created = False  # never created: nothing to show, nothing opened, nothing to delete
    assert await adapter.insights("test") == [] and await adapter.memories("test", "uv", 10) == []
    with pytest.raises(LookupError):
        await adapter.delete_memory("m1", "dashboard:admin")


def test_projects_page_shows_a_preview_frame_of_the_brand_kit(tmp_path: Path) -> None:
    from PIL import Image

    from sma.settings import BrandKit, LookSettings

    logo = tmp_path / "logo.png"
    Image.new("RGBA", (100, 100), (255, 0, 0, 255)).save(logo)
    settings = make_settings(tmp_path)
    settings.media.project_looks = {settings.projects[0].id: LookSettings(brand=BrandKit(logo=str(logo)))}
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        login(client, PASSWORD)
        pid = settings.projects[0].id
        assert f'src="/projects/{pid}/look.png"' in client.get("/projects").text
        preview = client.get(f"/projects/{pid}/look.png")
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
        with Image.open(io.BytesIO(preview.content)) as frame:
            assert frame.size == (540, 960)
        assert client.get("/projects/nobody/look.png").status_code == 404
