"""The one interface every trend source implements, its errors, and the shared HTTP helper.

Errors say what the activity should do: `RateLimited` carries the server's wait (the activity turns it
into Temporal's next retry delay), `Unavailable` is worth retrying, `Rejected`/`BadPayload`/`NotConfigured`
are not. The scan reports them per source; none of them fails the scan.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import httpx

from sma.models.trends import SourceResult
from sma.services.trends.config import ProjectTrends, SourceOptions, TrendSettings


class SourceError(Exception):
    """Base of what a source can raise; `retryable` tells the activity whether another attempt may help."""

    retryable = True


class RateLimited(SourceError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(SourceError):
    """Network error, timeout or 5xx: another attempt may succeed."""


class Rejected(SourceError):
    """A 4xx other than a rate limit: bad key, bad parameter. Another attempt will not help."""

    retryable = False


class BadPayload(SourceError):
    """The answer is not in the API's format (malformed JSON or XML, missing fields)."""

    retryable = False


class NotConfigured(SourceError):
    """The source needs something this deployment does not have (an API key); it is skipped."""

    retryable = False


@runtime_checkable
class TrendSource(Protocol):
    name: str

    async def fetch(self, project_id: str, project: ProjectTrends, now: datetime) -> SourceResult:
        """Trending items for a project, in the source's own units."""
        ...


# ---------------------------------------------------------------- HTTP


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """The wait a server asks for: Retry-After (seconds or HTTP date), else the rate-limit reset headers."""
    now = time.time() if now is None else now
    value = response.headers.get("retry-after", "").strip()
    if value:
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("x-ratelimit-reset", "").strip()
    if reset.replace(".", "", 1).isdigit():
        seconds = float(reset)
        # GitHub sends an epoch timestamp; Reddit sends seconds until the window resets.
        return max(0.0, seconds - now) if seconds > 1_000_000_000 else seconds
    return None


class SourceHttp:
    """GET with the source's timeout and user agent; maps transport and status errors to SourceError."""

    def __init__(self, name: str, options: SourceOptions, user_agent: str,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.options = options
        self.user_agent = user_agent
        self.transport = transport
        self.requests = 0
        # An API's own error format (YouTube's quotaExceeded is a 403) is mapped here before the generic one.
        self.classify: Callable[[httpx.Response], SourceError | None] | None = None

    async def get(self, url: str, params: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        merged = {"User-Agent": self.user_agent, **(headers or {})}
        timeout = httpx.Timeout(self.options.timeout_s, connect=min(self.options.timeout_s, 10.0))
        self.requests += 1
        try:
            async with httpx.AsyncClient(timeout=timeout, transport=self.transport, follow_redirects=True) as http:
                response = await http.get(url, params=params, headers=merged)
        except httpx.TimeoutException:
            raise Unavailable(f"{self.name}: the request timed out") from None
        except httpx.TransportError as exc:
            raise Unavailable(f"{self.name}: network error ({type(exc).__name__})") from None
        self._check(response)
        return response

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if self.classify is not None:
            error = self.classify(response)
            if error is not None:
                raise error
        detail = _error_detail(response)
        if status == 429 or (status == 403 and response.headers.get("x-ratelimit-remaining") == "0"):
            raise RateLimited(f"{self.name}: rate limited (HTTP {status}){detail}", retry_after_seconds(response))
        if status >= 500:
            raise Unavailable(f"{self.name}: server error HTTP {status}{detail}")
        raise Rejected(f"{self.name}: HTTP {status}{detail}")

    async def get_json(self, url: str, params: dict[str, Any] | None = None,
                       headers: dict[str, str] | None = None) -> Any:
        response = await self.get(url, params, headers)
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadPayload(f"{self.name}: the answer is not valid JSON ({exc})") from None


def _error_detail(response: httpx.Response) -> str:
    """A short reason from the body (`message`, `error.message`, `error`), never the request's secrets."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        message = body.get("message") or (error.get("message") if isinstance(error, dict) else error)
    return f": {str(message)[:200]}" if message else ""


# ---------------------------------------------------------------- small parsers


def field(data: Any, key: str, kind: type, source: str, default: Any = None) -> Any:
    """`data[key]` converted to `kind`; a wrong shape is a BadPayload naming the field."""
    if not isinstance(data, dict):
        raise BadPayload(f"{source}: expected an object, got {type(data).__name__}")
    value = data.get(key, default)
    if value is None:
        if default is not None:
            return default
        raise BadPayload(f"{source}: field {key!r} is missing")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise BadPayload(f"{source}: field {key!r} is not a {kind.__name__}: {value!r}") from None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (with Z), RFC 2822 or a Unix timestamp, as aware UTC; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def per_hour(amount: float, published: datetime | None, now: datetime, floor_h: float = 1.0) -> float:
    """Popularity gained per hour since publication: the velocity estimate every source shares."""
    if published is None:
        return 0.0
    hours = max(floor_h, (now - published).total_seconds() / 3600)
    return amount / hours


def options_for(settings: TrendSettings, name: str) -> SourceOptions:
    return settings.source(name)
