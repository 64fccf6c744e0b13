"""Tables of the voice chain (registered on SQLModel.metadata by import).

`tts_calls`: one row per synthesis attempt by a TTS engine (an engine skipped before it was tried makes no
row). `cost_usd` comes from `tts.prices_per_1k_chars`; the daily TTS budget sums it over a project's rows
since 00:00 UTC (ix_tts_calls_project_created), the dashboard groups a date range by day and engine
(ix_tts_calls_created_at). `run_id` is not a foreign key: rows outlive runs and `sma` commands synthesize
outside any run.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, _text, utcnow


class TTSCall(SQLModel, table=True):
    __tablename__ = "tts_calls"
    __table_args__ = (sa.Index("ix_tts_calls_project_created", "project_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # Indexed by ix_tts_calls_project_created (leftmost column).
    project_id: str = Field(foreign_key="projects.id", ondelete="CASCADE")
    run_id: str = ""
    engine: str = ""  # xtts | kokoro | elevenlabs | edge | piper
    model: str = ""  # model and voice, e.g. eleven_multilingual_v2/JBFqnCBsd6RMkjVDRZzb
    characters: int = 0
    audio_s: float = 0.0  # length of the take (0 when the engine produced nothing)
    wall_s: float = 0.0  # time the engine took to synthesize (QA_TTS not included)
    outcome: str = ""  # ok | failed | qa_failed
    error: str = _text()
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


VOICE_TABLES: tuple[type[SQLModel], ...] = (TTSCall,)
