"""The MCP server through the SDK's own client: over streamable HTTP on a real uvicorn server (make a
video, find it waiting for approval, approve it, see it published; dev server, real workers, offline
tiers, a 7-second target) and over stdio (`sma mcp` as a subprocess, token from SMA_API_TOKEN)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from temporalio.client import Client as TemporalClient

from sma.api import tokens
from sma.api.context import ApiContext
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.mcp.http import PATH, http_app
from sma.settings import PipelineSettings, ProjectSettings, Settings
from tests.conftest import running_workers

ROOT = Path(__file__).resolve().parents[1]


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    if isinstance(result.structured_content, dict):
        inner = result.structured_content
        return inner.get("result", inner) if set(inner) == {"result"} else inner
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result
    return result.content[0].text  # type: ignore[union-attr]


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """A real uvicorn server on a free loopback port (with the SDK app's lifespan)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started:
                break
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        server.should_exit = True
        await task


def connect(url: str, token: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=300))
    return Client(streamable_http_client(url, http_client=http))


@pytest.mark.slow
async def test_make_a_video_then_approve_it_over_streamable_http(client: TemporalClient, tmp_path: Path,
                                                                  suffix: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", pipeline=PipelineSettings(target_seconds=7),
                        projects=[ProjectSettings(id="test", niche="developer tools", autonomy="manual")])
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    writer, _ = await tokens.create(database, "agent", "write")
    reader, _ = await tokens.create(database, "watcher", "read")
    api = ApiContext(settings, database, client, queue_suffix=suffix)
    try:
        async with running_workers(client, settings, database, suffix), serving(http_app(api)) as url:
            async with httpx.AsyncClient() as raw:
                refused = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
                bad = await raw.post(url, json={}, headers={"Authorization": "Bearer sma_x_y"})
                assert bad.status_code == 401

            async with connect(url, writer) as agent:
                names = {t.name for t in (await agent.list_tools()).tools}
                assert {"make_video", "pending_approvals", "approve", "reject", "trends", "stats",
                        "set_autonomy", "run_status"} <= names
                made = data(await agent.call_tool("make_video", {"topic": "Indexes make lookups fast",
                                                                 "idempotency_key": "mcp-1"}))
                run_id = made["run_id"]
                again = data(await agent.call_tool("make_video", {"topic": "Indexes make lookups fast",
                                                                  "idempotency_key": "mcp-1"}))
                assert again["run_id"] == run_id and again["existing"] is True

                deadline = asyncio.get_running_loop().time() + 240
                while True:
                    pending = data(await agent.call_tool("pending_approvals", {}))["runs"]
                    if any(r["id"] == run_id for r in pending):
                        break
                    assert asyncio.get_running_loop().time() < deadline, pending
                    await asyncio.sleep(0.5)
                status = data(await agent.call_tool("run_status", {"run_id": run_id}))
                assert status["state"] == "awaiting_approval" and status["qa"] and "video" in status["artifacts"]

                async with connect(url, reader) as watcher:
                    denied = error_text(await watcher.call_tool("approve", {"run_id": run_id}))
                    assert "insufficient_scope" in denied
                    assert "runs_by_state" in data(await watcher.call_tool("stats", {}))

                decided = data(await agent.call_tool("approve", {"run_id": run_id, "round": 1}))
                assert decided["round"] == 1 and decided["by"] == "api:agent"
                while True:
                    status = data(await agent.call_tool("run_status", {"run_id": run_id}))
                    if status["state"] in ("published", "failed"):
                        break
                    assert asyncio.get_running_loop().time() < deadline, status
                    await asyncio.sleep(0.5)
                assert status["state"] == "published", status
                assert "not_decidable" in error_text(await agent.call_tool("approve", {"run_id": run_id}))
                level = data(await agent.call_tool("set_autonomy", {"level": "assisted"}))
                assert level == {"project_id": "test", "previous": "manual", "level": "assisted", "signalled": 0}
    finally:
        await database.close()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SMA_API_TOKEN"}
    return {**env, "PYTHONPATH": str(ROOT), "SMA_DATA_DIR": str(tmp_path / "data"), **extra}


SMA = [sys.executable, "-c", "from sma.cli import entrypoint; entrypoint()"]


async def test_stdio_server_takes_its_token_from_the_environment(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    try:
        token, _ = await tokens.create(database, "desktop", "read")
    finally:
        await database.close()
    missing = subprocess.run([*SMA, "mcp"], env=_env(tmp_path), capture_output=True, text=True, timeout=120,
                             cwd=ROOT, stdin=subprocess.DEVNULL)
    assert missing.returncode == 2 and "SMA_API_TOKEN" in missing.stderr, missing.stderr

    params = StdioServerParameters(command=SMA[0], args=[*SMA[1:], "mcp"], cwd=ROOT,
                                   env=_env(tmp_path, SMA_API_TOKEN=token))
    async with Client(params) as agent:
        assert "make_video" in {t.name for t in (await agent.list_tools()).tools}
        stats = data(await agent.call_tool("stats", {"days": 7}))
        assert stats["posts"] == 0 and stats["runs_by_state"] == {}
        refused = error_text(await agent.call_tool("set_autonomy", {"level": "assisted"}))
        assert "insufficient_scope" in refused
