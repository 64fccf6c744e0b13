"""One source of truth for autonomy levels: a level set from the chat, the dashboard or `sma autonomy` is the
level of the next run from every entry point (calendar slots, `sma run`), not the config's.

The chat test drives the real bot (python-telegram-bot against the local Bot API server) and real calendar
slot workflows on the Temporal dev server; the media steps are the doubles of test_autonomy_workflow.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

import sma
from sma.cli import app
from sma.dashboard.app import create_app
from sma.dashboard.testing import alogin
from sma.db.engine import Database
from sma.db.tables_trends import CalendarSlot
from sma.models.ids import slot_workflow_id
from sma.models.pipeline import PipelineInput, PipelineResult, RunState, Topic
from sma.models.schedule import SlotInput, SlotResult
from sma.services.autonomy.levels import level_for_new_run
from sma.services.autonomy.service import AutonomyService
from sma.services.trends.store import ensure_project_row
from sma.settings import ProjectSettings, Secrets, Settings
from tests.conftest import wait_for
from tests.test_autonomy_workflow import approval_messages, finished, make_settings, open_db, stub_pipeline
from tests.test_bot_flow import Phone, running_bot
from tests.test_bot_server import FakeBotAPI

PASSWORD = "correct horse battery"
runner = CliRunner()


async def calendar_slot(client: Client, database: Database, suffix: str, title: str) -> str:
    """A slot that is due now, run by the real CalendarSlotWorkflow; returns the pipeline's workflow id."""
    item_id = f"slot-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await ensure_project_row(database, "test")
    async with database.session() as session, session.begin():
        session.add(CalendarSlot(project_id="test", item_id=item_id, workflow_id=f"content-test-{item_id}",
                                 title=title, topic=Topic(title=title).model_dump_json(),
                                 platforms=json.dumps(["local"]), slot_at=now - timedelta(seconds=10),
                                 start_at=now - timedelta(hours=1)))
    await client.start_workflow("CalendarSlotWorkflow", SlotInput(project_id="test", item_id=item_id),
                                id=slot_workflow_id("test", item_id), task_queue="sma-workflows" + suffix)
    return f"content-test-{item_id}"


async def test_a_level_set_in_the_chat_reaches_the_next_calendar_slot_run(
        client: Client, tmp_path: Path, suffix: str) -> None:
    api = FakeBotAPI()
    await api.start()
    settings = make_settings(tmp_path, api)  # the config says manual
    database = await open_db(settings)
    phone = Phone(api)
    try:
        async with stub_pipeline(client, settings, database, suffix), running_bot(settings, client, suffix):
            assert "manual → autonomous" in await phone.say("/autonomy test autonomous")
            assert "0 videos today, no daily cap (set here)" in await phone.say("/limits daily 0")
            wf_id = await calendar_slot(client, database, suffix, "Autonomous from the chat")
            slot = await client.get_workflow_handle(slot_workflow_id("test", wf_id.removeprefix("content-test-")),
                                                    result_type=SlotResult).result()  # waits for its pipeline
            assert (slot.state, slot.workflow_id) == ("published", wf_id)
            done = await client.get_workflow_handle(wf_id, result_type=PipelineResult).result()
            assert done.state == RunState.PUBLISHED and done.status.decisions[0].by == "autonomy:autonomous"
            assert approval_messages(api) == []  # nobody was asked

            assert "autonomous → manual" in await phone.say("/autonomy test manual")
            wf_id = await calendar_slot(client, database, suffix, "Manual again")
            slot_handle = client.get_workflow_handle(slot_workflow_id("test", wf_id.removeprefix("content-test-")))
            for _ in range(300):  # the slot workflow starts the pipeline a moment later
                if await slot_handle.query("state") != "planned":
                    break
                await asyncio.sleep(0.1)
            waiting = await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)
            assert waiting.autonomy == "manual" and waiting.posts == []
            await api.wait_for(lambda _: [m for m in approval_messages(api) if "Manual again" in m["text"]])
            await client.get_workflow_handle(wf_id).cancel()
            await finished(client, wf_id)
        levels = [(e.old, e.new, e.by) for e in await AutonomyService(settings, database).history("test")
                  if e.kind == "level"]
        assert levels == [("autonomous", "manual", "telegram:@alice"), ("manual", "autonomous", "telegram:@alice")]
    finally:
        await database.close()
        await api.stop()


