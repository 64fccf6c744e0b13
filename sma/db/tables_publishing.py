"""Tables of the publishing capability (registered on SQLModel.metadata by import).

- `publish_records`: the idempotency record of one post (run x platform), written before the platform is
  called and completed after; `progress` holds the platform-side ids an interrupted attempt resumes from.
- `platform_credentials`: per project and platform, a Fernet token of the credential JSON (never plain).
- `post_metrics`: the analytics time series, one row per post and checkpoint (1h, 6h, 24h, 48h, 168h).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, utcnow


def _project_fk() -> Any:
    return Field(foreign_key="projects.id", index=True, ondelete="CASCADE")


def _time(optional: bool = False) -> Any:
    if optional:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


class PublishRecord(SQLModel, table=True):
    __tablename__ = "publish_records"
    __table_args__ = (sa.UniqueConstraint("run_id", "platform"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = Field(index=True)
    platform: str
    state: str = "started"  # started | published | failed
    title: str = ""
    video_sha256: str = ""
    attempts: int = 0
    progress: str = Field(default="{}", sa_type=sa.Text)
    url: str = ""
    external_id: str = ""
    reason: str = Field(default="", sa_type=sa.Text)
    started_at: datetime = _time()
    updated_at: datetime = _time()
    published_at: datetime | None = _time(optional=True)


class PlatformCredential(SQLModel, table=True):
    __tablename__ = "platform_credentials"
    __table_args__ = (sa.UniqueConstraint("project_id", "platform"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    platform: str
    token: str = Field(sa_type=sa.Text)  # Fernet token of the JSON credential; never the plain values
    expires_at: datetime | None = _time(optional=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class PostMetric(SQLModel, table=True):
    __tablename__ = "post_metrics"
    __table_args__ = (sa.UniqueConstraint("run_id", "platform", "checkpoint"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = _project_fk()
    run_id: str = Field(index=True)
    platform: str
    external_id: str = ""
    checkpoint: str
    hours: float
    published_at: datetime = _time()
    due_at: datetime = _time()
    collected_at: datetime = _time()
    late: bool = False
    lag_s: float = 0.0
    status: str = "ok"  # ok | unsupported
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    watch_time_s: float | None = None
    avg_view_s: float | None = None
    retention: float | None = None
    followers_gained: int | None = None
    engagement_rate: float | None = None
    viral_score: float | None = None
    baseline_views: float | None = None
    baseline_engagement: float | None = None
    baseline_n: int = 0
    raw: str = Field(default="{}", sa_type=sa.Text)


PUBLISHING_TABLES: tuple[type[SQLModel], ...] = (PublishRecord, PlatformCredential, PostMetric)
