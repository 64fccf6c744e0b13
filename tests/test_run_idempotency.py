"""The same topic submitted twice (a double click, a retried command) makes one run and one post; the second
submission gets the first run's id and is told so, and `--force` (or its dashboard/bot equivalent) makes a
new run. Real dev server throughout; one real pipeline run proves a single publication."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client, WorkflowExecutionStatus
from typer.testing import CliRunner

from sma.cli import app as cli_app
from sma.client import RunClient
from sma.dashboard.testing import alogin
from sma.db import repo
from sma.db.engine import Database
from sma.models.pipeline import PipelineResult, RunState, Topic
from sma.services import runs
from sma.settings import Settings
from tests.conftest import running_workers
from tests.test_bot_flow import Phone, bot_api, quick, run_id_in  # noqa: F401  (fixtures)
from tests.test_topic_validation import PASSWORD, dashboard  # noqa: F401  (fixture)

runner = CliRunner()


def _title(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:6]}"


async def _terminate(client: Client, *wf_ids: str) -> None:
    for wf_id in set(wf_ids):
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(wf_id).terminate("test over")


def _inp(settings: Settings, title: str, media: list[str] | None = None) -> runs.PipelineInput:
    inp = runs.pipeline_input(settings, Topic.checked(title), "test")
    return inp.model_copy(update={"media": media or []})


def _nobody(client: Client, settings: Settings) -> RunClient:
    """A client whose runs go to a queue no worker polls: they stay started, nothing runs."""
    return RunClient(client, settings, None, queue_suffix="-nobody")


async def test_double_sma_run_returns_the_same_id(client: Client, tmp_path: Path) -> None:
    address = client.service_client.config.target_host
    env = {"SMA_DATA_DIR": str(tmp_path / "data"), "SMA_TEMPORAL__ADDRESS": address}
    title = _title("Retried commands start once")

    def sma_run(*extra: str) -> tuple[str, str]:
        result = runner.invoke(cli_app, ["run", "--topic", title, *extra], env=env)
        assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[-1], result.stderr

    first, note = await asyncio.to_thread(sma_run)
    # Case, spacing and punctuation do not make a new topic.
    title = "  " + title.upper().replace(" ", "   ") + "!"
    second, again = await asyncio.to_thread(sma_run)
    forced, _ = await asyncio.to_thread(sma_run, "--force")
    try:
        assert first.startswith("content-default-retried-commands-start-once") and note == ""
        assert second == first
        assert "already started" in again and first in again and "--force" in again
        assert forced != first and forced.startswith("content-default-")
        assert (await client.get_workflow_handle(forced).describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await _terminate(client, first, forced)


async def test_a_double_click_starts_one_workflow(client: Client, settings: Settings) -> None:
    inp = _inp(settings, _title("Double click"))
    answers = await asyncio.gather(*(_nobody(client, settings).start_input(inp) for _ in range(5)))
    try:
        assert len({a.workflow_id for a in answers}) == 1
        assert sum(not a.existing for a in answers) == 1
    finally:
        await _terminate(client, answers[0].workflow_id)


async def test_the_window_counts_from_the_first_run_across_buckets(client: Client, settings: Settings) -> None:
    settings.pipeline.duplicate_window_h = 1
    inp = _inp(settings, _title("Window edges"))
    first = await _nobody(client, settings).start_input(inp)
    assert first.started_at is None  # a new run
    desc = await client.get_workflow_handle(first.workflow_id).describe()
    started = desc.start_time.astimezone(UTC)
    window = timedelta(hours=1)
    next_bucket = (int(started.timestamp() // 3600) + 1) * 3600
    just_after_edge = started.fromtimestamp(next_bucket + 1, UTC)
    late = started + window + timedelta(seconds=1)
    ids = [first.workflow_id]
    try:
        edge = await _nobody(client, settings).start_input(inp, now=just_after_edge)
        assert edge.existing and edge.workflow_id == first.workflow_id  # the bucket changed, the window did not
        after = await _nobody(client, settings).start_input(inp, now=late)
        ids.append(after.workflow_id)
        assert not after.existing and after.workflow_id != first.workflow_id
        other_media = await _nobody(client, settings).start_input(_inp(settings, inp.topic.title, ["a.jpg"]))
        ids.append(other_media.workflow_id)
        assert not other_media.existing
        settings.pipeline.duplicate_window_h = 0  # off: every submission is a run
        off = await _nobody(client, settings).start_input(inp)
        ids.append(off.workflow_id)
        assert not off.existing and off.workflow_id not in ids[:-1]
    finally:
        await _terminate(client, *ids)


@pytest.mark.slow
async def test_same_topic_submitted_twice_publishes_once(
        client: Client, settings: Settings, database: Database, suffix: str) -> None:
    # A title no other test starts: the duplicate key spans the one dev server of the session.
    inp = runs.pipeline_input(settings, Topic.checked("Small tests catch big bugs early"), "test",
                              autonomy="autonomous")
    runs_client = RunClient(client, settings, None, queue_suffix=suffix)
    async with running_workers(client, settings, database, suffix):
        first = await runs_client.start_input(inp)
        second = await runs_client.start_input(inp)
        assert second.existing and second.workflow_id == first.workflow_id and second.state == "running"
        result = await client.get_workflow_handle(first.workflow_id, result_type=PipelineResult).result()
        third = await runs_client.start_input(inp)
    assert result.state == RunState.PUBLISHED
    assert third.existing and third.workflow_id == first.workflow_id and third.state == "completed"
    assert [p.platform for p in await repo.list_posts(database, first.workflow_id)] == ["local"]
    assert len(list((settings.data_dir / "outbox").rglob("video.mp4"))) == 1


async def test_bot_new_twice_answers_with_the_first_run(
        client: Client, quick: tuple[Settings, Database, Phone]) -> None:  # noqa: F811
    phone = quick[2]
    title = _title("Resent from the phone")
    first = run_id_in(await phone.say(f"/new {title}"))
    again = await phone.say(f"/new {title}")
    forced = run_id_in(await phone.say(f"/new --force {title}"))
    try:
        assert "already started" in again and run_id_in(again) == first and "/new --force" in again
        assert forced != first
    finally:
        await _terminate(client, first, forced)


async def test_dashboard_start_twice_answers_with_the_first_run(
        client: Client, dashboard: tuple[FastAPI, Settings]) -> None:  # noqa: F811
    app, _ = dashboard
    title = _title("Clicked twice in the browser")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        token = await alogin(http, PASSWORD)
        form = {"csrf_token": token, "title": title, "project": "test"}
        first = (await http.post("/trends/start", data=form)).headers["location"]
        second = await http.post("/trends/start", data=form)
        flash = (await http.get(second.headers["location"])).text
        forced = (await http.post("/trends/start", data={**form, "force": "1"})).headers["location"]
    ids = [loc.split("q=")[1] for loc in (first, forced)]
    try:
        assert second.headers["location"] == first
        assert "already started" in flash and "Start a new one" in flash
        assert ids[1] != ids[0] and ids[1].startswith("content-test-clicked-twice")
    finally:
        await _terminate(client, *ids)


def test_runs_for_isolated_worker_pools_never_answer_for_each_other(settings: Settings) -> None:
    """Tests share one dev server: the same topic started for two pools is two runs, and a deployment
    (no pool suffix) keeps the ids it always had."""
    inp = runs.pipeline_input(settings, Topic(title="One topic, two pools", summary="Same words."), "test")
    plain, pool_a, pool_b = (runs.keyed_item_id(inp, 7, pool) for pool in ("", "-ta", "-tb"))
    assert len({plain, pool_a, pool_b}) == 3
    assert plain == runs.keyed_item_id(inp, 7)
