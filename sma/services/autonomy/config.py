"""Per-project guards of autonomous publishing (key `guards:` of a project).

They bound what the engine may publish with no human: how many videos a day (and per platform), not in
the project's quiet hours, never a blocklisted topic, and when to fall back from `autonomous` to
`assisted` on its own (repeated QA failures, an engagement drop).
"""

from __future__ import annotations

import re
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from sma.models.section import Section

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
DEFAULT_GATES = ["QA_SCRIPT", "QA_TTS", "QA_CAPTIONS", "QA_RENDER", "QA_VISUAL"]


class GuardSettings(Section):
    timezone: str = Field("UTC", description="IANA zone of the project: quiet hours and 'per day' use it")
    daily_cap: int | None = Field(10, ge=0, description="videos published per local day, all platforms; "
                                                         "0 or null = no cap")
    platform_caps: dict[str, int | None] = Field(default_factory=dict,
                                                 description="posts per local day per platform; 0 or null = no cap")
    quiet_hours: str | None = Field(None, description="'HH:MM-HH:MM' local time; may wrap midnight")
    topic_blocklist: list[str] = Field(default_factory=list, description="words or phrases; case-insensitive")
    required_gates: list[str] = Field(default_factory=lambda: list(DEFAULT_GATES),
                                      description="QA gates that must all pass before an automatic approval")
    fallback_after_qa_failures: int = Field(3, ge=0, description="consecutive QA failures; 0 = never")
    fallback_engagement_drop: float = Field(0.5, ge=0.0, le=1.0,
                                            description="fraction below baseline that triggers it; 0 = never")
    hold_recheck_minutes: float = Field(30.0, gt=0, description="how often a held run asks the guards again")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _QUIET.match(value.replace(" ", "")):
            raise ValueError("quiet_hours must look like '22:00-07:00'")
        return value.replace(" ", "")

    @field_validator("platform_caps")
    @classmethod
    def _caps(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        bad = [k for k, v in value.items() if v is not None and v < 0]
        if bad:
            raise ValueError(f"caps cannot be negative: {', '.join(bad)}")
        return value

    def daily_limit(self) -> int | None:
        """The daily cap, or None when there is none (0 and null both mean no cap)."""
        return self.daily_cap or None

    def platform_limits(self) -> dict[str, int]:
        """Only the platforms that have a cap."""
        return {platform: cap for platform, cap in self.platform_caps.items() if cap}

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def quiet_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)
