"""The approval policy as a pure function: approve, ask a human, or block, always with reasons.

Two stages:
- approval: may this round's video go on without a human? `manual` never; `assisted` when every QA gate
  passed at or above its threshold; `autonomous` also needs the topic to be clear of the blocklist.
- publish: may it go out now? The kill switch holds every publish, even a human-approved one; quiet
  hours and daily caps hold publishes no human approved. A held run asks again after `retry_after_s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sma.models.autonomy import Level, PolicyRequest, PolicyVerdict
from sma.services.autonomy import guards as g
from sma.services.autonomy.config import GuardSettings


@dataclass(frozen=True)
class Situation:
    """Everything the policy looks at, gathered by the service from config, the database and the clock."""

    req: PolicyRequest
    guards: GuardSettings
    now_utc: datetime
    stored_level: Level | None = None
    paused: bool = False
    pause_note: str = ""
    published_today: int = 0
    per_platform: dict[str, int] = field(default_factory=dict)
    daily_cap: int | None = 3  # 0 or None: no cap
    platform_caps: Mapping[str, int | None] = field(default_factory=dict)


def effective_level(run_level: Level, stored_level: Level | None, pinned: bool = False) -> Level:
    """The level the policy applies. A run follows its project's stored level, the one source of truth, so a
    change made anywhere (or a fall back) reaches it even when its signal was lost; a run pinned to an
    explicit level (`sma run --autonomy`, the demo) keeps its own, which signals still change."""
    if pinned or stored_level is None:
        return run_level
    return stored_level


def evaluate(s: Situation) -> PolicyVerdict:
    level = effective_level(s.req.level, s.stored_level, s.req.pinned)
    if s.req.stage == "approval":
        return _approval(s, level)
    return _publish(s, level)


def _ask(level: Level, reasons: list[str]) -> PolicyVerdict:
    return PolicyVerdict(verdict="ask", level=level, reasons=reasons)


def _approval(s: Situation, level: Level) -> PolicyVerdict:
    if level == "manual":
        return _ask(level, ["manual: every video waits for a human"])
    problems = g.qa_problems(s.req.qa, s.guards.required_gates)
    if problems:
        return _ask(level, [f"{level}: QA did not pass, a human decides", *problems])
    if level == "autonomous":
        hits = g.blocklist_hits(f"{s.req.title}\n{s.req.summary}", s.guards.topic_blocklist)
        if hits:
            return _ask(level, [f"autonomous: the topic matches the blocklist ({', '.join(hits)})"])
        return PolicyVerdict(verdict="approve", level=level,
                             reasons=["autonomous: every QA gate passed and the topic is allowed"])
    return PolicyVerdict(verdict="approve", level=level,
                         reasons=["assisted: every QA gate passed at or above its threshold"])


def _publish(s: Situation, level: Level) -> PolicyVerdict:
    recheck = s.guards.hold_recheck_minutes * 60
    if s.paused:
        return PolicyVerdict(verdict="block", level=level, retry_after_s=recheck,
                             reasons=[f"publishing is paused{': ' + s.pause_note if s.pause_note else ''}",
                                      "released when publishing is resumed (/resume or the dashboard's Autonomy page)"])
    if not s.req.auto:
        return PolicyVerdict(verdict="approve", level=level, reasons=["approved by a human"])
    if _approval(s, level).verdict != "approve":
        # The level went down (or the stored level capped it) after the automatic approval.
        return _ask(level, [f"{level}: the automatic approval no longer holds, a human decides"])
    zone = s.guards.zone()
    window = s.guards.quiet_window()
    if g.in_quiet_hours(s.now_utc, zone, window):
        assert window is not None
        wait = g.seconds_until_quiet_end(s.now_utc, zone, window)
        return PolicyVerdict(verdict="block", level=level, retry_after_s=wait,
                             reasons=[f"quiet hours {s.guards.quiet_hours} ({s.guards.timezone})",
                                      g.release_note(s.now_utc, zone, wait, "when the quiet hours end")])
    caps = g.cap_problems(s.published_today, s.daily_cap, s.per_platform, s.platform_caps, s.req.platforms)
    if caps:
        wait = g.seconds_until_midnight(s.now_utc, zone)
        return PolicyVerdict(verdict="block", level=level, retry_after_s=wait,
                             reasons=[*caps, g.release_note(s.now_utc, zone, wait,
                                                            "when the day's caps reset, or when a cap is raised")])
    return PolicyVerdict(verdict="approve", level=level, reasons=["within every publishing guard"])
