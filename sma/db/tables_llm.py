"""Tables of the llm capability (registered on SQLModel.metadata by import).

`llm_calls`: one row per attempted model call (and per call deliberately not made: budget, open circuit);
the daily budget sums `cost_usd` over a project's rows since 00:00 UTC, plus its `budget_holds` (calls in
flight). `script_attempts`: every
write_script attempt with its script and QA report. `run_id` is not a foreign key: `sma script` writes
scripts outside any pipeline run.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, _project_fk, _text, utcnow


class LLMCall(SQLModel, table=True):
    __tablename__ = "llm_calls"
    __table_args__ = (sa.Index("ix_llm_calls_project_created", "project_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # Indexed by ix_llm_calls_project_created (leftmost column).
    project_id: str = Field(foreign_key="projects.id", ondelete="CASCADE")
    run_id: str = Field(default="", index=True)
    stage: str = ""
    provider: str = ""
    model: str = ""
    attempt: int = 1
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    outcome: str = ""
    error: str = _text()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ScriptAttempt(SQLModel, table=True):
    __tablename__ = "script_attempts"
    __table_args__ = (sa.UniqueConstraint("run_id", "round", "attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = Field(index=True)
    round: int = 1
    attempt: int = 1
    tier: str = ""
    prompt_version: str = ""
    title: str = ""
    script_json: str = _text("{}")
    qa_json: str = _text("{}")
    passed: bool = False
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class BudgetHold(SQLModel, table=True):
    """The worst case of a paid call in flight, held against its project's daily budget until its cost is
    recorded. Held in the database so every worker process sees the others' calls; a hold whose worker died
    stops counting at `expires_at`."""

    __tablename__ = "budget_holds"
    __table_args__ = (sa.Index("ix_budget_holds_project_kind", "project_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", ondelete="CASCADE")
    kind: str = "llm"
    amount_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


LLM_TABLES: tuple[type[SQLModel], ...] = (LLMCall, ScriptAttempt, BudgetHold)
