"""YouTube Shorts through the Data API v3 resumable upload protocol, with OAuth refresh tokens.

Flow: POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status with the video resource
-> 200 and a session URI in `Location` (saved in the publish record before any byte is sent) -> PUT the
bytes in chunks with Content-Range -> 308 Resume Incomplete (Range: bytes=0-N) until the last chunk, which
answers 200/201 with the video resource. A retry asks the saved session where it stands
(PUT, `Content-Range: bytes */SIZE`): 200/201 = already uploaded (that is the post), 308 = resume from
the Range, 404 = session gone (then the channel's recent uploads are checked for the same title before
starting over). Metrics: videos.list statistics plus the YouTube Analytics report for watch time.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sma.db.tables import utcnow
from sma.models.analytics import Metrics
from sma.models.pipeline import PostResult
from sma.services.platforms.base import PublishContext, VideoFile
from sma.services.platforms.config import ApiEndpoints, YouTubeOptions
from sma.services.platforms.errors import (
    PlatformError,
    ReauthRequired,
    Rejected,
    RetryLater,
    Unauthorized,
    reauth_hint,
)
from sma.services.platforms.http import json_body, retry_after
from sma.services.platforms.metadata import PostDraft
from sma.services.platforms.oauth import TokenSource, authorized
from sma.settings import BrandKit

CHUNK = 256 * 1024  # the protocol wants chunks in multiples of 256 KiB
QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "uploadLimitExceeded"}
RATE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "backendError"}
RECENT_UPLOAD_SLACK = timedelta(minutes=10)


def _reason(body: dict[str, Any]) -> tuple[str, str]:
    found = body.get("error")
    error = found if isinstance(found, dict) else {}
    errors = error.get("errors") or [{}]
    return str(errors[0].get("reason", "")), str(error.get("message", ""))


class YouTube:
    name = "youtube"

    def __init__(self, api: ApiEndpoints, tokens: TokenSource, options: YouTubeOptions,
                 chunk_bytes: int = 32 * CHUNK, brand: BrandKit | None = None) -> None:
        self.brand = brand or BrandKit()
        self.api = api
        self.tokens = tokens
        self.options = options
        self.chunk_bytes = max(CHUNK, chunk_bytes - chunk_bytes % CHUNK)

    # ------------------------------------------------------------ errors

    def check(self, response: httpx.Response) -> None:
        """Map a Data API answer: 2xx and 308 pass; quota and bad metadata fail; rate limits retry."""
        status = response.status_code
        if status < 300 or status == 308:
            return
        reason, message = _reason(json_body(response))
        project = self.tokens.creds.project_id
        if status == 401:
            raise Unauthorized(reauth_hint(project, "youtube", "YouTube rejected the access token"))
        if status == 429 or reason in RATE_REASONS or status >= 500:
            raise RetryLater(f"YouTube answered {status} {reason}".strip(), retry_after(response))
        if reason in QUOTA_REASONS:
            raise Rejected(f"YouTube API quota exhausted ({reason}); it resets at midnight Pacific time")
        if status == 403:
            raise ReauthRequired(reauth_hint(project, "youtube", f"YouTube refused the request ({reason or message})"))
        raise Rejected(f"YouTube rejected the video: {message or reason or status}")

    def _session_check(self, response: httpx.Response) -> None:
        if response.status_code in (404, 410):
            return  # the caller treats an expired session as "start again"
        self.check(response)

    # ------------------------------------------------------------ publish

    async def publish(self, draft: PostDraft, video: VideoFile, ctx: PublishContext) -> PostResult:
        session = ctx.data.get("session_uri")
        if session:
            response = await self._query(session, video.size)
            if response.status_code in (200, 201):
                return await self._finish(json_body(response), ctx)
            if response.status_code == 308:
                return await self._finish(await self._upload(session, video, _next_offset(response)), ctx)
            found = await self._recent_upload(draft.title, ctx.started_at)
            if found:
                ctx.notes.append("found the earlier upload on the channel")
                return await self._finish({"id": found}, ctx)
            ctx.notes.append("the earlier upload session expired; starting a new one")
        session = await self._start(draft, video)
        await ctx.save(session_uri=session, session_created=utcnow().isoformat())
        return await self._finish(await self._upload(session, video, 0), ctx)

    async def _finish(self, resource: dict[str, Any], ctx: PublishContext) -> PostResult:
        """The post for an uploaded video, however the upload ended (in one go, resumed, found on the
        channel): each path sets the thumbnail, once per video (`thumbnail_for` in the progress)."""
        video_id = str(resource.get("id") or "")
        if video_id and ctx.data.get("thumbnail_for") != video_id:
            await self._thumbnail(video_id, ctx)
        return self._post(resource, ctx)

    async def _thumbnail(self, video_id: str, ctx: PublishContext) -> None:
        """The hook on the brand as the custom thumbnail; best effort: a refusal is a note, the post stands
        (channels must be verified to set thumbnails)."""
        hook = ctx.request.script.hook.strip()
        if not (self.options.thumbnail and video_id and hook):
            return
        from sma.services.media.cover import cover_png

        try:
            await authorized(self.tokens, "POST", f"{self.api.youtube}/upload/youtube/v3/thumbnails/set", self.check,
                             params={"videoId": video_id}, content=cover_png(hook, "youtube", self.brand),
                             headers={"Content-Type": "image/png"})  # fmt: skip
        except (PlatformError, httpx.HTTPError) as exc:
            ctx.notes.append(f"thumbnail not set: {exc}")
            return
        await ctx.save(thumbnail_for=video_id)

    async def _start(self, draft: PostDraft, video: VideoFile) -> str:
        resource = {
            "snippet": {"title": draft.title, "description": draft.caption, "tags": draft.tags,
                        "categoryId": self.options.category_id},
            "status": {"privacyStatus": draft.privacy or self.options.privacy,
                       "selfDeclaredMadeForKids": draft.made_for_kids},
        }
        response = await authorized(
            self.tokens, "POST", f"{self.api.youtube}/upload/youtube/v3/videos", self.check,
            params={"uploadType": "resumable", "part": "snippet,status"},
            content=json.dumps(resource).encode(),
            headers={"Content-Type": "application/json; charset=UTF-8",
                     "X-Upload-Content-Length": str(video.size), "X-Upload-Content-Type": "video/mp4"})
        location: str | None = response.headers.get("location")
        if not location:
            raise RetryLater("YouTube opened no upload session (no Location header)")
        return location

    async def _query(self, session: str, size: int) -> httpx.Response:
        return await authorized(self.tokens, "PUT", session, self._session_check,
                                headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"})

    async def _upload(self, session: str, video: VideoFile, offset: int) -> dict[str, Any]:
        with video.path.open("rb") as fh:
            while True:
                if offset >= video.size:
                    raise RetryLater("YouTube holds every byte but has not confirmed the upload; asking again")
                fh.seek(offset)
                chunk = fh.read(self.chunk_bytes)
                end = offset + len(chunk) - 1
                response = await authorized(
                    self.tokens, "PUT", session, self.check, content=chunk,
                    headers={"Content-Range": f"bytes {offset}-{end}/{video.size}", "Content-Type": "video/mp4"})
                if response.status_code in (200, 201):
                    return json_body(response)
                received = _next_offset(response)
                if received <= offset:  # no progress: let the next attempt ask where the session stands
                    raise RetryLater("YouTube did not accept the chunk; the upload will be resumed")
                offset = received

    async def _recent_upload(self, title: str, since: datetime) -> str | None:
        """The id of a video on the channel's uploads playlist with this title, uploaded since `since`."""
        channels = await authorized(self.tokens, "GET", f"{self.api.youtube}/youtube/v3/channels", self.check,
                                    params={"part": "contentDetails", "mine": "true"})
        items = json_body(channels).get("items") or []
        uploads = (items[0].get("contentDetails", {}).get("relatedPlaylists", {}).get("uploads") if items else None)
        if not uploads:
            return None
        listing = await authorized(self.tokens, "GET", f"{self.api.youtube}/youtube/v3/playlistItems", self.check,
                                   params={"part": "snippet,contentDetails", "playlistId": uploads,
                                           "maxResults": "25"})
        for item in json_body(listing).get("items") or []:
            snippet = item.get("snippet", {})
            published = _parse_time(snippet.get("publishedAt"))
            if snippet.get("title") == title and published and published >= since - RECENT_UPLOAD_SLACK:
                found: str | None = (item.get("contentDetails", {}).get("videoId")
                                     or snippet.get("resourceId", {}).get("videoId"))
                return found
        return None

    def _post(self, resource: dict[str, Any], ctx: PublishContext) -> PostResult:
        video_id = str(resource.get("id") or "")
        if not video_id:
            raise RetryLater("YouTube finished the upload without a video id")
        return PostResult(platform=self.name, status="published", external_id=video_id,
                          url=f"https://www.youtube.com/shorts/{video_id}", reason="; ".join(ctx.notes))

    # ------------------------------------------------------------ metrics

    async def metrics(self, external_id: str, progress: dict[str, Any]) -> Metrics:
        response = await authorized(self.tokens, "GET", f"{self.api.youtube}/youtube/v3/videos", self.check,
                                    params={"part": "statistics", "id": external_id})
        items = json_body(response).get("items") or []
        if not items:
            raise Rejected(f"YouTube has no video {external_id} (deleted?)")
        stats = items[0].get("statistics", {})
        metrics = Metrics(views=_int(stats.get("viewCount")), likes=_int(stats.get("likeCount")),
                          comments=_int(stats.get("commentCount")))
        # Watch time needs the yt-analytics scope; the counters above are enough to score.
        with contextlib.suppress(Rejected, ReauthRequired, RetryLater):
            await self._analytics(external_id, metrics)
        return metrics

    async def _analytics(self, video_id: str, metrics: Metrics) -> None:
        today = utcnow().date()
        params = {"ids": "channel==MINE", "startDate": (today - timedelta(days=30)).isoformat(),
                  "endDate": today.isoformat(), "filters": f"video=={video_id}",
                  "metrics": "views,estimatedMinutesWatched,averageViewDuration,averageViewPercentage,"
                             "subscribersGained,shares"}
        response = await authorized(self.tokens, "GET", f"{self.api.youtube_analytics}/v2/reports", self.check,
                                    params=params)
        body = json_body(response)
        names = [h.get("name") for h in body.get("columnHeaders") or []]
        rows = body.get("rows") or []
        if not rows:
            return
        row = dict(zip(names, rows[0], strict=False))
        metrics.raw.update({k: float(v) for k, v in row.items() if isinstance(v, int | float)})
        if row.get("estimatedMinutesWatched") is not None:
            metrics.watch_time_s = float(row["estimatedMinutesWatched"]) * 60
        if row.get("averageViewDuration") is not None:
            metrics.avg_view_s = float(row["averageViewDuration"])
        if row.get("averageViewPercentage") is not None:
            metrics.retention = float(row["averageViewPercentage"]) / 100
        metrics.followers_gained = _int(row.get("subscribersGained"))
        metrics.shares = _int(row.get("shares"))

    async def aclose(self) -> None:
        await self.tokens.http.close()


def _next_offset(response: httpx.Response) -> int:
    """From a 308's `Range: bytes=0-N` header: the next byte to send (0 when nothing was received)."""
    value = response.headers.get("range", "")
    if "-" not in value:
        return 0
    return int(value.rsplit("-", 1)[1]) + 1


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
