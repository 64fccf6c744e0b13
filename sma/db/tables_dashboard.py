"""Tables of the dashboard capability (registered on SQLModel.metadata by import).

- dashboard_admin: the admin login (argon2id hash only; one row per user name).
- dashboard_sessions: server-side sessions; the cookie holds a random token, the table only its SHA-256,
  so a copy of the database cannot be used to log in.
- dashboard_audit: every state-changing request: who, what, on which target, with which outcome.
- dashboard_script_edits: scripts edited in the approval queue, with the original, for the record.
- dashboard_login_limits: login attempts per client address and per account in the current window (the
  throttle counts here so that concurrent attempts cannot overrun it).
- dashboard_form_tokens: the live single-use tokens of the login and setup forms (SHA-256 only).

Sessions and login rows are not about a project; `project_id` of an audit row is "" for global actions
(login, schedules), so it is a plain column, not a foreign key (audit must survive a deleted project).
The two extra indexes serve the dashboard's lists of foundation tables (runs by state, posts by date).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import PipelineRun, Post, StepRun, UTCDateTime, utcnow


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def _text(default: str = "") -> Any:
    return Field(default=default, sa_type=sa.Text)


class DashboardAdmin(SQLModel, table=True):
    __tablename__ = "dashboard_admin"

    username: str = Field(primary_key=True)
    password_hash: str = _text()
    source: str = "setup"  # setup | secrets
    created_at: datetime = _created()
    updated_at: datetime = _created()


class DashboardSession(SQLModel, table=True):
    __tablename__ = "dashboard_sessions"

    token_hash: str = Field(primary_key=True)
    username: str
    csrf_token: str
    client: str = ""
    user_agent: str = ""
    created_at: datetime = _created()
    last_seen: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class AuditEntry(SQLModel, table=True):
    __tablename__ = "dashboard_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = ""
    client: str = ""
    action: str
    project_id: str = Field(default="", index=True)
    target: str = ""
    outcome: str = "ok"  # ok | refused | error
    detail: str = _text()


class ScriptEdit(SQLModel, table=True):
    __tablename__ = "dashboard_script_edits"

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(default="", index=True)
    run_id: str = Field(index=True)
    round: int = 1
    by: str = ""
    original: str = _text()
    edited: str = _text()
    sent_as: str = ""  # edit_script | reject_feedback
    at: datetime = _created()


class LoginLimit(SQLModel, table=True):
    __tablename__ = "dashboard_login_limits"

    bucket: str = Field(primary_key=True)  # "client:<address>" or "account:<name>"
    window_start: float = Field(index=True)  # epoch seconds
    attempts: int = 0


class FormToken(SQLModel, table=True):
    __tablename__ = "dashboard_form_tokens"

    token_hash: str = Field(primary_key=True)
    expires_at: float = Field(index=True)  # epoch seconds


# Indexes on foundation tables that the dashboard's lists need (created by revision 0006): every list is
# ordered by (updated_at DESC, id DESC), so a page at any offset is an index walk without a sort; the
# (title, id) index lets a search count scan a narrow index instead of the wide rows (status_json).
_runs = PipelineRun.__table__.c  # type: ignore[attr-defined]  # set on table classes at runtime, not typed
_posts = Post.__table__.c  # type: ignore[attr-defined]  # set on table classes at runtime, not typed
_steps = StepRun.__table__.c  # type: ignore[attr-defined]  # set on table classes at runtime, not typed
DASHBOARD_INDEXES: tuple[sa.Index, ...] = (
    sa.Index("ix_pipeline_runs_updated_id", _runs.updated_at, _runs.id),
    sa.Index("ix_pipeline_runs_state_updated", _runs.state, _runs.updated_at, _runs.id),
    sa.Index("ix_pipeline_runs_project_updated_id", _runs.project_id, _runs.updated_at, _runs.id),
    sa.Index("ix_pipeline_runs_finished_at", _runs.finished_at),
    sa.Index("ix_pipeline_runs_title_id", _runs.title, _runs.id),
    sa.Index("ix_posts_published_at", _posts.published_at),
    sa.Index("ix_posts_updated_id", _posts.updated_at, _posts.id),
    sa.Index("ix_step_runs_name_finished", _steps.name, _steps.finished_at),  # TTS engines per day
    sa.Index("ix_posts_platform", _posts.platform),  # the posts filter's DISTINCT platform (revision 0009)
)

DASHBOARD_TABLES: tuple[type[SQLModel], ...] = (DashboardAdmin, DashboardSession, AuditEntry, ScriptEdit, LoginLimit,
                                                 FormToken)
