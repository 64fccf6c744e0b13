"""Local HTTP servers that speak the OpenAI chat-completions and Anthropic messages wire formats.

The real `openai` and `anthropic` SDK clients call them through `base_url`; nothing in the SDKs is patched.
Each server answers from a queue of scripted behaviours (then its default), and keeps every request body
so tests can assert on what the gateway really sent. The tests at the bottom pin the wire format.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DRAFT: dict[str, Any] = {
    "title": "Small tests catch big bugs",
    "hook": "What if one tiny test saved your whole release?",
    "hook_style": "question",
    "beats": [
        {"narration": "A small test runs in a second, so you run it all the time.",
         "visual": {"kind": "code", "code": "def test_add():\n    assert add(1, 1) == 2", "language": "python",
                    "diagram": "", "image_prompt": ""}},
        {"narration": "It catches the bug before your users ever see it.",
         "visual": {"kind": "none", "code": "", "language": "", "diagram": "", "image_prompt": ""}},
        {"narration": "Write the test first, watch it fail, then make it pass and keep it forever.",
         "visual": {"kind": "diagram", "code": "", "language": "", "diagram": "red -> green -> refactor",
                    "image_prompt": ""}},
        {"narration": "Small tests are cheap to write and cheap to keep, and they tell you exactly what broke.",
         "visual": {"kind": "image", "code": "", "language": "", "diagram": "",
                    "image_prompt": "a green check mark on a laptop screen"}},
    ],
    "cta": "Follow for one testing habit a day.",
    "hashtags": ["#testing", "python", "#TDD"],
    "description": "Why small tests catch big bugs.",
    "platforms": [{"platform": "youtube", "hashtags": ["#shorts", "#testing"], "description": "Small tests."},
                  {"platform": "local", "hashtags": ["#testing"], "description": "Small tests, big wins."}],
}

VISION: dict[str, Any] = {"context": "A desk with a laptop showing a test run.", "mood": "focused",
                          "subjects": ["laptop", "terminal", "coffee cup"]}


class FakeLLMServer:
    """One ThreadingHTTPServer on 127.0.0.1 with an ephemeral port, for one wire format."""

    def __init__(self, kind: str) -> None:
        assert kind in ("openai", "anthropic")
        self.kind = kind
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.behaviours: list[dict[str, Any]] = []
        self.default: dict[str, Any] = {"json": DRAFT}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    # ------------------------------------------------------------ control

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}" + ("/v1" if self.kind == "openai" else "")

    def script(self, *behaviours: dict[str, Any]) -> None:
        """Answer the next requests with these behaviours, in order: {"status": 500}, {"delay": 2},
        {"json": {...}}, {"text": "..."}, {"retry_after": 1, "status": 429}."""
        with self.lock:
            self.behaviours.extend(behaviours)

    def _next(self) -> dict[str, Any]:
        with self.lock:
            return self.behaviours.pop(0) if self.behaviours else self.default

    def start(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------ wire format

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                expected = "/v1/chat/completions" if server.kind == "openai" else "/v1/messages"
                if self.path != expected:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                with server.lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                behaviour = server._next()
                if behaviour.get("delay"):
                    time.sleep(behaviour["delay"])
                status = behaviour.get("status", 200)
                if status != 200:
                    headers = {"retry-after": str(behaviour["retry_after"])} if "retry_after" in behaviour else {}
                    self._send(status, server.error_body(status), headers)
                    return
                self._send(200, server.success_body(body, behaviour))

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)

        return Handler

    def error_body(self, status: int) -> dict[str, Any]:
        if self.kind == "openai":
            kind = "rate_limit_exceeded" if status == 429 else "server_error"
            return {"error": {"message": f"fake error {status}", "type": kind, "param": None, "code": None}}
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": f"fake error {status}"}}

    def success_body(self, request: dict[str, Any], behaviour: dict[str, Any]) -> dict[str, Any]:
        text = behaviour.get("text")
        data = behaviour.get("json")
        usage_in = behaviour.get("tokens_in", 1200)
        usage_out = behaviour.get("tokens_out", 400)
        if self.kind == "openai":
            return self._openai(request, text, data, usage_in, usage_out)
        return self._anthropic(request, text, data, usage_in, usage_out)

    @staticmethod
    def _openai(request: dict[str, Any], text: str | None, data: Any, tokens_in: int, tokens_out: int) -> dict:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        tools = request.get("tools")
        if text is None and tools:
            name = tools[0]["function"]["name"]
            message["tool_calls"] = [{"id": "call_1", "type": "function",
                                      "function": {"name": name, "arguments": json.dumps(data)}}]
            finish = "tool_calls"
        else:
            message["content"] = text if text is not None else json.dumps(data)
        return {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", ""),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                      "total_tokens": tokens_in + tokens_out},
        }

    @staticmethod
    def _anthropic(request: dict[str, Any], text: str | None, data: Any, tokens_in: int, tokens_out: int) -> dict:
        tools = request.get("tools")
        if text is None and tools:
            content = [{"type": "tool_use", "id": "toolu_fake", "name": tools[0]["name"], "input": data}]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": text if text is not None else json.dumps(data)}]
            stop = "end_turn"
        return {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": request.get("model", ""),
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }


@contextlib.contextmanager
def serving(kind: str) -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(kind).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def openai_server() -> Iterator[FakeLLMServer]:
    with serving("openai") as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeLLMServer]:
    with serving("anthropic") as server:
        yield server


# ---------------------------------------------------------------- the fakes answer like the real APIs


def _post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_openai_fake_speaks_chat_completions(openai_server: FakeLLMServer) -> None:
    openai_server.script({"status": 500})
    status, body = _post(openai_server.url + "/chat/completions", {"model": "m", "messages": []})
    assert status == 500 and body["error"]["type"] == "server_error"
    status, body = _post(openai_server.url + "/chat/completions", {"model": "m", "messages": []})
    assert status == 200 and body["object"] == "chat.completion"
    assert json.loads(body["choices"][0]["message"]["content"]) == DRAFT
    assert body["usage"]["total_tokens"] == 1600


def test_anthropic_fake_speaks_messages(anthropic_server: FakeLLMServer) -> None:
    status, body = _post(anthropic_server.url + "/v1/messages", {
        "model": "m", "max_tokens": 5, "messages": [],
        "tools": [{"name": "script", "input_schema": {"type": "object"}}]})
    assert status == 200 and body["type"] == "message" and body["stop_reason"] == "tool_use"
    assert body["content"][0] == {"type": "tool_use", "id": "toolu_fake", "name": "script", "input": DRAFT}


# ---------------------------------------------------------------- settings for the LLM tests


def llm_settings(tmp_path: Any, *, openai_url: str | None = None, anthropic_url: str | None = None,
                 chain: list[str] | None = None, budget: float | None = None, target_seconds: float = 20,
                 **llm: Any) -> Any:
    """Settings with project "test" and the built-in providers pointed at local fake servers."""
    from sma.services.llm.config import LLMSettings, ProviderSettings
    from sma.settings import PipelineSettings, ProjectSettings, Secrets, Settings

    providers = []
    if openai_url:
        providers.append(ProviderSettings(name="openai", kind="openai", base_url=openai_url, timeout_s=5))
    if anthropic_url:
        providers.append(ProviderSettings(name="anthropic", kind="anthropic", base_url=anthropic_url, timeout_s=5))
    defaults: dict[str, Any] = {
        "providers": providers, "daily_budget_usd": budget,
        "chains": {"script": chain or ["openai", "anthropic"], "vision": chain or ["openai", "anthropic"]},
    }
    return Settings(
        data_dir=tmp_path / "data",
        pipeline=PipelineSettings(target_seconds=target_seconds),
        projects=[ProjectSettings(id="test", niche="developer tools", banned_phrases=["game changer"],
                                  platforms=["local", "youtube"])],
        llm=LLMSettings(**{**defaults, **llm}),
        secrets=Secrets(openai_api_key="sk-test-openai", anthropic_api_key="sk-ant-test"),
    )
