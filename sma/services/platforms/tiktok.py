"""TikTok through the Content Posting API: direct post or a draft in the creator's inbox.

Direct post: POST /v2/post/publish/creator_info/query/ (allowed privacy levels, longest allowed video) ->
POST /v2/post/publish/video/init/ with post_info and source_info FILE_UPLOAD -> {publish_id, upload_url}
(saved before any byte is sent) -> PUT the chunks with Content-Range (206 until the last, 201) -> poll
POST /v2/post/publish/status/fetch/ until PUBLISH_COMPLETE. Inbox mode uses /inbox/video/init/ and ends
at SEND_TO_USER_INBOX. TikTok posts on its own once the last byte arrives, so a retry asks the saved
publish id first: complete = the post; still uploading = resume from `uploaded_bytes`; no publish id =
nothing was created yet. Errors come as {"error": {"code", "message", "log_id"}}.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from sma.db.tables import utcnow
from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import ApiEndpoints, TikTokOptions
from sma.services.platforms.errors import ReauthRequired, Rejected, RetryLater, Unauthorized, reauth_hint
from sma.services.platforms.http import json_body, retry_after
from sma.services.platforms.media import MediaPreparer
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import TokenSource, authorized

MIN_CHUNK = 5 * 1024 * 1024
UPLOAD_URL_TTL = timedelta(minutes=55)  # TikTok's upload URLs are valid for one hour
DONE = ("PUBLISH_COMPLETE", "SEND_TO_USER_INBOX")
REAUTH_CODES = {"scope_not_authorized", "scope_permission_missed"}
RETRY_CODES = {"rate_limit_exceeded", "internal_error"}


def chunk_plan(size: int, preferred: int) -> tuple[int, int]:
    """(chunk_size, total_chunk_count) by TikTok's rules: under 5 MB one piece; the last chunk takes the rest."""
    if size < MIN_CHUNK or size <= preferred:
        return size, 1
    return preferred, size // preferred


def chunk_range(index: int, chunk: int, count: int, size: int) -> tuple[int, int]:
    start = index * chunk
    end = size - 1 if index == count - 1 else start + chunk - 1
    return start, end


