"""One HTTP client for every adapter: network errors become RetryLater, short rate-limit waits are absorbed.

Each adapter passes a `check(response)` that maps its API's error format to RetryLater / Rejected /
ReauthRequired. When a rate limit asks for a short wait (at most `inline_max_s`) the request is repeated
here after that wait; a longer wait goes back to Temporal as RetryLater(retry_after) so no worker thread
sleeps for an hour. Requests repeated here are only ever ones the server refused (429), never ones that
may have been applied.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx

from sma.services.platforms.errors import NoAnswer, RetryLater

Check = Callable[[httpx.Response], None]
INLINE_ATTEMPTS = 4


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with every given secret value replaced, for messages built from API responses."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[REDACTED]")
    return text


class ApiClient:
    """An httpx.AsyncClient plus the platform name (for messages) and the inline-retry policy."""

    def __init__(self, name: str, timeout_s: float = 120.0, inline_max_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.inline_max_s = inline_max_s
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 15.0)),
                                      transport=transport, follow_redirects=False)

    async def request(self, method: str, url: str, check: Check, **kwargs: Any) -> httpx.Response:
        """Send once (or again after a short, server-requested wait); return the response `check` accepted."""
        for attempt in range(1, INLINE_ATTEMPTS + 1):
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                raise NoAnswer(f"{self.name}: the request timed out ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise NoAnswer(f"{self.name}: network error ({type(exc).__name__})") from None
            try:
                check(response)
            except RetryLater as exc:
                wait = exc.retry_after
                if wait is None or self.inline_max_s <= 0 or wait > self.inline_max_s or attempt == INLINE_ATTEMPTS:
                    raise
                await asyncio.sleep(wait)
                continue
            return response
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a response, or {} when the body is empty or not an object."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
