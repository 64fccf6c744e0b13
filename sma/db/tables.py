"""SQLModel tables: the queryable copy of what workflows did, for the dashboard, bot and analytics.

Temporal holds the truth of a running pipeline; these rows are written by the recorder activity after
each change of state, so every write is an idempotent upsert keyed by a business key (see repo.py).
Every row carries `project_id`. Datetimes are timezone-aware UTC in Python; SQLite stores them as UTC
text without an offset, PostgreSQL as timestamptz.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# Named constraints let later batch migrations (SQLite) alter them by name.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """DateTime that always comes back timezone-aware UTC (SQLite drops the offset on storage)."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _project_fk() -> Any:
    return Field(foreign_key="projects.id", index=True, ondelete="CASCADE")


def _run_fk() -> Any:
    return Field(foreign_key="pipeline_runs.id", index=True, ondelete="CASCADE")


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def _optional_time() -> Any:
    return Field(default=None, sa_type=UTCDateTime)


def _text(default: str = "") -> Any:
    return Field(default=default, sa_type=sa.Text)


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: str = Field(primary_key=True)
    name: str = ""
    niche: str = ""
    created_at: datetime = _created()


class ContentItem(SQLModel, table=True):
    __tablename__ = "content_items"

    id: str = Field(primary_key=True)
    project_id: str = _project_fk()
    title: str = ""
    summary: str = _text()
    source_urls: str = _text("[]")  # JSON list
    status: str = ""
    created_at: datetime = _created()


class PipelineRun(SQLModel, table=True):
    __tablename__ = "pipeline_runs"
    __table_args__ = (sa.Index("ix_pipeline_runs_project_updated", "project_id", "updated_at"),)

    id: str = Field(primary_key=True)  # the workflow id
    # Indexed by ix_pipeline_runs_project_updated (leftmost column), so no single-column index.
    project_id: str = Field(foreign_key="projects.id", ondelete="CASCADE")
    item_id: str = Field(default="", index=True)
    title: str = ""
    state: str = Field(default="running", index=True)
    current_step: str = ""
    round: int = 1
    autonomy: str = "manual"
    platforms: str = _text("[]")  # JSON list
    started_at: datetime = _created()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = _optional_time()
    video_path: str | None = None
    error: str = _text()
    status_json: str = _text("{}")  # the latest PipelineStatus


class StepRun(SQLModel, table=True):
    __tablename__ = "step_runs"
    __table_args__ = (sa.UniqueConstraint("run_id", "round", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = _run_fk()
    round: int = 1
    name: str
    state: str = "pending"
    tier: str = ""
    seconds: float = 0.0
    attempts: int = 0
    notes: str = _text("[]")  # JSON list
    error: str = _text()
    started_at: datetime | None = _optional_time()
    finished_at: datetime | None = _optional_time()


class Approval(SQLModel, table=True):
    __tablename__ = "approvals"
    __table_args__ = (sa.UniqueConstraint("run_id", "round"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = _run_fk()
    round: int
    approved: bool
    by: str = ""
    feedback: str = _text()
    auto: bool = False
    decided_at: datetime = _created()


class Artifact(SQLModel, table=True):
    __tablename__ = "artifacts"
    __table_args__ = (sa.UniqueConstraint("run_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = _run_fk()
    name: str  # the key in PipelineStatus.artifacts: "voice", "video", ...
    path: str
    sha256: str = Field(index=True)
    size: int = 0
    kind: str = "file"
    media_type: str = "application/octet-stream"
    created_at: datetime = _created()


class Post(SQLModel, table=True):
    __tablename__ = "posts"
    __table_args__ = (sa.UniqueConstraint("run_id", "platform"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = _run_fk()
    platform: str
    status: str
    url: str = ""
    external_id: str = ""
    reason: str = _text()
    published_at: datetime | None = _optional_time()
    updated_at: datetime = _created()


TABLES: tuple[type[SQLModel], ...] = (Project, ContentItem, PipelineRun, StepRun, Approval, Artifact, Post)
