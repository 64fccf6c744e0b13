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


def secret_value(secrets: Secrets | None, name: str) -> str | None:
    """A secret's plain value for an SDK client, or None when unset (never logged, never in a reason)."""
    if secrets is None:
        return None
    value = getattr(secrets, name, None)
    return value.get_secret_value() if value is not None and value.get_secret_value() else None
