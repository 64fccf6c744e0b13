"""What Facebook Pages and Instagram share: the Graph API error format and its insights format.

Errors come as `{"error": {"message", "type", "code", "error_subcode", "is_transient"}}`. Code 190 (and
102) is an invalid or expired token; 10 and 200-299 are missing permissions; 4, 17, 32, 613 and the
80000-range are rate limits; 1, 2 and `is_transient` are temporary; 368 is a policy block.
"""

from __future__ import annotations

from typing import Any

import httpx

from sma.services.platforms.errors import ReauthRequired, Rejected, RetryLater, Unauthorized, reauth_hint
from sma.services.platforms.http import Check, json_body, retry_after

TOKEN_CODES = {102, 190}
RATE_CODES = {4, 17, 32, 613}
TRANSIENT_CODES = {1, 2}
RATE_LIMIT_DEFAULT_S = 60.0
NOT_FOUND_CODE = 100
IG_NOT_READY_SUBCODES = {2207027}
IG_DAILY_CAP_SUBCODES = {2207042}


def graph_error(response: httpx.Response) -> tuple[int, int, str, bool]:
    error = json_body(response).get("error")
    if not isinstance(error, dict):
        return 0, 0, "", False
    return (int(error.get("code") or 0), int(error.get("error_subcode") or 0), str(error.get("message") or ""),
            bool(error.get("is_transient")))


def graph_check(platform: str, project_id: str, label: str) -> Check:
    """A `check` for ApiClient.request that maps Graph API errors for `platform`."""

    def check(response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        code, subcode, message, transient = graph_error(response)
        if code in TOKEN_CODES or response.status_code == 401:
            raise Unauthorized(reauth_hint(project_id, platform, f"{label} rejected the access token"))
        if code == 10 or 200 <= code <= 299:
            raise ReauthRequired(reauth_hint(project_id, platform, f"{label} says a permission is missing "
                                             f"({message or code})"))
        if subcode in IG_DAILY_CAP_SUBCODES:
            raise RetryLater(f"{label}: the daily limit of API posts is reached", 3600.0)
        if (code in RATE_CODES or 80000 <= code < 81000 or response.status_code == 429
                or subcode in IG_NOT_READY_SUBCODES):
            raise RetryLater(f"{label} rate limit (code {code})", retry_after(response) or RATE_LIMIT_DEFAULT_S)
        if code in TRANSIENT_CODES or transient or response.status_code >= 500:
            raise RetryLater(f"{label} is temporarily unavailable (code {code or response.status_code})",
                             retry_after(response))
        if code == 368:
            raise Rejected(f"{label} blocked the post for now (policy, code 368): {message}")
        raise Rejected(f"{label} rejected the request: {message or response.status_code}")

    return check


def lookup_check(base: Check) -> Check:
    """Like `base`, but an object that does not exist (code 100 / 404) is returned to the caller."""

    def check(response: httpx.Response) -> None:
        code, _, _, _ = graph_error(response)
        if response.status_code == 404 or (response.status_code == 400 and code == NOT_FOUND_CODE):
            return
        base(response)

    return check


def missing(response: httpx.Response) -> bool:
    return response.status_code >= 400


def insight_values(body: dict[str, Any]) -> dict[str, Any]:
    """{name: value} from an insights answer (`values[0].value`, or `total_value.value` in newer versions)."""
    result: dict[str, Any] = {}
    for item in body.get("data") or []:
        name = item.get("name")
        values = item.get("values") or []
        if values and isinstance(values[0], dict):
            result[name] = values[0].get("value")
        elif isinstance(item.get("total_value"), dict):
            result[name] = item["total_value"].get("value")
    return result


def number(value: Any) -> int | None:
    if isinstance(value, dict):
        return int(sum(v for v in value.values() if isinstance(v, int | float)))
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
