"""The statistics: Student t without scipy, group comparisons that keep their promises, Holm, slopes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sma.services.intelligence.stats import bootstrap_slopes, compare_groups, holm, t_cdf, t_quantile

STYLES = ("question", "bold_claim", "statistic", "story", "contrarian", "how_to")


def test_student_t_matches_tables() -> None:
    assert t_cdf(2.0, 10) == pytest.approx(0.963306, abs=1e-6)
    assert t_cdf(-1.0, 3) == pytest.approx(0.195501, abs=1e-6)
    assert t_quantile(0.95, 10) == pytest.approx(1.812461, abs=1e-5)
    assert t_quantile(0.975, 1000) == pytest.approx(1.962339, abs=1e-5)


def _platform(rng: np.random.Generator, n: int, effect: float, noise: float = 0.8) -> tuple[list[str], np.ndarray]:
    labels = [STYLES[i] for i in rng.integers(0, 6, n)]
    y = rng.normal(0, noise, n) + np.array([math.log(effect) if label == "question" else 0.0 for label in labels])
    return labels, np.exp(y)


def test_a_real_double_is_estimated_without_shrinkage_and_its_interval_covers_the_truth() -> None:
    covered, lifts = 0, []
    for seed in range(60):
        labels, scores = _platform(np.random.default_rng(seed), 240, effect=2.0)
        comparison = compare_groups(labels, scores, draws=1000, seed=seed)
        assert comparison is not None
        question = next(g for g in comparison.groups if g.name == "question")
        lifts.append(question.lift)
        covered += question.low <= 2.0 <= question.high
    assert 1.85 < float(np.median(lifts)) < 2.15
    assert covered / 60 >= 0.8  # a 90% interval; a shrinking model held the truth only ~70% of the time


def test_no_winner_from_three_posts() -> None:
    comparison = compare_groups(["question"] * 3 + ["story"] * 3, [9.0, 8.0, 10.0, 1.0, 1.2, 0.9])
    assert comparison is not None
    question = next(g for g in comparison.groups if g.name == "question")
    assert question.lift > 5 and question.n == 3  # huge on paper; the analysis refuses claims below min_posts


def test_nothing_real_gives_a_false_claim_in_at_most_alpha_of_runs() -> None:
    """Six styles on two platforms (12 comparisons per run), 100 null runs: Holm keeps the run-wise rate."""
    false_runs = 0
    for seed in range(100):
        rng = np.random.default_rng(10_000 + seed)
        p_values = []
        for _ in range(2):
            labels, scores = _platform(rng, 120, effect=1.0)
            comparison = compare_groups(labels, scores, draws=500, seed=seed)
            assert comparison is not None
            p_values += [g.p_value for g in comparison.groups]
        false_runs += any(holm(p_values, 0.05))
    assert false_runs <= 9  # expected at most 5 (alpha); 9 allows for sampling noise of 100 runs


def test_holm_step_down() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    assert holm([0.001, 0.2], 0.05) == [True, False]
    assert holm([], 0.05) == []


def test_bootstrap_slope_finds_a_real_slope_and_not_a_flat_one() -> None:
    rng = np.random.default_rng(3)
    length = rng.uniform(20, 60, 200)
    flat = rng.uniform(140, 180, 200)
    scores = np.exp(-0.02 * length + rng.normal(0, 0.3, 200))  # each 10 s: x0.82
    slopes = {s.name: s for s in bootstrap_slopes({"length_s": (length, 10.0), "wpm": (flat, 20.0)}, scores,
                                                  resamples=2000)}
    assert slopes["length_s"].low < math.exp(-0.2) < slopes["length_s"].high
    assert slopes["length_s"].p_value < 0.001 and slopes["length_s"].r < -0.5
    assert slopes["wpm"].p_value > 0.01
