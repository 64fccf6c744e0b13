"""Contracts of the approval policy, the autonomy signals and the approval notice.

They cross Temporal (activity inputs/outputs, signals), so every field has a default where it can and
new fields must get one: histories recorded with older code still decode.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from sma.models.common import QAReport

Level = Literal["manual", "assisted", "autonomous"]
LEVELS: tuple[Level, ...] = ("manual", "assisted", "autonomous")
Verdict = Literal["approve", "ask", "block"]
Stage = Literal["approval", "publish"]
Source = Literal["bot", "dashboard", "cli", "guard", "config", "api", "mcp"]


def level_rank(level: str) -> int:
    """manual < assisted < autonomous; unknown strings count as manual (the safe side)."""
    return LEVELS.index(level) if level in LEVELS else 0


# ---------------------------------------------------------------- policy activity


class PolicyRequest(BaseModel):
    """What the workflow knows when it asks whether a video may go on without a human."""

    project_id: str
    run_id: str
    round: int = 1
    stage: Stage = "approval"
    level: Level = "manual"
    pinned: bool = Field(False, description="the run keeps its own level instead of its project's stored one")
    auto: bool = Field(False, description="publish stage: the approval came from the policy, not a person")
    qa: list[QAReport] = Field(default_factory=list)
    title: str = ""
    summary: str = ""
    platforms: list[str] = Field(default_factory=list)


class PolicyVerdict(BaseModel):
    """approve: go on; ask: a human decides; block: not now (retry after `retry_after_s` or a recheck)."""

    verdict: Verdict
    reasons: list[str] = Field(default_factory=list)
    level: Level = "manual"
    retry_after_s: float = 0.0
    reminder_s: float = 0.0
    expiry_s: float = 0.0
    fallback: bool = False


# ---------------------------------------------------------------- signals


class SetAutonomySignal(BaseModel):
    level: Level
    by: str = "cli"
    source: Source = "cli"


class RecheckSignal(BaseModel):
    """Guards changed (resume, new limits): held runs ask the policy again now."""

    by: str = "cli"
    reason: str = ""


class ReopenSignal(BaseModel):
    """Bring an expired approval back: the run asks a human again with a fresh message."""

    by: str = "cli"


# ---------------------------------------------------------------- approval notice (inside NotifyRequest)


class ApprovalNotice(BaseModel):
    """The approval-specific part of a notification: which round and ask, and what a human needs to decide."""

    round: int = 0
    seq: int = 0
    title: str = ""
    script: str = ""
    qa: list[QAReport] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    level: str = ""
    approved: bool | None = None
    by: str = ""
    feedback: str = ""
