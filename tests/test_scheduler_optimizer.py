"""The posting optimiser with fixed data: the prior, learning from history, and every constraint."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sma.services.scheduling.optimizer import (
    Busy,
    Constraints,
    EngagementModel,
    EngagementSample,
    allocate,
    allowed,
    candidate_times,
)
from sma.services.trends.config import SchedulerSettings

UTC_ZONE = ZoneInfo("UTC")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # a Monday
DEFAULTS = SchedulerSettings().default_hours


def history(platform: str, hour: int, engagement: float, weeks: int, weekday: int = 0) -> list[EngagementSample]:
    return [EngagementSample(platform, MONDAY - timedelta(weeks=w + 1) + timedelta(days=weekday, hours=hour),
                             engagement) for w in range(weeks)]


def constraints(**overrides: object) -> Constraints:
    values: dict[str, object] = dict(zone=UTC_ZONE, quiet=None, daily_cap=10, platform_caps={},
                                     cooldown_h={"youtube": 4.0, "tiktok": 3.0}, production_limit=10)
    values.update(overrides)
    return Constraints(**values)  # type: ignore[arg-type]


def day() -> list[datetime]:
    return candidate_times(MONDAY, MONDAY + timedelta(hours=23), 60)


def test_without_history_the_default_hours_win() -> None:
    model = EngagementModel([], ["youtube"], UTC_ZONE, DEFAULTS, 8.0)
    [choice] = allocate(1, ["youtube"], day(), model, constraints())
    assert choice.slot_at.hour in DEFAULTS["youtube"]
    assert model.basis("youtube") == "youtube: default hours (no history yet)"


def test_rich_history_moves_the_best_slot() -> None:
    samples = history("youtube", 7, 0.30, weeks=30) + history("youtube", 19, 0.02, weeks=30)
    model = EngagementModel(samples, ["youtube"], UTC_ZONE, DEFAULTS, 8.0)
    [choice] = allocate(1, ["youtube"], day(), model, constraints())
    assert choice.slot_at.hour == 7  # the project's own audience beats the generic prior


def test_thin_history_is_shrunk_toward_the_prior() -> None:
    one_lucky_post = history("youtube", 4, 0.5, weeks=1) + history("youtube", 19, 0.1, weeks=1)
    model = EngagementModel(one_lucky_post, ["youtube"], UTC_ZONE, DEFAULTS, 8.0)
    [choice] = allocate(1, ["youtube"], day(), model, constraints())
    assert choice.slot_at.hour != 4 and choice.slot_at.hour in DEFAULTS["youtube"]


def test_history_is_read_in_the_project_time_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    local = [datetime(2026, 11, 16, 8, tzinfo=berlin) - timedelta(weeks=w) for w in range(30)]  # across DST
    samples = [EngagementSample("youtube", t, 0.3) for t in local] + history("youtube", 18, 0.02, weeks=30)
    model = EngagementModel(samples, ["youtube"], berlin, DEFAULTS, 8.0)
    [choice] = allocate(1, ["youtube"], day(), model, constraints(zone=berlin))
    assert choice.slot_at.astimezone(berlin).hour == 8


def test_quiet_hours_are_never_used() -> None:
    samples = history("youtube", 23, 1.0, weeks=40)
    model = EngagementModel(samples, ["youtube"], UTC_ZONE, DEFAULTS, 8.0)
    choices = allocate(5, ["youtube"], day(), model, constraints(quiet=(time(22, 0), time(7, 0))))
    assert choices and all(7 <= c.slot_at.hour < 22 for c in choices)


def test_cooldown_per_platform() -> None:
    model = EngagementModel([], ["youtube", "tiktok"], UTC_ZONE, DEFAULTS, 8.0)
    choices = allocate(10, ["youtube"], day(), model, constraints())
    times = sorted(c.slot_at for c in choices)
    assert all(b - a >= timedelta(hours=4) for a, b in itertools.pairwise(times))
    assert len(choices) == 6  # 24 h / 4 h cooldown


def test_production_limit_and_daily_caps() -> None:
    model = EngagementModel([], ["youtube"], UTC_ZONE, DEFAULTS, 8.0)
    assert len(allocate(5, ["youtube"], day(), model, constraints(production_limit=2))) == 2
    assert len(allocate(5, ["youtube"], day(), model, constraints(daily_cap=1))) == 1
    assert len(allocate(5, ["youtube"], day(), model, constraints(platform_caps={"youtube": 3}))) == 3


def test_existing_posts_count_for_caps_and_cooldowns() -> None:
    busy = [Busy("youtube", MONDAY + timedelta(hours=12))]
    c = constraints(busy=busy, platform_caps={"youtube": 2})
    assert not allowed(MONDAY + timedelta(hours=14), ["youtube"], c)  # within 4 h of the noon post
    assert allowed(MONDAY + timedelta(hours=16), ["youtube"], c)
    model = EngagementModel([], ["youtube"], UTC_ZONE, DEFAULTS, 8.0)
    assert len(allocate(5, ["youtube"], day(), model, c)) == 1  # the cap of 2 already has one


def test_multi_platform_slot_respects_every_platform() -> None:
    busy = [Busy("tiktok", MONDAY + timedelta(hours=19))]
    model = EngagementModel([], ["youtube", "tiktok"], UTC_ZONE, DEFAULTS, 8.0)
    choices = allocate(3, ["youtube", "tiktok"], day(), model, constraints(busy=busy))
    assert all(abs(c.slot_at - busy[0].at) >= timedelta(hours=3) for c in choices)


def test_candidate_times_are_on_the_grid() -> None:
    start = MONDAY + timedelta(minutes=7)
    times = candidate_times(start, start + timedelta(hours=3), 60)
    assert [t.hour for t in times] == [1, 2, 3] and all(t.minute == 0 for t in times)
