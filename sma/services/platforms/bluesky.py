"""Bluesky through the AT Protocol's XRPC endpoints on the account's PDS (JSON over HTTP).

Session: com.atproto.server.createSession with the handle and an app password, kept in the encrypted store
(access and refresh JWT) and renewed with refreshSession, so a worker does not log in on every post (the
PDS limits logins per account). Post: com.atproto.repo.uploadBlob (video/mp4; blobs are addressed by
content, so uploading again is harmless) -> com.atproto.repo.createRecord of an app.bsky.feed.post with an
app.bsky.embed.video embed. Exactly once: the record key (a TID) is chosen here and saved before
createRecord; a retry asks com.atproto.repo.getRecord for that key first and returns the existing post.
Errors are {"error", "message"}; ExpiredToken and InvalidToken mean a new session.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sma.db.tables import utcnow
from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import BlueskyOptions
from sma.services.platforms.credentials import Credentials
from sma.services.platforms.errors import ReauthRequired, Rejected, RetryLater, Unauthorized, reauth_hint
from sma.services.platforms.http import ApiClient, Check, json_body, retry_after
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import Refresher, TokenSource, authorized

POST = "app.bsky.feed.post"
TOKEN_ERRORS = {"ExpiredToken", "InvalidToken"}
ACCOUNT_ERRORS = {"AccountTakedown", "AccountDeactivated", "AuthFactorTokenRequired"}
RATE_LIMIT_DEFAULT_S = 60.0
_B32 = "234567abcdefghijklmnopqrstuvwxyz"
_TAG = re.compile(r"(?<!\w)#(\w+)")


def new_tid(now_us: int | None = None, clock_id: int | None = None) -> str:
    """A record key in the TID format: 53 bits of microseconds and 10 bits of clock id, base32-sortable."""
    micros = now_us if now_us is not None else time.time_ns() // 1000
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id if clock_id is not None else random.randrange(1024))
    return "".join(_B32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def tag_facets(text: str) -> list[dict[str, Any]]:
    """Rich-text facets that make each #hashtag a tag link (offsets are UTF-8 bytes, as the lexicon says)."""
    facets = []
    for match in _TAG.finditer(text):
        start = len(text[:match.start()].encode())
        facets.append({"index": {"byteStart": start, "byteEnd": start + len(match.group(0).encode())},
                       "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": match.group(1)}]})
    return facets


