"""Threads through the Threads API (graph.threads.net): container -> status polling -> threads_publish.

Like Instagram, Threads fetches the video itself from a public URL (publishing.media_host). Flow:
POST /{user-id}/threads media_type=VIDEO&video_url=...&text=... -> container id (saved) -> poll
GET /{container-id}?fields=status,error_message until FINISHED (ERROR fails, EXPIRED starts over) -> POST
/{user-id}/threads_publish creation_id=... -> media id -> GET /{media-id}?fields=permalink. A retry reads the
saved container's status first: PUBLISHED means the post exists and is looked up among the account's latest
threads by its text; FINISHED or IN_PROGRESS continue with the same container, so no second post is made.
Errors use the Graph API format (graph.py).
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import ThreadsOptions
from sma.services.platforms.errors import NotConfigured, Rejected, RetryLater, Uncertain
from sma.services.platforms.graph import graph_check, insight_values, lookup_check, missing, number
from sma.services.platforms.hosting import MediaHost
from sma.services.platforms.http import json_body
from sma.services.platforms.instagram import _parse_time
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import TokenSource, authorized

LABEL = "Threads"
INSIGHTS = ("views", "likes", "replies", "reposts", "quotes", "shares")
LOOKUP_SLACK = timedelta(minutes=10)


class Threads:
    name = "threads"

    def __init__(self, base_url: str, version: str, tokens: TokenSource, user_id: str, options: ThreadsOptions,
                 host: MediaHost | None, poll_interval_s: float = 5.0, poll_timeout_s: float = 600.0) -> None:
        self.base = f"{base_url.rstrip('/')}/{version}"
        self.tokens = tokens
        self.user_id = user_id
        self.options = options
        self.host = host
        self.check = graph_check("threads", tokens.creds.project_id, LABEL)
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        return json_body(await authorized(self.tokens, method, url, self.check, **kwargs))

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        container = ctx.data.get("container_id")
        if container:
            status = await self._container_status(container)
            if status == "PUBLISHED":
                return await self._existing(draft, ctx)
            if status not in ("FINISHED", "IN_PROGRESS"):
                ctx.notes.append(f"the earlier container is {status or 'gone'}; creating a new one")
                container = None
        if not container:
            container = await self._create(draft, video)
            await ctx.save(container_id=container)
        await self._wait_finished(container)
        published = await self._call("POST", f"{self.base}/{self.user_id}/threads_publish",
                                     data={"creation_id": container})
        media_id = str(published.get("id") or "")
        if not media_id:
            raise RetryLater("Threads published without returning a media id")
        return await self._post(media_id, ctx)

    async def _create(self, draft: PostDraft, video: VideoFile) -> str:
        if self.host is None:
            raise NotConfigured("Threads fetches the video from a public URL: set publishing.media_host "
                                "(public_dir, s3 or cloudinary)")
        url = await self.host.url_for(video)
        body = await self._call("POST", f"{self.base}/{self.user_id}/threads",
                                data={"media_type": "VIDEO", "video_url": url, "text": draft.caption})
        container = str(body.get("id") or "")
        if not container:
            raise RetryLater("Threads created no media container")
        return container

    async def _container_status(self, container: str) -> str | None:
        response = await authorized(self.tokens, "GET", f"{self.base}/{container}", lookup_check(self.check),
                                    params={"fields": "status,error_message"})
        return None if missing(response) else str(json_body(response).get("status") or "")

    async def _wait_finished(self, container: str) -> None:
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            body = await self._call("GET", f"{self.base}/{container}", params={"fields": "status,error_message"})
            status = body.get("status")
            if status == "FINISHED":
                return
            if status == "ERROR":
                raise Rejected(f"Threads could not process the video: {body.get('error_message') or 'ERROR'}")
            if status in ("EXPIRED", "PUBLISHED"):
                raise RetryLater(f"the Threads container is {status}; the next attempt resolves it")
            if time.monotonic() > deadline:
                raise RetryLater("Threads is still processing the video")
            await asyncio.sleep(self.poll_interval_s)

    async def _existing(self, draft: PostDraft, ctx: PublishContext) -> PostResult:
        """The container was published by an earlier attempt: find that post among the latest ones."""
        body = await self._call("GET", f"{self.base}/{self.user_id}/threads",
                                params={"fields": "id,text,permalink,timestamp,media_type", "limit": "25"})
        for item in body.get("data") or []:
            when = _parse_time(item.get("timestamp"))
            if (item.get("text") or "").strip() == draft.caption.strip() and (
                    when is None or when >= ctx.started_at - LOOKUP_SLACK):
                ctx.notes.append("found the post of the earlier attempt")
                return PostResult(platform=self.name, status="published", external_id=str(item["id"]),
                                  url=item.get("permalink") or "", reason="; ".join(ctx.notes))
        raise Uncertain("Threads reports the video as published but it is not among the latest posts; "
                        "check the account before posting it again")

    async def _post(self, media_id: str, ctx: PublishContext) -> PostResult:
        body = await self._call("GET", f"{self.base}/{media_id}", params={"fields": "permalink"})
        return PostResult(platform=self.name, status="published", external_id=media_id,
                          url=body.get("permalink") or "", reason="; ".join(ctx.notes))

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        """Media insights: views, likes, replies, reposts + quotes (as shares)."""
        body = await self._call("GET", f"{self.base}/{external_id}/insights", params={"metric": ",".join(INSIGHTS)})
        v = insight_values(body)
        reposts, quotes = number(v.get("reposts")), number(v.get("quotes"))
        shares = None if reposts is None and quotes is None else (reposts or 0) + (quotes or 0)
        return Metrics(views=number(v.get("views")), likes=number(v.get("likes")),
                       comments=number(v.get("replies")), shares=shares,
                       raw={k: float(x) for k, x in v.items() if isinstance(x, int | float)})

    async def aclose(self) -> None:
        await self.tokens.http.close()
