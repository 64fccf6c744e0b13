"""LinkedIn's versioned REST API for a video post: Videos API (initializeUpload with one upload URL per part,
PUT parts answered with an ETag, finalizeUpload checking the ETags, PROCESSING -> AVAILABLE) and Posts API
(201 with x-restli-id, 422 "duplicate of urn:li:share:..." for the same commentary, the author finder that
needs r_member_social). Every /rest call needs the Linkedin-Version header. Errors: {status, code, message}."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any
from urllib.parse import unquote

from tests.platform_fakes.server import FakeServer, Request, Response


def li_error(status: int, code: str, message: str, service_code: int = 100) -> Response:
    return Response(status, {"status": status, "serviceErrorCode": service_code, "code": code, "message": message})


class FakeLinkedIn(FakeServer):
    name = "linkedin"

    def __init__(self, token: str = "AQV-linkedin-token", author: str = "urn:li:person:8675309abc",
                 part_size: int = 100_000, processing_polls: int = 1, can_read_posts: bool = True) -> None:
        super().__init__()
        self.token, self.author, self.part_size = token, author, part_size
        self.processing_polls, self.can_read_posts = processing_polls, can_read_posts
        self.videos: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(7300000000000000001)
        self.route("POST", r"/rest/videos", self._videos_action)
        self.route("PUT", r"/dms-uploads/(\w+)/(\d+)", self._put_part)
        self.route("GET", r"/rest/videos/([^/]+)", self._video_get)
        self.route("POST", r"/rest/posts", self._create_post)
        self.route("GET", r"/rest/posts", self._find_posts)

    def _denied(self, req: Request) -> Response | None:
        if req.header("authorization") != f"Bearer {self.token}":
            return li_error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
        if not req.header("linkedin-version"):
            return li_error(426, "VERSION_MISSING", "A version must be present. Please specify a version by "
                                                    "adding the LinkedIn-Version header.")
        return None

    def _videos_action(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        action = req.query.get("action")
        if action == "initializeUpload":
            return self._initialize(req)
        if action == "finalizeUpload":
            return self._finalize(req)
        return li_error(400, "ILLEGAL_ARGUMENT", f"unknown action {action}")

    def _initialize(self, req: Request) -> Response:
        body = req.json().get("initializeUploadRequest") or {}
        size = int(body.get("fileSizeBytes") or 0)
        if body.get("owner") != self.author or not size:
            return li_error(403, "ACCESS_DENIED", "Not enough permissions to access: videos.ACTION-initializeUpload")
        video_id = f"D4E10AQ{next(self._ids)}"
        parts = [(start, min(start + self.part_size, size) - 1) for start in range(0, size, self.part_size)]
        self.videos[video_id] = {"urn": f"urn:li:video:{video_id}", "size": size, "parts": parts,
                                 "data": {}, "etags": {}, "status": "WAITING_UPLOAD", "polls": 0}
        return Response(200, {"value": {
            "uploadUrlsExpireAt": 1999999999000, "video": f"urn:li:video:{video_id}", "uploadToken": f"tok-{video_id}",
            "uploadInstructions": [{"uploadUrl": f"{self.url}/dms-uploads/{video_id}/{i}", "firstByte": first,
                                    "lastByte": last} for i, (first, last) in enumerate(parts)]}})

    def _put_part(self, req: Request) -> Response:
        _, _, video_id, index = req.path.split("/")
        video = self.videos.get(video_id)
        if video is None:
            return Response(404, None)
        first, last = video["parts"][int(index)]
        if len(req.body) != last - first + 1:
            return li_error(400, "ILLEGAL_ARGUMENT", "part size does not match the upload instructions")
        video["data"][int(index)] = req.body
        etag = hashlib.md5(req.body).hexdigest()
        video["etags"][int(index)] = etag
        return Response(200, None, headers={"ETag": etag})

    def _finalize(self, req: Request) -> Response:
        body = req.json().get("finalizeUploadRequest") or {}
        video = self.videos.get(str(body.get("video", "")).rsplit(":", 1)[-1])
        if video is None or body.get("uploadToken") != f"tok-{video['urn'].rsplit(':', 1)[1]}":
            return li_error(400, "ILLEGAL_ARGUMENT", "unknown video or upload token")
        expected = [video["etags"].get(i) for i in range(len(video["parts"]))]
        if body.get("uploadedPartIds") != expected:
            return li_error(400, "ILLEGAL_ARGUMENT", "uploadedPartIds do not match the uploaded parts")
        video["status"] = "PROCESSING"
        return Response(200, None)

    def uploaded(self, video: dict[str, Any]) -> bytes:
        return b"".join(video["data"][i] for i in sorted(video["data"]))

    def _video_get(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        video = self.videos.get(unquote(req.path.rsplit("/", 1)[1]).rsplit(":", 1)[-1])
        if video is None:
            return li_error(404, "NOT_FOUND", "Not Found")
        if video["status"] == "PROCESSING":
            video["polls"] += 1
            if video["polls"] > self.processing_polls:
                video["status"] = "AVAILABLE"
        return Response(200, {"id": video["urn"], "owner": self.author, "status": video["status"],
                              "duration": 3000, "aspectRatioWidth": 9.0, "aspectRatioHeight": 16.0})

    def _create_post(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        body = req.json()
        media_id = ((body.get("content") or {}).get("media") or {}).get("id", "")
        video = self.videos.get(media_id.rsplit(":", 1)[-1])
        if body.get("author") != self.author:
            return li_error(403, "ACCESS_DENIED", "Not enough permissions to access: posts.CREATE")
        if len(body.get("commentary", "")) > 3000:
            return li_error(422, "UNPROCESSABLE_ENTITY", "/commentary :: length exceeds 3000")
        if video is None or video["status"] != "AVAILABLE":
            return li_error(400, "ILLEGAL_ARGUMENT", f"media {media_id} is not available")
        for urn, post in self.posts.items():
            if post["commentary"] == body.get("commentary"):
                return li_error(422, "UNPROCESSABLE_ENTITY", f"Content is a duplicate of {urn}", 0)
        urn = f"urn:li:share:{next(self._ids)}"
        self.posts[urn] = {"id": urn, **body}
        return Response(201, None, headers={"x-restli-id": urn})

    def _find_posts(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        if not self.can_read_posts:
            return li_error(403, "ACCESS_DENIED", "Not enough permissions to access: partnerApiPostsExternal."
                                                  "FINDER-author")
        if req.query.get("q") != "author" or req.query.get("author") != self.author:
            return li_error(400, "ILLEGAL_ARGUMENT", "q=author with the author URN is required")
        newest = list(reversed(self.posts.values()))[:int(req.query.get("count", "10"))]
        return Response(200, {"elements": newest, "paging": {"start": 0, "count": len(newest)}})
