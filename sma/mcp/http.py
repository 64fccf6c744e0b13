"""The MCP server over streamable HTTP, behind a bearer-token guard: a request without a live API token
is refused (401) before the SDK sees it; the tools then check the token's scope per call."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from sma.api import tokens
from sma.api.context import ApiContext, bearer
from sma.api.errors import body
from sma.mcp.server import build_server

PATH = "/mcp"


class BearerGuard:
    """Pure ASGI: lifespan and other scopes pass; HTTP needs 'Authorization: Bearer <live token>'."""

    def __init__(self, app: ASGIApp, api: ApiContext) -> None:
        self.app, self.api = app, api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
        token = bearer(header)
        if token and await tokens.verify(await self.api.database(), token) is not None:
            await self.app(scope, receive, send)
            return
        message = "invalid or revoked token" if token else "missing bearer token: send 'Authorization: Bearer <token>'"
        payload = json.dumps(body("unauthorized", message)).encode()
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
            (b"www-authenticate", b"Bearer")]})
        await send({"type": "http.response.body", "body": payload})


def http_app(api: ApiContext, host: str = "127.0.0.1") -> ASGIApp:
    """The guarded streamable HTTP app (stateless, JSON answers) at /mcp."""
    server = build_server(api)
    inner = server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True, host=host)
    return BearerGuard(inner, api)
