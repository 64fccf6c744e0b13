"""Instagram Reels through the Graph API content publishing flow: container -> status polling -> publish.

Instagram fetches the video itself from a public URL, so the video first goes to the media host. Flow:
POST /{ig-user-id}/media media_type=REELS&video_url=...&caption=... -> container id (saved) -> poll
GET /{container-id}?fields=status_code until FINISHED (ERROR fails, EXPIRED starts over) -> POST
/{ig-user-id}/media_publish creation_id=... -> media id -> GET /{media-id}?fields=permalink. A retry reads
the saved container's status first: PUBLISHED means the post exists and is looked up among the account's
latest media by its caption; FINISHED or IN_PROGRESS continue with the same container.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import ApiEndpoints, InstagramOptions
from sma.services.platforms.errors import NotConfigured, Rejected, RetryLater, Uncertain
from sma.services.platforms.graph import graph_check, insight_values, lookup_check, missing, number
from sma.services.platforms.hosting import MediaHost
from sma.services.platforms.http import json_body
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import TokenSource, authorized

LABEL = "Instagram"
INSIGHTS = ("views", "reach", "likes", "comments", "shares", "saved", "total_interactions",
            "ig_reels_avg_watch_time", "ig_reels_video_view_total_time")
LOOKUP_SLACK = timedelta(minutes=10)


class InstagramReels:
    name = "instagram"

    def __init__(self, api: ApiEndpoints, tokens: TokenSource, ig_user_id: str, options: InstagramOptions,
                 host: MediaHost | None, poll_interval_s: float = 5.0, poll_timeout_s: float = 600.0) -> None:
        self.api = api
        self.tokens = tokens
        self.ig_user_id = ig_user_id
        self.options = options
        self.host = host
        self.base = f"{api.graph}/{api.graph_version}"
        self.check = graph_check("instagram", tokens.creds.project_id, LABEL)
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await authorized(self.tokens, method, url, self.check, scheme="OAuth", **kwargs)
        return json_body(response)

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
        await ctx.save(publish_requested=True)
        published = await self._call("POST", f"{self.base}/{self.ig_user_id}/media_publish",
                                     data={"creation_id": container})
        media_id = str(published.get("id") or "")
        if not media_id:
            raise RetryLater("Instagram published without returning a media id")
        return await self._post(media_id, ctx)

    async def _create(self, draft: PostDraft, video: VideoFile) -> str:
        if self.host is None:
            raise NotConfigured("Instagram fetches the video from a public URL: set publishing.media_host "
                                "(public_dir, s3 or cloudinary)")
        url = await self.host.url_for(video)
        form = {"media_type": "REELS", "video_url": url, "caption": draft.caption,
                "share_to_feed": "true" if self.options.share_to_feed else "false"}
        if draft.cover_ms is not None:
            form["thumb_offset"] = str(draft.cover_ms)
        body = await self._call("POST", f"{self.base}/{self.ig_user_id}/media", data=form)
        container = str(body.get("id") or "")
        if not container:
            raise RetryLater("Instagram created no media container")
        return container

    async def _container_status(self, container: str) -> str | None:
        response = await authorized(self.tokens, "GET", f"{self.base}/{container}", lookup_check(self.check),
                                    scheme="OAuth", params={"fields": "status_code,status"})
        return None if missing(response) else str(json_body(response).get("status_code") or "")

    async def _wait_finished(self, container: str) -> None:
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            body = await self._call("GET", f"{self.base}/{container}", params={"fields": "status_code,status"})
            code = body.get("status_code")
            if code == "FINISHED":
                return
            if code == "ERROR":
                raise Rejected(f"Instagram could not process the video: {body.get('status') or 'ERROR'}")
            if code in ("EXPIRED", "PUBLISHED"):
                raise RetryLater(f"the Instagram container is {code}; the next attempt resolves it")
            if time.monotonic() > deadline:
                raise RetryLater("Instagram is still processing the video")
            await asyncio.sleep(self.poll_interval_s)

    async def _existing(self, draft: PostDraft, ctx: PublishContext) -> PostResult:
        """The container was published by an earlier attempt: find that media among the latest ones."""
        body = await self._call("GET", f"{self.base}/{self.ig_user_id}/media",
                                params={"fields": "id,caption,permalink,timestamp", "limit": "25"})
        for item in body.get("data") or []:
            when = _parse_time(item.get("timestamp"))
            if (item.get("caption") or "").strip() == draft.caption.strip() and (
                    when is None or when >= ctx.started_at - LOOKUP_SLACK):
                ctx.notes.append("found the post of the earlier attempt")
                return PostResult(platform=self.name, status="published", external_id=str(item["id"]),
                                  url=item.get("permalink") or "", reason="; ".join(ctx.notes))
        raise Uncertain("Instagram reports the video as published but it is not among the latest posts; "
                        "check the account before posting it again")

    async def _post(self, media_id: str, ctx: PublishContext) -> PostResult:
        body = await self._call("GET", f"{self.base}/{media_id}", params={"fields": "permalink"})
        return PostResult(platform=self.name, status="published", external_id=media_id,
                          url=body.get("permalink") or f"https://www.instagram.com/reel/{media_id}/",
                          reason="; ".join(ctx.notes))

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        body = await self._call("GET", f"{self.base}/{external_id}/insights", params={"metric": ",".join(INSIGHTS)})
        v = insight_values(body)
        avg_ms, total_ms = v.get("ig_reels_avg_watch_time"), v.get("ig_reels_video_view_total_time")
        return Metrics(views=number(v.get("views")), likes=number(v.get("likes")),
                       comments=number(v.get("comments")), shares=number(v.get("shares")),
                       saves=number(v.get("saved")),
                       avg_view_s=float(avg_ms) / 1000 if avg_ms is not None else None,
                       watch_time_s=float(total_ms) / 1000 if total_ms is not None else None,
                       raw={k: float(x) for k, x in v.items() if isinstance(x, int | float)})

    async def aclose(self) -> None:
        await self.tokens.http.close()


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
