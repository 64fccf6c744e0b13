"""X API v2 for posting a video: OAuth 2.0 refresh (rotating refresh tokens), chunked media upload
(initialize / append / finalize / STATUS with processing_info), POST /2/tweets (403 on duplicate text),
/2/users/me, the user's posts with attachments and public_metrics. Errors are problem documents."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

from tests.platform_fakes.server import FakeServer, Request, Response


def x_problem(status: int, title: str, detail: str) -> Response:
    return Response(status, {"title": title, "type": "about:blank", "status": status, "detail": detail})


class FakeX(FakeServer):
    name = "x"

    def __init__(self, client_id: str = "x-client-id", refresh_token: str = "x-refresh-0",
                 processing_polls: int = 1) -> None:
        super().__init__()
        self.client_id, self.refresh_token, self.processing_polls = client_id, refresh_token, processing_polls
        self.tokens: dict[str, float] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.user = {"id": "1500000000000000042", "name": "Dev Tools Daily", "username": "devtoolsdaily"}
        self._ids = itertools.count(1860000000000000001)
        self.route("POST", r"/2/oauth2/token", self._token)
        self.route("POST", r"/2/media/upload/initialize", self._init)
        self.route("POST", r"/2/media/upload/(\d+)/append", self._append)
        self.route("POST", r"/2/media/upload/(\d+)/finalize", self._finalize)
        self.route("GET", r"/2/media/upload", self._status)
        self.route("POST", r"/2/tweets", self._tweet)
        self.route("GET", r"/2/users/me", self._me)
        self.route("GET", r"/2/users/(\d+)/tweets", self._timeline)
        self.route("GET", r"/2/tweets/(\d+)", self._lookup)

    def _denied(self, req: Request) -> Response | None:
        token = req.header("authorization").removeprefix("Bearer ")
        if self.tokens.get(token, 0) < time.time():
            return x_problem(401, "Unauthorized", "Unauthorized")
        return None

    def _token(self, req: Request) -> Response:
        form = req.form()
        basic = req.header("authorization").removeprefix("Basic ")
        client = base64.b64decode(basic).decode().partition(":")[0] if basic else form.get("client_id")
        if (form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token
                or client != self.client_id):
            return Response(400, {"error": "invalid_request",
                                  "error_description": "Value passed for the token was invalid."})
        self.refresh_token = f"x-refresh-{next(self._ids)}"
        token = f"x-access-{next(self._ids)}"
        self.tokens[token] = time.time() + 7200
        return Response(200, {"token_type": "bearer", "expires_in": 7200, "access_token": token,
                              "scope": "tweet.write users.read tweet.read media.write offline.access",
                              "refresh_token": self.refresh_token})

    def _init(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        body = req.json()
        if body.get("media_type") != "video/mp4" or not body.get("total_bytes"):
            return x_problem(400, "Invalid Request", "One or more parameters to your request was invalid.")
        media_id = str(next(self._ids))
        self.media[media_id] = {"total": int(body["total_bytes"]), "segments": {}, "state": "open", "polls": 0,
                                "category": body.get("media_category"), "key": f"7_{media_id}"}
        return Response(200, {"data": {"id": media_id, "media_key": f"7_{media_id}", "expires_after_secs": 86400}})

    def _append(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        media = self.media.get(req.path.split("/")[4])
        if media is None or media["state"] != "open":
            return x_problem(400, "Invalid Request", "media_id is not an open upload")
        media["segments"][int(req.form()["segment_index"])] = req.files()["media"]
        return Response(200, {"data": {"expires_at": int(time.time()) + 86400}})

    def _finalize(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        media_id = req.path.split("/")[4]
        media = self.media.get(media_id)
        if media is None:
            return x_problem(400, "Invalid Request", "media_id not found")
        size = sum(len(v) for v in media["segments"].values())
        if size != media["total"]:
            return x_problem(400, "Invalid Request", f"File size mismatch: got {size} of {media['total']}")
        media["state"] = "pending"
        return Response(200, {"data": {"id": media_id, "media_key": media["key"], "size": size,
                                       "expires_after_secs": 86400,
                                       "processing_info": {"state": "pending", "check_after_secs": 1}}})

    def _status(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        media_id = req.query.get("media_id", "")
        media = self.media.get(media_id)
        if req.query.get("command") != "STATUS" or media is None:
            return x_problem(400, "Invalid Request", "media_id not found")
        if media["state"] in ("pending", "in_progress"):
            media["polls"] += 1
            media["state"] = "succeeded" if media["polls"] > self.processing_polls else "in_progress"
        info: dict[str, Any] = {"state": media["state"]}
        if media["state"] == "in_progress":
            info.update(check_after_secs=1, progress_percent=50)
        return Response(200, {"data": {"id": media_id, "media_key": media["key"], "processing_info": info}})

    def data_of(self, media_id: str) -> bytes:
        segments = self.media[media_id]["segments"]
        return b"".join(segments[i] for i in sorted(segments))

    def _tweet(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        body = req.json()
        text, ids = body.get("text", ""), (body.get("media") or {}).get("media_ids") or []
        if len(text) > 280:
            return x_problem(400, "Invalid Request", "text too long")
        if any(p["text"] == text for p in self.posts.values()):
            return x_problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.")
        if any(self.media.get(i, {}).get("state") != "succeeded" for i in ids):
            return x_problem(400, "Invalid Request", "Your media IDs are invalid.")
        post_id = str(next(self._ids))
        self.posts[post_id] = {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id],
                               "attachments": {"media_keys": [self.media[i]["key"] for i in ids]},
                               "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 0,
                                                  "quote_count": 0, "bookmark_count": 0, "impression_count": 0}}
        return Response(201, {"data": {"id": post_id, "text": text, "edit_history_tweet_ids": [post_id]}})

    def _me(self, req: Request) -> Response:
        return self._denied(req) or Response(200, {"data": self.user})

    def _timeline(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        newest = sorted(self.posts.values(), key=lambda p: int(p["id"]), reverse=True)
        shown = newest[:int(req.query.get("max_results", "10"))]
        fields = set(req.query.get("tweet.fields", "").split(","))
        data = [{k: v for k, v in p.items() if k in ("id", "text", "edit_history_tweet_ids") or k in fields}
                for p in shown]
        return Response(200, {"data": data, "meta": {"result_count": len(data)}} if data else
                        {"meta": {"result_count": 0}})

    def _lookup(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        post = self.posts.get(req.path.rsplit("/", 1)[1])
        if post is None:
            return Response(200, {"errors": [{"title": "Not Found Error", "detail": "Could not find tweet",
                                              "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
        return Response(200, {"data": post})
