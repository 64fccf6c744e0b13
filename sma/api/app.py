"""The API application: `create_api(settings)`, served alone (`sma api serve`) or mounted by the dashboard
under /api/v1. Bearer tokens only: no cookies, so no CSRF to check (a browser never sends the token by
itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from sma.api import errors
from sma.api.context import DEFAULT_PER_MINUTE, ApiContext
from sma.api.routes import router
from sma.db.engine import Database
from sma.settings import Settings

PREFIX = "/api/v1"
# Swagger UI loads its script and styles from a CDN; the dashboard's strict policy stays on every other path.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; "
            "frame-ancestors 'none'")


def create_api(settings: Settings, database: Database | None = None, client: Client | None = None,
               per_minute: int = DEFAULT_PER_MINUTE, queue_suffix: str = "") -> FastAPI:
    """The ASGI app, to be mounted at /api/v1 (`standalone` does that for `sma api serve`)."""
    ctx = ApiContext(settings, database, client, per_minute=per_minute, queue_suffix=queue_suffix)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await ctx.close()

    app = FastAPI(title="SMA API", version="1", lifespan=lifespan,
                  description="Make, review and publish short videos. Authenticate with "
                              "'Authorization: Bearer <token>' (`sma api token create`).")
    app.state.api = ctx
    app.include_router(router)
    errors.install(app)

    app.add_middleware(ApiHeaders)
    return app


class ApiHeaders:
    """Pure ASGI middleware: answers are never cached; the docs page gets a policy that lets Swagger UI
    load (it overrides the dashboard's stricter one, which only sets headers that are missing)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].endswith(("/docs", "/redoc"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Cache-Control", "no-store")
                if docs:
                    headers["Content-Security-Policy"] = DOCS_CSP
            await send(message)

        await self.app(scope, receive, with_headers)

