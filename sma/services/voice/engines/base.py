"""What every engine factory gets: the TTS settings, the secrets and the project the voice is for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sma.settings import Secrets, TTSSettings


@dataclass(frozen=True)
class EngineContext:
    settings: TTSSettings
    secrets: Secrets | None = None
    project_id: str = field(default="default")
    language: str = field(default="en")
    """The project's BCP-47 tag: engines pick a voice for it or say they have none."""


def secret_value(secrets: Secrets | None, name: str) -> str | None:
    """A secret's plain value for an SDK client, or None when unset (never logged, never in a reason)."""
    if secrets is None:
        return None
    value = getattr(secrets, name, None)
    return value.get_secret_value() if value is not None and value.get_secret_value() else None


def voice_for_language(voices: dict[str, str], default: str, language: str, default_speaks_any: bool) -> str | None:
    """The voice configured for the language (full tag, then primary), the default for English or when it is
    multilingual; None when nothing configured speaks the language."""
    primary = language.split("-")[0].lower()
    if voices.get(language) or voices.get(primary):
        return voices.get(language) or voices[primary]
    return default if primary == "en" or default_speaks_any else None
