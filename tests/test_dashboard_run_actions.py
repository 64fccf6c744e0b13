"""The dashboard's run actions on a real ContentPipelineWorkflow (dev server, real workers): an expired
run is re-opened, the script is edited inline and the run records the voice again from it (no new LLM
script), and the run is cancelled. Each action is audited and goes through the same services as the bot."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.client import Client

from sma.bot.config import BotSettings
from sma.client.handles import start_pipeline
from sma.dashboard import queries as q
from sma.dashboard.app import create_app
from sma.dashboard.testing import alogin
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables_dashboard import AuditEntry, ScriptEdit
from sma.models.pipeline import RunState, Script, Topic
from sma.services.runs import pipeline_input
from sma.settings import PipelineSettings, ProjectSettings, Secrets, Settings
from tests.conftest import running_workers, wait_for

pytestmark = pytest.mark.slow
PASSWORD = "run actions password"
TOPIC = Topic(title="Retries need idempotency", summary="A retry without an idempotency key can charge twice.")
EXPIRY_S = 8.0


async def test_reopen_edit_then_cancel_from_the_dashboard(client: Client, tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, pipeline=PipelineSettings(target_seconds=7),
                        projects=[ProjectSettings(id="test", niche="developer tools", autonomy="manual")],
                        bot=BotSettings(expiry_hours=EXPIRY_S / 3600, reminder_minutes=0),
                        secrets=Secrets(admin_password=PASSWORD))
    data.mkdir(parents=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    suffix = f"-a{uuid.uuid4().hex[:8]}"
    try:
        async with running_workers(client, settings, database, suffix):
            inp = pipeline_input(settings, TOPIC, "test")
            wf_id = await start_pipeline(client, inp, suffix)
            await wait_for(client, wf_id, lambda s: s.state == RunState.EXPIRED, timeout=240)
            app = create_app(settings, database=database, client=client)
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
                token = await alogin(http, PASSWORD)
                page = (await http.get(f"/runs/{wf_id}")).text
                assert "Re-open for a decision" in page and "Cancel run" in page
                assert (await http.post(f"/runs/{wf_id}/reopen", data={})).status_code == 403  # no CSRF token
                reopened = await http.post(f"/runs/{wf_id}/reopen", data={"csrf_token": token})
                assert reopened.status_code == 303
                await wait_for(client, wf_id, lambda s: s.state == RunState.AWAITING_APPROVAL)

                original = Script.model_validate_json((await q.script_attempts(database, wf_id))[-1].script_json)
                form = {"csrf_token": token, "round": "1", "hook": "Retries without keys charge twice.",
                        "title": original.title, "cta": ""}
                form |= {f"beat_{i}": b.narration for i, b in enumerate(original.beats)}
                form["beat_0"] = "Give every payment request an idempotency key, and a retry is always safe."
                edited = await http.post(f"/approvals/{wf_id}/edit", data=form, headers={"HX-Request": "true"})
                assert "re-records the voice" in edited.text, edited.text
                second = await wait_for(client, wf_id, lambda s: s.round == 2 and s.state in (
                    RunState.AWAITING_APPROVAL, RunState.EXPIRED), timeout=240)
                assert second.steps["write_script"].tier == "edited"
                page = (await http.get(f"/runs/{wf_id}")).text
                assert "Retries without keys charge twice." in page  # the round's script is the edited one

                cancelled = await http.post(f"/runs/{wf_id}/cancel", data={"csrf_token": token})
                assert cancelled.status_code == 303
                final = await wait_for(client, wf_id, lambda s: s.state == RunState.CANCELLED, timeout=60)
                assert final.posts == []
                await http.post(f"/runs/{wf_id}/reopen", data={"csrf_token": token})  # finished: refused
        async with database.session() as session:
            actions = [(a.action, a.outcome) for a in (await session.exec(select(AuditEntry))).all()]
            edits = (await session.exec(select(ScriptEdit))).all()
        assert {("reopen", "ok"), ("edit_script", "ok"), ("cancel", "ok"), ("reopen", "refused")} <= set(actions)
        assert [e.sent_as for e in edits] == ["edit_script"]
    finally:
        await database.close()
