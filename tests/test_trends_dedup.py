"""Deduplication: trigram sets, exact Jaccard, and MinHash-LSH making the same merges as exact."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sma.services.trends.dedup import bucket_pairs, deduplicate, exact_pairs, intersections, lsh_pairs
from sma.services.trends.text import jaccard, normalize, similarity, trigram_sets, trigrams

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from dedup import brute_force, synthetic


def test_normalize_and_trigrams() -> None:
    assert normalize("  Rust 2.0 — Released!  ") == "rust 2 0 released"
    assert normalize("Café_Crème") == "cafe creme"
    assert trigrams("ab") == frozenset({" ab", "ab "})
    assert trigrams("") == frozenset()


def test_vectorised_sets_match_python_sets() -> None:
    texts = ["Rust 2.0 released", "", "a", "Ünïcode tëxt ✓", "Rust 2.0 released"]
    sets = trigram_sets(texts)
    for i, text in enumerate(texts):
        assert sets.sizes[i] == len(trigrams(text))
    a, b = np.array([0, 0, 3]), np.array([4, 3, 4])
    inter = intersections(sets, a, b)
    expected = [len(trigrams(texts[x]) & trigrams(texts[y])) for x, y in ((0, 4), (0, 3), (3, 4))]
    assert inter.tolist() == expected


def test_bucket_pairs_lists_every_pair_once() -> None:
    a, b = bucket_pairs(np.array([5, 1, 5, 5, 2, 1], dtype=np.uint64))
    assert sorted(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 2), (0, 3), (1, 5), (2, 3)]


def test_merges_near_duplicates_across_sources() -> None:
    titles = ["Rust 2.0 released with async traits", "Rust 2.0 Released", "rust 2.0 released!",
              "Funny cats compilation", "SQLite is faster than you think", "Why SQLite is faster than you think"]
    result = deduplicate(titles, 0.5)
    assert result.clusters() == [[1, 2], [4, 5]]
    assert jaccard(trigrams(titles[0]), trigrams(titles[1])) < 0.5  # the long one stays on its own


@pytest.mark.parametrize("threshold", [0.4, 0.5, 0.7])
def test_lsh_makes_the_same_merges_as_exact_and_brute_force(threshold: float) -> None:
    titles, _ = synthetic(1500, seed=3)
    sets = trigram_sets(titles)
    exact = exact_pairs(sets, threshold)
    assert lsh_pairs(sets, threshold).labels.tolist() == exact.labels.tolist()
    if threshold == 0.5:  # exact itself against plain Python sets over every pair (a smaller set: O(n^2))
        small = titles[:500]
        assert brute_force(small, threshold) == exact_pairs(trigram_sets(small), threshold).labels.tolist()


def test_empty_and_tiny_inputs() -> None:
    assert deduplicate([], 0.5).labels.tolist() == []
    assert deduplicate(["", "", "x"], 0.5).labels.tolist() == [0, 1, 2]  # empty titles never merge
    assert deduplicate(["same", "same"], 0.5, method="exact").labels.tolist() == [0, 0]


def test_ten_thousand_items_well_under_a_second() -> None:
    titles, _ = synthetic(10_000)
    best = float("inf")
    for _ in range(2):
        start = time.process_time()  # CPU time: other processes on a shared machine do not count
        deduplicate(titles, 0.5)
        best = min(best, time.process_time() - start)
    # bench/dedup.py records the wall time (about 0.4 s); this bound catches a quadratic regression.
    assert best < 2.0, f"{best:.2f} s of CPU for 10,000 items"


def test_similarity_catches_a_retold_title() -> None:
    assert similarity("Rust 2.0 released", "Rust 2.0 is released with async traits") >= 0.6
    assert similarity("Rust 2.0 released", "Funny cats compilation") < 0.2
