"""Contracts of the intelligence loop: what one post did, what the analysis found, what is remembered.

Times are timezone-aware UTC. `Insight.key` is the business key of a remembered insight ("hook:tiktok"):
a later run with different numbers updates that memory instead of adding another one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

InsightKind = Literal["hook", "feature", "audience"]
Direction = Literal["better", "worse"]


class VideoFeatures(BaseModel):
    """What a video was: the inputs the analysis relates to its viral score."""

    hook_style: str = "unknown"
    length_s: float = 0.0
    words_per_minute: float = 0.0
    topic: str = ""
    topic_cluster: str = "other"
    has_code: bool = False
    has_diagram: bool = False
    has_image: bool = False
    music_tier: str = "none"
    hour: int = Field(0, ge=0, le=23, description="local hour of publication in the project's time zone")
    weekday: int = Field(0, ge=0, le=6, description="0 = Monday, local")
    platform: str = ""


class PostPerformance(BaseModel):
    """One published post and its viral score (1.0 = a typical post of this account at that age)."""

    run_id: str
    platform: str
    published_at: datetime
    viral_score: float
    title: str = ""
    checkpoint: str = ""
    features: VideoFeatures = Field(default_factory=VideoFeatures)


class GroupEstimate(BaseModel):
    """A group of posts (a hook style, a topic, a time of day) against the rest of the same comparison."""

    name: str
    n: int
    n_rest: int
    mean_score: float
    lift: float
    low: float
    high: float
    p_better: float
    p_best: float
    effect_d: float
    p_value: float
    confident: bool = False


class HookAnalysis(BaseModel):
    platform: str
    n: int
    groups: list[GroupEstimate] = Field(default_factory=list)
    note: str = ""


class FeatureEffect(BaseModel):
    """One content feature's relation to the viral score (within-platform, all platforms together)."""

    feature: str
    level: str = ""  # the category compared with the rest; "" for a numeric feature
    kind: Literal["category", "numeric"] = "category"
    n: int
    n_rest: int = 0
    ratio: float  # category: group / rest; numeric: score multiplier per `per` units
    low: float
    high: float
    per: float = 0.0
    effect_size: float  # Cohen's d (category) or Pearson r (numeric)
    p_value: float
    confident: bool = False


Dimension = Literal["topic", "format", "hour", "daypart", "weekday"]


class FingerprintEntry(BaseModel):
    dimension: Dimension
    name: str
    n: int
    lift: float  # shrunk toward 1 by `prior_posts` pseudo-posts: a ranking, not a claim
    raw_lift: float


class AudienceFingerprint(BaseModel):
    """What works with this project's audience on one platform, ranked (claims are in `insights`)."""

    platform: str
    n: int
    topics: list[FingerprintEntry] = Field(default_factory=list)
    formats: list[FingerprintEntry] = Field(default_factory=list)
    dayparts: list[FingerprintEntry] = Field(default_factory=list)
    hours: list[FingerprintEntry] = Field(default_factory=list)
    best_hours: list[int] = Field(default_factory=list, description="local hours, best first; the optimizer's prior")
    comparisons: dict[str, list[GroupEstimate]] = Field(
        default_factory=dict, description="per dimension (topic, format, daypart): each segment against the rest")


class Insight(BaseModel):
    key: str
    kind: InsightKind
    platform: str = ""  # "" = every platform
    text: str
    direction: Direction = "better"
    subject: str = ""  # what it is about: a hook style, "has_code", "daypart=evening", ...
    lift: float
    low: float
    high: float
    probability: float  # posterior probability of the direction
    p_best: float = 0.0  # posterior probability that the subject is the best of its comparison
    n: int
    n_rest: int = 0
    evidence: list[str] = Field(default_factory=list)
    date: str = ""  # YYYY-MM-DD of the run


class IntelligenceReport(BaseModel):
    project_id: str
    generated_at: datetime
    since: datetime
    posts: int
    platforms: dict[str, int] = Field(default_factory=dict)
    hooks: list[HookAnalysis] = Field(default_factory=list)
    features: list[FeatureEffect] = Field(default_factory=list)
    fingerprints: list[AudienceFingerprint] = Field(default_factory=list)
    insights: list[Insight] = Field(default_factory=list)
    tests: int = 0  # comparisons in the Holm family of this run
    alpha: float = 0.05
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------- workflow and activities


class IntelligenceInput(BaseModel):
    project_ids: list[str] = Field(default_factory=list, description="the schedule lists every configured project")


class AnalyseRequest(BaseModel):
    project_id: str
    as_of: datetime


class AnalyseResult(BaseModel):
    project_id: str
    posts: int = 0
    insights: list[Insight] = Field(default_factory=list)
    tests: int = 0
    report_path: str = ""
    notes: list[str] = Field(default_factory=list)


class RememberRequest(BaseModel):
    project_id: str
    as_of: datetime
    insights: list[Insight] = Field(default_factory=list)


class RememberResult(BaseModel):
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    coverage_added: int = 0
    notes: list[str] = Field(default_factory=list)


class ProjectOutcome(BaseModel):
    project_id: str
    posts: int = 0
    insights: list[str] = Field(default_factory=list)
    remembered: RememberResult | None = None
    error: str = ""


class IntelligenceResult(BaseModel):
    projects: list[ProjectOutcome] = Field(default_factory=list)
