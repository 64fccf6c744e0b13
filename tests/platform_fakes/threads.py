"""The Threads API (graph.threads.net) for a video post: media containers that fetch `video_url` themselves,
status polling (IN_PROGRESS -> FINISHED, or ERROR with error_message), threads_publish (a published
container cannot be published again), the user's threads, permalinks and media insights. Graph errors."""

from __future__ import annotations

import itertools
import urllib.request
from datetime import UTC, datetime
from typing import Any

from tests.platform_fakes.meta import graph_error
from tests.platform_fakes.server import FakeServer, Request, Response

VERSION = "v1.0"


class FakeThreads(FakeServer):
    name = "threads"

    def __init__(self, user_id: str = "26500000000000001", token: str = "THAA-threads-token",
                 processing_polls: int = 1) -> None:
        super().__init__()
        self.user_id, self.token, self.processing_polls = user_id, token, processing_polls
        self.containers: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.insights: dict[str, dict[str, int]] = {}
        self._ids = itertools.count(18000000000000001)
        v = rf"/{VERSION}"
        self.route("POST", rf"{v}/(\d+)/threads", self._create)
        self.route("POST", rf"{v}/(\d+)/threads_publish", self._publish)
        self.route("GET", rf"{v}/(\d+)/threads", self._list)
        self.route("GET", rf"{v}/(\d+)/insights", self._insights)
        self.route("GET", rf"{v}/(\d+)", self._get)

    def _denied(self, req: Request) -> Response | None:
        token = req.header("authorization").removeprefix("Bearer ") or req.query.get("access_token", "")
        if token != self.token:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        return None

    def _create(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        form = req.form()
        if req.path.split("/")[2] != self.user_id:
            return graph_error(100, "Unsupported post request", kind="GraphMethodException")
        if form.get("media_type") != "VIDEO" or not form.get("video_url"):
            return graph_error(100, "Param media_type must be VIDEO with a video_url", kind="THApiException")
        if len(form.get("text", "")) > 500:
            return graph_error(100, "Param text must be at most 500 characters long.", kind="THApiException")
        try:  # Threads fetches the media itself, so the URL must really be reachable
            with urllib.request.urlopen(form["video_url"], timeout=10) as fetched:
                data = fetched.read()
            status, error = ("IN_PROGRESS", "") if data[4:8] == b"ftyp" else ("ERROR", "UNSUPPORTED_FORMAT")
        except Exception:
            data, status, error = b"", "ERROR", "FAILED_DOWNLOADING_VIDEO"
        container = str(next(self._ids))
        self.containers[container] = {"status": status, "error_message": error, "text": form.get("text", ""),
                                      "bytes": len(data), "polls": 0, "media_id": None}
        return Response(200, {"id": container})

    def _publish(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        container = self.containers.get(req.form().get("creation_id", ""))
        if container is None:
            return graph_error(100, "Unsupported post request", kind="GraphMethodException")
        if container["status"] == "PUBLISHED":
            return graph_error(24, "The media has already been published", 4279009, kind="THApiException")
        if container["status"] != "FINISHED":
            return graph_error(24, "The requested resource does not exist", 4279009, kind="THApiException")
        media_id = str(next(self._ids))
        container["status"], container["media_id"] = "PUBLISHED", media_id
        self.posts[media_id] = {"id": media_id, "text": container["text"], "media_type": "VIDEO",
                                "permalink": f"https://www.threads.net/@devtools.daily/post/C{media_id}",
                                "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")}
        return Response(200, {"id": media_id})

    def _list(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        return Response(200, {"data": list(reversed(self.posts.values())), "paging": {}})

    def _get(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        object_id = req.path.rsplit("/", 1)[1]
        if object_id in self.containers:
            c = self.containers[object_id]
            if c["status"] == "IN_PROGRESS":
                c["polls"] += 1
                if c["polls"] > self.processing_polls:
                    c["status"] = "FINISHED"
            return Response(200, {"id": object_id, "status": c["status"], "error_message": c["error_message"]})
        if object_id in self.posts:
            return Response(200, self.posts[object_id])
        return graph_error(100, f"Unsupported get request. Object with ID '{object_id}' does not exist",
                           33, kind="GraphMethodException")

    def _insights(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        object_id = req.path.split("/")[2]
        values = self.insights.get(object_id, {})
        names = req.query.get("metric", "").split(",")
        return Response(200, {"data": [{"name": n, "period": "lifetime", "values": [{"value": values[n]}],
                                        "title": n.title(), "id": f"{object_id}/insights/{n}/lifetime"}
                                       for n in names if n in values]})
