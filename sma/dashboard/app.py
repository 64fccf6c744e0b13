"""The dashboard application: `create_app(settings)` wires routers, templates, static files and security.

The lifespan opens (and migrates, when it owns it) the database, makes the stored admin password match
`secrets.admin_password`, and, when no password exists at all, creates the one-time setup token that
`sma dashboard` prints. Tests pass their own database and Temporal client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from sma import metrics
from sma.api.app import PREFIX as API_PREFIX
from sma.api.app import create_api
from sma.api.limits import BodyLimit
from sma.dashboard import auth
from sma.dashboard.adapters import installed_sources
from sma.dashboard.cache import cache_for
from sma.dashboard.deps import SAFE_METHODS, Dashboard, LoginRequired
from sma.dashboard.routes import ROUTERS
from sma.dashboard.sources import Sources
from sma.dashboard.templating import make_templates, render
from sma.dashboard.temporal import TemporalView
from sma.db.engine import Database
from sma.services import fleet_metrics
from sma.settings import Settings

log = structlog.get_logger("sma.dashboard")
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                                "base-uri 'none'; object-src 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


async def _migrated(settings: Settings) -> Database:
    from sma.db.migrate import current, head, upgrade
    from sma.environment import private_dir

    private_dir(settings.data_dir)
    if await asyncio.to_thread(current, settings.database_url) != head():
        await asyncio.to_thread(upgrade, settings.database_url)
    return Database(settings.database_url)


async def needs_setup(settings: Settings) -> bool:
    """Migrate the database and say whether no admin password exists yet (the first start offers a setup link)."""
    database = await _migrated(settings)
    try:
        return settings.secrets.admin_password is None and await auth.get_admin(database) is None
    finally:
        await database.close()


def create_app(settings: Settings, database: Database | None = None, client: Client | None = None,
               sources: Sources | None = None, setup_token: str | None = None,
               after_start: Callable[[], None] | None = None) -> FastAPI:
    """The ASGI app. `setup_token` fixes the first-start token (the CLI prints it; tests read it back);
    `after_start` runs once the app is ready (the server freezes the garbage collector's view there)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or await _migrated(settings)
        cache = cache_for(db)
        if cache is not None:
            cache.enabled = settings.dashboard.read_cache
        secret = settings.secrets.admin_password
        await auth.sync_admin_from_secret(db, secret.get_secret_value() if secret else None)
        await auth.purge_expired(db)
        token = None if await auth.get_admin(db) else (setup_token or auth.new_token())
        app.state.dashboard = Dashboard(
            settings=settings, database=db, temporal=TemporalView(settings, client),
            sources=sources or installed_sources(settings, db),
            throttle=auth.LoginThrottle(db, settings.dashboard.login_attempts,
                                        settings.dashboard.login_account_attempts),
            setup_token=token, started=time.time())
        if after_start is not None:
            after_start()
        async with contextlib.AsyncExitStack() as stack:
            if metrics.start(settings, "dashboard") is not None:
                await stack.enter_async_context(fleet_metrics.running(db, app.state.dashboard.temporal.client))
            try:
                yield
            finally:
                if database is None:
                    await db.close()

    app = FastAPI(title="SMA dashboard", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.templates = make_templates()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(API_PREFIX, create_api(settings, database, client))  # bearer tokens, no session (plans/022)
    for router in ROUTERS:
        app.include_router(router)
    _install_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.dashboard.max_body_kb * 1024,  # outermost: before all else
                       public_limit=settings.dashboard.max_login_body_kb * 1024, public_paths=PUBLIC_FORMS)
    return app


PUBLIC_FORMS = frozenset({"/login", "/setup"})


class SecurityHeaders:
    """Pure ASGI middleware (no per-request task group or body streaming, unlike `@app.middleware`): adds
    the security headers to every response, and after a state-changing request forgets the cached reads
    (the database's version sees the rows it wrote, not what it told Temporal) before the answer leaves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        no_store = not scope["path"].startswith(("/static/", "/files/"))
        changes = scope["method"] not in SAFE_METHODS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if no_store:
                    headers.setdefault("Cache-Control", "no-store")
                if changes:
                    _forget_reads(scope)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _forget_reads(scope: Scope) -> None:
    d: Dashboard | None = getattr(scope["app"].state, "dashboard", None)
    if d is not None:
        d.invalidate()


def _install_handlers(app: FastAPI) -> None:
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _: LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return PlainTextResponse("login required", status_code=401, headers={"HX-Redirect": "/login"})
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return PlainTextResponse("login required", status_code=401)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.headers.get("hx-request") or (request.method not in ("GET", "HEAD") and exc.status_code == 403):
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
        if not hasattr(request.app.state, "dashboard"):
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
        return render(request, "pages/error.html", {"status": exc.status_code, "detail": exc.detail},
                      status_code=exc.status_code)
