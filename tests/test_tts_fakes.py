"""Local stand-ins for the voice and music providers: real HTTP on 127.0.0.1, the providers' wire formats.

The adapters under test use their real clients (the `openai` and `elevenlabs` SDKs, httpx for Freesound);
only the far end is ours. Audio comes from real Piper takes (cached per process) encoded by the bundled
FFmpeg, so the chain's decoders and QA_TTS see the kind of bytes the real services send.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

# Mid-band speaking rate for Piper Joe; the script every "good" provider says.
SCRIPT = "Readable code saves everyone time, because clear names explain what a function actually does."
OTHER_WORDS = "The weather in the mountains stayed cold and rainy for the whole week of our holiday."


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Reply = tuple[int, str, bytes]
"""Status, content type, body."""


@dataclass
class LocalAPI:
    """A threaded HTTP/1.1 server on an ephemeral port; routes are (method, path regex) -> handler."""

    routes: list[tuple[str, re.Pattern[str], Callable[[Request, re.Match[str]], Reply]]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def route(self, method: str, pattern: str, handler: Callable[[Request, re.Match[str]], Reply]) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def calls(self, pattern: str) -> list[Request]:
        return [r for r in self.requests if re.fullmatch(pattern, r.path)]

    @contextlib.contextmanager
    def running(self) -> Iterator[LocalAPI]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                api.requests.append(request)
                status, ctype, body = 404, "application/json", b'{"detail":"not found"}'
                for method, pattern, handler in api.routes:
                    match = pattern.fullmatch(parts.path)
                    if method == self.command and match:
                        status, ctype, body = handler(request, match)
                        break
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@contextlib.contextmanager
def blackhole() -> Iterator[str]:
    """A TCP port that accepts connections and never says a word: a network that swallows packets."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def closed_port() -> str:
    """A port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ---------------------------------------------------------------- audio fixtures


@lru_cache(maxsize=8)
def piper_wav(text: str) -> bytes:
    """Real Piper audio of `text` as WAV bytes, made once per process."""
    import tempfile

    from sma.services.voice.engines.piper import PiperEngine

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "take.wav"
        PiperEngine().synthesize(text, path)
        return path.read_bytes()


def wav_at(data: bytes, rate: int) -> bytes:
    """The WAV resampled to `rate` (providers answer at their own rates)."""
    import tempfile

    from sma.services.voice.engines.audio import decode_to_wav

    with tempfile.TemporaryDirectory() as tmp:
        return decode_to_wav(data, Path(tmp) / "r.wav", rate=rate).read_bytes()


def pcm_frames(wav_bytes: bytes) -> bytes:
    """The samples of a WAV without its header: what `pcm_*` output formats send."""
    import io

    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        return wav.readframes(wav.getnframes())


def encode(data: bytes, fmt: str) -> bytes:
    """Re-encode audio bytes with the bundled FFmpeg (`mp3`, `ogg`, `ipod` for m4a)."""
    from sma.services.media.ffmpeg import FFmpeg

    codec = {"mp3": "libmp3lame", "ogg": "libvorbis", "ipod": "aac"}[fmt]
    cmd = [FFmpeg().binary, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-c:a", codec, "-f", fmt, "pipe:1"]
    return subprocess.run(cmd, input=data, capture_output=True, check=True, timeout=60).stdout


def tone_wav(path: Path, seconds: float, freq: float = 220.0, rate: int = 44100, level: float = 0.3) -> Path:
    """A soft chord-ish tone: audible, unclipped, not silent."""
    t = np.arange(int(seconds * rate)) / rate
    signal = level * (np.sin(2 * np.pi * freq * t) + 0.5 * np.sin(2 * np.pi * freq * 1.5 * t)) / 1.5
    ints = np.round(signal * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(ints.tobytes())
    return path


@lru_cache(maxsize=4)
def tone_mp3(seconds: float) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return encode(tone_wav(Path(tmp) / "t.wav", seconds).read_bytes(), "mp3")
