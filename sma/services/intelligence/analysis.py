"""The analysis of one project's history: hooks per platform, content features, audience fingerprint.

Every comparison with enough posts on both sides (`min_posts`) joins ONE family of tests for the run, and
Holm's correction at `alpha` decides which are claims: so a history where nothing differs yields no claim
in at least 1 - alpha of runs, however many styles, platforms and features are looked at. A claim also needs
an effect worth telling (`min_lift`). What falls short stays in the report, ranked, marked not confident.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sma.models.intelligence import (
    AudienceFingerprint,
    Dimension,
    FeatureEffect,
    FingerprintEntry,
    GroupEstimate,
    HookAnalysis,
    IntelligenceReport,
    PostPerformance,
)
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.features import cluster_topics, daypart, is_weekend
from sma.services.intelligence.insights import make_insights
from sma.services.intelligence.stats import GroupStats, Slope, bootstrap_slopes, compare_groups, holm, log_scores

BINARY = ("has_code", "has_diagram", "has_image")


@dataclass
class _Test:
    """One entry of the run's Holm family and where its verdict goes."""

    p_value: float
    lift: float
    apply: Callable[[bool], None]


def _estimate(g: GroupStats) -> GroupEstimate:
    return GroupEstimate(name=g.name, n=g.n, n_rest=g.n_rest, mean_score=round(g.mean_score, 4),
                         lift=round(g.lift, 4), low=round(g.low, 4), high=round(g.high, 4),
                         p_better=round(g.p_better, 6), p_best=round(g.p_best, 4), effect_d=round(g.effect_d, 3),
                         p_value=g.p_value)


def format_of(post: PostPerformance) -> str:
    f = post.features
    if f.has_code:
        return "code"
    if f.has_diagram:
        return "diagram"
    if f.has_image:
        return "image"
    return "plain"


