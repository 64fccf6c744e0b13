"""ElevenLabs text to speech with the official `elevenlabs` SDK (`POST /v1/text-to-speech/{voice_id}`).

`pcm_*` output is asked for by default: raw samples need no decoder and carry no encoder delay, so the
WAV the chain stores is exactly what the API produced.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sma.services.voice.engines.audio import provider_audio_to_wav
from sma.services.voice.engines.base import EngineContext, secret_value
from sma.services.voice.engines.config import ElevenLabsVoiceSettings

if TYPE_CHECKING:
    from elevenlabs import ElevenLabs
    from elevenlabs.core.request_options import RequestOptions

NO_RETRIES: RequestOptions = {"max_retries": 0}
"""A failing tier hands over at once; Temporal retries the whole step, not the SDK inside it."""


def make_client(api_key: str, base_url: str | None, timeout_s: float) -> ElevenLabs:
    from elevenlabs import ElevenLabs

    if base_url:
        return ElevenLabs(api_key=api_key, base_url=base_url.rstrip("/"), timeout=timeout_s)
    return ElevenLabs(api_key=api_key, timeout=timeout_s)


def collect(chunks: Iterable[bytes], what: str) -> bytes:
    """Drain the SDK's byte iterator, turning its ApiError into a short message without headers."""
    from elevenlabs.core.api_error import ApiError

    try:
        return b"".join(chunks)
    except ApiError as exc:
        body = str(exc.body)[:300]
        raise RuntimeError(f"ElevenLabs {what} answered HTTP {exc.status_code}: {body}") from None


class ElevenLabsEngine:
    name = "elevenlabs"

    def __init__(self, settings: ElevenLabsVoiceSettings, api_key: str | None, language: str = "en") -> None:
        self.settings = settings
        self._api_key = api_key
        self.language = language

    @classmethod
    def from_context(cls, ctx: EngineContext) -> ElevenLabsEngine:
        return cls(ctx.settings.elevenlabs, secret_value(ctx.secrets, "elevenlabs_api_key"), ctx.language)

    def unavailable_reason(self) -> str | None:
        if not self._api_key:
            return "no ElevenLabs API key (secrets.elevenlabs_api_key)"
        if self.language.split("-")[0].lower() != "en" and "monolingual" in self.settings.model_id:
            return f"{self.settings.model_id} speaks English only; use eleven_multilingual_v2 for {self.language}"
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        from elevenlabs.core.api_error import ApiError

        client = make_client(self._api_key or "", self.settings.base_url, self.settings.timeout_s)
        try:
            chunks = client.text_to_speech.convert(
                self.settings.voice_id,
                text=text,
                model_id=self.settings.model_id,
                output_format=self.settings.output_format,
                request_options=NO_RETRIES,
            )
        except ApiError as exc:
            raise RuntimeError(f"ElevenLabs text-to-speech answered HTTP {exc.status_code}") from None
        provider_audio_to_wav(collect(chunks, "text-to-speech"), self.settings.output_format, out_wav)
