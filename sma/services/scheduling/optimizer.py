"""Posting optimiser: the best slots per platform from the project's own engagement by weekday and hour,
shrunk toward a prior of default hours while the history is thin; then a greedy allocation of topics to
slots that respects quiet hours, daily caps, per-platform caps, per-platform cooldowns and the daily
production limit. Pure functions of their inputs (no clock, no database): unit-testable with fixed data.

Estimate of a (platform, weekday, hour) cell, in the project's time zone:
    (Σ engagement of posts in the cell + ½·Σ of the neighbouring hours + k·prior) / (n + ½·n_neighbours + k)
where prior = mean engagement of the platform * shape(hour), shape = 1 at a default hour, falling 15% per
hour away from the nearest one (floor 0.35), and k = `prior_strength` pseudo-posts. Estimates are divided
by the platform's best cell, so platforms with different engagement scales are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sma.services.autonomy.guards import in_quiet_hours

HOURS = 24
NEIGHBOUR_WEIGHT = 0.5


@dataclass(frozen=True)
class EngagementSample:
    platform: str
    published_at: datetime
    engagement: float


@dataclass(frozen=True)
class Busy:
    """A post that already exists or is planned: it counts toward caps and cooldowns."""

    platform: str
    at: datetime


def _shape(hour: int, default_hours: Sequence[int]) -> float:
    if not default_hours:
        return 1.0
    distance = min(min(abs(hour - h), HOURS - abs(hour - h)) for h in default_hours)
    return max(0.35, 1.0 - 0.15 * distance)


class EngagementModel:
    def __init__(self, samples: Sequence[EngagementSample], platforms: Sequence[str], zone: ZoneInfo,
                 default_hours: dict[str, list[int]], prior_strength: float) -> None:
        self.zone = zone
        self.counts: dict[str, int] = {}
        self.table: dict[str, list[list[float]]] = {}
        for platform in platforms:
            own = [s for s in samples if s.platform == platform]
            self.counts[platform] = len(own)
            self.table[platform] = self._cells(own, default_hours.get(platform, []), prior_strength)

    def _cells(self, samples: list[EngagementSample], default_hours: list[int], k: float) -> list[list[float]]:
        mean = sum(s.engagement for s in samples) / len(samples) if samples else 1.0
        sums = [[0.0] * HOURS for _ in range(7)]
        counts = [[0.0] * HOURS for _ in range(7)]
        for sample in samples:
            local = sample.published_at.astimezone(self.zone)
            day, hour = local.weekday(), local.hour
            for offset, weight in ((0, 1.0), (-1, NEIGHBOUR_WEIGHT), (1, NEIGHBOUR_WEIGHT)):
                h = (hour + offset) % HOURS
                sums[day][h] += weight * sample.engagement
                counts[day][h] += weight
        cells = [[(sums[d][h] + k * mean * _shape(h, default_hours)) / (counts[d][h] + k) for h in range(HOURS)]
                 for d in range(7)]
        best = max(max(row) for row in cells) or 1.0
        return [[value / best for value in row] for row in cells]

    def score(self, platform: str, when: datetime) -> float:
        local = when.astimezone(self.zone)
        table = self.table.get(platform)
        return table[local.weekday()][local.hour] if table else 0.5

    def basis(self, platform: str) -> str:
        n = self.counts.get(platform, 0)
        return f"{platform}: history of {n} posts with the default-hours prior" if n else \
            f"{platform}: default hours (no history yet)"


@dataclass
class Constraints:
    zone: ZoneInfo
    quiet: tuple[time, time] | None
    daily_cap: int | None  # None: no cap
    platform_caps: dict[str, int]
    cooldown_h: dict[str, float]
    production_limit: int
    busy: list[Busy] = field(default_factory=list)
    produced_per_day: dict[str, int] = field(default_factory=dict)  # local date -> pipelines already planned


@dataclass(frozen=True)
class Choice:
    index: int  # of the topic
    slot_at: datetime
    score: float


def candidate_times(start: datetime, end: datetime, step_min: int) -> list[datetime]:
    """Times on the step grid (UTC minutes since the epoch) from `start` to `end`, inclusive."""
    step = timedelta(minutes=step_min)
    epoch = datetime(1970, 1, 1, tzinfo=start.tzinfo)
    first = epoch + step * -(-(start - epoch) // step)  # round up to the grid
    times, current = [], first
    while current <= end:
        times.append(current)
        current += step
    return times


def allowed(when: datetime, platforms: Sequence[str], c: Constraints, ignore: Busy | None = None) -> bool:
    if in_quiet_hours(when, c.zone, c.quiet):
        return False
    day = when.astimezone(c.zone).date().isoformat()
    limit = c.production_limit if c.daily_cap is None else min(c.production_limit, c.daily_cap)
    if c.produced_per_day.get(day, 0) >= limit:
        return False
    for platform in platforms:
        same = [b for b in c.busy if b.platform == platform and b is not ignore]
        cap = c.platform_caps.get(platform)
        if cap is not None and sum(1 for b in same if b.at.astimezone(c.zone).date().isoformat() == day) >= cap:
            return False
        cooldown = timedelta(hours=c.cooldown_h.get(platform, 0.0))
        if any(abs(b.at - when) < cooldown for b in same):
            return False
    return True


def slot_score(model: EngagementModel, when: datetime, platforms: Sequence[str]) -> float:
    return sum(model.score(p, when) for p in platforms) / max(1, len(platforms))


def allocate(count: int, platforms: Sequence[str], times: Sequence[datetime], model: EngagementModel,
             c: Constraints) -> list[Choice]:
    """Give each of `count` topics (best first) the best allowed time; later topics get what is left.
    Ties go to the earlier time. Mutates `c` (busy, per-day counts) as slots are taken."""
    choices: list[Choice] = []
    for index in range(count):
        best: tuple[float, datetime] | None = None
        for when in times:
            if not allowed(when, platforms, c):
                continue
            score = slot_score(model, when, platforms)
            if best is None or score > best[0] + 1e-9:
                best = (score, when)
        if best is None:
            break
        take(best[1], platforms, c)
        choices.append(Choice(index, best[1], round(best[0], 4)))
    return choices


def take(when: datetime, platforms: Sequence[str], c: Constraints) -> None:
    day = when.astimezone(c.zone).date().isoformat()
    c.produced_per_day[day] = c.produced_per_day.get(day, 0) + 1
    c.busy.extend(Busy(p, when) for p in platforms)
