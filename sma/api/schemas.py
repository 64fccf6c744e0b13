"""The API's request and response models: the public contract, separate from the database rows.
New fields get defaults (a client written against an older version keeps working)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from sma.models.common import QAReport
from sma.models.pipeline import PipelineStatus, Script


class RunCreate(BaseModel):
    """A new run from a topic or from an article URL (at least one); uploads use multipart instead."""

    topic: str = Field("", max_length=400, description="the video's topic (its title)")
    summary: str = Field("", max_length=4000)
    facts: list[str] = Field(default_factory=list, max_length=20)
    url: str = Field("", max_length=2000, description="an article to make the video from")
    project_id: str = ""
    platforms: list[str] | None = None
    autonomy: Literal["manual", "assisted", "autonomous"] | None = None
    force: bool = Field(False, description="start even when the same topic ran within the duplicate window")


class RunCreated(BaseModel):
    run_id: str
    existing: bool = False
    state: str = "running"
    autonomy: str = ""
    note: str = ""


class StepOut(BaseModel):
    round: int
    name: str
    state: str
    tier: str = ""
    seconds: float = 0.0
    attempts: int = 0
    notes: list[str] = Field(default_factory=list)
    error: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ArtifactOut(BaseModel):
    name: str
    sha256: str
    size: int = 0
    kind: str = "file"
    media_type: str = "application/octet-stream"
    created_at: datetime | None = None


class ApprovalOut(BaseModel):
    round: int
    approved: bool
    by: str = ""
    feedback: str = ""
    auto: bool = False
    decided_at: datetime | None = None


class PostOut(BaseModel):
    id: int
    run_id: str
    project_id: str
    platform: str
    status: str
    url: str = ""
    external_id: str = ""
    reason: str = ""
    published_at: datetime | None = None
    updated_at: datetime | None = None
    title: str = ""


class RunOut(BaseModel):
    """A run in full: its live (or last recorded) status, QA reports, steps, artifacts, decisions, posts."""

    run_id: str
    source: str = "live"
    running: bool = True
    status: PipelineStatus
    qa: list[QAReport] = Field(default_factory=list)
    progress: dict[str, float] = Field(default_factory=dict)
    steps: list[StepOut] = Field(default_factory=list)
    artifacts: list[ArtifactOut] = Field(default_factory=list)
    approvals: list[ApprovalOut] = Field(default_factory=list)
    posts: list[PostOut] = Field(default_factory=list)


class Approve(BaseModel):
    round: int | None = Field(None, ge=1, description="the round you reviewed; omitted: the waiting one")


class Reject(BaseModel):
    feedback: str = Field(min_length=1, max_length=2000, description="what to change; goes to the script writer")
    round: int | None = Field(None, ge=1)


class EditScript(BaseModel):
    script: Script
    round: int | None = Field(None, ge=1)


class DecisionOut(BaseModel):
    run_id: str
    action: str
    round: int
    by: str


class Cancelled(BaseModel):
    run_id: str
    cancelled: bool = True


class RunActed(BaseModel):
    run_id: str
    action: Literal["reopen", "retry"]
    step: str = ""  # retry: the failed step the run goes on from


class TrendOut(BaseModel):
    rank: int
    key: str
    title: str
    summary: str = ""
    url: str = ""
    sources: list[str] = Field(default_factory=list)
    score: float = 0.0
    published_at: datetime | None = None
    covered_by: str = ""


class TrendPage(BaseModel):
    items: list[TrendOut]
    next_cursor: str | None = None
    scan_id: str | None = None
    scanned_at: datetime | None = None


class SlotOut(BaseModel):
    project_id: str
    item_id: str
    workflow_id: str = ""
    title: str = ""
    platforms: list[str] = Field(default_factory=list)
    score: float = 0.0
    slot_at: datetime
    start_at: datetime
    state: str
    reasons: list[str] = Field(default_factory=list)


class MetricOut(BaseModel):
    run_id: str
    platform: str
    published_at: datetime
    hours: float
    views: int = 0
    engagement_rate: float | None = None
    viral_score: float | None = None


class AnalyticsOut(BaseModel):
    since: datetime
    posts: int = 0
    views: int = 0
    mean_engagement_rate: float | None = None
    items: list[MetricOut] = Field(default_factory=list)


class LevelIn(BaseModel):
    level: Literal["manual", "assisted", "autonomous"]


class LevelOut(BaseModel):
    project_id: str
    previous: str
    level: str
    signalled: int = 0


class AutonomyOut(BaseModel):
    project_id: str
    level: str
    configured: str
    level_set: bool = False
    paused: bool = False
    paused_by: str = ""
    pause_reason: str = ""
    daily_cap: int | None = None
    platform_caps: dict[str, int] = Field(default_factory=dict)
    published_today: int = 0
    day: str = ""
