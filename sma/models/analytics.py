"""Contracts of the analytics collector: metrics of a post, checkpoint plans, collector input and result.

Times are timezone-aware UTC. The workflow passes its own clock (`as_of`) to the activities, so a
checkpoint's collection time is the workflow's time (exact under the time-skipping test server too).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Metrics(BaseModel):
    """Lifetime counters of one post at one moment; None = the platform does not report it."""

    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    watch_time_s: float | None = None
    avg_view_s: float | None = None
    retention: float | None = Field(None, description="average fraction of the video watched, 0..1")
    followers_gained: int | None = None
    raw: dict[str, float] = Field(default_factory=dict)


class DueCheckpoint(BaseModel):
    project_id: str
    run_id: str
    platform: str
    external_id: str
    checkpoint: str  # "1h", "6h", ...
    hours: float
    published_at: datetime
    due_at: datetime


class PlanRequest(BaseModel):
    as_of: datetime
    until: datetime
    project_ids: list[str] = Field(default_factory=list, description="empty = every project")


class CheckpointPlan(BaseModel):
    due: list[DueCheckpoint] = Field(default_factory=list)
    next_due_at: datetime | None = None


class CollectRequest(BaseModel):
    as_of: datetime
    items: list[DueCheckpoint]


class CollectResult(BaseModel):
    collected: int = 0
    late: int = 0
    failed: int = 0
    unsupported: int = 0
    notes: list[str] = Field(default_factory=list)


class CollectorInput(BaseModel):
    horizon_s: float = Field(4 * 3600.0, gt=0, description="how long one run keeps collecting (the schedule interval)")
    replan_s: float = Field(900.0, gt=0, description="how often it looks for newly due checkpoints")
    project_ids: list[str] = Field(default_factory=list)


class CollectorResult(BaseModel):
    passes: int = 0
    collected: int = 0
    late: int = 0
    failed: int = 0
    notes: list[str] = Field(default_factory=list)
