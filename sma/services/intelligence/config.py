"""Configuration of the intelligence loop (section `intelligence:`).

Until the lead wires the section into `Settings`, `intelligence_settings(settings)` returns the defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sma.models.section import Section


class IntelligenceSettings(Section):
    enabled: bool = Field(True, description="run the IntelligenceWorkflow on its schedule")
    interval_h: float = Field(24.0, gt=0, description="how often the schedule runs the analysis")
    history_days: int = Field(90, ge=1, description="posts published in this window are analysed")
    checkpoint: str = Field("", description="use this checkpoint's viral score (e.g. '24h'); '' = each post's latest")
    alpha: float = Field(0.05, gt=0, lt=1, description="chance that a run with nothing real in it claims anything")
    min_posts: int = Field(8, ge=3, description="posts needed in a group AND in the rest before any claim")
    min_lift: float = Field(1.15, ge=1, description="smallest effect worth telling: 15% better (or worse)")
    draws: int = Field(4000, ge=500, le=100_000, description="posterior draws for P(best)")
    resamples: int = Field(4000, ge=500, le=100_000, description="bootstrap resamples for numeric features")
    seed: int = 7
    length_step_s: float = Field(10.0, gt=0, description="length effects are quoted per this many seconds")
    wpm_step: float = Field(20.0, gt=0, description="speaking-rate effects are quoted per this many words/minute")
    fingerprint_prior_posts: float = Field(5.0, ge=0, description="pseudo-posts shrinking fingerprint rankings")
    best_hours: int = Field(3, ge=1, le=24, description="hours per platform handed to the posting optimizer")
    exploit_max: float = Field(0.8, ge=0, le=1, description="the template tier uses an insight's hook style at "
                               "most this often, so the other styles keep being measured")
    remember: bool = Field(True, description="write insights and covered topics to Mem0")
    coverage_per_run: int = Field(100, ge=0, description="covered topics added to the memory per run, newest first "
                                  "(a backlog catches up over the following runs)")


def intelligence_settings(settings: Any) -> IntelligenceSettings:
    """The `intelligence:` section, or its defaults while Settings has no such section."""
    value = getattr(settings, "intelligence", None)
    return value if isinstance(value, IntelligenceSettings) else IntelligenceSettings()
