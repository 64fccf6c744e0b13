"""The REST API over HTTP (httpx's ASGI transport into the dashboard app that mounts it, a real SQLite
file): tokens, scopes, rate limit, pagination and the one error shape. Runs through Temporal are covered
in tests/test_api_runs.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select
from temporalio.client import Client
from typer.testing import CliRunner

from sma.api import tokens
from sma.api.serve import standalone
from sma.cli import app as cli_app
from sma.dashboard.app import create_app
from sma.db.engine import Database, make_sync_engine
from sma.db.migrate import downgrade, upgrade
from sma.db.tables import PipelineRun, Post, Project, utcnow
from sma.db.tables_api import API_TABLES, ApiToken
from sma.db.tables_trends import TrendResult, TrendScan
from sma.services import audit
from sma.settings import Settings

API = "/api/v1"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["message"], error
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


@pytest.fixture
async def http(settings: Settings, database: Database, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    """The dashboard app (which mounts the API) as `sma up` serves it."""
    app = create_app(settings, database=database, client=client)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as h:
        yield h


async def seed(database: Database, runs: int = 0, posts: int = 0) -> None:
    now = utcnow()
    async with database.session() as session, session.begin():
        if await session.get(Project, "test") is None:
            session.add(Project(id="test", name="test"))
            await session.flush()
        for i in range(runs):
            session.add(PipelineRun(id=f"content-test-r{i:02d}", project_id="test", item_id=f"r{i:02d}",
                                    title=f"Run {i}", state="completed", updated_at=now - timedelta(minutes=i)))
        await session.flush()
        for i in range(posts):
            session.add(Post(project_id="test", run_id=f"content-test-r{i:02d}", platform="local", status="published",
                             url=f"file:///v{i}.mp4", published_at=now, updated_at=now - timedelta(minutes=i)))


async def test_requests_without_a_token_or_with_a_bad_or_revoked_one_are_refused(
        http: httpx.AsyncClient, database: Database) -> None:
    missing = await http.get(f"{API}/posts")
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(await http.get(f"{API}/posts", headers={"Authorization": "Basic abc"}), 401)
    assert_error(await http.get(f"{API}/posts", headers=auth("sma_nope_nope")), 401)
    token, row = await tokens.create(database, "reader", "read")
    forged = token.rsplit("_", 1)[0] + "_" + "x" * 43
    assert_error(await http.get(f"{API}/posts", headers=auth(forged)), 401)
    assert (await http.get(f"{API}/posts", headers=auth(token))).status_code == 200
    await tokens.revoke(database, row.id)
    assert_error(await http.get(f"{API}/posts", headers=auth(token)), 401, "unauthorized")


async def test_tokens_are_stored_hashed_and_note_their_last_use(http: httpx.AsyncClient, database: Database) -> None:
    token, row = await tokens.create(database, "hashed", "read")
    secret = token.split("_")[2]
    async with database.session() as session:
        stored = (await session.exec(select(ApiToken).where(ApiToken.id == row.id))).one()
    assert secret not in stored.secret_hash and stored.last_used_at is None
    assert (await http.get(f"{API}/posts", headers=auth(token))).status_code == 200
    async with database.session() as session:
        assert (await session.get(ApiToken, row.id)).last_used_at is not None  # type: ignore[union-attr]


async def test_a_read_token_cannot_approve_start_or_change_the_level(http: httpx.AsyncClient,
                                                                   database: Database) -> None:
    token, _ = await tokens.create(database, "reader", "read")
    assert_error(await http.post(f"{API}/runs/content-test-x/approve", headers=auth(token)), 403, "insufficient_scope")
    assert_error(await http.post(f"{API}/runs/content-test-x/reject", headers=auth(token), json={"feedback": "no"}),
                 403)
    assert_error(await http.post(f"{API}/runs", headers=auth(token), json={"topic": "A topic"}), 403)
    assert_error(await http.put(f"{API}/projects/test/autonomy", headers=auth(token), json={"level": "assisted"}),
                 403)
    assert (await http.get(f"{API}/projects/test/autonomy", headers=auth(token))).json()["level"] == "manual"


async def test_a_write_token_changes_the_level_and_is_audited(http: httpx.AsyncClient, database: Database) -> None:
    await seed(database)
    token, _ = await tokens.create(database, "writer", "write")
    changed = await http.put(f"{API}/projects/test/autonomy", headers=auth(token), json={"level": "assisted"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["previous"] == "manual" and changed.json()["level"] == "assisted"
    assert (await http.get(f"{API}/projects/test/autonomy", headers=auth(token))).json()["level"] == "assisted"
    assert_error(await http.put(f"{API}/projects/nope/autonomy", headers=auth(token), json={"level": "manual"}),
                 404, "project_not_found")
    entries = await audit.recent(database)
    assert [(e.actor, e.action, e.target, e.outcome) for e in entries] == [
        ("api:writer", "api_set_level", "test", "ok")]


async def test_validation_errors_use_the_error_shape(http: httpx.AsyncClient, database: Database) -> None:
    token, _ = await tokens.create(database, "writer", "write")
    empty = assert_error(await http.post(f"{API}/runs/content-test-x/reject", headers=auth(token),
                                         json={"feedback": ""}), 422, "invalid")
    assert empty["details"]["errors"][0]["field"] == "body.feedback"  # type: ignore[index]
    assert_error(await http.get(f"{API}/posts?limit=0", headers=auth(token)), 422, "invalid")
    assert_error(await http.put(f"{API}/projects/test/autonomy", headers=auth(token), json={"level": "yolo"}), 422)
    assert_error(await http.post(f"{API}/runs", headers=auth(token), json={"topic": "  "}), 422)
    assert_error(await http.post(f"{API}/runs", headers=auth(token), content=b"{not json",
                                 ), 422)


async def test_unknown_paths_runs_and_cursors_use_the_error_shape(http: httpx.AsyncClient, database: Database) -> None:
    token, _ = await tokens.create(database, "reader", "read")
    assert_error(await http.get(f"{API}/nothing-here", headers=auth(token)), 404, "not_found")
    assert_error(await http.get(f"{API}/posts?cursor=garbage", headers=auth(token)), 400, "bad_cursor")
    assert_error(await http.get(f"{API}/runs/content-test-none", headers=auth(token)), 404, "run_not_found")


async def test_a_body_over_the_limit_gets_413_in_the_error_shape(http: httpx.AsyncClient, database: Database,
                                                                 settings: Settings) -> None:
    token, _ = await tokens.create(database, "writer", "write")
    big = b"x" * (settings.dashboard.max_body_kb * 1024 + 1)
    response = await http.post(f"{API}/runs", headers={**auth(token), "content-type": "application/json"}, content=big)
    assert_error(response, 413, "too_large")


async def test_the_rate_limit_answers_429_with_retry_after(settings: Settings, database: Database,
                                                           client: Client) -> None:
    app = standalone(settings, database=database, client=client, per_minute=3)
    token, _ = await tokens.create(database, "busy", "read")
    other, _ = await tokens.create(database, "calm", "read")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as h:
        for _ in range(3):
            assert (await h.get(f"{API}/posts", headers=auth(token))).status_code == 200
        limited = await h.get(f"{API}/posts", headers=auth(token))
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await h.get(f"{API}/posts", headers=auth(other))).status_code == 200  # per token
        assert_error(await h.get("/elsewhere"), 404)


async def test_lists_page_by_cursor_without_gaps_or_repeats(http: httpx.AsyncClient, database: Database) -> None:
    await seed(database, runs=7, posts=7)
    token, _ = await tokens.create(database, "reader", "read")
    for path, key in ((f"{API}/posts", "run_id"), (f"{API}/runs", "id")):
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = (await http.get(path, headers=auth(token), params=params)).json()
            seen += [item[key] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7, (path, seen)
        assert seen == sorted(seen), seen  # newest first: r00 was updated last


async def test_trends_and_analytics_read_the_database(http: httpx.AsyncClient, database: Database) -> None:
    await seed(database)
    now = utcnow()
    async with database.session() as session, session.begin():
        session.add(TrendScan(id="scan-1", project_id="test", started_at=now, finished_at=now))
        await session.flush()
        for rank in (2, 1):
            session.add(TrendResult(project_id="test", scan_id="scan-1", key=f"k{rank}", rank=rank,
                                    title=f"Trend {rank}", score=1.0 / rank))
    token, _ = await tokens.create(database, "reader", "read")
    found = (await http.get(f"{API}/projects/test/trends", headers=auth(token))).json()
    assert found["scan_id"] == "scan-1" and [t["title"] for t in found["items"]] == ["Trend 1", "Trend 2"]
    stats = await http.get(f"{API}/analytics", headers=auth(token), params={"days": 7})
    assert stats.status_code == 200 and stats.json()["posts"] == 0
    assert (await http.get(f"{API}/calendar", headers=auth(token))).json() == {"items": [], "next_cursor": None}


async def test_openapi_schema_and_docs_are_served(http: httpx.AsyncClient) -> None:
    spec = (await http.get(f"{API}/openapi.json")).json()
    assert {"/runs", "/runs/{run_id}/approve", "/posts", "/projects/{project_id}/autonomy"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    docs = await http.get(f"{API}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower() and f"{API}/openapi.json" in docs.text
    assert "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_token_commands_create_list_and_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"SMA_DATA_DIR": str(tmp_path / "data")}
    made = runner.invoke(cli_app, ["api", "token", "create", "--scope", "write", "--name", "ci"], env=env)
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    assert tokens.parse(token) is not None
    token_id = token.split("_")[1]
    listed = runner.invoke(cli_app, ["api", "token", "list"], env=env)
    assert token_id in listed.stdout and "write" in listed.stdout and "active" in listed.stdout
    assert token.split("_")[2] not in listed.stdout
    assert runner.invoke(cli_app, ["api", "token", "revoke", token_id], env=env).exit_code == 0
    assert "revoked" in runner.invoke(cli_app, ["api", "token", "list"], env=env).stdout
    unknown = runner.invoke(cli_app, ["api", "token", "revoke", "nope"], env=env)
    assert unknown.exit_code == 2 and "sma api token list" in unknown.output
    bad = runner.invoke(cli_app, ["api", "token", "create", "--scope", "admin"], env=env)
    assert bad.exit_code == 2 and "--scope read" in bad.output


async def test_migration_0022_matches_the_api_tables(database: Database, settings: Settings) -> None:
    engine = make_sync_engine(settings.database_url)
    names = {t.__tablename__ for t in API_TABLES}
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                     SQLModel.metadata)
        assert [d for d in diffs if any(name in str(d) for name in names)] == []
    finally:
        engine.dispose()
    downgrade(settings.database_url, "0014")
    upgrade(settings.database_url)


async def test_an_uploaded_image_starts_a_run_and_other_types_are_refused(
        http: httpx.AsyncClient, database: Database, settings: Settings) -> None:
    from PIL import Image

    await seed(database)
    token, _ = await tokens.create(database, "writer", "write")
    picture = settings.data_dir / "p.png"
    Image.new("RGB", (64, 64), "teal").save(picture)
    refused = await http.post(f"{API}/runs/upload", headers=auth(token), data={"topic": "Teal squares"},
                              files={"media": ("notes.txt", b"hello", "text/plain")})
    assert_error(refused, 422, "bad_media")
    made = await http.post(f"{API}/runs/upload", headers=auth(token), data={"topic": "Teal squares"},
                           files={"media": ("p.png", picture.read_bytes(), "image/png")})
    assert made.status_code == 201, made.text
    stored = [p for p in (settings.data_dir / "artifacts" / "objects").rglob("*.png")]
    assert len(stored) == 1 and stored[0].read_bytes() == picture.read_bytes()
    run_id = made.json()["run_id"]  # no worker polls the default queue in tests: cancel it
    cancelled = await http.post(f"{API}/runs/{run_id}/cancel", headers=auth(token))
    assert cancelled.status_code == 200, cancelled.text


async def test_temporal_out_of_reach_answers_503_in_the_error_shape(tmp_path: Path, database: Database,
                                                                    settings: Settings) -> None:
    from sma.settings import TemporalSettings

    nowhere = settings.model_copy(update={"temporal": TemporalSettings(address="127.0.0.1:1")})
    app = standalone(nowhere, database=database)
    token, _ = await tokens.create(database, "writer", "write")
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as h:
        down = await h.post(f"{API}/runs/content-test-x/cancel", headers=auth(token))
        assert_error(down, 503, "temporal_unavailable")
        assert "127.0.0.1:1" in down.json()["error"]["message"]
        assert (await h.get(f"{API}/posts", headers=auth(token))).status_code == 200  # reads need no Temporal
        assert (await h.get(f"{API}/runs", headers=auth(token))).json() == {"items": [], "next_cursor": None}
