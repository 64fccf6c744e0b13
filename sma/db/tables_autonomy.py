"""Tables of the autonomy capability (registered on SQLModel.metadata by import).

- autonomy_state: one row per project once anything was set: level, kill switch, cap overrides.
- autonomy_events: history of every change (level, pause, resume, limits, automatic fall back): who,
  when, from where.
- autonomy_qa_outcomes: QA verdict per run and round, for the "N consecutive failures" fall back.
- publish_slots: one row per run the publish guard let through, so daily caps count reservations
  (a held run released at midnight cannot overshoot the cap with its neighbours).
- approval_messages: the Telegram message that asked a human about a run's round (and ask), so a
  retried or restarted sender never asks twice and a callback can be checked against what was asked.
- progress_messages: the one message per run edited in place as steps finish.
- reject_prompts: a "why reject?" question waiting for the person's reply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, utcnow


def _project_fk() -> Any:
    return Field(foreign_key="projects.id", index=True, ondelete="CASCADE")


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def _optional_time() -> Any:
    return Field(default=None, sa_type=UTCDateTime)


def _text(default: str = "") -> Any:
    return Field(default=default, sa_type=sa.Text)


def _big(optional: bool = False) -> Any:
    """Telegram chat and user ids exceed 32 bits (supergroups are -100...)."""
    return Field(default=None, sa_type=sa.BigInteger) if optional else Field(sa_type=sa.BigInteger)


class AutonomyState(SQLModel, table=True):
    __tablename__ = "autonomy_state"

    project_id: str = Field(primary_key=True, foreign_key="projects.id", ondelete="CASCADE")
    level: str | None = None  # None: the project's configured level
    paused: bool = False
    paused_by: str = ""
    paused_at: datetime | None = _optional_time()
    pause_reason: str = _text()
    daily_cap: int | None = None  # None: guards.daily_cap
    platform_caps: str = _text("{}")  # JSON overrides of guards.platform_caps
    updated_at: datetime = _created()


class AutonomyEvent(SQLModel, table=True):
    __tablename__ = "autonomy_events"

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    kind: str  # level | pause | resume | limits | fallback
    old: str = ""
    new: str = ""
    by: str = ""
    source: str = ""  # bot | dashboard | cli | guard | config
    reason: str = _text()
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class QAOutcome(SQLModel, table=True):
    __tablename__ = "autonomy_qa_outcomes"
    __table_args__ = (sa.UniqueConstraint("run_id", "round"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str
    round: int = 1
    passed: bool
    failed_gates: str = _text("[]")  # JSON list
    at: datetime = _created()


class PublishSlot(SQLModel, table=True):
    __tablename__ = "publish_slots"
    __table_args__ = (sa.UniqueConstraint("run_id"), sa.Index("ix_publish_slots_project_day", "project_id", "day"))

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="projects.id", ondelete="CASCADE")
    run_id: str
    day: str  # local date of the project, YYYY-MM-DD
    platforms: str = _text("[]")  # JSON list
    auto: bool = False
    at: datetime = _created()


class ApprovalMessage(SQLModel, table=True):
    __tablename__ = "approval_messages"
    __table_args__ = (sa.UniqueConstraint("run_id", "round", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = Field(index=True)
    round: int
    seq: int = 0  # the workflow's ask number (a re-open asks again); 0 = created by /queue
    title: str = ""
    chat_id: int | None = _big(optional=True)
    message_id: int | None = None
    video_message_id: int | None = None
    text: str = _text()  # what the message says above the buttons
    state: str = "pending"  # pending | sent | answered | stale | expired
    decision: str = ""  # approved | rejected
    decided_by: str = ""
    decided_at: datetime | None = _optional_time()
    reminded: bool = False
    created_at: datetime = _created()


class ProgressMessage(SQLModel, table=True):
    __tablename__ = "progress_messages"

    run_id: str = Field(primary_key=True)
    project_id: str = _project_fk()
    chat_id: int = _big()
    message_id: int
    text: str = _text()
    updated_at: datetime = _created()


class RejectPrompt(SQLModel, table=True):
    __tablename__ = "reject_prompts"
    __table_args__ = (sa.UniqueConstraint("chat_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    approval_id: int = Field(foreign_key="approval_messages.id", ondelete="CASCADE")
    chat_id: int = _big()
    user_id: int = _big()
    message_id: int | None = None  # the question the bot asked
    created_at: datetime = _created()


TABLES: tuple[type[SQLModel], ...] = (AutonomyState, AutonomyEvent, QAOutcome, PublishSlot, ApprovalMessage,
                                      ProgressMessage, RejectPrompt)