def _cli(config: Path, *args: str) -> str:
    result = runner.invoke(app, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


async def _started_input(client: Client, output: str) -> PipelineInput:
    match = re.search(r"content-test-[\w-]+", output)
    assert match, output
    handle = client.get_workflow_handle(match.group(0))
    history = await handle.fetch_history()
    data = history.events[0].workflow_execution_started_event_attributes.input.payloads[0].data
    await handle.terminate("test over")  # no worker polls this queue: the start input is what is checked
    return PipelineInput.model_validate_json(data)


async def test_a_level_set_on_the_dashboard_or_with_sma_autonomy_reaches_the_next_sma_run(
        client: Client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(data), "temporal": {"address": client.service_client.config.target_host},
        "logging": {"console": False}, "projects": [{"id": "test", "autonomy": "manual"}]}))

    def run(*args: str) -> str:
        return _cli(config, *args)

    assert "manual -> autonomous" in await asyncio.to_thread(run, "autonomy", "test", "autonomous")
    inp = await _started_input(client, await asyncio.to_thread(run, "run", "-t", "After sma autonomy", "-p", "test"))
    assert (inp.autonomy, inp.autonomy_pinned) == ("autonomous", False)

    settings = Settings(data_dir=data, projects=[ProjectSettings(id="test", autonomy="manual")],
                        secrets=Secrets(admin_password=PASSWORD))
    database = Database(settings.database_url)
    try:
        dashboard = create_app(settings, database=database, client=client)
        async with dashboard.router.lifespan_context(dashboard), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=dashboard), base_url="http://testserver") as http:
            token = await alogin(http, PASSWORD)
            answer = await http.post("/autonomy/test/level", data={"level": "assisted", "csrf_token": token},
                                     follow_redirects=True)
            assert answer.status_code == 200 and "autonomous → assisted" in answer.text
        inp = await _started_input(client, await asyncio.to_thread(run, "run", "-t", "After the dashboard",
                                                                   "-p", "test"))
        assert (inp.autonomy, inp.autonomy_pinned) == ("assisted", False)
        # An explicit --autonomy pins this one run, and the project's level stays what the person set.
        inp = await _started_input(client, await asyncio.to_thread(run, "run", "-t", "Pinned", "-p", "test",
                                                                   "--autonomy", "manual"))
        assert (inp.autonomy, inp.autonomy_pinned) == ("manual", True)
        assert (await level_for_new_run(settings, database, "test", "test")).level == "assisted"
    finally:
        await database.close()


def test_every_entry_point_asks_the_one_level_function() -> None:
    """Only sma/services/runs.py builds a run's input; every entry point goes through `new_run_input`, most
    of them by the run client's `start`."""
    root = Path(sma.__file__).parent
    sources = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py")}
    assert [name for name, text in sources.items()
            if re.search(r"pipeline_input\(|(?<!class )PipelineInput\(", text) and name != "services/runs.py"] == []
    callers = {name for name, text in sources.items() if "new_run_input(" in text}
    assert callers >= {"client/run_client.py", "demo.py", "services/batch.py", "services/scheduling/calendar.py"}
    starters = {name for name, text in sources.items() if re.search(r"\bruns\.start\(|d\.runs\.start\(", text)}
    assert starters >= {"cli/runs.py", "dashboard/routes/trends.py", "bot/starts.py"}


async def test_the_stored_level_wins_over_the_config_and_an_override_pins_and_is_logged(
        settings: Settings, database: Database) -> None:
    service = AutonomyService(settings, database)
    project = settings.projects[0].id
    configured = await level_for_new_run(settings, database, project, "test")
    assert (configured.level, configured.origin, configured.pinned) == ("manual", "config", False)
    await service.set_level(project, "autonomous", "tester", "cli")
    stored = await level_for_new_run(settings, database, project, "test")
    assert (stored.level, stored.origin, stored.pinned) == ("autonomous", "stored", False)
    with structlog.testing.capture_logs() as logs:
        pinned = await level_for_new_run(settings, database, project, "demo", override="autonomous")
    assert (pinned.origin, pinned.pinned) == ("override", True)
    assert any(e["event"] == "run level override" and e["entry"] == "demo" for e in logs)
    with pytest.raises(ValueError, match="manual, assisted or autonomous"):
        await level_for_new_run(settings, database, project, "test", override="reckless")
