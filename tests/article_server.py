"""A local web server with articles and hostile pages, for runs started from a link: a news article, a
redirect to it, a PDF, a page that is too big (declared or streamed), one that never answers in time,
an empty page, and a 404."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARTICLE_TITLE = "Lighthouse keepers return to Skerry Point"
FACTS = (
    "The Skerry Point lighthouse will be staffed again from March after 41 years of automatic operation.",
    "The coastal trust hired 3 keepers, who will also run a small weather station on the island.",
    "Visitors can book one of 12 guided tours each week during the summer season.",
)
ARTICLE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{ARTICLE_TITLE} | Harbour Gazette</title>
<meta name="description" content="A lighthouse on the northern coast gets human keepers again.">
<meta property="og:site_name" content="Harbour Gazette"></head>
<body><nav><a href="/">Home</a> | <a href="/news">News</a> | <a href="/sport">Sport</a></nav>
<main><article><h1>{ARTICLE_TITLE}</h1><p class="byline">By A. Reporter</p>
<p>{FACTS[0]} The tower was built in 1868 and its lamp can be seen from 20 nautical miles away.</p>
<p>{FACTS[1]} Their readings will be shared with the national forecast service every hour.</p>
<p>{FACTS[2]} Tickets go on sale in February.</p>
</article></main><footer>© Harbour Gazette. Subscribe to our newsletter.</footer></body></html>"""


@dataclass
class ArticleSite:
    base_url: str = ""
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def _answer(path: str) -> tuple[int, dict[str, str], list[bytes], float]:
    """Status, headers, body chunks and a delay before each chunk."""
    html = {"Content-Type": "text/html; charset=utf-8"}
    if path == "/news/lighthouse":
        return 200, html, [ARTICLE.encode()], 0.0
    if path == "/short/lighthouse":
        return 301, {"Location": "/news/lighthouse"}, [b""], 0.0
    if path == "/loop":
        return 302, {"Location": "/loop"}, [b""], 0.0
    if path == "/to-ftp":
        return 302, {"Location": "ftp://files.example.com/a.txt"}, [b""], 0.0
    if path == "/report.pdf":
        return 200, {"Content-Type": "application/pdf"}, [b"%PDF-1.7 ..."], 0.0
    if path == "/huge-declared":
        return 200, {**html, "Content-Length": str(50_000_000)}, [b"<html>"], 0.0
    if path == "/huge-streamed":
        return 200, html, [b"<p>" + b"x" * 65_536 + b"</p>" for _ in range(64)], 0.0
    if path == "/slow":
        return 200, html, [b"<html>", b"<p>late</p>"], 3.0
    if path == "/empty":
        return 200, html, [b"<html><body><nav>Home</nav><p>Sign in to read.</p></body></html>"], 0.0
    return 404, html, [b"<h1>Not found</h1>"], 0.0


@contextmanager
def serve_articles() -> Iterator[ArticleSite]:
    site = ArticleSite()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection closes: streams need no length

        def do_GET(self) -> None:
            site.hits.append(self.path)
            status, headers, chunks, delay = _answer(self.path.split("?")[0])
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            try:
                for chunk in chunks:
                    if delay:
                        time.sleep(delay)
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (size or time limit): that is the point

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
