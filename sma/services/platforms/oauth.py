"""Access tokens that refresh themselves: before they expire, and once after the API says 401.

Google (YouTube) and TikTok issue short-lived access tokens plus a refresh token; the refreshed token is
written back to the encrypted store so every worker process sees it. Page and Instagram tokens are
long-lived and have no refresh here: when the API rejects them the creator is asked to re-authorise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from sma.db.tables import utcnow
from sma.services.platforms.credentials import Credentials, CredentialStore
from sma.services.platforms.errors import ReauthRequired, RetryLater, Unauthorized, reauth_hint
from sma.services.platforms.http import ApiClient, json_body, retry_after

Refresher = Callable[[ApiClient, Credentials], Awaitable[Credentials]]
_LOCKS: dict[tuple[int, str, str], asyncio.Lock] = {}


def _lock(project_id: str, platform: str) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), project_id, platform)
    return _LOCKS.setdefault(key, asyncio.Lock())


class TokenSource:
    """The access token of one (project, platform) for one adapter."""

    def __init__(self, store: CredentialStore | None, creds: Credentials, http: ApiClient,
                 refresher: Refresher | None = None, margin_s: float = 300.0,
                 token_field: str = "access_token") -> None:
        self.store = store
        self.creds = creds
        self.http = http
        self.refresher = refresher
        self.margin = timedelta(seconds=margin_s)
        self.token_field = token_field
        self.refreshes = 0

    def _expiring(self, creds: Credentials) -> bool:
        if not creds.reveal(self.token_field):
            return True
        return creds.expires_at is not None and creds.expires_at - self.margin <= utcnow()

    async def token(self) -> str:
        """A token valid for at least the refresh margin (refreshing first when needed)."""
        if self.refresher is not None and self._expiring(self.creds):
            await self.refresh(stale=self.creds.reveal(self.token_field))
        token = self.creds.reveal(self.token_field)
        if token is None:
            raise ReauthRequired(reauth_hint(self.creds.project_id, self.creds.platform, "No access token is stored"))
        return token

    async def refresh(self, stale: str | None) -> str:
        """Replace the token `stale` (the one that failed or is expiring); another process may have done it."""
        project, platform = self.creds.project_id, self.creds.platform
        if self.refresher is None:
            raise ReauthRequired(reauth_hint(project, platform, f"{platform} rejected the stored access token"))
        async with _lock(project, platform):
            latest = await self.store.get(project, platform) if self.store else None
            if latest is not None and latest.reveal(self.token_field) != stale and not self._expiring(latest):
                self.creds = latest
            else:
                self.creds = await self.refresher(self.http, latest or self.creds)
                self.refreshes += 1
                if self.store is not None:
                    await self.store.put(self.creds)
        token = self.creds.reveal(self.token_field)
        assert token is not None
        return token


async def authorized(tokens: TokenSource, method: str, url: str, check: Callable[[httpx.Response], None],
                     scheme: str = "Bearer", **kwargs: Any) -> httpx.Response:
    """Send with the current token; on a 401 (`Unauthorized` from `check`) refresh once and send again."""
    headers = dict(kwargs.pop("headers", None) or {})
    token = await tokens.token()
    for attempt in (1, 2):
        headers["Authorization"] = f"{scheme} {token}"
        try:
            return await tokens.http.request(method, url, check, headers=headers, **kwargs)
        except Unauthorized:
            if attempt == 2 or tokens.refresher is None:
                raise
            token = await tokens.refresh(stale=token)
    raise AssertionError("unreachable")


def token_expiry(body: dict[str, Any]) -> datetime | None:
    seconds = body.get("expires_in")
    return utcnow() + timedelta(seconds=float(seconds)) if seconds else None


def oauth_check(platform: str, creds: Credentials) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        body = json_body(response)
        error = str(body.get("error") or "")
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"{platform} token endpoint answered {response.status_code}", retry_after(response))
        if error or response.status_code >= 400 or not body.get("access_token"):
            what = f"{platform} refused to refresh the access token ({error or response.status_code})"
            raise ReauthRequired(reauth_hint(creds.project_id, platform, what))
    return check


def google_refresher(base_url: str) -> Refresher:
    """POST /token grant_type=refresh_token (Google OAuth 2.0); Google keeps the same refresh token."""

    async def refresh(http: ApiClient, creds: Credentials) -> Credentials:
        form = {"client_id": creds.require("client_id"), "client_secret": creds.require("client_secret"),
                "refresh_token": creds.require("refresh_token"), "grant_type": "refresh_token"}
        response = await http.request("POST", f"{base_url}/token", oauth_check("youtube", creds), data=form)
        body = json_body(response)
        return creds.updated(expires_at=token_expiry(body), access_token=body["access_token"],
                             refresh_token=body.get("refresh_token"))

    return refresh


def tiktok_refresher(base_url: str) -> Refresher:
    """POST /v2/oauth/token/ grant_type=refresh_token; TikTok may hand out a new refresh token too."""

    async def refresh(http: ApiClient, creds: Credentials) -> Credentials:
        form = {"client_key": creds.require("client_key"), "client_secret": creds.require("client_secret"),
                "refresh_token": creds.require("refresh_token"), "grant_type": "refresh_token"}
        response = await http.request("POST", f"{base_url}/v2/oauth/token/", oauth_check("tiktok", creds),
                                      data=form, headers={"Cache-Control": "no-cache"})
        body = json_body(response)
        return creds.updated(expires_at=token_expiry(body), access_token=body["access_token"],
                             refresh_token=body.get("refresh_token"), open_id=body.get("open_id"))

    return refresh
