"""Engagement rate, viral score and checkpoint planning: the documented formulas, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sma.db.tables_publishing import PublishRecord
from sma.models.analytics import Metrics
from sma.services.analytics import checkpoints
from sma.services.analytics.scoring import Baseline, baseline, engagement_rate, viral_score

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOURS = [1.0, 6.0, 24.0, 48.0, 168.0]


def test_engagement_rate_counts_every_interaction_per_view() -> None:
    assert engagement_rate(Metrics(views=1000, likes=50, comments=5, shares=3, saves=2)) == pytest.approx(0.06)
    assert engagement_rate(Metrics(views=1000, likes=50)) == pytest.approx(0.05)  # missing counters are 0
    assert engagement_rate(Metrics(views=0, likes=3)) == 0.0
    assert engagement_rate(Metrics(likes=3)) is None


def test_viral_score_is_relative_to_the_projects_own_median() -> None:
    typical = Baseline(views=1000, engagement=0.05, n=5)
    assert viral_score(1000, 0.05, typical) == pytest.approx(1.0, abs=1e-3)
    assert viral_score(4000, 0.05, typical) == pytest.approx(4 ** 0.6, rel=1e-3)
    # The same relative success scores the same on a small and a large account.
    small, large = Baseline(views=200, engagement=0.08, n=9), Baseline(views=200_000, engagement=0.02, n=9)
    assert viral_score(400, 0.12, small) == pytest.approx(viral_score(400_000, 0.03, large), rel=0.01)
    assert viral_score(500, 0.05, Baseline(views=1000, engagement=0.05, n=2)) is None  # too few earlier posts
    assert viral_score(None, None, typical) is None


def test_baseline_is_a_median() -> None:
    b = baseline([100, 300, 200, None], [0.1, 0.3, None, 0.2])
    assert (b.views, b.engagement, b.n) == (200, pytest.approx(0.2), 3)


def _record(run: str, published: datetime, platform: str = "youtube") -> PublishRecord:
    return PublishRecord(project_id="test", run_id=run, platform=platform, state="published", external_id=f"x-{run}",
                         published_at=published)


def test_plan_lists_due_and_missed_checkpoints_and_the_next_one() -> None:
    old, fresh = _record("old", T0 - timedelta(hours=30)), _record("fresh", T0 - timedelta(minutes=30))
    plan = checkpoints.plan([old, fresh], collected={("old", "youtube", "1h")}, hours=HOURS, as_of=T0,
                            until=T0 + timedelta(hours=4))
    assert [(d.run_id, d.checkpoint) for d in plan.due] == [("old", "6h"), ("old", "24h")]
    assert plan.next_due_at == T0 + timedelta(minutes=30)  # the fresh post's 1h checkpoint
    due_6h = plan.due[0]
    assert due_6h.due_at == T0 - timedelta(hours=24) and due_6h.external_id == "x-old"
    assert checkpoints.is_late(due_6h.due_at, T0, timedelta(minutes=30))
    assert not checkpoints.is_late(T0, T0 + timedelta(minutes=10), timedelta(minutes=30))
    assert checkpoints.label(168.0) == "168h" and checkpoints.label(1.5) == "1.5h"
