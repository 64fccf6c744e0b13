"""The individual guards of autonomous publishing, as pure functions of time, counts and config."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


def has_cap(cap: int | None) -> bool:
    """0 and None both mean "no cap", in config, overrides, the bot and the dashboard alike."""
    return bool(cap and cap > 0)


def cap_problems(published_today: int, daily_cap: int | None, per_platform: dict[str, int],
                 platform_caps: Mapping[str, int | None], platforms: list[str]) -> list[str]:
    """Which daily caps this video would exceed; a cap of 0 or None is no cap."""
    problems = []
    if daily_cap is not None and has_cap(daily_cap) and published_today >= daily_cap:
        problems.append(f"daily cap reached: {published_today} of {daily_cap} videos published today")
    for platform in platforms:
        cap = platform_caps.get(platform)
        if cap is not None and has_cap(cap) and per_platform.get(platform, 0) >= cap:
            problems.append(f"{platform} cap reached: {per_platform.get(platform, 0)} of {cap} today")
    return problems


def release_note(now_utc: datetime, zone: ZoneInfo, wait_s: float, when: str) -> str:
    """When a held run goes on by itself, in the project's time and as a countdown."""
    at = local_now(now_utc + timedelta(seconds=wait_s), zone)
    minutes = max(1, round(wait_s / 60))
    hours, minutes = divmod(minutes, 60)
    countdown = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return f"released {at:%Y-%m-%d %H:%M} {zone.key} (in {countdown}), {when}"
