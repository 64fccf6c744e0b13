"""Engagement rate and viral score: the documented formulas.

engagement_rate = (likes + comments + shares + saves) / views            (missing counters count as 0)

viral_score     = (views_ratio ^ wv) * (engagement_ratio ^ we)           wv + we = 1 (default 0.6 / 0.4)
  views_ratio      = (views + 1) / (median_views + 1)
  engagement_ratio = (engagement_rate + 0.001) / (median_engagement_rate + 0.001)

The medians are the project's own: its other posts on the same platform at the same checkpoint (1h, 6h,
...), collected on time in the last `baseline_days`. A score of 1.0 is a typical post for this account at that
age, 2.0 about twice as good. Being a ratio to the account's own median, it compares a 500-follower and a
500,000-follower account fairly. With fewer than `baseline_min_posts` earlier posts there is no score yet.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from sma.models.analytics import Metrics

ENGAGEMENT_EPSILON = 0.001


@dataclass(frozen=True)
class Baseline:
    views: float | None
    engagement: float | None
    n: int


def engagement_rate(metrics: Metrics) -> float | None:
    """Interactions per view, or None when the platform gave no view count."""
    if metrics.views is None:
        return None
    if metrics.views <= 0:
        return 0.0
    interactions = sum(v or 0 for v in (metrics.likes, metrics.comments, metrics.shares, metrics.saves))
    return interactions / metrics.views


def median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def baseline(views: list[int | None], engagement: list[float | None]) -> Baseline:
    return Baseline(views=median(views), engagement=median(engagement), n=sum(v is not None for v in views))


def viral_score(views: int | None, rate: float | None, base: Baseline, min_posts: int = 3,
                weight_views: float = 0.6, weight_engagement: float = 0.4) -> float | None:
    """The score above, or None without a view count or enough earlier posts to compare with."""
    if views is None or base.n < min_posts or base.views is None:
        return None
    total = weight_views + weight_engagement
    wv, we = (weight_views / total, weight_engagement / total) if total > 0 else (1.0, 0.0)
    views_ratio = (views + 1) / (base.views + 1)
    engagement_ratio = ((rate or 0.0) + ENGAGEMENT_EPSILON) / ((base.engagement or 0.0) + ENGAGEMENT_EPSILON)
    score: float = views_ratio**wv * engagement_ratio**we
    return round(score, 4)
