"""Scoring with fixed data: per-source normalisation, freshness, multi-source bonus, coverage, weights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sma.models.trends import RankRequest, ScoreBreakdown, TrendItem
from sma.services.trends.config import ProjectTrends, ScoreWeights, TrendSettings
from sma.services.trends.coverage import penalties_against
from sma.services.trends.niche import NicheFilter
from sma.services.trends.scoring import (
    apply_scores,
    final_score,
    freshness,
    merge_clusters,
    multi_source_bonus,
    normalize_per_source,
    percentile_ranks,
)
from sma.services.trends.service import rank

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def item(source: str, title: str, pop: float, vel: float = 0.0, hours: float = 1.0) -> TrendItem:
    return TrendItem(source=source, external_id=title, title=title, url=f"https://{source}/{len(title)}",
                     popularity_raw=pop, velocity_raw=vel, published_at=NOW - timedelta(hours=hours))


def test_percentile_ranks_are_mid_ranks() -> None:
    assert percentile_ranks([10, 20, 30, 40]) == [0.125, 0.375, 0.625, 0.875]
    assert percentile_ranks([5, 5]) == [0.5, 0.5]
    assert percentile_ranks([7]) == [0.5]
    assert percentile_ranks([]) == []


def test_normalisation_is_per_source_so_units_do_not_matter() -> None:
    items = [item("hn", "a", 100), item("hn", "b", 500), item("youtube", "c", 2_000_000), item("youtube", "d", 90)]
    popularity, _ = normalize_per_source(items)
    assert popularity == [0.25, 0.75, 0.75, 0.25]  # HN's best equals YouTube's best despite 4000x the count


def test_freshness_halves_every_half_life() -> None:
    assert freshness(NOW, NOW, 24) == 1.0
    assert freshness(NOW - timedelta(hours=24), NOW, 24) == pytest.approx(0.5)
    assert freshness(NOW - timedelta(hours=48), NOW, 24) == pytest.approx(0.25)
    assert freshness(None, NOW, 24) == 0.5
    assert freshness(NOW + timedelta(hours=1), NOW, 24) == 1.0  # clock skew is not "fresher than new"


def test_multi_source_bonus() -> None:
    assert [multi_source_bonus(k, 3) for k in (1, 2, 3, 5)] == [0.0, 0.5, 1.0, 1.0]


def test_final_score_uses_the_weights() -> None:
    b = ScoreBreakdown(popularity=1, velocity=1, freshness=1, multi_source=1, coverage_penalty=1)
    assert final_score(b, ScoreWeights()) == pytest.approx(0.35 + 0.30 + 0.20 + 0.15 - 0.50)
    assert final_score(b, ScoreWeights(popularity=1, velocity=0, freshness=0, multi_source=0, coverage=0)) == 1


def test_merge_keeps_every_link_and_the_best_terms() -> None:
    items = [item("reddit", "Rust 2.0 released", 10, hours=5), item("hackernews", "Rust 2.0 Released!", 300, hours=2),
             item("reddit", "Other thing", 50)]
    trends = merge_clusters(items, [0, 0, 2], NOW, 24, 3)
    rust = trends[0]
    assert rust.title == "Rust 2.0 Released!"  # HN's wording leads
    assert rust.sources == ["hackernews", "reddit"] and len(rust.links) == 2
    assert rust.breakdown.multi_source == 0.5
    assert rust.breakdown.freshness == pytest.approx(freshness(NOW - timedelta(hours=2), NOW, 24))


def test_coverage_penalises_near_duplicates_of_produced_content() -> None:
    result = penalties_against(["Rust 2.0 released", "Funny cats"], ["Rust 2.0 is released: what changed"], 0.5)
    assert result.penalties[0] >= 0.5 and result.covered_by[0].startswith("Rust 2.0")
    assert result.penalties[1] == 0.0 and result.covered_by[1] == ""


def test_covered_topic_sinks_below_a_fresh_one() -> None:
    items = [item("hackernews", "Rust 2.0 released", 900, 90), item("hackernews", "Zig 1.0 released", 800, 80)]
    trends = merge_clusters(items, [0, 1], NOW, 24, 3)
    ranked = apply_scores(trends, [0.9, 0.0], ["Rust 2.0 is out", ""], ScoreWeights())
    assert [t.title for t in ranked] == ["Zig 1.0 released", "Rust 2.0 released"]
    assert ranked[1].breakdown.coverage_penalty == 0.9 and ranked[1].breakdown.covered_by == "Rust 2.0 is out"


def test_rank_dedups_filters_and_reports() -> None:
    settings = TrendSettings(projects={"p": ProjectTrends(include_keywords=["rust", "sqlite"],
                                                          exclude_keywords=["cats"])})
    items = [item("reddit", "Rust 2.0 released with async traits", 4000, 100),
             item("hackernews", "Rust 2.0 Released", 1200, 600), item("youtube", "Rust 2.0 released!", 1e6, 1e5),
             item("youtube", "Funny cats compilation", 5e6, 1e6), item("hackernews", "Gardening tips", 50, 5)]
    result = rank(settings, NicheFilter(None), "", RankRequest(project_id="p", items=items, now=NOW))
    by_title = {c.title: c for c in result.candidates}
    assert set(by_title) == {"Rust 2.0 Released", "Rust 2.0 released with async traits"}
    assert by_title["Rust 2.0 Released"].sources == ["hackernews", "youtube"]
    assert by_title["Rust 2.0 Released"].keyword_hits == ["rust"]
    assert result.merged == 1 and result.filtered_out == 2 and result.niche_method == "keywords"
