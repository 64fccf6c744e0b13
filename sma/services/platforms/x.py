"""X (Twitter) through API v2 with an OAuth 2.0 user token: chunked media upload, then a post.

Upload: POST /2/media/upload/initialize {media_type, total_bytes, media_category: tweet_video} -> media id
and media_key (saved) -> POST /2/media/upload/{id}/append (multipart `media`, `segment_index`) per chunk ->
POST /2/media/upload/{id}/finalize -> poll GET /2/media/upload?command=STATUS&media_id= while
`processing_info.state` is pending / in_progress. Post: POST /2/tweets {text, media: {media_ids}}.
X has no idempotency key, so `posting` is saved before the post and a retry first looks for a post carrying
the saved media_key among the user's latest posts (GET /2/users/{id}/tweets with attachments); X's own
refusal of duplicate text (403) is the second guard and never becomes a blind second post. Errors are
problem documents {"title", "detail", "status"}; 429 carries x-rate-limit-reset (epoch seconds).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import XOptions
from sma.services.platforms.credentials import Credentials
from sma.services.platforms.errors import ReauthRequired, Rejected, RetryLater, Unauthorized, Uncertain, reauth_hint
from sma.services.platforms.http import ApiClient, Check, json_body, retry_after
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import Refresher, TokenSource, authorized, oauth_check, token_expiry

RATE_LIMIT_DEFAULT_S = 900.0  # X's windows are 15 minutes
LOOKUP_RESULTS = 20
PENDING = ("pending", "in_progress")


class DuplicatePost(Rejected):
    """X refused the text as a duplicate of an earlier post of the account."""


def problem(response: httpx.Response) -> str:
    body = json_body(response)
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return str(body.get("detail") or first.get("message") or first.get("detail") or body.get("title") or "")


def reset_wait(response: httpx.Response) -> float:
    reset = response.headers.get("x-rate-limit-reset")
    if reset and reset.strip().isdigit():
        return max(0.0, float(reset) - time.time())
    return retry_after(response) or RATE_LIMIT_DEFAULT_S


def x_check(project_id: str) -> Check:
    def check(response: httpx.Response) -> None:
        if response.status_code < 300:
            return
        detail = problem(response)
        if response.status_code == 401:
            raise Unauthorized(reauth_hint(project_id, "x", "X rejected the access token"))
        if response.status_code == 429:
            raise RetryLater("X rate limit", reset_wait(response))
        if response.status_code >= 500:
            raise RetryLater(f"X answered {response.status_code}", retry_after(response))
        if response.status_code == 403 and "duplicate" in detail.lower():
            raise DuplicatePost(f"X refused the post as a duplicate: {detail}")
        if response.status_code == 403:
            raise ReauthRequired(reauth_hint(project_id, "x", f"X refused the request ({detail or 'forbidden'}); "
                                             "the token needs tweet.write and media.write"))
        raise Rejected(f"X refused the post ({response.status_code}): {detail}".rstrip(": "))

    return check


def x_refresher(base_url: str) -> Refresher:
    """POST /2/oauth2/token grant_type=refresh_token; X rotates the refresh token on every use."""

    async def refresh(http: ApiClient, creds: Credentials) -> Credentials:
        form = {"grant_type": "refresh_token", "refresh_token": creds.require("refresh_token"),
                "client_id": creds.require("client_id")}
        secret = creds.reveal("client_secret")
        auth = (creds.require("client_id"), secret) if secret else None
        response = await http.request("POST", f"{base_url}/2/oauth2/token", oauth_check("x", creds), data=form,
                                      auth=auth)
        body = json_body(response)
        return creds.updated(expires_at=token_expiry(body), access_token=body["access_token"],
                             refresh_token=body.get("refresh_token"))

    return refresh


class XPosts:
    name = "x"

    def __init__(self, base_url: str, tokens: TokenSource, options: XOptions, poll_interval_s: float = 5.0,
                 poll_timeout_s: float = 600.0) -> None:
        self.base = base_url.rstrip("/")
        self.tokens = tokens
        self.options = options
        self.check = x_check(tokens.creds.project_id)
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s

    async def _call(self, method: str, path: str, check: Check | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await authorized(self.tokens, method, f"{self.base}{path}", check or self.check, **kwargs)
        return json_body(response)

    # ------------------------------------------------------------ publish

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        if ctx.data.get("post_id"):
            return self._post(str(ctx.data["post_id"]), ctx)
        media_key = str(ctx.data.get("media_key") or "")
        if ctx.data.get("posting") and media_key:
            found = await self._find(media_key, ctx)
            if found:
                ctx.notes.append("found the post of the earlier attempt")
                return await self._done(found, ctx)
        media_id = str(ctx.data.get("media_id") or "")
        if not (media_id and ctx.data.get("uploaded") and await self._ready(media_id)):
            media_id, media_key = await self._upload(video, ctx)
        await ctx.save(posting=True)
        try:
            body = await self._call("POST", "/2/tweets",
                                    json={"text": draft.caption, "media": {"media_ids": [media_id]}})
        except DuplicatePost as exc:
            if ctx.data.get("posting_attempts"):
                raise Uncertain(f"{exc}; an earlier attempt probably posted it but it is not among the latest "
                                "posts: check the account before posting again") from None
            raise
        finally:
            await ctx.save(posting_attempts=int(ctx.data.get("posting_attempts") or 0) + 1)
        post_id = str((body.get("data") or {}).get("id") or "")
        if not post_id:
            raise RetryLater("X accepted the post without returning its id")
        return await self._done(post_id, ctx)

    async def _upload(self, video: VideoFile, ctx: PublishContext) -> tuple[str, str]:
        init = (await self._call("POST", "/2/media/upload/initialize",
                                 json={"media_type": "video/mp4", "total_bytes": video.size,
                                       "media_category": "tweet_video"})).get("data") or {}
        media_id, media_key = str(init.get("id") or ""), str(init.get("media_key") or "")
        if not media_id:
            raise RetryLater("X opened no media upload")
        await ctx.save(media_id=media_id, media_key=media_key, uploaded=False, posting=False)
        chunk = max(1, int(self.options.chunk_mb * 1024 * 1024))
        with video.path.open("rb") as fh:
            index = 0
            while data := fh.read(chunk):
                await self._call("POST", f"/2/media/upload/{media_id}/append", data={"segment_index": str(index)},
                                 files={"media": ("chunk", data, "application/octet-stream")})
                index += 1
        final = (await self._call("POST", f"/2/media/upload/{media_id}/finalize")).get("data") or {}
        await ctx.save(uploaded=True)
        await self._wait(media_id, final.get("processing_info"))
        return media_id, media_key

    async def _status(self, media_id: str) -> dict[str, Any]:
        body = await self._call("GET", "/2/media/upload", params={"command": "STATUS", "media_id": media_id})
        info = (body.get("data") or {}).get("processing_info")
        return info if isinstance(info, dict) else {"state": "succeeded"}

    async def _ready(self, media_id: str) -> bool:
        """An earlier upload that X still has and processed (or is processing) is used again."""
        try:
            await self._wait(media_id, await self._status(media_id))
        except Rejected:
            return False
        return True

    async def _wait(self, media_id: str, info: dict[str, Any] | None) -> None:
        deadline = time.monotonic() + self.poll_timeout_s
        while isinstance(info, dict) and info.get("state") in PENDING:
            if time.monotonic() > deadline:
                raise RetryLater("X is still processing the video")
            wait = info.get("check_after_secs")
            await asyncio.sleep(min(float(wait), self.poll_interval_s) if wait else self.poll_interval_s)
            info = await self._status(media_id)
        if isinstance(info, dict) and info.get("state") == "failed":
            error = info.get("error") or {}
            raise Rejected(f"X could not process the video: {error.get('message') or error.get('name') or 'failed'}")

    async def _find(self, media_key: str, ctx: PublishContext) -> str | None:
        user_id = str(ctx.data.get("user_id") or "")
        if not user_id:
            user_id = str(((await self._call("GET", "/2/users/me")).get("data") or {}).get("id") or "")
            await ctx.save(user_id=user_id)
        body = await self._call("GET", f"/2/users/{user_id}/tweets",
                                params={"max_results": str(LOOKUP_RESULTS), "tweet.fields": "attachments,created_at",
                                        "exclude": "replies,retweets"})
        for tweet in body.get("data") or []:
            if media_key in ((tweet.get("attachments") or {}).get("media_keys") or []):
                return str(tweet["id"])
        return None

    async def _done(self, post_id: str, ctx: PublishContext) -> PostResult:
        await ctx.save(post_id=post_id)
        return self._post(post_id, ctx)

    def _post(self, post_id: str, ctx: PublishContext) -> PostResult:
        return PostResult(platform=self.name, status="published", external_id=post_id,
                          url=f"https://x.com/i/status/{post_id}", reason="; ".join(ctx.notes))

    # ------------------------------------------------------------ metrics

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        """public_metrics of the post; impressions only where the app's access tier includes them."""
        body = await self._call("GET", f"/2/tweets/{external_id}", params={"tweet.fields": "public_metrics"})
        m = (body.get("data") or {}).get("public_metrics")
        if not isinstance(m, dict):
            raise Rejected(f"X has no post {external_id} (deleted?)")
        shares = None
        if m.get("retweet_count") is not None or m.get("quote_count") is not None:
            shares = int(m.get("retweet_count") or 0) + int(m.get("quote_count") or 0)
        return Metrics(views=m.get("impression_count"), likes=m.get("like_count"), comments=m.get("reply_count"),
                       shares=shares, saves=m.get("bookmark_count"))

    async def aclose(self) -> None:
        await self.tokens.http.close()
