"""Facebook Page video as a Reel, through the Graph API Reels Publishing flow.

Flow: POST /{page-id}/video_reels upload_phase=start -> {video_id, upload_url} (saved before any byte is
sent) -> POST the bytes to rupload with `offset` and `file_size` headers -> POST /{page-id}/video_reels
upload_phase=finish&video_state=PUBLISHED with the description -> poll GET /{video-id}?fields=status until
the publishing phase completes. A retry reads the saved video id's status first: publishing already
started or complete = that is the post; an unfinished upload resumes at `bytes_transferred`; a video
that no longer exists is started over (an unfinished upload never shows on the Page).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import ApiEndpoints
from sma.services.platforms.errors import Rejected, RetryLater
from sma.services.platforms.graph import graph_check, insight_values, lookup_check, missing, number
from sma.services.platforms.http import json_body
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import TokenSource, authorized

LABEL = "Facebook"
INSIGHTS = ("blue_reels_play_count", "post_video_avg_time_watched", "post_video_view_time", "post_video_followers",
            "post_video_social_actions", "post_video_likes_by_reaction_type")


class FacebookReels:
    name = "facebook"

    def __init__(self, api: ApiEndpoints, tokens: TokenSource, page_id: str, poll_interval_s: float = 5.0,
                 poll_timeout_s: float = 600.0) -> None:
        self.api = api
        self.tokens = tokens
        self.page_id = page_id
        self.base = f"{api.graph}/{api.graph_version}"
        self.check = graph_check("facebook", tokens.creds.project_id, LABEL)
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        response = await authorized(self.tokens, method, url, self.check, scheme="OAuth", **kwargs)
        return json_body(response)

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        video_id = ctx.data.get("video_id")
        if video_id:
            status = await self._status(video_id)
            if status is None:
                ctx.notes.append("the earlier upload no longer exists; starting over")
            elif _phase(status, "publishing") in ("in_progress", "complete"):
                return await self._published(video_id, ctx)
            else:
                if _phase(status, "uploading") != "complete":
                    offset = int(status.get("uploading_phase", {}).get("bytes_transferred") or 0)
                    await self._transfer(ctx, video_id, video, offset)
                return await self._finish(draft, video_id, ctx)
        start = await self._call("POST", f"{self.base}/{self.page_id}/video_reels", data={"upload_phase": "start"})
        video_id = str(start.get("video_id") or "")
        if not video_id:
            raise RetryLater("Facebook opened no upload session (no video_id)")
        await ctx.save(video_id=video_id, upload_url=start.get("upload_url") or "")
        await self._transfer(ctx, video_id, video, 0)
        return await self._finish(draft, video_id, ctx)

    async def _status(self, video_id: str) -> dict[str, Any] | None:
        response = await authorized(self.tokens, "GET", f"{self.base}/{video_id}", lookup_check(self.check),
                                    scheme="OAuth", params={"fields": "status"})
        return None if missing(response) else json_body(response).get("status") or {}

    async def _transfer(self, ctx: PublishContext, video_id: str, video: VideoFile, offset: int) -> None:
        default = f"{self.api.facebook_upload}/video-upload/{self.api.graph_version}/{video_id}"
        url = ctx.data.get("upload_url") or default
        with video.path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        body = await self._call("POST", url, content=data, headers={
            "offset": str(offset), "file_size": str(video.size), "Content-Type": "application/octet-stream"})
        if body.get("success") is False:
            raise RetryLater("Facebook did not accept the upload; it will be resumed")

    async def _finish(self, draft: PostDraft, video_id: str, ctx: PublishContext) -> PostResult:
        await ctx.save(finish_requested=True)
        form = {"upload_phase": "finish", "video_id": video_id, "video_state": "PUBLISHED",
                "description": draft.caption, "title": draft.title}
        body = await self._call("POST", f"{self.base}/{self.page_id}/video_reels", data=form)
        if body.get("success") is False:
            raise Rejected("Facebook refused to publish the reel")
        return await self._published(video_id, ctx)

    async def _published(self, video_id: str, ctx: PublishContext) -> PostResult:
        """Wait (bounded) for processing to finish; the reel is on the Page either way."""
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            status = await self._status(video_id) or {}
            phase = _phase(status, "publishing")
            if phase == "complete" or status.get("video_status") == "ready":
                break
            if phase == "error" or _phase(status, "processing") == "error":
                raise Rejected(f"Facebook could not process the reel: {_errors(status)}")
            if time.monotonic() > deadline:
                ctx.notes.append("Facebook is still processing the reel")
                break
            await asyncio.sleep(self.poll_interval_s)
        return PostResult(platform=self.name, status="published", external_id=video_id,
                          url=f"https://www.facebook.com/reel/{video_id}", reason="; ".join(ctx.notes))

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        body = await self._call("GET", f"{self.base}/{external_id}/video_insights",
                                params={"metric": ",".join(INSIGHTS)})
        values = insight_values(body)
        social = {str(k).lower(): v for k, v in (values.get("post_video_social_actions") or {}).items()} \
            if isinstance(values.get("post_video_social_actions"), dict) else {}
        avg_ms, total_ms = values.get("post_video_avg_time_watched"), values.get("post_video_view_time")
        return Metrics(views=number(values.get("blue_reels_play_count")),
                       likes=number(values.get("post_video_likes_by_reaction_type")),
                       comments=number(social.get("comment")), shares=number(social.get("share")),
                       avg_view_s=float(avg_ms) / 1000 if avg_ms is not None else None,
                       watch_time_s=float(total_ms) / 1000 if total_ms is not None else None,
                       followers_gained=number(values.get("post_video_followers")),
                       raw={k: float(v) for k, v in values.items() if isinstance(v, int | float)})

    async def aclose(self) -> None:
        await self.tokens.http.close()


def _phase(status: dict[str, Any], name: str) -> str:
    return str((status.get(f"{name}_phase") or {}).get("status") or "")


def _errors(status: dict[str, Any]) -> str:
    for name in ("processing", "publishing", "uploading"):
        errors = (status.get(f"{name}_phase") or {}).get("errors") or []
        if errors:
            return "; ".join(str(e.get("message", e)) for e in errors)
    return str(status.get("video_status") or "unknown error")
