"""The request body limit of the API and the dashboard: a pure ASGI middleware in front of both."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sma.api.app import PREFIX as API_PREFIX
from sma.api.errors import body as error_body


class BodyLimit:
    """Pure ASGI middleware that refuses a request body over the limit with 413 before the app parses it or
    checks the session: at once when Content-Length says so (nothing is read), else as soon as the bytes
    handed to the app (chunked ones too) pass the limit; the app then reads a disconnect and its answer is
    replaced by the 413. `public_paths` (the dashboard's login and setup forms, open to anyone) get the
    smaller `public_limit`."""

    def __init__(self, app: ASGIApp, limit: int, public_limit: int, public_paths: frozenset[str] = frozenset()
                 ) -> None:
        self.app, self.limit, self.public_limit, self.public_paths = app, limit, public_limit, public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.public_limit if scope["path"] in self.public_paths else self.limit
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        as_json = scope["path"].startswith(API_PREFIX)  # the API answers every error in its JSON shape
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _too_large(send, limit, as_json)
            return
        received, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def unless_over(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, unless_over)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _too_large(send, limit, as_json)


async def _too_large(send: Send, limit: int, as_json: bool = False) -> None:
    message = f"request body too large: at most {limit // 1024} KiB here"
    body = json.dumps(error_body("too_large", message, {"limit_kib": limit // 1024})).encode() if as_json else (
        message + "\n").encode()
    kind = b"application/json" if as_json else b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
