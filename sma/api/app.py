"""The API application: `create_api(settings)`, served alone (`sma api serve`) or mounted by the dashboard
under /api/v1. Bearer tokens only: no cookies, so no CSRF to check (a browser never sends the token by
itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
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

    @app.middleware("http")
    async def docs_policy(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path.endswith(("/docs", "/redoc")):
            response.headers["Content-Security-Policy"] = DOCS_CSP
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app

