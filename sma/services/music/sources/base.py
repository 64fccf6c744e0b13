"""The music tier interface: what a tier is asked for and what it hands back before fitting."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

AUDIO_SUFFIXES = (".wav", ".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".aif", ".aiff")


class MusicSourceError(RuntimeError):
    """A tier answered but gave nothing usable (no results, silent audio); the next tier is tried."""


@dataclass(frozen=True)
class MusicJob:
    """One run's music: the mood as a word the tiers understand, the exact length, and a stable seed."""

    mood: str
    duration_s: float
    seed: str

    @property
    def pick(self) -> int:
        """A stable number for choosing among candidates: same run, same choice."""
        return int.from_bytes(hashlib.sha256(self.seed.encode()).digest()[:4], "big")

    def prompt(self, template: str) -> str:
        return template.replace("{mood}", self.mood)


@dataclass
class Fetched:
    """Audio a tier produced, in any format FFmpeg reads; `fitted` when already exact and faded."""

    path: Path
    notes: list[str] = field(default_factory=list)
    fitted: bool = False


class MusicSource(Protocol):
    name: str

    def unavailable_reason(self) -> str | None:
        """None when the tier can be used here; otherwise why it is skipped."""
        ...

    def fetch(self, job: MusicJob, workdir: Path) -> Fetched:
        """Produce audio for `job` under `workdir`; raise on failure."""
        ...
