"""Contracts of trend discovery: one `TrendItem` for every source, and the scan's inputs and results.

They cross Temporal (activity inputs and outputs), so every new field gets a default.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from sma.models.topic import clean_line, clean_text


class TrendItem(BaseModel):
    """One thing a source says is trending, in the source's own units (normalised later, per source)."""

    source: str
    external_id: str
    title: str
    url: str = ""
    summary: str = ""
    published_at: datetime | None = None
    popularity_raw: float = Field(0.0, description="upvotes, points, searches, stars or views")
    velocity_raw: float = Field(0.0, description="popularity gained per hour (source-specific estimate)")
    comments: int = 0
    tags: list[str] = Field(default_factory=list)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        """Printable one-line titles (a blank one is dropped by ranking); length is cut at `Topic.from_source`."""
        return clean_line(value)

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str) -> str:
        return clean_text(value)


class TrendLink(BaseModel):
    source: str
    url: str
    title: str


class ScoreBreakdown(BaseModel):
    """Why an item ranks where it does: every term of the score, before weighting, in [0, 1]."""

    popularity: float = 0.0
    velocity: float = 0.0
    freshness: float = 0.0
    multi_source: float = 0.0
    coverage_penalty: float = 0.0
    niche_similarity: float | None = Field(None, description="best similarity to the niche minus best "
                                           "similarity to an off-niche topic (None: keyword filter)")
    covered_by: str = ""
    score: float = 0.0


class RankedTrend(BaseModel):
    """A deduplicated topic: its best title, all its links, and its score breakdown."""

    key: str
    title: str
    summary: str = ""
    url: str = ""
    sources: list[str] = Field(default_factory=list)
    links: list[TrendLink] = Field(default_factory=list)
    published_at: datetime | None = None
    breakdown: ScoreBreakdown = Field(default_factory=ScoreBreakdown)
    keyword_hits: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- source activities


class SourceRequest(BaseModel):
    project_id: str
    now: datetime | None = Field(None, description="the workflow's clock; ages are measured from it")


class SourceResult(BaseModel):
    source: str
    items: list[TrendItem] = Field(default_factory=list)
    requests: int = 0
    notes: list[str] = Field(default_factory=list)


class SourceReport(BaseModel):
    """What the scan tells about one source: it answered (with how many items) or why not."""

    source: str
    ok: bool
    items: int = 0
    error: str = ""
    skipped: bool = False


# ---------------------------------------------------------------- processing activities


class RankRequest(BaseModel):
    project_id: str
    items: list[TrendItem]
    now: datetime | None = None


class RankResult(BaseModel):
    """Deduplicated, niche-filtered candidates with popularity, velocity, freshness and multi-source set."""

    candidates: list[RankedTrend] = Field(default_factory=list)
    merged: int = Field(0, description="items folded into another by deduplication")
    filtered_out: int = 0
    niche_method: str = "embedding"
    notes: list[str] = Field(default_factory=list)
    seconds: float = 0.0


class CoverageRequest(BaseModel):
    project_id: str
    titles: list[str]


class CoverageResult(BaseModel):
    penalties: list[float] = Field(default_factory=list)
    covered_by: list[str] = Field(default_factory=list)
    checker: str = ""


class StoreScanRequest(BaseModel):
    project_id: str
    scan_id: str
    started_at: datetime
    finished_at: datetime
    reports: list[SourceReport] = Field(default_factory=list)
    candidates: list[RankedTrend] = Field(default_factory=list)
    coverage: CoverageResult = Field(default_factory=CoverageResult)
    rank_notes: list[str] = Field(default_factory=list)
    merged: int = 0
    filtered_out: int = 0
    raw_items: int = 0


# ---------------------------------------------------------------- workflow


class TrendScanInput(BaseModel):
    project_id: str = "default"
    sources: list[str] | None = Field(None, description="empty = the project's configured sources")


class TrendScanResult(BaseModel):
    scan_id: str
    project_id: str
    answered: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    reports: list[SourceReport] = Field(default_factory=list)
    raw_items: int = 0
    stored: int = 0
    top: list[str] = Field(default_factory=list, description="titles of the best few, for notifications")
    notes: list[str] = Field(default_factory=list)


class ScanPlanRequest(BaseModel):
    project_id: str
    sources: list[str] | None = None


class SourcePlan(BaseModel):
    source: str
    max_attempts: int = 3
    initial_retry_s: float = 2.0
    timeout_s: float = 20.0


class ScanPlan(BaseModel):
    """Which sources this scan calls and how patiently; read from config by an activity (IO)."""

    sources: list[SourcePlan] = Field(default_factory=list)
    skipped: list[SourceReport] = Field(default_factory=list)
