"""The approval policy and each guard, as pure functions: every level, every guard, with reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sma.models.autonomy import PolicyRequest
from sma.models.common import QAReport
from sma.services.autonomy import guards as g
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


def test_the_stored_level_caps_a_run_but_never_raises_it() -> None:
    assert effective_level("autonomous", "assisted") == "assisted"
    assert effective_level("manual", "autonomous") == "manual"
    assert effective_level("assisted", None) == "assisted"
    verdict = evaluate(situation("autonomous", stored_level="manual"))
    assert (verdict.verdict, verdict.level) == ("ask", "manual")


# ---------------------------------------------------------------- publish stage: guards


def test_kill_switch_holds_every_publish_even_a_human_one() -> None:
    for auto in (True, False):
        verdict = evaluate(situation("autonomous", "publish", auto=auto, paused=True, pause_note="by @alice"))
        assert verdict.verdict == "block" and "paused" in verdict.reasons[0] and verdict.retry_after_s == 1800


def test_a_human_approval_skips_caps_and_quiet_hours() -> None:
    guards = GuardSettings(daily_cap=0, quiet_hours="00:00-23:59")
    assert evaluate(situation("manual", "publish", auto=False, guards=guards)).verdict == "approve"


def test_quiet_hours_follow_the_project_time_zone() -> None:
    guards = GuardSettings(quiet_hours="22:00-07:00", timezone="America/New_York")
    late = datetime(2026, 6, 15, 3, 30, tzinfo=UTC)  # 23:30 in New York (EDT)
    verdict = evaluate(situation("autonomous", "publish", guards=guards, now=late))
    assert verdict.verdict == "block" and "quiet hours" in verdict.reasons[0]
    assert verdict.retry_after_s == pytest.approx(7.5 * 3600)  # until 07:00 local
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
