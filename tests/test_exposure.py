"""Nothing exposed, no abuse of the dashboard login (plans/014-exposure.md): compose keeps Temporal private,
bodies are limited before auth, the login throttle holds under concurrency without locking the admin out,
login form tokens are single use, and the Temporal client gets its TLS and API key."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from sma.dashboard import auth
from sma.dashboard.app import create_app
from sma.dashboard.config import DashboardSettings
from sma.dashboard.deps import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from sma.dashboard.testing import alogin, form_token, login
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables_dashboard import AuditEntry
from sma.settings import ConfigError, Secrets, Settings, TemporalSettings, load_settings, masked_dump
from sma.temporal_client import connect, connect_options
from tests.test_dashboard_auth import PASSWORD, make_settings

ROOT = Path(__file__).resolve().parents[1]
ATTACKER, ADMIN_HOME = ("203.0.113.7", 40000), ("198.51.100.2", 40000)


# ---------------------------------------------------------------- compose


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _published(mapping: str) -> tuple[str, int, int]:
    """(host interface, host port, container port) of a compose port mapping; ${VAR:-default} -> default."""
    mapping = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(mapping))
    parts = mapping.split(":")
    if len(parts) == 2:
        parts = ["0.0.0.0", *parts]
    host, published, target = parts
    return host, int(published), int(target.split("/")[0])


def test_compose_keeps_temporal_off_public_interfaces() -> None:
    services = _compose()["services"]
    assert "ports" not in services["temporal"], "Temporal's gRPC port must stay on the compose network"
    for name, service in services.items():
        for mapping in service.get("ports", []):
            host, published, target = _published(mapping)
            assert host == "127.0.0.1", f"{name} publishes {mapping} beyond loopback"
            assert 7233 not in (published, target), f"{name} publishes Temporal's gRPC port"
    assert [_published(m)[1] for m in services["temporal-ui"]["ports"]] == [8233]


def test_compose_dashboard_port_and_health_check_agree() -> None:
    dashboard = _compose()["services"]["dashboard"]
    command = dashboard["command"]
    port = int(command[command.index("--port") + 1]) if "--port" in command else DashboardSettings().port
    [(_, _, target)] = [_published(m) for m in dashboard["ports"]]
    health = " ".join(dashboard["healthcheck"]["test"])
    assert target == port
    assert f"127.0.0.1:{port}/healthz" in health


# ---------------------------------------------------------------- a real app


@asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[FastAPI]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    database = Database(settings.database_url)
    app = create_app(settings, database=database)
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await database.close()


@asynccontextmanager
async def _served(app: FastAPI) -> AsyncIterator[int]:
    """A real uvicorn server on an ephemeral loopback port (the lifespan already ran)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


async def _audit(settings: Settings) -> list[AuditEntry]:
    async with Database(settings.database_url) as database, database.session() as session:
        return list((await session.exec(select(AuditEntry))).all())


def _from(app: FastAPI, address: tuple[str, int]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url="http://testserver")


async def _raw(port: int, head: str, body_parts: list[bytes]) -> tuple[int, bytes]:
    """Send a request by hand (so the body can lie about or outgrow its length); the status and the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode())
        for part in body_parts:
            writer.write(part)
            await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer


# ---------------------------------------------------------------- body limit


async def test_oversized_body_refused_before_auth(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with _running(settings) as app, _served(app) as port:
        # 100 MB announced, 64 KiB sent: refused on the header, without a session, before anything is read.
        head = (f"POST /approvals/some-run/approve HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n")
        status, answer = await _raw(port, head, [b"a" * 65536])
        assert status == 413 and b"request body too large: at most 256 KiB here" in answer
        # The login form, open to anyone, has the smaller limit.
        head = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 20000\r\n\r\n")
        status, answer = await _raw(port, head, [b"password=" + b"x" * 19991])
        assert status == 413 and b"at most 16 KiB" in answer
        # Chunked, no length: counted as it streams, refused once past the limit (not 401: auth never ran).
        head = (f"POST /approvals/some-run/approve HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (16384, b"b" * 16384)
        status, answer = await _raw(port, head, [chunk] * 20 + [b"0\r\n\r\n"])
        assert status == 413 and b"at most 256 KiB" in answer
        # A small body without a session still gets the login's answer.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            small = await http.post("/approvals/some-run/approve", data={"round": "1"})
            assert small.status_code == 401
            assert (await alogin(http, PASSWORD))  # a normal login form fits
    refused = [r for r in await _audit(settings) if r.outcome == "refused"]
    assert refused == []  # the oversized requests never reached the login or CSRF checks


# ---------------------------------------------------------------- login throttle


async def _wrong_login(app: FastAPI, address: tuple[str, int], password: str = "wrong password") -> int:
    async with _from(app, address) as http:
        page = await http.get("/login")
        response = await http.post("/login", data={"password": password, "form_token": form_token(page.text)})
        return response.status_code


async def test_login_throttle_is_atomic_under_concurrency(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # 10 per address per 5 minutes
    async with _running(settings) as app:
        statuses = await asyncio.gather(*(_wrong_login(app, ATTACKER) for _ in range(30)))
    reasons = [json.loads(r.detail).get("reason") for r in await _audit(settings) if r.action == "login"]
    checked, throttled = [r for r in reasons if r == "password"], [r for r in reasons if r == "throttled"]
    assert statuses.count(401) == len(checked) <= 10
    assert statuses.count(429) == len(throttled) == 30 - len(checked)
    assert len(checked) == 10  # nothing lost either: exactly the limit was checked


async def test_admin_not_locked_out_from_another_address(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with _running(settings) as app:
        statuses = [await _wrong_login(app, ATTACKER) for _ in range(15)]
        assert statuses == [401] * 10 + [429] * 5
        assert await _wrong_login(app, ATTACKER, PASSWORD) == 429  # the attacker's address stays blocked
        async with _from(app, ADMIN_HOME) as admin:
            await alogin(admin, PASSWORD)
            assert SESSION_COOKIE in admin.cookies
    # An attacker with a whole IPv6 /64 is one address to the throttle.
    assert auth.client_bucket("2001:db8:1:2::1") == auth.client_bucket("2001:db8:1:2:ffff::9")
    assert auth.client_bucket("::ffff:203.0.113.7") == auth.client_bucket("203.0.113.7")


def test_one_address_cannot_be_allowed_the_whole_account() -> None:
    with pytest.raises(ValueError, match="login_account_attempts must be above login_attempts"):
        DashboardSettings(login_attempts=50, login_account_attempts=50)


def test_login_form_token_single_use(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        token = form_token(client.get("/login").text)
        assert client.post("/login", data={"password": "wrong", "form_token": token}).status_code == 401
        client.cookies.set(LOGIN_CSRF_COOKIE, token)  # a replay: the same form, cookie and all
        replay = client.post("/login", data={"password": PASSWORD, "form_token": token})
        assert replay.status_code == 403 and "form expired" in replay.text
        assert SESSION_COOKIE not in client.cookies
        login(client, PASSWORD)  # a fresh form works


async def test_login_form_tokens_never_pile_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flood of login page views evicts the oldest tokens instead of growing the table."""
    monkeypatch.setattr(auth, "MAX_FORM_TOKENS", 3)
    settings = make_settings(tmp_path)
    async with _running(settings) as app:
        database = app.state.dashboard.database
        tokens = [await auth.issue_form_token(database) for _ in range(5)]
        expired = await auth.issue_form_token(database, lifetime=-1)
        assert [await auth.use_form_token(database, t) for t in tokens] == [False, False, True, True, True]
        assert not await auth.use_form_token(database, expired)


