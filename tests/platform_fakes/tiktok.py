"""TikTok Content Posting API: OAuth refresh, creator_info, direct and inbox init, chunked PUT upload,
status fetch and the Display API video query. Errors use {"error": {"code", "message", "log_id"}}."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.platform_fakes.server import FakeServer, Request, Response


def tiktok_error(status: int, code: str, message: str = "") -> Response:
    return Response(status, {"data": {}, "error": {"code": code, "message": message, "log_id": "20261123XYZ"}})


def ok(data: dict[str, Any]) -> Response:
    return Response(200, {"data": data, "error": {"code": "ok", "message": "", "log_id": "20261123ABC"}})


class FakeTikTok(FakeServer):
    name = "tiktok"

    def __init__(self, client_key: str = "awkey123", client_secret: str = "tt-client-secret",
                 refresh_token: str = "rft.tiktok-refresh", max_duration: int = 600,
                 privacy: tuple[str, ...] = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"),
                 processing_polls: int = 1) -> None:
        super().__init__()
        self.client_key, self.client_secret, self.refresh_token = client_key, client_secret, refresh_token
        self.max_duration, self.privacy, self.processing_polls = max_duration, list(privacy), processing_polls
        self.tokens: dict[str, float] = {}
        self.publishes: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, dict[str, int]] = {}
        self._ids = itertools.count(7300000000000000001)
        self.route("POST", r"/v2/oauth/token/", self._token)
        self.route("POST", r"/v2/post/publish/creator_info/query/", self._creator)
        self.route("POST", r"/v2/post/publish/video/init/", self._direct)
        self.route("POST", r"/v2/post/publish/inbox/video/init/", self._inbox)
        self.route("PUT", r"/upload/", self._upload)
        self.route("POST", r"/v2/post/publish/status/fetch/", self._status)
        self.route("POST", r"/v2/video/query/", self._query)

    def issue_token(self, ttl_s: float = 86400) -> str:
        token = f"act.{next(self._ids)}"
        self.tokens[token] = time.time() + ttl_s
        return token

    def _denied(self, req: Request) -> Response | None:
        token = req.header("authorization").removeprefix("Bearer ")
        if self.tokens.get(token, 0) < time.time():
            return tiktok_error(401, "access_token_invalid", "The access token is invalid or not found in the request.")
        return None

    def _token(self, req: Request) -> Response:
        form = req.form()
        if (form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token
                or form.get("client_key") != self.client_key or form.get("client_secret") != self.client_secret):
            return Response(200, {"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.",
                                  "log_id": "2026"})
        self.refresh_token = f"rft.{next(self._ids)}"  # TikTok rotates refresh tokens
        return Response(200, {"access_token": self.issue_token(), "expires_in": 86400, "open_id": "open-123",
                              "refresh_expires_in": 31536000, "refresh_token": self.refresh_token,
                              "scope": "user.info.basic,video.publish,video.upload", "token_type": "Bearer"})

    def _creator(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        return ok({"creator_avatar_url": "https://p16.tiktokcdn.com/a.jpeg", "creator_username": "devtools.daily",
                   "creator_nickname": "Dev Tools Daily", "privacy_level_options": self.privacy,
                   "comment_disabled": False, "duet_disabled": False, "stitch_disabled": True,
                   "max_video_post_duration_sec": self.max_duration})

    def _init(self, req: Request, inbox: bool) -> Response:
        if denied := self._denied(req):
            return denied
        body = req.json()
        source = body.get("source_info", {})
        size, chunk, count = source.get("video_size", 0), source.get("chunk_size", 0), source.get("total_chunk_count")
        if source.get("source") != "FILE_UPLOAD" or not size or not chunk or count != max(1, size // chunk):
            return tiktok_error(400, "invalid_params", "source_info does not follow the chunk rules")
        if size >= 5 * 1024 * 1024 and not (5 * 1024 * 1024 <= chunk <= 64 * 1024 * 1024):
            return tiktok_error(400, "invalid_params", "chunk_size must be between 5 MB and 64 MB")
        if not inbox:
            info = body.get("post_info", {})
            if info.get("privacy_level") not in self.privacy:
                return tiktok_error(400, "privacy_level_option_mismatch", "privacy_level is not allowed")
            if len(info.get("title", "")) > 2200:
                return tiktok_error(400, "invalid_params", "title is too long")
        publish_id = f"v_pub_file~v2-1.{next(self._ids)}"
        self.publishes[publish_id] = {"size": size, "chunk": chunk, "count": count, "data": bytearray(),
                                      "inbox": inbox, "post_info": body.get("post_info"), "polls": 0,
                                      "status": "PROCESSING_UPLOAD", "post_id": None}
        return ok({"publish_id": publish_id, "upload_url": f"{req.base_url}/upload/?upload_id={publish_id}"})

    def _direct(self, req: Request) -> Response:
        return self._init(req, inbox=False)

    def _inbox(self, req: Request) -> Response:
        return self._init(req, inbox=True)

    def _upload(self, req: Request) -> Response:
        pub = self.publishes.get(req.query.get("upload_id", ""))
        if pub is None:
            return Response(404, {"error": {"code": "invalid_params", "message": "upload url expired"}})
        span, _, total = req.header("content-range").removeprefix("bytes ").partition("/")
        start, _, end = span.partition("-")
        if int(start) != len(pub["data"]) or int(total) != pub["size"] or int(end) - int(start) + 1 != len(req.body):
            return Response(416, {"error": {"code": "invalid_params", "message": "bad Content-Range"}})
        pub["data"].extend(req.body)
        if len(pub["data"]) < pub["size"]:
            return Response(206, None)
        return Response(201, None)

    def _status(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        pub = self.publishes.get(req.json().get("publish_id", ""))
        if pub is None:
            return tiktok_error(400, "invalid_params", "publish_id not found")
        if len(pub["data"]) >= pub["size"] and pub["status"] == "PROCESSING_UPLOAD":
            pub["polls"] += 1
            if pub["polls"] > self.processing_polls:
                if pub["inbox"]:
                    pub["status"] = "SEND_TO_USER_INBOX"
                else:
                    pub["status"], pub["post_id"] = "PUBLISH_COMPLETE", str(next(self._ids))
                    self.posts[pub["post_id"]] = {"title": pub["post_info"]["title"], "size": pub["size"]}
        data: dict[str, Any] = {"status": pub["status"], "uploaded_bytes": len(pub["data"])}
        if pub["post_id"]:
            data["publicaly_available_post_id"] = [int(pub["post_id"])]
        return ok(data)

    def _query(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        ids = req.json().get("filters", {}).get("video_ids", [])
        return ok({"videos": [{"id": i, **self.stats[i]} for i in ids if i in self.stats], "cursor": 0,
                   "has_more": False})
