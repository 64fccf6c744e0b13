"""YouTube Data API v3 (resumable upload, videos.list, uploads playlist), YouTube Analytics and Google OAuth.

Models: access tokens that expire (401 authError) and are renewed with the refresh token at /token;
resumable sessions (POST -> Location; PUT chunks -> 308 Range / 200 resource; PUT bytes */N -> status);
quota (403 quotaExceeded) and rate limits (429 with Retry-After) through `fail()`.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any

from tests.platform_fakes.server import FakeServer, Request, Response

AUTH_ERROR = {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                        "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                                    "location": "Authorization", "locationType": "header"}],
                        "status": "UNAUTHENTICATED"}}


def google_error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "errors": [{"message": message, "domain": "youtube", "reason": reason}]}}


class FakeYouTube(FakeServer):
    name = "youtube"

    def __init__(self, client_id: str = "cid.apps.googleusercontent.com", client_secret: str = "yt-client-secret",
                 refresh_token: str = "1//yt-refresh-token") -> None:
        super().__init__()
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.tokens: dict[str, float] = {}  # access token -> expiry (epoch)
        self.sessions: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, dict[str, int]] = {}
        self.analytics: dict[str, dict[str, float]] = {}
        self._ids = itertools.count(1)
        self.route("POST", r"/token", self._token)
        self.route("POST", r"/upload/youtube/v3/videos", self._start)
        self.route("PUT", r"/upload/youtube/v3/videos", self._put)
        self.route("GET", r"/youtube/v3/videos", self._list)
        self.route("GET", r"/youtube/v3/channels", self._channels)
        self.route("GET", r"/youtube/v3/playlistItems", self._playlist)
        self.route("GET", r"/v2/reports", self._reports)
        self.route("POST", r"/upload/youtube/v3/thumbnails/set", self._thumbnail)
        self.thumbnails: dict[str, bytes] = {}
        self.thumbnails_forbidden = False  # an unverified channel may not set custom thumbnails

    def issue_token(self, ttl_s: float = 3600) -> str:
        token = f"ya29.token-{next(self._ids)}-{int(time.time() * 1000)}"
        self.tokens[token] = time.time() + ttl_s
        return token

    def expire_all_tokens(self) -> None:
        for token in self.tokens:
            self.tokens[token] = 0

    def _authed(self, req: Request) -> bool:
        header = req.header("authorization")
        token = header.removeprefix("Bearer ").strip()
        return header.startswith("Bearer ") and self.tokens.get(token, 0) > time.time()

    # ------------------------------------------------------------ oauth

    def _token(self, req: Request) -> Response:
        form = req.form()
        if (form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token
                or form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret):
            return Response(400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
        return Response(200, {"access_token": self.issue_token(), "expires_in": 3599, "token_type": "Bearer",
                              "scope": "https://www.googleapis.com/auth/youtube.upload"})

    # ------------------------------------------------------------ resumable upload

    def _start(self, req: Request) -> Response:
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        if req.query.get("uploadType") != "resumable":
            return Response(400, google_error(400, "invalidUploadType", "uploadType must be resumable"))
        resource = req.json()
        title = resource.get("snippet", {}).get("title", "")
        if not title or len(title) > 100 or "<" in title or ">" in title:
            return Response(400, google_error(400, "invalidTitle",
                                              "The request metadata specifies an invalid video title."))
        if len(resource.get("snippet", {}).get("description", "").encode()) > 5000:
            return Response(400, google_error(400, "invalidDescription", "The description is too long."))
        if resource.get("status", {}).get("privacyStatus") not in ("public", "unlisted", "private"):
            return Response(400, google_error(400, "invalidVideoMetadata", "Invalid privacyStatus."))
        upload_id = f"upl-{next(self._ids)}"
        self.sessions[upload_id] = {"size": int(req.header("x-upload-content-length")), "data": bytearray(),
                                    "resource": resource, "video_id": None}
        location = f"{req.base_url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={upload_id}"
        return Response(200, None, {"Location": location})

    def _put(self, req: Request) -> Response:
        session = self.sessions.get(req.query.get("upload_id", ""))
        if session is None:
            return Response(404, google_error(404, "notFound", "Upload session not found"))
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        span, _, _total = req.header("content-range").removeprefix("bytes ").partition("/")
        if session["video_id"] is not None:
            return Response(200, self.videos[session["video_id"]])
        data: bytearray = session["data"]
        if span != "*":
            start, _, end = span.partition("-")
            if int(start) != len(data) or int(end) - int(start) + 1 != len(req.body):
                return Response(400, google_error(400, "badContentRange", "Content-Range does not match"))
            data.extend(req.body)
        if len(data) >= session["size"]:
            video_id = f"vid{next(self._ids):08d}"
            session["video_id"] = video_id
            snippet = dict(session["resource"]["snippet"], publishedAt=datetime.now(UTC).isoformat())
            self.videos[video_id] = {"kind": "youtube#video", "id": video_id, "snippet": snippet,
                                     "status": dict(session["resource"]["status"], uploadStatus="uploaded"),
                                     "size": len(data)}
            self.stats.setdefault(video_id, {"viewCount": 0, "likeCount": 0, "commentCount": 0})
            return Response(201, self.videos[video_id])
        headers = {"Range": f"bytes=0-{len(data) - 1}"} if data else {}
        return Response(308, None, headers)

    # ------------------------------------------------------------ reads

    def _list(self, req: Request) -> Response:
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        ids = req.query.get("id", "").split(",")
        items = [{"kind": "youtube#video", "id": i, "statistics": {k: str(v) for k, v in self.stats[i].items()}}
                 for i in ids if i in self.stats]
        return Response(200, {"kind": "youtube#videoListResponse", "items": items})

    def _channels(self, req: Request) -> Response:
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        return Response(200, {"items": [{"id": "UC123", "contentDetails": {"relatedPlaylists": {"uploads": "UU123"}}}]})

    def _playlist(self, req: Request) -> Response:
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        items = [{"snippet": {"title": v["snippet"]["title"], "publishedAt": v["snippet"]["publishedAt"],
                              "resourceId": {"videoId": i}}, "contentDetails": {"videoId": i}}
                 for i, v in reversed(self.videos.items())]
        return Response(200, {"items": items})

    def _reports(self, req: Request) -> Response:
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        video = req.query.get("filters", "").removeprefix("video==")
        names = req.query.get("metrics", "").split(",")
        row = self.analytics.get(video)
        headers = [{"name": n, "columnType": "METRIC", "dataType": "FLOAT"} for n in names]
        return Response(200, {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers,
                              "rows": [[row.get(n, 0) for n in names]] if row else []})

    def _thumbnail(self, req: Request) -> Response:
        """thumbnails.set: the image is the request body; 403 forbidden for channels without the feature."""
        if not self._authed(req):
            return Response(401, AUTH_ERROR)
        if self.thumbnails_forbidden:
            return Response(403, google_error(403, "forbidden", "The authenticated user doesn't have permissions "
                                                             "to upload and set custom video thumbnails."))
        video_id = req.query.get("videoId", "")
        if video_id not in self.videos:
            return Response(404, google_error(404, "videoNotFound", "The video could not be found."))
        if req.header("content-type") not in ("image/png", "image/jpeg") or len(req.body) > 2 * 1024 * 1024:
            return Response(400, google_error(400, "invalidImage", "The provided image content is invalid."))
        self.thumbnails[video_id] = req.body
        return Response(200, {"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": "x"}}]})

    def uploaded_videos(self) -> list[dict[str, Any]]:
        return list(self.videos.values())


def dump(value: Any) -> str:
    return json.dumps(value)
