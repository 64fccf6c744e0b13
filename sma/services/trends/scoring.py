"""Scoring: per-source normalisation, freshness, merging duplicates, and the weighted score.

score = w_p·popularity + w_v·velocity + w_f·freshness + w_m·multi_source - w_c·coverage_penalty

Popularity and velocity are normalised **per source, per scan** by mid-rank percentile: an item's value
is the share of that source's items below it plus half of those tied with it, so the top of every source
is near 1 and its median 0.5 whatever the units (upvotes, searches, stars, views). Ranks ignore the
heavy tails of those counts (one viral video does not flatten every other YouTube item to 0) and make a
source's 10th best comparable with another's 10th best. A source with one item gets 0.5 (no evidence).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from sma.models.trends import RankedTrend, ScoreBreakdown, TrendItem, TrendLink
from sma.services.trends.config import ScoreWeights
from sma.services.trends.text import normalize

SOURCE_PRIORITY = ("hackernews", "reddit", "youtube", "github", "google_trends")  # whose title reads best


def percentile_ranks(values: Sequence[float]) -> list[float]:
    """Mid-rank percentile of each value within `values`: (below + 0.5·tied) / n, in (0, 1)."""
    n = len(values)
    if n == 0:
        return []
    array = np.asarray(values, dtype=float)
    ordered = np.sort(array)
    below = np.searchsorted(ordered, array, side="left")
    tied = np.searchsorted(ordered, array, side="right") - below
    # One value has no evidence either way: the middle. Otherwise the top lands near 1.
    return [0.5] * n if n == 1 else ((below + 0.5 * tied) / n).tolist()


def normalize_per_source(items: Sequence[TrendItem]) -> tuple[list[float], list[float]]:
    """(popularity, velocity) of each item, as percentile ranks within its own source."""
    popularity = [0.0] * len(items)
    velocity = [0.0] * len(items)
    by_source: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        by_source.setdefault(item.source, []).append(index)
    for indices in by_source.values():
        pops = percentile_ranks([items[i].popularity_raw for i in indices])
        vels = percentile_ranks([items[i].velocity_raw for i in indices])
        for i, p, v in zip(indices, pops, vels, strict=True):
            popularity[i], velocity[i] = p, v
    return popularity, velocity


def freshness(published: datetime | None, now: datetime, half_life_h: float) -> float:
    """1 for brand new, halving every `half_life_h` hours; 0.5 when the source gives no date."""
    if published is None:
        return 0.5
    age_h = max(0.0, (now - published).total_seconds() / 3600)
    return math.pow(0.5, age_h / half_life_h)


def multi_source_bonus(sources: int, full_at: int) -> float:
    """0 for one source, rising linearly to 1 at `full_at` distinct sources."""
    return min(1.0, max(0, sources - 1) / max(1, full_at - 1))


def topic_key(title: str) -> str:
    """A stable key of a topic's normalised title (calendar and storage key)."""
    return hashlib.sha1(normalize(title).encode()).hexdigest()[:16]


def merge_clusters(items: Sequence[TrendItem], labels: Sequence[int], now: datetime, half_life_h: float,
                   full_at: int) -> list[RankedTrend]:
    """One RankedTrend per cluster: the best title, every link, the best of each normalised term."""
    popularity, velocity = normalize_per_source(items)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    merged = []
    for members in groups.values():
        lead = min(members, key=lambda i: (_priority(items[i].source), -popularity[i]))
        sources = sorted({items[i].source for i in members})
        dates = [d for i in members if (d := items[i].published_at) is not None]
        published = max(dates) if dates else None
        title = items[lead].title
        merged.append(RankedTrend(
            key=topic_key(title), title=title, summary=items[lead].summary, url=items[lead].url,
            sources=sources,
            links=[TrendLink(source=items[i].source, url=items[i].url, title=items[i].title) for i in members],
            published_at=published,
            breakdown=ScoreBreakdown(
                popularity=max(popularity[i] for i in members),
                velocity=max(velocity[i] for i in members),
                freshness=freshness(published, now, half_life_h),
                multi_source=multi_source_bonus(len(sources), full_at),
            ),
        ))
    return merged


def _priority(source: str) -> int:
    return SOURCE_PRIORITY.index(source) if source in SOURCE_PRIORITY else len(SOURCE_PRIORITY)


def final_score(b: ScoreBreakdown, w: ScoreWeights) -> float:
    return round(w.popularity * b.popularity + w.velocity * b.velocity + w.freshness * b.freshness
                 + w.multi_source * b.multi_source - w.coverage * b.coverage_penalty, 6)


def apply_scores(trends: list[RankedTrend], penalties: Sequence[float], covered_by: Sequence[str],
                 weights: ScoreWeights) -> list[RankedTrend]:
    """Set each trend's coverage penalty and final score; best first (ties by title, for stable output)."""
    for index, trend in enumerate(trends):
        trend.breakdown.coverage_penalty = penalties[index] if index < len(penalties) else 0.0
        trend.breakdown.covered_by = covered_by[index] if index < len(covered_by) else ""
        trend.breakdown.score = final_score(trend.breakdown, weights)
    return sorted(trends, key=lambda t: (-t.breakdown.score, t.title))
