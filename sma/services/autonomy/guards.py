"""The individual guards of autonomous publishing, as pure functions of time, counts and config."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sma.models.common import QAReport


def local_now(now_utc: datetime, zone: ZoneInfo) -> datetime:
    return now_utc.astimezone(zone)


def local_day(now_utc: datetime, zone: ZoneInfo) -> str:
    """The project's calendar day: caps are per local day, not per UTC day."""
    return local_now(now_utc, zone).date().isoformat()


def seconds_until_midnight(now_utc: datetime, zone: ZoneInfo) -> float:
    """Until the next local midnight, DST-aware (the wall clock, converted back to UTC)."""
    local = local_now(now_utc, zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=zone)
    return _seconds_between(now_utc, midnight)


def _seconds_between(now_utc: datetime, local_target: datetime) -> float:
    """Real elapsed seconds: same-zone aware datetimes subtract by wall clock, which is wrong across DST."""
    return max(1.0, (local_target.astimezone(UTC) - now_utc.astimezone(UTC)).total_seconds())


def in_quiet_hours(now_utc: datetime, zone: ZoneInfo, window: tuple[time, time] | None) -> bool:
    if window is None:
        return False
    start, end = window
    clock = local_now(now_utc, zone).time().replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # wraps midnight, e.g. 22:00-07:00


def seconds_until_quiet_end(now_utc: datetime, zone: ZoneInfo, window: tuple[time, time]) -> float:
    """How long until the quiet window ends (only meaningful while inside it)."""
    local = local_now(now_utc, zone)
    _, end = window
    candidate = datetime.combine(local.date(), end, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return _seconds_between(now_utc, candidate)


def blocklist_hits(text: str, blocklist: list[str]) -> list[str]:
    """Blocklisted words or phrases found in the text, matched on word boundaries, case-insensitively."""
    hits = []
    for phrase in blocklist:
        phrase = phrase.strip()
        if phrase and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, flags=re.IGNORECASE):
            hits.append(phrase)
    return hits


def qa_problems(reports: list[QAReport], required: list[str]) -> list[str]:
    """Why QA does not allow an automatic approval: a failed gate, a score under its threshold, a gate
    that never reported. Empty means every gate passed at or above its threshold."""
    problems = []
    seen = {r.gate for r in reports}
    for report in reports:
        if not report.passed:
            why = "; ".join(report.reasons) or "failed"
            problems.append(f"{report.gate} failed: {why}")
        elif report.score < report.threshold:
            problems.append(f"{report.gate} scored {report.score:.2f} under its threshold {report.threshold:.2f}")
    problems += [f"{gate} did not report" for gate in required if gate not in seen]
    if not reports:
        problems.append("no QA reports")
    return problems


def cap_problems(published_today: int, daily_cap: int, per_platform: dict[str, int],
                 platform_caps: dict[str, int], platforms: list[str]) -> list[str]:
    """Which daily caps this video would exceed (0 means nothing may be published that day)."""
    problems = []
    if published_today >= daily_cap:
        problems.append(f"daily cap reached: {published_today} of {daily_cap} videos published today")
    for platform in platforms:
        cap = platform_caps.get(platform)
        if cap is not None and per_platform.get(platform, 0) >= cap:
            problems.append(f"{platform} cap reached: {per_platform.get(platform, 0)} of {cap} today")
    return problems
