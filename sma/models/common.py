"""Small shared contracts: artifact references and QA reports."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class ArtifactRef(BaseModel):
    """A file in the content-addressed store. History carries this, never the bytes."""

    path: str
    sha256: str
    size: int
    kind: str = "file"
    media_type: str = "application/octet-stream"


class QAReport(BaseModel):
    """Outcome of one QA gate: structured so the bot, dashboard and autonomy policy can read it."""

    gate: str
    passed: bool
    score: float = 1.0
    threshold: float = 0.0
    reasons: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    """Checks the gate could not run here and why (not failures): "WER skipped: no es recogniser"."""

    @classmethod
    def from_checks(cls, gate: str, checks: int, reasons: list[str], metrics: dict[str, float]) -> QAReport:
        """A gate of `checks` pass/fail checks: passed when no reason was given, scored by the share passed."""
        return cls(gate=gate, passed=not reasons, score=round(max(0.0, (checks - len(reasons)) / checks), 3),
                   threshold=1.0, reasons=reasons, metrics=metrics)


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class Word(BaseModel):
    """One spoken word with its timing in seconds; the captions `words` artifact is a JSON list of these."""

    text: str
    start: float
    end: float
    probability: float = 1.0
