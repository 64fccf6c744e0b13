"""Contracts of TTS usage: one record per synthesis attempt, and the per-day rows shown and printed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

TTSOutcome = Literal["ok", "failed", "qa_failed"]


class TTSCallRecord(BaseModel):
    """One synthesis by one engine. A skipped engine (no key, no GPU, budget) makes no record."""

    project_id: str
    run_id: str = ""
    engine: str
    model: str = ""
    characters: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    outcome: TTSOutcome
    error: str = ""
    cost_usd: float = 0.0
    created_at: datetime | None = None


class TTSUsageDay(BaseModel):
    """Attempts of one engine on one UTC day (`day` is YYYY-MM-DD)."""

    day: str
    engine: str
    calls: int = 0
    failed: int = 0
    qa_failed: int = 0
    characters: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    cost_usd: float = 0.0
