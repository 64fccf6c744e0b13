"""Runs through the REST API on the dev server with real workers and the offline tiers (a 7-second
target): an idempotent create returns the same run, a read token cannot approve, a rejection with
feedback makes round 2, a stale round is refused, the approved run publishes and its video is served;
a second run is cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from sma.api import tokens
from sma.api.serve import standalone
from sma.db.engine import Database
from sma.models.pipeline import RunState
from sma.services import audit
from sma.settings import PipelineSettings, ProjectSettings, Settings
from tests.conftest import running_workers

pytestmark = pytest.mark.slow
API = "/api/v1"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def poll(http: httpx.AsyncClient, token: str, run_id: str, states: set[str], timeout: float = 240,
               round_no: int = 1) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        run = (await http.get(f"{API}/runs/{run_id}", headers=auth(token))).json()
        status = run.get("status", {})
        if status.get("state") in states and status.get("round", 1) >= round_no:
            return run  # type: ignore[no-any-return]
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.5)


async def test_create_idempotently_then_approve_over_http(client: Client, tmp_path: Path, suffix: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", pipeline=PipelineSettings(target_seconds=7),
                        projects=[ProjectSettings(id="test", niche="developer tools", autonomy="manual")])
    settings.data_dir.mkdir(parents=True)
    from sma.db.migrate import upgrade

    upgrade(settings.database_url)
    database = Database(settings.database_url)
    app = standalone(settings, database=database, client=client, queue_suffix=suffix)
    writer, _ = await tokens.create(database, "writer", "write")
    reader, _ = await tokens.create(database, "reader", "read")
    try:
        async with running_workers(client, settings, database, suffix), app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            body = {"topic": "Caching makes reads cheap", "summary": "A cache keeps answers close to the reader."}
            first = await http.post(f"{API}/runs", headers={**auth(writer), "Idempotency-Key": "k-1"}, json=body)
            assert first.status_code == 201, first.text
            again = await http.post(f"{API}/runs", headers={**auth(writer), "Idempotency-Key": "k-1"}, json=body)
            assert again.status_code == 200 and again.json()["existing"] is True
            run_id = first.json()["run_id"]
            assert again.json()["run_id"] == run_id

            waiting = await poll(http, reader, run_id, {RunState.AWAITING_APPROVAL.value})
            assert waiting["qa"] and all("gate" in q for q in waiting["qa"])
            assert any(step["name"] == "render" for step in waiting["steps"])
            listed = (await http.get(f"{API}/runs", headers=auth(reader),
                                     params={"state": "awaiting_approval"})).json()
            assert [r["id"] for r in listed["items"]] == [run_id]

            refused = await http.post(f"{API}/runs/{run_id}/approve", headers=auth(reader))
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
            stale = await http.post(f"{API}/runs/{run_id}/approve", headers=auth(writer), json={"round": 2})
            assert stale.status_code == 409 and "round" in stale.json()["error"]["message"]
            rejected = await http.post(f"{API}/runs/{run_id}/reject", headers=auth(writer),
                                       json={"feedback": "Make the hook shorter", "round": 1})
            assert rejected.status_code == 200, rejected.text
            assert rejected.json()["action"] == "reject" and rejected.json()["round"] == 1
            await poll(http, reader, run_id, {RunState.AWAITING_APPROVAL.value}, round_no=2)
            stale = await http.post(f"{API}/runs/{run_id}/approve", headers=auth(writer), json={"round": 1})
            assert stale.status_code == 409 and stale.json()["error"]["code"] == "not_decidable"
            approved = await http.post(f"{API}/runs/{run_id}/approve", headers=auth(writer), json={"round": 2})
            assert approved.status_code == 200, approved.text
            assert approved.json() == {"run_id": run_id, "action": "approve", "round": 2, "by": "api:writer"}

            done = await poll(http, reader, run_id, {RunState.PUBLISHED.value, RunState.FAILED.value})
            assert done["status"]["state"] == RunState.PUBLISHED.value, done["status"]
            assert [(a["round"], a["approved"], a["by"], a["feedback"]) for a in done["approvals"]] == [
                (1, False, "api:writer", "Make the hook shorter"), (2, True, "api:writer", "")]
            video = await http.get(f"{API}/runs/{run_id}/artifacts/video", headers=auth(reader))
            assert video.status_code == 200 and video.content[4:8] == b"ftyp"
            late = await http.post(f"{API}/runs/{run_id}/approve", headers=auth(writer))
            assert late.status_code == 409
            actions = [(e.action, e.outcome) for e in reversed(await audit.recent(database)) if e.target == run_id]
            assert actions == [("api_approve", "refused"), ("api_reject", "ok"), ("api_approve", "refused"),
                               ("api_approve", "ok"), ("api_approve", "refused")], actions
            script = {"title": "T", "hook": "H", "beats": [{"narration": "Words to record."}]}
            edit = await http.put(f"{API}/runs/{run_id}/script", headers=auth(writer), json={"script": script})
            assert edit.status_code == 409 and "finished" in edit.json()["error"]["message"]
            for action in ("reopen", "retry"):  # a published run has nothing to re-open or retry
                acted = await http.post(f"{API}/runs/{run_id}/{action}", headers=auth(writer))
                assert acted.status_code == 409 and acted.json()["error"]["code"] == "not_decidable", acted.text

            other = await http.post(f"{API}/runs", headers=auth(writer), json={"topic": "Queues smooth out bursts"})
            assert other.status_code == 201
            other_id = other.json()["run_id"]
            cancelled = await http.post(f"{API}/runs/{other_id}/cancel", headers=auth(writer))
            assert cancelled.status_code == 200, cancelled.text
            await asyncio.sleep(1)
            again_cancel = await http.post(f"{API}/runs/{other_id}/cancel", headers=auth(writer))
            assert again_cancel.status_code == 409, again_cancel.text
    finally:
        await database.close()
