"""A synthetic performance history for the intelligence simulations: known truth, realistic noise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from sma.models.intelligence import PostPerformance, VideoFeatures

STYLES = ("question", "bold_claim", "statistic", "story", "contrarian", "how_to")
TOPICS = ("rust", "python", "kubernetes", "postgres", "typescript")
MUSIC = ("procedural", "cached", "musicgen")


def history(seed: int, posts_per_platform: int = 150, platforms: tuple[str, ...] = ("tiktok", "youtube"),
            boost: dict[tuple[str, str], float] | None = None, noise: float = 0.6,
            end: datetime = datetime(2026, 3, 1, tzinfo=UTC)) -> list[PostPerformance]:
    """Posts with random styles and features. Scores are lognormal around 1.0 with sd `noise` on the log scale,
    multiplied by `boost[(platform, style)]`; nothing else affects them."""
    rng = np.random.default_rng(seed)
    boost = boost or {}
    posts = []
    for platform in platforms:
        for i in range(posts_per_platform):
            style = STYLES[int(rng.integers(0, len(STYLES)))]
            topic = TOPICS[int(rng.integers(0, len(TOPICS)))]
            published = end - timedelta(days=float(rng.uniform(0, 80)), hours=float(rng.uniform(0, 24)))
            length = float(rng.uniform(25, 60))
            features = VideoFeatures(
                hook_style=style, length_s=round(length, 1), words_per_minute=round(float(rng.uniform(140, 185)), 1),
                topic=f"{topic} tip {i}", has_code=bool(rng.random() < 0.4), has_diagram=bool(rng.random() < 0.3),
                has_image=bool(rng.random() < 0.3), music_tier=MUSIC[int(rng.integers(0, len(MUSIC)))],
                hour=published.hour, weekday=published.weekday(), platform=platform)
            score = math.exp(float(rng.normal(0.0, noise))) * boost.get((platform, style), 1.0)
            posts.append(PostPerformance(run_id=f"run-{platform}-{i}", platform=platform, published_at=published,
                                         viral_score=round(score, 4), title=features.topic, checkpoint="24h",
                                         features=features))
    return posts
