"""edge-tts: Microsoft Edge's online voices, no key, but only with the internet.

Offline it must not stall the chain: a deadline on the *first* audio chunk covers every way of being
offline at once (DNS, refused or black-holed connections, a proxy that never answers), and the event loop
is closed without waiting for a stuck DNS thread, so the hand-over to the next engine comes in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from sma.services.voice.engines.audio import decode_to_wav
from sma.services.voice.engines.base import EngineContext, voice_for_language
from sma.services.voice.engines.config import EdgeSettings

T = TypeVar("T")


class EdgeOffline(RuntimeError):
    """No audio arrived in time: offline, blocked, or the service is down."""


def run_detached(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a private loop; unlike asyncio.run, closing does not wait for stuck executor threads."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class EdgeEngine:
    name = "edge"

    def __init__(self, settings: EdgeSettings, language_reason: str | None = None) -> None:
        self.settings = settings
        self.language_reason = language_reason

    @classmethod
    def from_context(cls, ctx: EngineContext) -> EdgeEngine:
        settings = ctx.settings.edge
        multilingual = "multilingual" in settings.voice.lower()
        voice = voice_for_language(settings.voices, settings.voice, ctx.language, default_speaks_any=multilingual)
        if voice is None:
            return cls(settings, f"no edge-tts voice for {ctx.language} (tts.edge.voices.{ctx.language})")
        return cls(settings.model_copy(update={"voice": voice}))

    def unavailable_reason(self) -> str | None:
        if self.language_reason:
            return self.language_reason
        if not self.settings.enabled:
            return "edge-tts is off (tts.edge.enabled: it needs the internet)"
        try:
            import edge_tts  # noqa: F401
        except ImportError:
            return "edge-tts is not installed"
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        mp3 = out_wav.with_suffix(".edge.mp3")
        try:
            run_detached(self._download(text, mp3))
            decode_to_wav(mp3, out_wav)
        finally:
            mp3.unlink(missing_ok=True)

    async def _download(self, text: str, mp3: Path) -> None:
        import edge_tts

        first = max(1, int(self.settings.first_audio_s))
        communicate = edge_tts.Communicate(
            text,
            self.settings.voice,
            rate=self.settings.rate,
            proxy=self.settings.proxy,
            connect_timeout=first,
            receive_timeout=max(first, int(self.settings.timeout_s)),
        )
        chunks = communicate.stream()
        with mp3.open("wb") as fh:
            try:
                audio = await asyncio.wait_for(_next_audio(chunks), timeout=first)
            except TimeoutError:
                raise EdgeOffline(f"no audio from edge-tts within {first} s (offline or blocked?)") from None
            except OSError as exc:  # aiohttp's connection errors are OSErrors: DNS, refused, reset
                raise EdgeOffline(f"edge-tts unreachable: {exc}") from None
            fh.write(audio)
            await asyncio.wait_for(_drain(chunks, fh), timeout=self.settings.timeout_s)
        await chunks.aclose()


async def _next_audio(chunks: Any) -> bytes:
    async for chunk in chunks:
        if chunk["type"] == "audio":
            data: bytes = chunk["data"]
            return data
    raise EdgeOffline("edge-tts returned no audio")


async def _drain(chunks: Any, fh: Any) -> None:
    async for chunk in chunks:
        if chunk["type"] == "audio":
            fh.write(chunk["data"])