class TikTok:
    name = "tiktok"

    def __init__(self, api: ApiEndpoints, tokens: TokenSource, options: TikTokOptions, media: MediaPreparer,
                 poll_interval_s: float = 5.0, poll_timeout_s: float = 600.0) -> None:
        self.api = api
        self.tokens = tokens
        self.options = options
        self.media = media
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s

    def check(self, response: httpx.Response) -> None:
        body = json_body(response)
        found = body.get("error")
        error = found if isinstance(found, dict) else {}
        code, message = str(error.get("code") or ""), str(error.get("message") or "")
        if response.status_code < 300 and code in ("", "ok"):
            return
        project = self.tokens.creds.project_id
        if code == "access_token_invalid" or (response.status_code == 401 and code not in REAUTH_CODES):
            raise Unauthorized(reauth_hint(project, "tiktok", "TikTok rejected the access token"))
        if code in REAUTH_CODES:
            raise ReauthRequired(reauth_hint(project, "tiktok", f"TikTok says a permission is missing ({code})"))
        if code in RETRY_CODES or response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"TikTok answered {response.status_code} {code}".strip(),
                             retry_after(response) or (60.0 if code == "rate_limit_exceeded" else None))
        raise Rejected(f"TikTok rejected the post ({code or response.status_code}): {message}".rstrip(": "))

    async def _api(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await authorized(self.tokens, "POST", f"{self.api.tiktok}{path}", self.check,
                                    json=payload if payload is not None else {},
                                    headers={"Content-Type": "application/json; charset=UTF-8"})
        data = json_body(response).get("data")
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------ publish

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        publish_id = ctx.data.get("publish_id")
        if publish_id:
            if ctx.data.get("cap_s"):
                video = await self.media.fit(video, self.name, float(ctx.data["cap_s"]), "recut")
            resumed = await self._resume(publish_id, video, ctx)
            if resumed is not None:
                return resumed
        video = await self._prepare(video, ctx)
        inbox = self.options.mode == "inbox"
        source = self._source(video)
        if inbox:
            data = await self._api("/v2/post/publish/inbox/video/init/", {"source_info": source})
        else:
            data = await self._api("/v2/post/publish/video/init/",
                                   {"post_info": self._post_info(draft), "source_info": source})
        publish_id, upload_url = str(data.get("publish_id") or ""), str(data.get("upload_url") or "")
        if not publish_id or not upload_url:
            raise RetryLater("TikTok returned no publish id or upload URL")
        await ctx.save(publish_id=publish_id, upload_url=upload_url, upload_url_at=utcnow().isoformat(),
                       mode=self.options.mode)
        await self._upload(upload_url, video, 0)
        return await self._wait(publish_id, ctx)

    async def _prepare(self, video: VideoFile, ctx: PublishContext) -> VideoFile:
        """Direct posts: check the account's privacy options and its longest allowed video first."""
        if self.options.mode == "inbox":
            return video
        info = await self._api("/v2/post/publish/creator_info/query/")
        allowed = info.get("privacy_level_options") or []
        if allowed and self.options.privacy not in allowed:
            raise Rejected(f"this TikTok account cannot post with privacy {self.options.privacy}; it allows "
                           f"{', '.join(allowed)} (set publishing.tiktok.privacy)")
        cap = self.options.max_duration_s or info.get("max_video_post_duration_sec")
        if info.get("creator_username"):
            await ctx.save(username=info["creator_username"])
        if cap and video.duration_s > float(cap) + 0.05:
            video = await self.media.fit(video, self.name, float(cap), self.options.on_too_long)
            await ctx.save(cap_s=float(cap))
        return video

    def _source(self, video: VideoFile) -> dict[str, Any]:
        chunk, count = chunk_plan(video.size, self.options.chunk_mb * 1024 * 1024)
        return {"source": "FILE_UPLOAD", "video_size": video.size, "chunk_size": chunk, "total_chunk_count": count}

    def _post_info(self, draft: PostDraft) -> dict[str, Any]:
        info: dict[str, Any] = {"title": draft.caption, "privacy_level": draft.privacy or self.options.privacy,
                                "disable_comment": self.options.disable_comment,
                                "disable_duet": self.options.disable_duet,
                                "disable_stitch": self.options.disable_stitch}
        if draft.cover_ms is not None:
            info["video_cover_timestamp_ms"] = draft.cover_ms
        return info

    async def _resume(self, publish_id: str, video: VideoFile, ctx: PublishContext) -> PostResult | None:
        status = await self._status(publish_id)
        state = status.get("status")
        if state in DONE:
            return self._post(publish_id, status, ctx)
        if state == "FAILED":
            raise Rejected(f"TikTok could not post the video: {status.get('fail_reason') or 'FAILED'}")
        uploaded = int(status.get("uploaded_bytes") or 0)
        if uploaded >= video.size or state in ("PROCESSING_DOWNLOAD",):
            return await self._wait(publish_id, ctx)
        url_at = ctx.data.get("upload_url_at")
        if ctx.data.get("upload_url") and url_at and utcnow() - datetime.fromisoformat(url_at) < UPLOAD_URL_TTL:
            await self._upload(ctx.data["upload_url"], video, uploaded)
            return await self._wait(publish_id, ctx)
        ctx.notes.append("the earlier upload expired before it finished; starting over")
        return None  # an upload that never completed creates no post on TikTok

    async def _upload(self, url: str, video: VideoFile, uploaded: int) -> None:
        chunk, count = chunk_plan(video.size, self.options.chunk_mb * 1024 * 1024)
        with video.path.open("rb") as fh:
            for index in range(uploaded // chunk if chunk else 0, count):
                start, end = chunk_range(index, chunk, count, video.size)
                fh.seek(start)
                data = fh.read(end - start + 1)
                await self.tokens.http.request(
                    "PUT", url, self._upload_check, content=data,
                    headers={"Content-Type": "video/mp4", "Content-Range": f"bytes {start}-{end}/{video.size}"})

    def _upload_check(self, response: httpx.Response) -> None:
        if response.status_code in (200, 201, 206):
            return
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(f"TikTok upload answered {response.status_code}", retry_after(response))
        raise RetryLater(f"TikTok refused an upload chunk ({response.status_code}); the upload restarts")

    async def _status(self, publish_id: str) -> dict[str, Any]:
        return await self._api("/v2/post/publish/status/fetch/", {"publish_id": publish_id})

    async def _wait(self, publish_id: str, ctx: PublishContext) -> PostResult:
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            status = await self._status(publish_id)
            state = status.get("status")
            if state in DONE:
                return self._post(publish_id, status, ctx)
            if state == "FAILED":
                raise Rejected(f"TikTok could not post the video: {status.get('fail_reason') or 'FAILED'}")
            if time.monotonic() > deadline:
                ctx.notes.append("TikTok is still processing the video; the link appears after moderation")
                return PostResult(platform=self.name, status="published", external_id=publish_id,
                                  reason="; ".join(ctx.notes))
            await asyncio.sleep(self.poll_interval_s)

    def _post(self, publish_id: str, status: dict[str, Any], ctx: PublishContext) -> PostResult:
        if status.get("status") == "SEND_TO_USER_INBOX":
            ctx.notes.append("sent to the TikTok inbox as a draft: open TikTok to finish the post")
            return PostResult(platform=self.name, status="published", external_id=publish_id,
                              reason="; ".join(ctx.notes))
        ids = status.get("publicaly_available_post_id") or status.get("publicly_available_post_id") or []
        post_id = str(ids[0]) if ids else ""
        if not post_id:
            ctx.notes.append("TikTok published the video; its link appears after moderation")
            return PostResult(platform=self.name, status="published", external_id=publish_id,
                              reason="; ".join(ctx.notes))
        user = ctx.data.get("username") or ""
        url = f"https://www.tiktok.com/@{user}/video/{post_id}" if user else f"https://www.tiktok.com/video/{post_id}"
        return PostResult(platform=self.name, status="published", external_id=post_id, url=url,
                          reason="; ".join(ctx.notes))

    # ------------------------------------------------------------ metrics

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        post_id = external_id
        if external_id == progress.get("publish_id"):
            ids = (await self._status(external_id)).get("publicaly_available_post_id") or []
            if not ids:
                raise RetryLater("the TikTok post has no public id yet (moderation or inbox draft)")
            post_id = str(ids[0])
        response = await authorized(
            self.tokens, "POST", f"{self.api.tiktok}/v2/video/query/", self.check,
            params={"fields": "id,view_count,like_count,comment_count,share_count"},
            json={"filters": {"video_ids": [post_id]}})
        videos = (json_body(response).get("data") or {}).get("videos") or []
        if not videos:
            raise Rejected(f"TikTok has no video {post_id} (deleted or private?)")
        v = videos[0]
        return Metrics(views=v.get("view_count"), likes=v.get("like_count"), comments=v.get("comment_count"),
                       shares=v.get("share_count"))

    async def aclose(self) -> None:
        await self.tokens.http.close()
