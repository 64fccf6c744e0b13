"""Dashboard security: first-start setup, login, sessions, logout, CSRF on every POST, secrets never shown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import select

from sma.dashboard import auth
from sma.dashboard.app import create_app
from sma.dashboard.config import DashboardSettings
from sma.dashboard.deps import SESSION_COOKIE, safe_next
from sma.dashboard.routes import ROUTERS
from sma.dashboard.templating import redirect
from sma.dashboard.testing import csrf_token, form_token, login
from sma.db.engine import Database
from sma.db.tables_dashboard import AuditEntry, DashboardAdmin, DashboardSession
from sma.db.tables_publishing import PlatformCredential
from sma.settings import ProjectSettings, Secrets, Settings, TemporalSettings

PASSWORD = "correct horse battery"
UNREACHABLE = TemporalSettings(address="127.0.0.1:1")  # connection refused at once: pages degrade, never fail


def make_settings(tmp_path: Path, **changes: object) -> Settings:
    values: dict = {
        "data_dir": tmp_path / "data", "temporal": UNREACHABLE, "projects": [ProjectSettings(id="test")],
        "secrets": Secrets(admin_password=PASSWORD),
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path)), base_url="http://testserver") as client:
        yield client


def _rows(settings: Settings, model: type) -> list:
    async def go() -> list:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                return list((await session.exec(select(model))).all())
        finally:
            await db.close()
    return asyncio.run(go())


def test_pages_redirect_to_login_and_htmx_gets_401(app_client: TestClient) -> None:
    response = app_client.get("/runs?state=failed", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fruns%3Fstate%3Dfailed"
    htmx = app_client.get("/partials/inflight", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"] == "/login"
    assert app_client.get("/static/htmx.min.js").status_code == 200  # static files need no login
    assert app_client.get("/healthz").text == "ok"


def test_login_sets_an_httponly_samesite_session_and_logout_ends_it(app_client: TestClient) -> None:
    page = app_client.get("/login")
    response = app_client.post("/login", data={"password": PASSWORD, "form_token": form_token(page.text),
                                               "next": "/runs"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/runs"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    home = app_client.get("/")
    assert home.status_code == 200 and "Overview" in home.text
    app_client.post("/logout", data={"csrf_token": csrf_token(home.text)})
    assert app_client.get("/", follow_redirects=False).status_code == 303
    app_client.cookies.set(SESSION_COOKIE, token)  # the old cookie is dead on the server too
    assert app_client.get("/", follow_redirects=False).status_code == 303


def test_session_cookie_is_samesite_strict(app_client: TestClient) -> None:
    page = app_client.get("/login?next=/runs")
    assert "samesite=strict" in page.headers["set-cookie"].lower()  # the login form's own CSRF cookie
    response = app_client.post("/login", data={"password": PASSWORD, "form_token": form_token(page.text),
                                               "next": "/runs"}, follow_redirects=False)
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    assert "samesite=strict" in session.lower() and "samesite=lax" not in " ".join(cookies).lower()
    # The login flow still works: the redirect after the form is same-site, so the cookie goes with it.
    landed = app_client.get(response.headers["location"])
    assert landed.status_code == 200 and landed.url.path == "/runs"
    assert "samesite=strict" in redirect("/system", "saved").headers["set-cookie"].lower()  # the flash cookie


def test_wrong_password_and_missing_form_token_are_refused(app_client: TestClient) -> None:
    page = app_client.get("/login")
    wrong = app_client.post("/login", data={"password": "nope", "form_token": form_token(page.text)})
    assert wrong.status_code == 401 and "Wrong password" in wrong.text
    no_token = app_client.post("/login", data={"password": PASSWORD, "form_token": ""})
    assert no_token.status_code == 403
    assert SESSION_COOKIE not in app_client.cookies


def test_failed_logins_are_throttled(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, dashboard=DashboardSettings(login_attempts=2))
    with TestClient(create_app(settings)) as client:
        for _ in range(2):
            client.post("/login", data={"password": "bad", "form_token": form_token(client.get("/login").text)})
        response = client.post("/login", data={"password": PASSWORD,
                                               "form_token": form_token(client.get("/login").text)})
        assert response.status_code == 429 and SESSION_COOKIE not in client.cookies


def test_login_never_redirects_off_site(app_client: TestClient) -> None:
    assert [safe_next(t) for t in ("//evil.example/x", "https://evil.example", "/\\evil", "runs", "/runs?x=1")] == \
        ["/", "/", "/", "/", "/runs?x=1"]
    page = app_client.get("/login?next=//evil.example")
    response = app_client.post("/login", data={"password": PASSWORD, "form_token": form_token(page.text),
                                               "next": "//evil.example"}, follow_redirects=False)
    assert response.headers["location"] == "/"


def test_first_start_setup_needs_the_printed_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, secrets=Secrets())
    with TestClient(create_app(settings, setup_token="printed-token")) as client:
        assert client.get("/login", follow_redirects=False).headers["location"] == "/setup"
        page = client.get("/setup")
        bad = client.post("/setup", data={"token": "guess", "password": "long enough pw", "repeat": "long enough pw",
                                          "form_token": form_token(page.text)})
        assert bad.status_code == 400 and "not the one" in bad.text
        short = client.post("/setup", data={"token": "printed-token", "password": "short", "repeat": "short",
                                            "form_token": form_token(client.get("/setup").text)})
        assert short.status_code == 400 and "at least 10" in short.text
        ok = client.post("/setup", data={"token": "printed-token", "password": "long enough pw",
                                         "repeat": "long enough pw",
                                         "form_token": form_token(client.get("/setup").text)})
        assert ok.status_code == 200 and ok.url.path == "/"
        assert client.get("/setup", follow_redirects=False).headers["location"] == "/login"  # token is spent
    [admin] = _rows(settings, DashboardAdmin)
    assert admin.password_hash.startswith("$argon2id$") and "long enough pw" not in admin.password_hash
    assert auth.verify_password(admin.password_hash, "long enough pw")


def test_changed_secret_password_replaces_the_hash_and_logs_everyone_out(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        login(client, PASSWORD)
    assert len(_rows(settings, DashboardSession)) == 1
    changed = make_settings(tmp_path, secrets=Secrets(admin_password="a brand new secret"))
    with TestClient(create_app(changed)) as client:
        assert _rows(changed, DashboardSession) == []
        with pytest.raises(AssertionError):
            login(client, PASSWORD)
        login(client, "a brand new secret")


def test_idle_sessions_expire(tmp_path: Path) -> None:
    # 3 s of idle time: long enough that logging in (a redirect to "/" included) fits on a loaded machine.
    settings = make_settings(tmp_path, dashboard=DashboardSettings(idle_minutes=0.05))
    with TestClient(create_app(settings)) as client:
        login(client, PASSWORD)
        time.sleep(3.5)
        assert client.get("/", follow_redirects=False).status_code == 303


def _post_routes() -> list[str]:
    """Every POST route of every router the app includes (routers carry no prefix)."""
    paths = []
    for route in (r for router in ROUTERS for r in router.routes):
        if isinstance(route, APIRoute) and "POST" in route.methods:
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", "x")
            paths.append(path)
    return paths


def test_every_post_without_session_or_valid_csrf_token_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        posts = _post_routes()
        assert len(posts) >= 15, posts
        anonymous = {p: client.post(p, data={"round": "1"}, follow_redirects=False).status_code for p in posts}
        # /login and /setup have no session by nature: their own form token is checked instead.
        assert all(code in (401, 403) for p, code in anonymous.items() if p not in ("/login", "/setup")), anonymous
        assert anonymous["/login"] == 403 and anonymous["/setup"] in (303, 400)
        token = login(client, PASSWORD)
        for path in posts:
            if path in ("/login", "/setup"):
                continue
            missing = client.post(path, data={"round": "1"}, follow_redirects=False)
            wrong = client.post(path, data={"round": "1", "csrf_token": "x" * 43}, follow_redirects=False)
            header = client.post(path, data={"round": "1"}, headers={"X-CSRF-Token": token[:-2] + "zz"},
                                 follow_redirects=False)
            foreign = client.post(path, data={"round": "1", "csrf_token": token}, follow_redirects=False,
                                  headers={"Origin": "http://evil.example"})
            assert (missing.status_code, wrong.status_code, header.status_code, foreign.status_code) == \
                (403, 403, 403, 403), path
        # The session is still valid and a correct token passes the check (the action itself may refuse).
        accepted = client.post("/autonomy/test/pause", data={"csrf_token": token}, follow_redirects=False)
        assert accepted.status_code == 303
    refused = [a for a in _rows(settings, AuditEntry) if a.action == "csrf_refused"]
    assert len(refused) >= 4 * (len(posts) - 3) and all(a.outcome == "refused" and a.actor == "admin" for a in refused)


def test_secrets_are_never_rendered(tmp_path: Path) -> None:
    fernet = Fernet.generate_key().decode()
    secrets = Secrets(admin_password=PASSWORD, fernet_key=fernet, openai_api_key="sk-test-OPENAI-SECRET-1",
                      telegram_bot_token="123:TELEGRAM-SECRET-2", callback_secret="CALLBACK-SECRET-3")
    settings = make_settings(tmp_path, secrets=secrets)
    with TestClient(create_app(settings)) as client:
        token = login(client, PASSWORD)
        saved = client.post("/projects/test/credentials", data={
            "csrf_token": token, "platform": "facebook", "page_id": "1234", "page_access_token": "FB-SECRET-TOKEN-4"})
        assert saved.status_code == 200 and "facebook credentials of test saved" in saved.text
        assert "page_access_token" in saved.text and "FB-SECRET-TOKEN-4" not in saved.text
        pages = [client.get(p).text for p in ("/", "/runs", "/approvals", "/trends", "/calendar", "/posts",
                                              "/analytics", "/insights", "/autonomy", "/projects", "/providers",
                                              "/system")]
    [row] = _rows(settings, PlatformCredential)
    assert "FB-SECRET-TOKEN-4" not in row.token  # stored encrypted
    audit_text = " ".join(a.detail + a.target for a in _rows(settings, AuditEntry))
    for secret in (PASSWORD, fernet, "sk-test-OPENAI-SECRET-1", "TELEGRAM-SECRET-2", "CALLBACK-SECRET-3",
                   "FB-SECRET-TOKEN-4"):
        assert not any(secret in page for page in pages), secret
        assert secret not in audit_text, secret


def test_security_headers(app_client: TestClient) -> None:
    login(app_client, PASSWORD)
    response = app_client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text.replace('<script src="/static/htmx.min.js" defer></script>', "")


def test_cli_password_command_sets_the_login(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sma.cli import app

    config = tmp_path / "config.yaml"
    config.write_text("projects:\n  - id: test\n")
    env = {"SMA_DATA_DIR": str(tmp_path / "data"), "SMA_SECRETS_FILE": ""}
    runner = CliRunner()
    short = runner.invoke(app, ["--config", str(config), "dashboard", "password"], input="short\nshort\n", env=env)
    assert short.exit_code == 2 and "at least 10" in short.output
    ok = runner.invoke(app, ["--config", str(config), "dashboard", "password"],
                       input="a long new password\na long new password\n", env=env)
    assert ok.exit_code == 0, ok.output
    assert "a long new password" not in ok.output
    settings = make_settings(tmp_path, secrets=Secrets())
    [admin] = _rows(settings, DashboardAdmin)
    assert admin.source == "cli" and auth.verify_password(admin.password_hash, "a long new password")
    with TestClient(create_app(settings)) as client:
        login(client, "a long new password")
