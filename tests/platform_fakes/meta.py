"""Graph API for a Facebook Page (Reels publishing, video status, video insights) and an Instagram account
(media containers that fetch `video_url` themselves, status polling, media_publish, insights).

Tokens are checked from `Authorization: OAuth|Bearer` or `access_token`; a bad one gets the OAuthException
(code 190). Objects that do not exist get code 100. Containers stay IN_PROGRESS for `processing_polls`
status reads; publishing an unfinished one gets code 9007 / subcode 2207027.
"""

from __future__ import annotations

import itertools
import urllib.request
from datetime import UTC, datetime
from typing import Any

from tests.platform_fakes.server import FakeServer, Request, Response

VERSION = "v21.0"


def graph_error(code: int, message: str, subcode: int | None = None, status: int = 400,
                kind: str = "OAuthException") -> Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Response(status, {"error": error})


class FakeGraph(FakeServer):
    name = "graph"

    def __init__(self, page_id: str = "1122334455", page_token: str = "EAAG-page-token",
                 ig_user_id: str = "17841400000000", ig_token: str = "EAAG-ig-token",
                 processing_polls: int = 2) -> None:
        super().__init__()
        self.page_id, self.ig_user_id = page_id, ig_user_id
        self.valid_tokens = {page_token, ig_token}
        self.processing_polls = processing_polls
        self._ids = itertools.count(1000)
        self.videos: dict[str, dict[str, Any]] = {}      # Facebook reels by video id
        self.containers: dict[str, dict[str, Any]] = {}  # Instagram containers
        self.media: dict[str, dict[str, Any]] = {}       # Instagram posts
        self.insights: dict[str, dict[str, Any]] = {}
        v = rf"/{VERSION}"
        self.route("POST", rf"{v}/{page_id}/video_reels", self._reels)
        self.route("POST", rf"/video-upload/{VERSION}/(\d+)", self._rupload)
        self.route("POST", rf"{v}/{ig_user_id}/media", self._create_container)
        self.route("POST", rf"{v}/{ig_user_id}/media_publish", self._media_publish)
        self.route("GET", rf"{v}/{ig_user_id}/media", self._list_media)
        self.route("GET", rf"{v}/(\w+)/video_insights", self._insights)
        self.route("GET", rf"{v}/(\w+)/insights", self._insights)
        self.route("GET", rf"{v}/(\w+)", self._get_object)

    def _token(self, req: Request) -> str:
        header = req.header("authorization")
        for scheme in ("OAuth ", "Bearer "):
            if header.startswith(scheme):
                return header[len(scheme):]
        return req.form().get("access_token", "")

    def _denied(self, req: Request) -> Response | None:
        if self._token(req) not in self.valid_tokens:
            return graph_error(190, "Error validating access token: Session has expired.", 463)
        return None

    def _id(self) -> str:
        return str(next(self._ids) * 1_000_003)

    # ------------------------------------------------------------ Facebook reels

    def _reels(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        form = req.form()
        phase = form.get("upload_phase")
        if phase == "start":
            video_id = self._id()
            self.videos[video_id] = {"data": bytearray(), "size": None, "published": False, "polls": 0,
                                     "description": "", "title": ""}
            return Response(200, {"video_id": video_id,
                                  "upload_url": f"{req.base_url}/video-upload/{VERSION}/{video_id}"})
        if phase == "finish":
            video = self.videos.get(form.get("video_id", ""))
            if video is None:
                return graph_error(100, "Invalid video_id", kind="GraphMethodException")
            if video["size"] is None or len(video["data"]) < video["size"]:
                return graph_error(6000, "There was a problem uploading your video file", status=400)
            if video["published"]:
                return graph_error(100, "The video has already been published", kind="GraphMethodException")
            video.update(published=True, description=form.get("description", ""), title=form.get("title", ""),
                         state=form.get("video_state"))
            return Response(200, {"success": True})
        return graph_error(100, "upload_phase must be start or finish", kind="GraphMethodException")

    def _rupload(self, req: Request) -> Response:
        video_id = req.path.rsplit("/", 1)[1]
        if not req.header("authorization").startswith("OAuth ") or self._token(req) not in self.valid_tokens:
            return Response(401, {"debug_info": {"type": "AuthorizationError", "message": "Invalid OAuth token"}})
        video = self.videos.get(video_id)
        if video is None:
            return Response(404, {"debug_info": {"message": "unknown video"}})
        offset, size = int(req.header("offset") or 0), int(req.header("file_size") or 0)
        if offset != len(video["data"]):
            return Response(400, {"debug_info": {"message": f"offset must be {len(video['data'])}"}})
        video["size"] = size
        video["data"].extend(req.body)
        return Response(200, {"success": True})

    def _reel_status(self, video: dict[str, Any]) -> dict[str, Any]:
        uploaded = video["size"] is not None and len(video["data"]) >= video["size"]
        publishing = "not_started"
        if video["published"]:
            video["polls"] += 1
            publishing = "complete" if video["polls"] > self.processing_polls else "in_progress"
        video_status = "ready" if publishing == "complete" else "processing" if uploaded else "upload_in_progress"
        return {"video_status": video_status,
                "uploading_phase": {"status": "complete" if uploaded else "in_progress",
                                    "bytes_transferred": len(video["data"])},
                "processing_phase": {"status": "complete" if video["published"] else "not_started"},
                "publishing_phase": {"status": publishing,
                                     "publish_status": "published" if publishing == "complete" else "not_published"}}

    def published_reels(self) -> list[dict[str, Any]]:
        return [v for v in self.videos.values() if v["published"]]

    # ------------------------------------------------------------ Instagram

    def _create_container(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        form = req.form()
        if form.get("media_type") != "REELS":
            return graph_error(100, "media_type must be REELS here", kind="GraphMethodException")
        if len(form.get("caption", "")) > 2200 or form.get("caption", "").count("#") > 30:
            return graph_error(100, "The caption is too long or has too many hashtags", 2207028,
                               kind="GraphMethodException")
        container = self._id()
        try:  # Instagram cURLs the media itself, so the URL must really be reachable
            with urllib.request.urlopen(form["video_url"], timeout=10) as fetched:
                data = fetched.read()
            status = "IN_PROGRESS" if data[4:8] == b"ftyp" else "ERROR"
        except Exception:
            data, status = b"", "ERROR"
        self.containers[container] = {"status_code": status, "caption": form.get("caption", ""), "bytes": len(data),
                                      "polls": 0, "thumb_offset": form.get("thumb_offset"),
                                      "share_to_feed": form.get("share_to_feed"), "media_id": None}
        return Response(200, {"id": container})

    def _container_status(self, container: dict[str, Any]) -> dict[str, Any]:
        if container["status_code"] == "IN_PROGRESS":
            container["polls"] += 1
            if container["polls"] > self.processing_polls:
                container["status_code"] = "FINISHED"
        status = container["status_code"]
        return {"status_code": status, "status": "Error: 2207026" if status == "ERROR" else status}

    def _media_publish(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        container = self.containers.get(req.form().get("creation_id", ""))
        if container is None:
            return graph_error(100, "Unsupported post request", kind="GraphMethodException")
        if container["status_code"] == "PUBLISHED":
            return graph_error(9007, "The media has already been published", 2207008, kind="OAuthException")
        if container["status_code"] != "FINISHED":
            return graph_error(9007, "Media ID is not available", 2207027)
        media_id = self._id()
        container["status_code"], container["media_id"] = "PUBLISHED", media_id
        self.media[media_id] = {"id": media_id, "caption": container["caption"],
                                "permalink": f"https://www.instagram.com/reel/C{media_id}/",
                                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")}
        return Response(200, {"id": media_id})

    def _list_media(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        return Response(200, {"data": list(reversed(self.media.values()))})

    # ------------------------------------------------------------ shared reads

    def _get_object(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        object_id = req.path.rsplit("/", 1)[1]
        if object_id in self.videos:
            return Response(200, {"id": object_id, "status": self._reel_status(self.videos[object_id])})
        if object_id in self.containers:
            return Response(200, {"id": object_id, **self._container_status(self.containers[object_id])})
        if object_id in self.media:
            return Response(200, self.media[object_id])
        return graph_error(100, f"Unsupported get request. Object with ID '{object_id}' does not exist",
                           33, kind="GraphMethodException")

    def _insights(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        object_id = req.path.split("/")[2]
        values = self.insights.get(object_id, {})
        names = req.query.get("metric", "").split(",")
        return Response(200, {"data": [{"name": n, "period": "lifetime", "values": [{"value": values[n]}],
                                        "id": f"{object_id}/insights/{n}/lifetime"} for n in names if n in values]})
