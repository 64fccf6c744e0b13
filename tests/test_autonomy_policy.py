"""The approval policy and each guard, as pure functions: every level, every guard, with reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sma.models.autonomy import PolicyRequest
from sma.models.common import QAReport
from sma.services.autonomy import guards as g
from sma.services.autonomy import store
from sma.services.autonomy.config import DEFAULT_GATES, GuardSettings
from sma.services.autonomy.policy import Situation, effective_level, evaluate

NOON = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def passing() -> list[QAReport]:
    return [QAReport(gate=gate, passed=True, score=0.95, threshold=0.8) for gate in DEFAULT_GATES]


def situation(level: str = "manual", stage: str = "approval", qa: list[QAReport] | None = None, auto: bool = True,
              title: str = "Why tests matter", now: datetime = NOON, **kwargs: object) -> Situation:
    guards = kwargs.pop("guards", GuardSettings())
    req = PolicyRequest(project_id="p", run_id="r", level=level, stage=stage, auto=auto,  # type: ignore[arg-type]
                        qa=passing() if qa is None else qa, title=title, platforms=["local", "youtube"])
    return Situation(req=req, guards=guards, now_utc=now, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- approval stage: levels


def test_manual_always_asks() -> None:
    verdict = evaluate(situation("manual"))
    assert verdict.verdict == "ask" and "manual" in verdict.reasons[0]


def test_assisted_approves_only_when_every_gate_passes_at_its_threshold() -> None:
    assert evaluate(situation("assisted")).verdict == "approve"
    failed = passing()
    failed[1] = QAReport(gate="QA_TTS", passed=False, score=0.4, threshold=0.85, reasons=["WER 0.31"])
    verdict = evaluate(situation("assisted", qa=failed))
    assert verdict.verdict == "ask" and any("QA_TTS failed: WER 0.31" in r for r in verdict.reasons)
    low = passing()
    low[0] = QAReport(gate="QA_SCRIPT", passed=True, score=0.7, threshold=0.8)
    assert evaluate(situation("assisted", qa=low)).verdict == "ask"
    missing = passing()[:-1]
    verdict = evaluate(situation("assisted", qa=missing))
    assert verdict.verdict == "ask" and any("QA_VISUAL did not report" in r for r in verdict.reasons)
    assert evaluate(situation("assisted", qa=[])).verdict == "ask"


def test_autonomous_approves_unless_qa_fails_or_the_topic_is_blocked() -> None:
    assert evaluate(situation("autonomous")).verdict == "approve"
    blocked = GuardSettings(topic_blocklist=["crypto", "get rich"])
    verdict = evaluate(situation("autonomous", title="How to GET RICH with tests", guards=blocked))
    assert verdict.verdict == "ask" and "get rich" in verdict.reasons[0]
    assert evaluate(situation("autonomous", title="Cryptography basics", guards=blocked)).verdict == "approve"
    assert evaluate(situation("autonomous", qa=[QAReport(gate="QA_SCRIPT", passed=False)])).verdict == "ask"


def test_a_run_follows_its_projects_stored_level_unless_pinned() -> None:
    """The stored level is the one source of truth: it raises a run as well as lowering it."""
    assert effective_level("autonomous", "assisted") == "assisted"
    assert effective_level("manual", "autonomous") == "autonomous"
    assert effective_level("assisted", None) == "assisted"
    assert effective_level("autonomous", "manual", pinned=True) == "autonomous"
    assert effective_level("manual", "autonomous", pinned=True) == "manual"
    verdict = evaluate(situation("autonomous", stored_level="manual"))
    assert (verdict.verdict, verdict.level) == ("ask", "manual")
    verdict = evaluate(situation("manual", stored_level="autonomous"))
    assert (verdict.verdict, verdict.level) == ("approve", "autonomous")
    pinned = situation("autonomous", stored_level="manual")
    pinned.req.pinned = True
    assert evaluate(pinned).verdict == "approve"


# ---------------------------------------------------------------- publish stage: guards


def test_kill_switch_holds_every_publish_even_a_human_one() -> None:
    for auto in (True, False):
        verdict = evaluate(situation("autonomous", "publish", auto=auto, paused=True, pause_note="by @alice"))
        assert verdict.verdict == "block" and "paused" in verdict.reasons[0] and verdict.retry_after_s == 1800
        assert "released when publishing is resumed" in verdict.reasons[1]


def test_a_human_approval_skips_caps_and_quiet_hours() -> None:
    guards = GuardSettings(daily_cap=0, quiet_hours="00:00-23:59")
    assert evaluate(situation("manual", "publish", auto=False, guards=guards)).verdict == "approve"


def test_quiet_hours_follow_the_project_time_zone() -> None:
    guards = GuardSettings(quiet_hours="22:00-07:00", timezone="America/New_York")
    late = datetime(2026, 6, 15, 3, 30, tzinfo=UTC)  # 23:30 in New York (EDT)
    verdict = evaluate(situation("autonomous", "publish", guards=guards, now=late))
    assert verdict.verdict == "block" and "quiet hours" in verdict.reasons[0]
    assert verdict.retry_after_s == pytest.approx(7.5 * 3600)  # until 07:00 local
    assert verdict.reasons[1].startswith("released 2026-06-15 07:00 America/New_York (in 7 h 30 min)")
    assert evaluate(situation("autonomous", "publish", guards=guards, now=NOON)).verdict == "approve"  # 08:00


def test_daily_and_platform_caps() -> None:
    guards = GuardSettings(daily_cap=2, platform_caps={"youtube": 1})
    ok = evaluate(situation("autonomous", "publish", guards=guards, published_today=1, daily_cap=2,
                            per_platform={"local": 1}, platform_caps={"youtube": 1}))
    assert ok.verdict == "approve"
    full = evaluate(situation("autonomous", "publish", guards=guards, published_today=2, daily_cap=2))
    assert full.verdict == "block" and "daily cap reached" in full.reasons[0]
    assert full.retry_after_s == pytest.approx(12 * 3600)  # until UTC midnight
    yt = evaluate(situation("autonomous", "publish", guards=guards, published_today=1, daily_cap=2,
                            per_platform={"youtube": 1}, platform_caps={"youtube": 1}))
    assert yt.verdict == "block" and "youtube cap reached" in yt.reasons[0]


def test_a_cap_of_zero_or_none_is_no_cap() -> None:
    """`daily_cap: 0` is documented as "no cap": it must never hold a post ("0 of 0")."""
    for cap in (0, None):
        verdict = evaluate(situation("autonomous", "publish", published_today=50, daily_cap=cap,
                                     per_platform={"youtube": 50}, platform_caps={"youtube": cap}))
        assert verdict.verdict == "approve", verdict.reasons
        assert g.cap_problems(50, cap, {"youtube": 50}, {"youtube": cap}, ["youtube"]) == []
    config = GuardSettings(daily_cap=0, platform_caps={"youtube": 0, "tiktok": None, "local": 2})
    assert config.daily_limit() is None and config.platform_limits() == {"local": 2}
    assert GuardSettings(daily_cap=None).daily_limit() is None and GuardSettings().daily_limit() == 10
    assert store.limits(None, 0, {"youtube": 0, "local": 2}).daily_cap is None
    assert store.limits(None, 0, {"youtube": 0, "local": 2}).platform_caps == {"local": 2}


def test_a_run_held_by_a_cap_says_why_and_when_it_is_released() -> None:
    guards = GuardSettings(timezone="Europe/Berlin")
    verdict = evaluate(situation("autonomous", "publish", guards=guards, published_today=10, daily_cap=10))
    assert verdict.verdict == "block" and verdict.reasons[0] == "daily cap reached: 10 of 10 videos published today"
    assert verdict.retry_after_s == pytest.approx(10 * 3600)  # 14:00 in Berlin (CEST) until midnight
    assert verdict.reasons[1] == ("released 2026-06-16 00:00 Europe/Berlin (in 10 h 0 min), when the day's caps "
                                  "reset, or when a cap is raised")


def test_an_automatic_approval_asks_a_human_after_the_level_went_down() -> None:
    verdict = evaluate(situation("autonomous", "publish", stored_level="manual"))
    assert verdict.verdict == "ask" and verdict.level == "manual"


# ---------------------------------------------------------------- guard helpers and config


def test_quiet_window_wraps_midnight_and_respects_dst() -> None:
    zone = GuardSettings(timezone="Europe/Berlin").zone()
    window = GuardSettings(quiet_hours="22:00-07:00").quiet_window()
    assert g.in_quiet_hours(datetime(2026, 1, 10, 22, 30, tzinfo=UTC), zone, window)  # 23:30 CET
    assert not g.in_quiet_hours(datetime(2026, 1, 10, 6, 30, tzinfo=UTC), zone, window)  # 07:30 CET
    assert g.in_quiet_hours(datetime(2026, 7, 10, 4, 30, tzinfo=UTC), zone, window)  # 06:30 CEST
    # The night the clocks go forward (2026-03-29) lasts an hour less.
    assert g.seconds_until_midnight(datetime(2026, 3, 28, 23, 0, tzinfo=UTC), zone) == pytest.approx(23 * 3600)
    assert g.local_day(datetime(2026, 1, 10, 23, 30, tzinfo=UTC), zone) == "2026-01-11"


def test_blocklist_matches_whole_words_case_insensitively() -> None:
    assert g.blocklist_hits("Bitcoin and CRYPTO tips", ["crypto", "forex"]) == ["crypto"]
    assert g.blocklist_hits("Cryptography", ["crypto"]) == []
    assert g.blocklist_hits("get rich quick", ["get rich", " "]) == ["get rich"]


def test_guard_settings_reject_bad_values() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        GuardSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="quiet_hours"):
        GuardSettings(quiet_hours="10pm-7am")
    with pytest.raises(ValidationError):
        GuardSettings(platform_caps={"youtube": -1})
    with pytest.raises(ValidationError):
        GuardSettings(unknown_key=1)  # type: ignore[call-arg]
    assert GuardSettings(quiet_hours="22:00 - 07:00").quiet_hours == "22:00-07:00"
