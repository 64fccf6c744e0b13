"""The niche filter with the real packaged embedding model (loaded once for the module), and its
keyword-only fallback when the model cannot be loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from sma.models.trends import RankedTrend
from sma.services.trends.config import OFF_NICHE
from sma.services.trends.niche import NicheFilter, SentenceEmbedder, anchors, keyword_hits

NICHE = "software engineering, developer tools and databases"


def trends(*titles: str) -> list[RankedTrend]:
    return [RankedTrend(key=str(i), title=t) for i, t in enumerate(titles)]


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder()


def test_embedding_keeps_what_is_close_to_the_niche(embedder: SentenceEmbedder) -> None:
    items = trends("Rust 2.0 released with async traits", "Ten easy pasta recipes for the week",
                   "Why our Postgres queries got slow", "Champions league final recap", "Funny cats compilation",
                   "A tiny SQLite-backed job queue", "Stock market rallies on rate cut")
    outcome = NicheFilter(embedder, OFF_NICHE).apply(items, NICHE, [], [], -0.05)
    assert outcome.method == "embedding" and outcome.notes == []
    assert [t.title for t in outcome.kept] == ["Rust 2.0 released with async traits",
                                               "Why our Postgres queries got slow", "A tiny SQLite-backed job queue"]
    assert outcome.dropped == 4
    assert all(t.breakdown.niche_similarity is not None and t.breakdown.niche_similarity >= -0.05 for t in outcome.kept)


def test_keywords_override_the_model(embedder: SentenceEmbedder) -> None:
    items = trends("Ten easy pasta recipes", "Rust 2.0 released, cats love it")
    outcome = NicheFilter(embedder, OFF_NICHE).apply(items, NICHE, ["pasta"], ["cats"], -0.05)
    assert [t.title for t in outcome.kept] == ["Ten easy pasta recipes"]
    assert outcome.kept[0].keyword_hits == ["pasta"]


def test_model_failure_falls_back_to_keywords_with_a_note(tmp_path: Path) -> None:
    broken = SentenceEmbedder(str(tmp_path / "no-such-model"))
    outcome = NicheFilter(broken, OFF_NICHE).apply(trends("Rust 2.0 released", "Pasta recipes"), NICHE, ["rust"],
                                                   [], -0.05)
    assert outcome.method == "keywords"
    assert [t.title for t in outcome.kept] == ["Rust 2.0 released"]
    assert any("keyword-only" in n and "FileNotFoundError" in n for n in outcome.notes)


def test_no_model_and_no_keywords_keeps_everything_and_says_so() -> None:
    outcome = NicheFilter(None).apply(trends("a thing", "another"), "dev", [], ["another"], 0.0)
    assert outcome.method == "none" and [t.title for t in outcome.kept] == ["a thing"]
    assert any("not filtered" in n for n in outcome.notes)


def test_anchors_and_keyword_hits() -> None:
    assert anchors(NICHE, ["rust"]) == [NICHE, "software engineering", "developer tools", "databases", "rust"]
    assert keyword_hits("Rust 2.0 and rusty nails", ["rust", "go", "2.0"]) == ["rust", "2.0"]
    assert keyword_hits("Trusted", ["rust"]) == []
