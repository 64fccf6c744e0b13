"""A Bluesky PDS's XRPC endpoints for posting a video: createSession / refreshSession (JWTs with `exp`),
uploadBlob (content-addressed), createRecord with a caller-chosen rkey (a second record under the same key
is refused), getRecord (400 RecordNotFound) and app.bsky.feed.getPosts. Errors are {"error", "message"}."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
from typing import Any

from tests.platform_fakes.server import FakeServer, Request, Response

POST = "app.bsky.feed.post"


def xrpc_error(status: int, error: str, message: str = "") -> Response:
    return Response(status, {"error": error, "message": message})


def make_jwt(sub: str, scope: str, ttl_s: float, serial: int) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return ".".join((part({"typ": "at+jwt", "alg": "ES256K"}),
                     part({"scope": scope, "sub": sub, "iat": int(time.time()), "exp": int(time.time() + ttl_s),
                           "jti": str(serial)}), "c2ln"))


class FakeBluesky(FakeServer):
    name = "bluesky"

    def __init__(self, handle: str = "devtools.bsky.social", app_password: str = "abcd-efgh-ijkl-mnop",
                 did: str = "did:plc:devtools4example5aaaaaaa") -> None:
        super().__init__()
        self.handle, self.app_password, self.did = handle, app_password, did
        self.access: dict[str, float] = {}
        self.refresh: dict[str, float] = {}
        self.blobs: dict[str, bytes] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self._serial = itertools.count(1)
        self.route("POST", r"/xrpc/com\.atproto\.server\.createSession", self._create_session)
        self.route("POST", r"/xrpc/com\.atproto\.server\.refreshSession", self._refresh_session)
        self.route("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob", self._upload_blob)
        self.route("POST", r"/xrpc/com\.atproto\.repo\.createRecord", self._create_record)
        self.route("GET", r"/xrpc/com\.atproto\.repo\.getRecord", self._get_record)
        self.route("GET", r"/xrpc/app\.bsky\.feed\.getPosts", self._get_posts)

    def _session(self, access_ttl_s: float = 7200) -> dict[str, Any]:
        access = make_jwt(self.did, "com.atproto.appPass", access_ttl_s, next(self._serial))
        refresh = make_jwt(self.did, "com.atproto.refresh", 90 * 86400, next(self._serial))
        self.access[access] = time.time() + access_ttl_s
        self.refresh[refresh] = time.time() + 90 * 86400
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did,
                "active": True}

    def expire_sessions(self) -> None:
        """Every access JWT expires now (refresh JWTs stay valid)."""
        for token in self.access:
            self.access[token] = 0

    def _denied(self, req: Request) -> Response | None:
        token = req.header("authorization").removeprefix("Bearer ")
        if token not in self.access:
            return xrpc_error(401, "InvalidToken", "Bad token")
        if self.access[token] < time.time():
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return None

    def _create_session(self, req: Request) -> Response:
        body = req.json()
        if body.get("identifier") not in (self.handle, self.did) or body.get("password") != self.app_password:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        return Response(200, self._session())

    def _refresh_session(self, req: Request) -> Response:
        token = req.header("authorization").removeprefix("Bearer ")
        if self.refresh.pop(token, 0) < time.time():  # refresh JWTs are single-use
            return xrpc_error(400, "ExpiredToken", "Token has been revoked")
        return Response(200, self._session())

    def _upload_blob(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        if not req.body:
            return xrpc_error(400, "InvalidRequest", "empty blob")
        cid = "bafkrei" + hashlib.sha256(req.body).hexdigest()[:52]
        self.blobs[cid] = req.body
        return Response(200, {"blob": {"$type": "blob", "ref": {"$link": cid},
                                       "mimeType": req.header("content-type"), "size": len(req.body)}})

    def _create_record(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        body = req.json()
        record, rkey = body.get("record") or {}, body.get("rkey")
        if body.get("repo") not in (self.did, self.handle) or body.get("collection") != POST:
            return xrpc_error(400, "InvalidRequest", "repo or collection not allowed")
        if not rkey or len(rkey) != 13:
            return xrpc_error(400, "InvalidRequest", "Invalid record key (expected a TID)")
        if len(record.get("text", "")) > 300:
            return xrpc_error(400, "InvalidRecord", "Invalid app.bsky.feed.post record: Record/text must not be "
                                                    "longer than 300 graphemes")
        embed = record.get("embed") or {}
        link = ((embed.get("video") or {}).get("ref") or {}).get("$link")
        if embed.get("$type") != "app.bsky.embed.video" or link not in self.blobs:
            return xrpc_error(400, "InvalidRecord", "embed video blob not found")
        uri = f"at://{self.did}/{POST}/{rkey}"
        if uri in self.records:
            return xrpc_error(400, "InvalidRequest", "Record already exists")
        cid = "bafyrei" + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:52]
        self.records[uri] = {"uri": uri, "cid": cid, "value": record}
        return Response(200, {"uri": uri, "cid": cid, "commit": {"cid": "bafyreicommit", "rev": rkey},
                              "validationStatus": "valid"})

    def _get_record(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        uri = f"at://{self.did}/{req.query.get('collection')}/{req.query.get('rkey')}"
        if req.query.get("repo") not in (self.did, self.handle) or uri not in self.records:
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return Response(200, self.records[uri])

    def _get_posts(self, req: Request) -> Response:
        if denied := self._denied(req):
            return denied
        uri = req.query.get("uris", "")
        if uri not in self.records:
            return Response(200, {"posts": []})
        counts = {"likeCount": 0, "repostCount": 0, "replyCount": 0, "quoteCount": 0, **self.counts.get(uri, {})}
        return Response(200, {"posts": [{"uri": uri, "cid": self.records[uri]["cid"],
                                         "author": {"did": self.did, "handle": self.handle},
                                         "record": self.records[uri]["value"], **counts}]})
