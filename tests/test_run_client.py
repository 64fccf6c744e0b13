"""The run client on the real dev server: one run per topic, exact-round decisions, level changes told to
open runs, a status that falls back to the database copy; and a source check that nothing outside
sma/client/ signals or queries a workflow handle or names a signal by string."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

import sma
from sma.client import NotDecidable, RunClient, RunNotFound
from sma.db import repo
from sma.db.engine import Database
from sma.models.pipeline import PipelineStatus, RunRecord, RunState, Topic
from sma.settings import Settings
from tests.conftest import wait_for
from tests.test_autonomy_workflow import stub_pipeline


def _topic(what: str) -> Topic:
    return Topic.checked(f"{what} {uuid.uuid4().hex[:6]}")


async def _terminate(client: Client, *wf_ids: str) -> None:
    for wf_id in set(wf_ids):
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf_id).terminate("test over")


async def test_starting_a_topic_twice_returns_the_same_run_and_force_makes_another(
        client: Client, settings: Settings, database: Database) -> None:
    runs = RunClient(client, settings, database, queue_suffix=f"-nobody-{uuid.uuid4().hex[:6]}")
    topic = _topic("Client starts once")
    first = await runs.start(topic, "test", entry="test")
    again = await runs.start(topic, "test", entry="test")
    forced = await runs.start(topic, "test", entry="test", force=True)
    try:
        assert not first.existing and first.autonomy == "manual" and first.note == ""
        assert again.existing and again.workflow_id == first.workflow_id and again.state == "running"
        assert first.workflow_id in again.note and "--force" in again.note
        assert not forced.existing and forced.workflow_id != first.workflow_id
        exact = await runs.start(topic, "test", entry="test", item_id=f"key-{uuid.uuid4().hex[:6]}")
        assert (await runs.start(topic, "test", entry="test", item_id=exact.workflow_id.split("test-", 1)[1])
                ).existing
    finally:
        await _terminate(client, first.workflow_id, forced.workflow_id, exact.workflow_id)


async def test_a_decision_for_a_stale_round_is_refused_and_the_current_one_is_taken(
        client: Client, settings: Settings, database: Database, suffix: str) -> None:
    runs = RunClient(client, settings, database, queue_suffix=suffix)
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = (await runs.start(_topic("Rounds"), "test", entry="test")).workflow_id
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        with pytest.raises(NotDecidable, match="you looked at round 2; the run is on round 1"):
            await runs.approve(wf_id, 2, by="tester")
        rejected = await runs.reject(wf_id, "shorter please", 1, by="tester")
        assert (rejected.round, rejected.action) == (1, "reject")
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL and s.round == 2)
        with pytest.raises(NotDecidable, match="round 1; the run is on round 2"):
            await runs.approve(wf_id, 1, by="tester")  # a tap on round 1's buttons
        assert (await runs.approve(wf_id, by="tester")).round == 2  # no round: the one it waits on
        approved = await wait_for(client, wf_id, lambda s: s.state != RunState.AWAITING_APPROVAL)
        assert approved.decisions[-1].by == "tester" and approved.round == 2
        with pytest.raises(NotDecidable, match="not waiting for a decision"):
            await runs.approve(wf_id, by="tester")
        await runs.cancel(wf_id, by="tester")
        await _closed(client, wf_id)
        with pytest.raises(NotDecidable, match="finished"):
            await runs.approve(wf_id, by="tester")
    with pytest.raises(RunNotFound, match="I know no run content-test-nope"):
        await runs.cancel("content-test-nope", by="tester")


async def test_set_level_stores_it_and_signals_the_projects_open_runs(
        client: Client, settings: Settings, database: Database, suffix: str) -> None:
    runs = RunClient(client, settings, database, queue_suffix=suffix)
    async with stub_pipeline(client, settings, database, suffix):
        wf_id = (await runs.start(_topic("Levels"), "test", entry="test")).workflow_id
        await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
        await _until_recorded(database, wf_id, RunState.AWAITING_APPROVAL)
        with pytest.raises(sma.client.RunError, match="source must be"):
            await runs.set_level("test", "autonomous", by="tester", source="nowhere")
        change = await runs.set_level("test", "autonomous", by="tester", source="cli")
        assert (change.previous, change.level, change.signalled) == ("manual", "autonomous", 1)
        released = await wait_for(client, wf_id, lambda s: s.state != RunState.AWAITING_APPROVAL)
        await _closed(client, wf_id)  # released, the run goes on to publish
    assert released.autonomy == "autonomous" and released.decisions[0].by == "autonomy:autonomous"
    page = await runs.list_runs("test", limit=1)
    assert [r.id for r in page.runs] == [wf_id]


async def _closed(client: Client, wf_id: str) -> None:
    with contextlib.suppress(WorkflowFailureError):
        await client.get_workflow_handle(wf_id).result()


async def _until_recorded(database: Database, wf_id: str, state: RunState) -> None:
    for _ in range(100):
        row = await repo.get_run(database, wf_id)
        if row is not None and row.state == state.value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{wf_id} never recorded as {state.value}")


async def test_status_falls_back_to_the_database_copy_without_a_worker(
        client: Client, settings: Settings, database: Database) -> None:
    runs = RunClient(client, settings, database, queue_suffix=f"-nobody-{uuid.uuid4().hex[:6]}")
    started = await runs.start(_topic("Nobody answers"), "test", entry="test")
    recorded = PipelineStatus(workflow_id=started.workflow_id, project_id="test", item_id="x", title="Nobody answers",
                              state=RunState.RUNNING, current_step="write_script")
    await repo.record_run(database, RunRecord(status=recorded, topic=Topic.checked("Nobody answers")))
    try:
        found = await runs.status(started.workflow_id)
        assert found.source == "database" and found.status.current_step == "write_script" and not found.running
        offline = await RunClient(None, settings, database).status(started.workflow_id)  # Temporal down too
        assert offline.source == "database"
        with pytest.raises(RunNotFound):
            await runs.status("content-test-never-started")
    finally:
        await _terminate(client, started.workflow_id)


async def test_list_runs_pages_with_an_opaque_cursor(settings: Settings, database: Database) -> None:
    for i in range(3):
        status = PipelineStatus(workflow_id=f"content-test-page-{i}", project_id="test", item_id=f"page-{i}",
                                title=f"Page {i}")
        await repo.record_run(database, RunRecord(status=status, topic=Topic.checked(f"Page {i}")))
    runs = RunClient(None, settings, database)
    first = await runs.list_runs("test", limit=2)
    assert len(first.runs) == 2 and first.next_cursor
    rest = await runs.list_runs("test", limit=2, cursor=first.next_cursor)
    assert len(rest.runs) == 1 and rest.next_cursor is None
    assert {r.id for r in first.runs + rest.runs} == {f"content-test-page-{i}" for i in range(3)}
    with pytest.raises(sma.client.RunError, match="cursor"):
        await runs.list_runs("test", cursor="not-a-cursor")


# Calls on a workflow handle that only sma/client/ makes, and signal names written as strings.
HANDLE_CALL = re.compile(r"get_workflow_handle\([^)]*\)\s*\.\s*(signal|query)\(|handle\.(signal|query)\(")
STRING_SIGNAL = re.compile(r"\.(signal|query)\(\s*[\"']")


def test_only_the_run_client_signals_or_queries_a_workflow() -> None:
    root = Path(sma.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name.startswith("client/"):
            continue
        text = path.read_text()
        if HANDLE_CALL.search(text) or STRING_SIGNAL.search(text):
            offenders.append(name)
    assert offenders == [], "signal and query runs through sma.client.RunClient"
    assert "_Definition" not in "".join(p.read_text() for p in root.rglob("*.py"))
