"""One threaded HTTP server on 127.0.0.1 answering like Reddit, the Algolia HN API, the Google Trends RSS
feed, two blog feeds (RSS and Atom), the GitHub search API and the YouTube Data API v3, with a request log
and fault injection (an error answer for the next N requests to a path: 429 with Retry-After, 5xx, malformed bodies)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.trend_fakes import payloads


@dataclass
class Fault:
    prefix: str
    status: int
    body: bytes
    headers: dict[str, str]
    times: int


@dataclass
class Logged:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class TrendApis:
    base_url: str = ""
    now: float = 0.0
    log: list[Logged] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, prefix: str, status: int, body: bytes | dict | str = b"", times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        """The next `times` requests whose path starts with `prefix` get this answer (times=-1: all)."""
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        with self.lock:
            self.faults.append(Fault(prefix, status, body, dict(headers or {}), times))

    def requests(self, prefix: str) -> list[Logged]:
        return [r for r in self.log if r.path.startswith(prefix)]

    def answer(self, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            self.log.append(Logged(path, query, headers))
            for fault in self.faults:
                if path.startswith(fault.prefix) and fault.times != 0:
                    fault.times -= 1 if fault.times > 0 else 0
                    ctype = "application/json" if fault.body.startswith((b"{", b"[")) else "text/plain"
                    return fault.status, fault.body, {"Content-Type": ctype, **fault.headers}
        return route(path, query, headers, self.now)


def route(path: str, query: dict[str, str], headers: dict[str, str], now: float) -> tuple[int, bytes, dict]:
    as_json = {"Content-Type": "application/json; charset=UTF-8"}
    if path.startswith("/r/") and path.endswith("/hot.json"):
        return 200, json.dumps(payloads.reddit_listing(path.split("/")[2], now)).encode(), as_json
    if path == "/api/v1/search":
        return 200, json.dumps(payloads.hn_search(now)).encode(), as_json
    if path == "/trending/rss":
        return 200, payloads.google_trends_rss(query.get("geo", "US"), now).encode(), {
            "Content-Type": "application/rss+xml; charset=utf-8"}
    if path == "/feeds/blog.rss":
        return 200, payloads.rss_feed(now).encode(), {"Content-Type": "application/rss+xml; charset=utf-8"}
    if path == "/feeds/news.atom":
        return 200, payloads.atom_feed(now).encode(), {"Content-Type": "application/atom+xml"}
    if path == "/feeds/not-a-feed":
        return 200, b"<html><body><p>Just a page</p></body></html>", {"Content-Type": "text/html"}
    if path == "/search/repositories":
        return 200, json.dumps(payloads.github_search(now)).encode(), {
            **as_json, "x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-resource": "search"}
    if path == "/youtube/v3/search":
        if not query.get("key"):
            return 403, json.dumps(payloads.youtube_error(403, "forbidden", "The request is missing a valid API key.")
                                   ).encode(), as_json
        return 200, json.dumps(payloads.youtube_search(now)).encode(), as_json
    if path == "/youtube/v3/videos":
        if not query.get("key"):
            return 403, json.dumps(payloads.youtube_error(403, "forbidden", "missing key")).encode(), as_json
        ids = query.get("id", "").split(",") if query.get("id") else None
        return 200, json.dumps(payloads.youtube_videos(now, ids)).encode(), as_json
    return 404, json.dumps({"message": "Not Found"}).encode(), as_json


@contextmanager
def serve(now: float) -> Iterator[TrendApis]:
    """The fake APIs at an ephemeral port; `now` (Unix seconds) anchors every timestamp they send."""
    apis = TrendApis(now=now)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = apis.answer(split.path, query, headers)
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    apis.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield apis
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
