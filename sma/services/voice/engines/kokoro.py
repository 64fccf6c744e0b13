"""Kokoro through an OpenAI-compatible speech endpoint (Kokoro-FastAPI or Speaches), with the `openai` SDK.

Both servers implement `POST {base_url}/audio/speech` as OpenAI does, so the official client with a
`base_url` is the whole adapter; the server is self-hosted, so no OpenAI key is ever sent to it.
"""

from __future__ import annotations

from pathlib import Path

from sma.services.voice.engines.audio import decode_to_wav
from sma.services.voice.engines.base import EngineContext, voice_for_language
from sma.services.voice.engines.config import KokoroSettings

PLACEHOLDER_KEY = "sk-local-no-key"
"""The SDK insists on a key; self-hosted Kokoro servers ignore it. Never the real OpenAI key."""


class KokoroEngine:
    name = "kokoro"

    def __init__(self, settings: KokoroSettings, language_reason: str | None = None) -> None:
        self.settings = settings
        self.language_reason = language_reason

    @classmethod
    def from_context(cls, ctx: EngineContext) -> KokoroEngine:
        settings = ctx.settings.kokoro
        voice = voice_for_language(settings.voices, settings.voice, ctx.language, default_speaks_any=False)
        if voice is None:
            return cls(settings, f"no Kokoro voice for {ctx.language} (tts.kokoro.voices.{ctx.language})")
        return cls(settings.model_copy(update={"voice": voice}))

    def unavailable_reason(self) -> str | None:
        if self.language_reason:
            return self.language_reason
        if not self.settings.base_url:
            return "tts.kokoro.base_url is not set (an OpenAI-compatible Kokoro server: Kokoro-FastAPI or Speaches)"
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        from openai import OpenAI

        # No SDK retries: a failing tier hands over at once and Temporal retries the whole step.
        client = OpenAI(
            base_url=self.settings.base_url, api_key=PLACEHOLDER_KEY, max_retries=0, timeout=self.settings.timeout_s
        )
        try:
            response = client.audio.speech.create(
                model=self.settings.model,
                voice=self.settings.voice,
                input=text,
                response_format="wav",
                speed=self.settings.speed,
            )
            decode_to_wav(response.read(), out_wav)
        finally:
            client.close()