# ---------------------------------------------------------------- Temporal client


def test_temporal_client_passes_tls_and_api_key_to_connect(tmp_path: Path) -> None:
    pem = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    for name, path in pem.items():
        path.write_bytes(f"-----BEGIN {name}-----\n".encode())
    remote = make_settings(tmp_path, temporal=TemporalSettings(address="temporal.example:7233", tls={
        "client_cert": pem["cert"], "client_key": pem["key"], "server_ca": pem["ca"],
        "server_name": "temporal.internal"}), secrets=Secrets(temporal_api_key="tk-secret-123"))
    options = connect_options(remote)
    assert options["api_key"] == "tk-secret-123"
    assert options["tls"] == TLSConfig(server_root_ca_cert=b"-----BEGIN ca-----\n", domain="temporal.internal",
                                       client_cert=b"-----BEGIN cert-----\n",
                                       client_private_key=b"-----BEGIN key-----\n")
    # An API key alone means TLS with the system's roots (Temporal Cloud); nothing configured means plain gRPC.
    key_only = make_settings(tmp_path, temporal=TemporalSettings(address="cloud.example:7233"),
                             secrets=Secrets(temporal_api_key="k"))
    assert connect_options(key_only) == {"api_key": "k", "tls": TLSConfig()}
    assert connect_options(make_settings(tmp_path, temporal=TemporalSettings(address="t:7233"))) == {"tls": False}
    assert connect_options(make_settings(tmp_path, temporal=TemporalSettings())) == {}  # the embedded dev server
    # The key is a secret: masked in dumps, known to the log redactor.
    assert "tk-secret-123" not in str(masked_dump(remote)) and "tk-secret-123" in remote.secrets.values()
    missing = make_settings(tmp_path, temporal=TemporalSettings(address="t:7233", tls={"server_ca": tmp_path / "no"}))
    with pytest.raises(ConfigError, match=r"temporal.tls.server_ca: cannot read .*no \(No such file"):
        connect_options(missing)


def test_temporal_tls_client_cert_needs_its_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("temporal:\n  address: t:7233\n  tls:\n    client_cert: /etc/sma/client.pem\n")
    with pytest.raises(ConfigError, match="client_cert and client_key go together"):
        load_settings(config, env={})


async def test_temporal_client_connects_with_the_api_key(temporal_env: WorkflowEnvironment,
                                                          tmp_path: Path) -> None:
    """A real server takes the keywords: the dev server speaks plain gRPC and ignores the key."""
    address = temporal_env.client.service_client.config.target_host
    settings = make_settings(tmp_path, temporal=TemporalSettings(address=address, tls={"enabled": False}),
                             secrets=Secrets(temporal_api_key="dev-key"))
    client: Client = await connect(settings.temporal_address, settings.temporal.namespace, settings=settings)
    assert client.api_key == "dev-key"
    assert (await client.workflow_service.get_system_info(_system_info_request())).server_version


def _system_info_request():  # type: ignore[no-untyped-def]
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()