def jwt_expiry(token: str) -> datetime | None:
    """`exp` of a JWT (read, not verified: only to know when to renew)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(data["exp"]), tz=UTC)
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def ratelimit_wait(response: httpx.Response) -> float:
    """Seconds until `ratelimit-reset` (epoch seconds), else Retry-After, else a minute."""
    reset = response.headers.get("ratelimit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - time.time())
    return retry_after(response) or RATE_LIMIT_DEFAULT_S


def xrpc_check(project_id: str, login: bool = False) -> Check:
    def check(response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        body = json_body(response)
        error, message = str(body.get("error") or ""), str(body.get("message") or "")
        if response.status_code == 429:
            raise RetryLater("Bluesky rate limit", ratelimit_wait(response))
        if response.status_code >= 500:
            raise RetryLater(f"Bluesky answered {response.status_code} {error}".strip(), retry_after(response))
        if login and response.status_code in (400, 401):
            raise ReauthRequired(reauth_hint(project_id, "bluesky", "Bluesky refused the handle or app password "
                                             f"({message or error or response.status_code})"))
        if error in TOKEN_ERRORS or response.status_code == 401:
            raise Unauthorized(reauth_hint(project_id, "bluesky", "Bluesky rejected the session"))
        if error in ACCOUNT_ERRORS or response.status_code == 403:
            raise ReauthRequired(reauth_hint(project_id, "bluesky", f"Bluesky refused the account ({error})"))
        raise Rejected(f"Bluesky refused the post ({error or response.status_code}): {message}".rstrip(": "))

    return check


def session_refresher(pds: str) -> Refresher:
    """refreshSession with the stored refresh JWT; when that is gone or expired, a new createSession."""

    async def refresh(http: ApiClient, creds: Credentials) -> Credentials:
        body: dict[str, Any] = {}
        refresh_jwt = creds.reveal("refresh_jwt")
        if refresh_jwt and (jwt_expiry(refresh_jwt) or utcnow() + timedelta(days=1)) > utcnow():
            try:
                response = await http.request("POST", f"{pds}/xrpc/com.atproto.server.refreshSession",
                                              xrpc_check(creds.project_id),
                                              headers={"Authorization": f"Bearer {refresh_jwt}"})
                body = json_body(response)
            except (Unauthorized, Rejected):
                body = {}
        if not body.get("accessJwt"):
            response = await http.request(
                "POST", f"{pds}/xrpc/com.atproto.server.createSession", xrpc_check(creds.project_id, login=True),
                json={"identifier": creds.require("handle"), "password": creds.require("app_password")})
            body = json_body(response)
        access = str(body.get("accessJwt") or "")
        if not access:
            raise RetryLater("Bluesky opened a session without an access token")
        return creds.updated(expires_at=jwt_expiry(access) or utcnow() + timedelta(hours=1), access_jwt=access,
                             refresh_jwt=body.get("refreshJwt"), did=body.get("did"),
                             session_handle=body.get("handle"))

    return refresh


class Bluesky:
    name = "bluesky"

    def __init__(self, pds: str, tokens: TokenSource, options: BlueskyOptions) -> None:
        self.pds = pds.rstrip("/")
        self.tokens = tokens
        self.options = options
        self.check = xrpc_check(tokens.creds.project_id)

    async def _xrpc(self, method: str, nsid: str, check: Check | None = None, **kwargs: Any) -> httpx.Response:
        return await authorized(self.tokens, method, f"{self.pds}/xrpc/{nsid}", check or self.check, **kwargs)

    async def _did(self) -> str:
        await self.tokens.token()
        return self.tokens.creds.require("did")

    # ------------------------------------------------------------ publish

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        did = await self._did()
        rkey = str(ctx.data.get("rkey") or "")
        if rkey and ctx.data.get("did") == did:
            existing = await self._record(did, rkey)
            if existing is not None:
                ctx.notes.append("found the post of the earlier attempt")
                return self._post(str(existing.get("uri") or f"at://{did}/{POST}/{rkey}"), rkey, ctx)
        else:
            rkey = new_tid()
        blob = await self._upload(video)
        record = self._record_of(draft, video, blob)
        await ctx.save(rkey=rkey, did=did)
        response = await self._xrpc("POST", "com.atproto.repo.createRecord",
                                    json={"repo": did, "collection": POST, "rkey": rkey, "record": record})
        uri = str(json_body(response).get("uri") or f"at://{did}/{POST}/{rkey}")
        return self._post(uri, rkey, ctx)

    async def _upload(self, video: VideoFile) -> dict[str, Any]:
        response = await self._xrpc("POST", "com.atproto.repo.uploadBlob", content=video.path.read_bytes(),
                                    headers={"Content-Type": "video/mp4"})
        blob = json_body(response).get("blob")
        if not isinstance(blob, dict):
            raise RetryLater("Bluesky stored the video without returning a blob reference")
        return blob

    def _record_of(self, draft: PostDraft, video: VideoFile, blob: dict[str, Any]) -> dict[str, Any]:
        embed: dict[str, Any] = {"$type": "app.bsky.embed.video", "video": blob, "alt": draft.title}
        if video.width and video.height:
            embed["aspectRatio"] = {"width": video.width, "height": video.height}
        record: dict[str, Any] = {"$type": POST, "text": draft.caption, "embed": embed,
                                  "createdAt": utcnow().isoformat(timespec="milliseconds").replace("+00:00", "Z")}
        facets = tag_facets(draft.caption)
        if facets:
            record["facets"] = facets
        if self.options.language:
            record["langs"] = [self.options.language]
        return record

    async def _record(self, did: str, rkey: str) -> dict[str, Any] | None:
        def lookup(response: httpx.Response) -> None:
            if response.status_code == 400 and json_body(response).get("error") == "RecordNotFound":
                return
            self.check(response)

        response = await self._xrpc("GET", "com.atproto.repo.getRecord", lookup,
                                    params={"repo": did, "collection": POST, "rkey": rkey})
        return None if response.status_code >= 400 else json_body(response)

    def _post(self, uri: str, rkey: str, ctx: PublishContext) -> PostResult:
        handle = self.tokens.creds.reveal("session_handle") or self.tokens.creds.reveal("handle") or ""
        return PostResult(platform=self.name, status="published", external_id=uri,
                          url=f"https://bsky.app/profile/{handle}/post/{rkey}", reason="; ".join(ctx.notes))

    # ------------------------------------------------------------ metrics

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        """Likes, reposts, replies and quotes from app.bsky.feed.getPosts; Bluesky counts no views."""
        response = await self._xrpc("GET", "app.bsky.feed.getPosts", params={"uris": external_id})
        posts = json_body(response).get("posts") or []
        if not posts:
            raise Rejected(f"Bluesky has no post {external_id} (deleted?)")
        p = posts[0]
        quotes = p.get("quoteCount")
        return Metrics(likes=p.get("likeCount"), shares=p.get("repostCount"), comments=p.get("replyCount"),
                       raw={"quotes": float(quotes)} if quotes is not None else {})

    async def aclose(self) -> None:
        await self.tokens.http.close()
