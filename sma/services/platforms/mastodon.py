"""Mastodon through its official Python SDK (Mastodon.py), pointed at the account's instance.

Flow: POST /api/v2/media (202, processed in the background; the media id is saved) -> poll
GET /api/v1/media/:id until it has a `url` (206 while processing) -> POST /api/v1/statuses with the media
id and an `Idempotency-Key` header. The key is derived from the run and the media id and saved, with
`posting`, before the status call. A retry that finds `posting` first looks for a status carrying the saved
media among the account's latest statuses; if none is there it posts again with the same key, for which the
server returns the first status instead of a second one (it keeps keys for an hour; the lookup covers
longer gaps). Mastodon.py is synchronous, so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from mastodon import Mastodon as MastodonClient
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import MastodonOptions
from sma.services.platforms.errors import (
    NoAnswer,
    ReauthRequired,
    Rejected,
    RetryLater,
    Unauthorized,
    Uncertain,
    reauth_hint,
)
from sma.services.platforms.http import INLINE_ATTEMPTS, scrub
from sma.services.platforms.metadata import PostDraft

T = TypeVar("T")
RATE_LIMIT_DEFAULT_S = 60.0
SDK_VERSION_FLOOR = "4.0.0"  # v2 media and idempotency keys; skips the SDK's version probe
LOOKUP_LIMIT = 40


def _status_of(exc: MastodonAPIError) -> int:
    return next((a for a in exc.args if isinstance(a, int)), 0)


def _message_of(exc: MastodonAPIError) -> str:
    args = [a for a in exc.args if isinstance(a, str)]
    return args[-1] if len(args) > 1 else ""


class Mastodon:
    name = "mastodon"

    def __init__(self, instance_url: str, access_token: str, options: MastodonOptions, project_id: str,
                 timeout_s: float = 120.0, inline_max_s: float = 10.0, poll_interval_s: float = 5.0,
                 poll_timeout_s: float = 600.0) -> None:
        self.instance_url = instance_url.rstrip("/")
        self._token = access_token
        self.options = options
        self.project_id = project_id
        self.inline_max_s = inline_max_s
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s
        self.client = MastodonClient(access_token=access_token, api_base_url=self.instance_url,
                                     mastodon_version=SDK_VERSION_FLOOR, version_check_mode="created",
                                     ratelimit_method="throw", request_timeout=timeout_s, user_agent="sma")

    # ------------------------------------------------------------ errors

    def _mapped(self, exc: MastodonError) -> Exception:
        if isinstance(exc, MastodonNetworkError):
            return NoAnswer("Mastodon: network error or timeout")
        if isinstance(exc, MastodonRatelimitError):
            reset = getattr(self.client, "ratelimit_reset", None)
            wait = max(0.0, float(reset) - time.time()) if reset else RATE_LIMIT_DEFAULT_S
            return RetryLater("Mastodon rate limit", wait)
        if isinstance(exc, MastodonUnauthorizedError):
            return Unauthorized(reauth_hint(self.project_id, "mastodon", "Mastodon rejected the access token"))
        if isinstance(exc, MastodonServerError):
            return RetryLater(f"Mastodon answered {_status_of(exc) or 'a server error'}")
        if isinstance(exc, MastodonAPIError):
            status, message = _status_of(exc), scrub(_message_of(exc), self._token)
            if status == 403:
                return ReauthRequired(reauth_hint(self.project_id, "mastodon",
                                                  f"Mastodon refused the action ({message or 'forbidden'}); the "
                                                  "token needs the write scope"))
            if status == 429:
                return RetryLater("Mastodon rate limit", RATE_LIMIT_DEFAULT_S)
            return Rejected(f"Mastodon refused the post ({status}): {message}".rstrip(": "))
        return Rejected(f"Mastodon: {scrub(str(exc), self._token)}")

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call in a thread; a short rate-limit wait is absorbed here like ApiClient does."""
        for attempt in range(1, INLINE_ATTEMPTS + 1):
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except MastodonError as exc:
                mapped = self._mapped(exc)
                wait = mapped.retry_after if isinstance(mapped, RetryLater) else None
                refused = isinstance(exc, MastodonRatelimitError)  # a 429 was not applied: safe to repeat
                if refused and wait is not None and wait <= self.inline_max_s and attempt < INLINE_ATTEMPTS:
                    await asyncio.sleep(wait)
                    continue
                raise mapped from None
        raise AssertionError("unreachable")

    async def _lookup(self, fn: Callable[..., T], *args: Any) -> T | None:
        """Like `_call`, but a 404 is an answer (None), not an error."""
        try:
            return await asyncio.to_thread(fn, *args)
        except MastodonNotFoundError:
            return None
        except MastodonError as exc:
            raise self._mapped(exc) from None

    # ------------------------------------------------------------ publish

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        if ctx.data.get("status_id"):
            return self._post(ctx.data["status_id"], ctx.data.get("url") or "", ctx)
        media_id = str(ctx.data.get("media_id") or "")
        if ctx.data.get("posting") and media_id:
            found = await self._find(media_id)
            if found is not None:
                ctx.notes.append("found the post of the earlier attempt")
                return await self._done(found, ctx)
        if media_id and not await self._wait_processed(media_id, missing_ok=True):
            if ctx.data.get("posting"):
                raise Uncertain("the video of the earlier Mastodon attempt is attached to a status that is not "
                                "among the account's latest posts; check the account before posting it again")
            ctx.notes.append("the earlier upload is gone; uploading again")
            media_id = ""
        if not media_id:
            media = await self._call(self.client.media_post, str(video.path), mime_type="video/mp4",
                                     description=draft.title)
            media_id = str(media["id"])
            await ctx.save(media_id=media_id, posting=False)
            await self._wait_processed(media_id)
        key = f"sma-{ctx.request.run_id}-{media_id}"
        await ctx.save(posting=True, idempotency_key=key)
        status = await self._call(self.client.status_post, draft.caption, media_ids=[media_id],
                                  visibility=self.options.visibility, language=self.options.language or None,
                                  idempotency_key=key)
        return await self._done(status, ctx)

    async def _wait_processed(self, media_id: str, missing_ok: bool = False) -> bool:
        """Poll until the instance has processed the video; False when it no longer exists (`missing_ok`)."""
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            media = await self._lookup(self.client.media, media_id)
            if media is None:
                if missing_ok:
                    return False
                raise RetryLater("Mastodon lost the uploaded video; the next attempt uploads it again")
            if media.get("url"):
                return True
            if time.monotonic() > deadline:
                raise RetryLater("Mastodon is still processing the video")
            await asyncio.sleep(self.poll_interval_s)

    async def _find(self, media_id: str) -> dict[str, Any] | None:
        """The account's latest status carrying `media_id`, if an earlier attempt posted it."""
        account = await self._call(self.client.account_verify_credentials)
        statuses = await self._call(self.client.account_statuses, account["id"], limit=LOOKUP_LIMIT,
                                    exclude_replies=True, exclude_reblogs=True)
        for status in statuses or []:
            if any(str(m.get("id")) == media_id for m in status.get("media_attachments") or []):
                return dict(status)
        return None

    async def _done(self, status: dict[str, Any], ctx: PublishContext) -> PostResult:
        status_id, url = str(status["id"]), str(status.get("url") or status.get("uri") or "")
        await ctx.save(status_id=status_id, url=url)
        return self._post(status_id, url, ctx)

    def _post(self, status_id: str, url: str, ctx: PublishContext) -> PostResult:
        return PostResult(platform=self.name, status="published", external_id=status_id, url=url,
                          reason="; ".join(ctx.notes))

    # ------------------------------------------------------------ metrics

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        """Favourites, boosts and replies of the status; Mastodon counts no views."""
        status = await self._lookup(self.client.status, external_id)
        if status is None:
            raise Rejected(f"Mastodon has no status {external_id} (deleted?)")
        return Metrics(likes=status.get("favourites_count"), shares=status.get("reblogs_count"),
                       comments=status.get("replies_count"))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.client.session.close)
