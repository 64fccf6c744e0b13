"""A threaded HTTP/1.1 server on 127.0.0.1 with routes, a request log and fault injection.

Faults model what real APIs do to clients: an error answer for the next N matching requests (429 with
Retry-After, 5xx, expired tokens), a request that is applied and then the connection dropped before the
answer (a crash between the platform call and the client learning about it), and a request that is
applied and then held until the test releases it (to kill a worker at exactly that moment).
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

HOLD_LIMIT_S = 60.0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def form(self) -> dict[str, str]:
        """Fields of an urlencoded or multipart body, plus the query string (Graph API style)."""
        fields = dict(self.query)
        ctype = self.header("content-type")
        if ctype.startswith("application/x-www-form-urlencoded"):
            fields.update(parse_qsl(self.body.decode(), keep_blank_values=True))
        elif ctype.startswith("multipart/form-data"):
            fields.update({k: v.decode() for k, (v, _) in self._parts().items() if not _})
        return fields

    def files(self) -> dict[str, bytes]:
        return {k: v for k, (v, filename) in self._parts().items() if filename}

    def _parts(self) -> dict[str, tuple[bytes, str]]:
        head = f"Content-Type: {self.header('content-type')}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        parts: dict[str, tuple[bytes, str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_param("filename", header="content-disposition") or ""
            parts[str(name)] = (part.get_payload(decode=True) or b"", str(filename))
        return parts


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        return json.dumps(self.body).encode(), "application/json; charset=UTF-8"


Handler = Callable[[Request], Response]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    kind: str  # "answer" | "drop" | "hold"
    times: int
    response: Response | None = None
    when: Callable[[Response], bool] | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class FakeServer:
    name = "fake"

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------ setup

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"$"), handler))

    def fail(self, method: str, pattern: str, status: int, body: Any = None, headers: dict[str, str] | None = None,
             times: int = 1) -> Fault:
        """Answer the next `times` matching requests with this error instead of handling them."""
        fault = Fault(method, re.compile(pattern), "answer", times, Response(status, body, headers or {}))
        self.faults.append(fault)
        return fault

    def drop_after(self, method: str, pattern: str, times: int = 1,
                   when: Callable[[Response], bool] | None = None) -> Fault:
        """Handle the request (its effect happens), then close the connection without an answer.

        With `when`, only answers for which it is true count (e.g. the final 201 of an upload)."""
        fault = Fault(method, re.compile(pattern), "drop", times, when=when)
        self.faults.append(fault)
        return fault

    def hold_after(self, method: str, pattern: str, when: Callable[[Response], bool] | None = None) -> Fault:
        """Handle the request, set `fault.reached`, then wait for `fault.release` before answering."""
        fault = Fault(method, re.compile(pattern), "hold", 1, when=when)
        self.faults.append(fault)
        return fault

    def calls(self, method: str, pattern: str) -> list[Request]:
        rx = re.compile(pattern)
        with self.lock:
            return [r for r in self.log if r.method == method and rx.search(r.path)]

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                return

            def _any(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=f"fake-{self.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        for fault in self.faults:
            fault.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------ dispatch

    def _read_body(self, h: BaseHTTPRequestHandler) -> bytes:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(h.rfile.readline().strip(), 16)
                if size == 0:
                    h.rfile.readline()
                    return data
                data += h.rfile.read(size)
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _fault_for(self, req: Request, response: Response | None = None) -> Fault | None:
        """Before handling (response None): an `answer` fault; after: a `drop` or `hold` fault."""
        with self.lock:
            for fault in self.faults:
                if fault.times <= 0 or fault.method != req.method or not fault.pattern.search(req.path):
                    continue
                if (fault.kind == "answer") != (response is None):
                    continue
                if response is not None and fault.when is not None and not fault.when(response):
                    continue
                fault.times -= 1
                return fault
        return None

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        req = Request(h.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                      {k.lower(): v for k, v in h.headers.items()}, self._read_body(h), self.url)
        with self.lock:
            self.log.append(req)
        fault = self._fault_for(req)
        if fault is not None and fault.kind == "answer":
            assert fault.response is not None
            return self._write(h, fault.response)
        response = self._handle(req)
        fault = self._fault_for(req, response)
        if fault is not None and fault.kind == "drop":
            h.close_connection = True
            return None
        if fault is not None and fault.kind == "hold":
            fault.reached.set()
            fault.release.wait(HOLD_LIMIT_S)
        with contextlib.suppress(OSError):  # the client may be gone (killed while we held the answer)
            self._write(h, response)
        return None

    def _handle(self, req: Request) -> Response:
        for method, pattern, handler in self.routes:
            if method == req.method and pattern.match(req.path):
                with self.lock:
                    return handler(req)
        return Response(404, {"error": f"no route {req.method} {req.path}"})

    def _write(self, h: BaseHTTPRequestHandler, response: Response) -> None:
        body, ctype = response.encode()
        h.send_response(response.status)
        for key, value in response.headers.items():
            h.send_header(key, value)
        if ctype and "Content-Type" not in response.headers:
            h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