class Analyser:
    def __init__(self, config: IntelligenceSettings) -> None:
        self.config = config
        self._tests: list[_Test] = []

    # ------------------------------------------------------------ entry point

    def analyse(self, project_id: str, posts: list[PostPerformance], as_of: datetime,
                since: datetime) -> IntelligenceReport:
        self._tests = []
        posts = self._with_clusters(posts)
        platforms: dict[str, int] = {}
        for post in posts:
            platforms[post.platform] = platforms.get(post.platform, 0) + 1
        report = IntelligenceReport(project_id=project_id, generated_at=as_of, since=since, posts=len(posts),
                                    platforms=dict(sorted(platforms.items())), alpha=self.config.alpha)
        report.hooks = [self._hooks(platform, [p for p in posts if p.platform == platform]) for platform in platforms]
        report.features = self._features(posts)
        report.fingerprints = [self._fingerprint(platform, [p for p in posts if p.platform == platform])
                               for platform in sorted(platforms)]
        verdicts = holm([t.p_value for t in self._tests], self.config.alpha)
        for test, rejected in zip(self._tests, verdicts, strict=True):
            big = test.lift >= self.config.min_lift or test.lift <= 1 / self.config.min_lift
            test.apply(rejected and big)
        report.tests = len(self._tests)
        report.insights = make_insights(report, self.config, as_of)
        if not posts:
            report.notes.append("no published post with a viral score in the window yet")
        return report

    # ------------------------------------------------------------ parts

    def _with_clusters(self, posts: list[PostPerformance]) -> list[PostPerformance]:
        clusters = cluster_topics([p.features.topic or p.title for p in posts])
        return [p.model_copy(update={"features": p.features.model_copy(update={"topic_cluster": c})})
                for p, c in zip(posts, clusters, strict=True)]

    def _eligible(self, g: GroupStats) -> bool:
        return g.n >= self.config.min_posts and g.n_rest >= self.config.min_posts

    def _compare(self, labels: Sequence[str], scores: Sequence[float], only: set[str] | None = None,
                 register: bool = True) -> list[GroupEstimate]:
        """Compare the groups (those in `only`) and enter the eligible ones into the Holm family."""
        comparison = compare_groups(labels, scores, draws=self.config.draws, seed=self.config.seed)
        if comparison is None:
            return []
        estimates = []
        for g in comparison.groups:
            if only is not None and g.name not in only:
                continue
            estimate = _estimate(g)
            estimates.append(estimate)
            if register and self._eligible(g):
                self._register(g.p_value, g.lift, estimate)
        return sorted(estimates, key=lambda e: -e.lift)

    def _register(self, p_value: float, lift: float, target: GroupEstimate | FeatureEffect) -> None:
        self._tests.append(_Test(p_value, lift, lambda ok: setattr(target, "confident", ok)))

    def _hooks(self, platform: str, posts: list[PostPerformance]) -> HookAnalysis:
        known = [p for p in posts if p.features.hook_style != "unknown"]
        analysis = HookAnalysis(platform=platform, n=len(known))
        analysis.groups = self._compare([p.features.hook_style for p in known], [p.viral_score for p in known])
        if not analysis.groups:
            analysis.note = "fewer than two hook styles with posts: nothing to compare yet"
        return analysis

    @staticmethod
    def _residual_scores(posts: list[PostPerformance]) -> list[float]:
        """Scores relative to each platform's own mean, so platform differences do not pose as features."""
        y = log_scores([p.viral_score for p in posts])
        platforms = np.array([p.platform for p in posts])
        for platform in set(platforms.tolist()):
            mask = platforms == platform
            y[mask] -= y[mask].mean()
        relative: list[float] = np.exp(y).tolist()
        return relative

    def _features(self, posts: list[PostPerformance]) -> list[FeatureEffect]:
        if len(posts) < 2 * self.config.min_posts:
            return []
        scores = self._residual_scores(posts)
        effects: list[FeatureEffect] = []
        categorical: dict[str, list[str]] = {
            "topic_cluster": [p.features.topic_cluster for p in posts],
            "music_tier": [p.features.music_tier for p in posts],
            "daypart": [daypart(p.features.hour) for p in posts],
            "weekend": ["yes" if is_weekend(p.features.weekday) else "no" for p in posts],
            **{name: ["yes" if getattr(p.features, name) else "no" for p in posts] for name in BINARY},
        }
        for feature, labels in categorical.items():
            binary = feature in BINARY or feature == "weekend"
            for e in self._compare(labels, scores, only={"yes"} if binary else None, register=False):
                effect = FeatureEffect(feature=feature, level=e.name, n=e.n, n_rest=e.n_rest, ratio=e.lift,
                                       low=e.low, high=e.high, effect_size=e.effect_d, p_value=e.p_value)
                effects.append(effect)
                if e.n >= self.config.min_posts and e.n_rest >= self.config.min_posts:
                    self._register(e.p_value, e.lift, effect)
        numeric = {"length_s": ([p.features.length_s for p in posts], self.config.length_step_s),
                   "words_per_minute": ([p.features.words_per_minute for p in posts], self.config.wpm_step)}
        numeric = {k: v for k, v in numeric.items() if all(x > 0 for x in v[0])}
        for slope in bootstrap_slopes(numeric, scores, resamples=self.config.resamples, seed=self.config.seed):
            q1, q3 = np.quantile(numeric[slope.name][0], [0.25, 0.75])
            effects.append(self._slope_effect(slope, float(q3 - q1)))
        return effects

    def _slope_effect(self, slope: Slope, spread: float) -> FeatureEffect:
        """A slope is worth telling when it moves the score by `min_lift` across the middle half of the data."""
        effect = FeatureEffect(feature=slope.name, kind="numeric", n=slope.n, ratio=round(slope.ratio, 4),
                               low=round(slope.low, 4), high=round(slope.high, 4), per=slope.per,
                               effect_size=round(slope.r, 3), p_value=slope.p_value)
        if slope.n >= 2 * self.config.min_posts:
            self._register(slope.p_value, slope.ratio ** (spread / slope.per), effect)
        return effect

    def _fingerprint(self, platform: str, posts: list[PostPerformance]) -> AudienceFingerprint:
        fp = AudienceFingerprint(platform=platform, n=len(posts))
        if len(posts) < 2:
            return fp
        scores = [p.viral_score for p in posts]
        dimensions = {"topic": [p.features.topic_cluster for p in posts], "format": [format_of(p) for p in posts],
                      "daypart": [daypart(p.features.hour) for p in posts]}
        for dimension, labels in dimensions.items():
            estimates = self._compare(labels, scores)
            if estimates:
                fp.comparisons[dimension] = estimates
        fp.topics = self._ranked("topic", dimensions["topic"], scores)
        fp.formats = self._ranked("format", dimensions["format"], scores)
        fp.dayparts = self._ranked("daypart", dimensions["daypart"], scores)
        fp.hours = self._ranked("hour", [f"{p.features.hour:02d}" for p in posts], scores)
        if len(posts) >= self.config.min_posts:
            fp.best_hours = [int(e.name) for e in fp.hours[: self.config.best_hours] if e.lift > 1.0] or \
                [int(fp.hours[0].name)]
        return fp

    def _ranked(self, dimension: Dimension, labels: list[str], scores: list[float]) -> list[FingerprintEntry]:
        """Segments ranked by a lift shrunk toward 1 by k pseudo-posts at the platform mean: a ranking for
        the optimizer and the dashboard, not a claim (claims come from `comparisons` through Holm)."""
        y = log_scores(scores)
        k = self.config.fingerprint_prior_posts
        entries = []
        for name in sorted(set(labels)):
            mine = y[np.array([label == name for label in labels])]
            diff = float(mine.mean() - y.mean())
            entries.append(FingerprintEntry(dimension=dimension, name=name, n=len(mine),
                                            lift=round(math.exp(diff * len(mine) / (len(mine) + k)), 4),
                                            raw_lift=round(math.exp(diff), 4)))
        return sorted(entries, key=lambda e: (-e.lift, e.name))
