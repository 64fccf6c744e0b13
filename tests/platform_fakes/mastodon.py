"""A Mastodon instance's REST API for posting a video: v2 media upload processed in the background,
media polling (206 while processing, 404 once attached), statuses with Idempotency-Key (the first status is
returned for a repeated key), the account's statuses and the status counters. Errors are {"error": "..."}."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from tests.platform_fakes.server import FakeServer, Request, Response


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeMastodon(FakeServer):
    name = "mastodon"

    def __init__(self, token: str = "mst-access-token-0123456789", max_chars: int = 500,
                 processing_polls: int = 1) -> None:
        super().__init__()
        self.token, self.max_chars, self.processing_polls = token, max_chars, processing_polls
        self.media: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self._ids = itertools.count(113000000000000001)
        self.account = {"id": "109000000000000042", "username": "devtools", "acct": "devtools",
                        "display_name": "Dev Tools Daily", "url": "", "created_at": _now(), "note": "",
                        "followers_count": 10, "following_count": 1, "statuses_count": 0}
        self.route("POST", r"/api/v2/media", self._upload)
        self.route("GET", r"/api/v1/media/(\d+)", self._media_get)
        self.route("POST", r"/api/v1/statuses", self._post)
        self.route("GET", r"/api/v1/statuses/(\d+)", self._status_get)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._me)
        self.route("GET", r"/api/v1/accounts/(\d+)/statuses", self._account_statuses)

    def start(self) -> FakeMastodon:
        super().start()
        self.account["url"] = f"{self.url}/@devtools"
        return self

    def _denied(self, req: Request) -> Response | None:
        if req.header("authorization") != f"Bearer {self.token}":
            return Response(401, {"error": "The access token is invalid"})
        return None

    def _public(self, media: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in media.items() if not k.startswith("_")}

    def _upload(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        files = req.files()
        data = files.get("file", b"")
        if not data:
            return Response(422, {"error": "Validation failed: File can't be blank"})
        media_id = str(next(self._ids))
        self.media[media_id] = {"id": media_id, "type": "video", "url": None, "preview_url": None,
                                "remote_url": None, "text_url": None, "meta": {}, "blurhash": None,
                                "description": req.form().get("description"), "_size": len(data), "_polls": 0,
                                "_status": None}
        return Response(202, self._public(self.media[media_id]))

    def _media_get(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        media = self.media.get(req.path.rsplit("/", 1)[1])
        if media is None or media["_status"] is not None:  # attached media is no longer listed here
            return Response(404, {"error": "Record not found"})
        media["_polls"] += 1
        if media["_polls"] > self.processing_polls:
            media["url"] = f"{self.url}/system/media_attachments/{media['id']}/original.mp4"
            return Response(200, self._public(media))
        return Response(206, self._public(media))

    def _post(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        key = req.header("idempotency-key")
        if key and key in self.keys:
            return Response(200, self.statuses[self.keys[key]])
        fields = parse_qsl(req.body.decode(), keep_blank_values=True)
        form = dict(fields)
        media_ids = [v for k, v in fields if k == "media_ids[]"]
        text = form.get("status", "")
        if len(text) > self.max_chars:
            return Response(422, {"error": f"Validation failed: Text character limit of {self.max_chars} exceeded"})
        attached = [self.media[m] for m in media_ids if m in self.media and self.media[m]["_status"] is None]
        if any(not m["url"] for m in attached):
            return Response(422, {"error": "Cannot attach files that have not finished processing. Try again "
                                           "in a moment!"})
        status_id = str(next(self._ids))
        for m in attached:
            m["_status"] = status_id
        self.statuses[status_id] = {
            "id": status_id, "created_at": _now(), "uri": f"{self.url}/users/devtools/statuses/{status_id}",
            "url": f"{self.url}/@devtools/{status_id}", "content": f"<p>{text}</p>", "_text": text,
            "visibility": form.get("visibility", "public"), "language": form.get("language"),
            "sensitive": False, "spoiler_text": "", "media_attachments": [self._public(m) for m in attached],
            "mentions": [], "tags": [], "emojis": [], "account": self.account, "replies_count": 0,
            "reblogs_count": 0, "favourites_count": 0, "in_reply_to_id": None, "reblog": None}
        if key:
            self.keys[key] = status_id
        return Response(200, self.statuses[status_id])

    def _status_get(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        status = self.statuses.get(req.path.rsplit("/", 1)[1])
        return Response(200, status) if status else Response(404, {"error": "Record not found"})

    def _me(self, req: Request) -> Response:
        return self._denied(req) or Response(200, self.account)

    def _account_statuses(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        limit = int(req.query.get("limit", "20"))
        newest = sorted(self.statuses.values(), key=lambda s: int(s["id"]), reverse=True)
        return Response(200, newest[:limit])
