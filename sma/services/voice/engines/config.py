"""Config sections of the TTS engines (`tts.xtts`, `tts.kokoro`, `tts.elevenlabs`, `tts.edge`).

An engine whose section leaves its key setting empty is skipped with a reason, so the default chain
runs offline with no keys and each better tier switches on by filling in one value.
"""

from __future__ import annotations

from pydantic import Field

from sma.models.section import Section


class XTTSSettings(Section):
    model_dir: str | None = Field(
        None, description="local XTTS-v2 checkpoint folder (config.json, model.pth, vocab.json); never downloaded"
    )
    references_dir: str | None = Field(
        None, description="reference WAVs for voice cloning: <dir>/<project id>/*.wav, else <dir>/*.wav"
    )
    language: str = Field("en", description="for English projects; other projects speak their own language")
    max_references: int = Field(5, description="at most this many reference clips condition the voice")


class KokoroSettings(Section):
    base_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://kokoro:8880/v1")
    model: str = Field("kokoro", description="Kokoro-FastAPI: kokoro; Speaches: speaches-ai/Kokoro-82M-v1.0-ONNX")
    voice: str = "af_heart"
    voices: dict[str, str] = Field(default_factory=dict, description="language -> voice (es: ef_dora)")
    speed: float = 1.0
    timeout_s: float = 120.0


class ElevenLabsVoiceSettings(Section):
    base_url: str | None = Field(None, description="empty = https://api.elevenlabs.io (a proxy or test server)")
    voice_id: str = Field("JBFqnCBsd6RMkjVDRZzb", description="a premade or cloned voice of the account")
    model_id: str = "eleven_multilingual_v2"
    output_format: str = Field("pcm_24000", description="pcm_* is wrapped in WAV as is; other formats are decoded")
    timeout_s: float = 120.0


class EdgeSettings(Section):
    enabled: bool = Field(False, description="Microsoft Edge online voices: needs the internet, no key")
    voice: str = "en-US-AndrewMultilingualNeural"
    voices: dict[str, str] = Field(
        default_factory=dict, description="language -> voice (es: es-ES-AlvaroNeural); a Multilingual voice speaks any"
    )
    rate: str = "+0%"
    first_audio_s: int = Field(5, description="no audio within this many seconds (offline, blocked): hand over")
    timeout_s: float = 120.0
    proxy: str | None = None
