"""The engine chain of the voiceover: the engine protocol, a constructor per chain name, and each
project's chain (its own order and cloned voice), Piper then espeak-ng appended as the floor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sma.models.language import primary_language
from sma.services.voice.engines.base import EngineContext
from sma.services.voice.engines.piper import PiperEngine
from sma.settings import TTSSettings

if TYPE_CHECKING:
    from sma.settings import Secrets


class TTSEngine(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the engine can be used here; otherwise why it is skipped."""
        ...

    def synthesize(self, text: str, out_wav: Path) -> None:
        """Write `text` spoken as a WAV file at `out_wav`; raise on failure."""
        ...


class UnavailableEngine:
    """Placeholder for a chain name this build does not implement, so the chain still reports it."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        self.name = name
        self.reason = reason or f"engine {name!r} is not available in this build"

    def unavailable_reason(self) -> str | None:
        return self.reason

    def synthesize(self, text: str, out_wav: Path) -> None:
        raise RuntimeError(self.reason)


def _xtts(ctx: EngineContext) -> TTSEngine:
    from sma.services.voice.engines.xtts import XTTSEngine

    return XTTSEngine.from_context(ctx)


def _kokoro(ctx: EngineContext) -> TTSEngine:
    from sma.services.voice.engines.kokoro import KokoroEngine

    return KokoroEngine.from_context(ctx)


def _elevenlabs(ctx: EngineContext) -> TTSEngine:
    from sma.services.voice.engines.elevenlabs import ElevenLabsEngine

    return ElevenLabsEngine.from_context(ctx)


def _edge(ctx: EngineContext) -> TTSEngine:
    from sma.services.voice.engines.edge import EdgeEngine

    return EdgeEngine.from_context(ctx)


def _espeak(ctx: EngineContext) -> TTSEngine:
    from sma.services.voice.engines.espeak import EspeakEngine

    return EspeakEngine.from_context(ctx)


ENGINE_FACTORIES: dict[str, Callable[[EngineContext], TTSEngine]] = {
    "xtts": _xtts,
    "kokoro": _kokoro,
    "elevenlabs": _elevenlabs,
    "edge": _edge,
    "piper": PiperEngine.from_context,
    "espeak-ng": _espeak,
}
"""Chain name -> constructor. Constructing is cheap: SDKs and models load on first synthesis."""


def chain_names(settings: TTSSettings, project_id: str | None = None, language: str = "en") -> list[str]:
    """The project's chain (`tts.project_chains`) or the default one, normalised, Piper appended as the floor.

    For a language other than English espeak-ng comes after Piper: no registry ships a Piper voice for most
    languages, and a robotic voice in the right language beats a natural one in the wrong language.
    """
    configured = settings.project_chains.get(project_id, settings.chain) if project_id else settings.chain
    floor = ["piper"] if primary_language(language) == "en" else ["piper", "espeak-ng"]
    names: list[str] = []
    for raw in [*configured, *floor]:
        name = raw.strip().lower()
        if name and name not in names:
            names.append(name)
    return names


def build_engines(
    settings: TTSSettings, secrets: Secrets | None = None, project_id: str | None = None, language: str = "en"
) -> list[TTSEngine]:
    """The chain for one project as engines, in order; an unknown name stays in it as unavailable."""
    ctx = EngineContext(settings=settings, secrets=secrets, project_id=project_id or "default", language=language)
    engines: list[TTSEngine] = []
    for name in chain_names(settings, project_id, language):
        factory = ENGINE_FACTORIES.get(name)
        engines.append(factory(ctx) if factory else UnavailableEngine(name))
    return engines


class ProjectChains:
    """Engines per project, built on first use: projects may have their own chain and cloned voice."""

    def __init__(self, settings: TTSSettings, secrets: Secrets | None = None,
                 languages: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.secrets = secrets
        self.languages = languages or (lambda _project: "en")
        self._chains: dict[str, list[TTSEngine]] = {}
        self._lock = threading.Lock()

    def __call__(self, project_id: str) -> list[TTSEngine]:
        with self._lock:
            chain = self._chains.get(project_id)
            if chain is None:
                language = self.languages(project_id)
                chain = self._chains[project_id] = build_engines(self.settings, self.secrets, project_id, language)
            return chain
