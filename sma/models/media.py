"""Contracts of the media engine beyond the pipeline steps: per-platform variants of a rendered video."""

from __future__ import annotations

from pydantic import BaseModel, Field

from sma.models.common import ArtifactRef, Word


class VariantRequest(BaseModel):
    project_id: str
    run_id: str
    video: ArtifactRef
    platform: str
    words: list[Word] = Field(default_factory=list, description="caption words: a re-cut ends after a sentence")
    words_artifact: ArtifactRef | None = Field(None, description="the captions step's words file, instead of words")


class VariantResult(BaseModel):
    platform: str
    video: ArtifactRef
    changed: list[str] = Field(default_factory=list, description="what differs from the master; empty = it is")
    duration_s: float = 0.0
    integrated_lufs: float | None = None
    seconds: float = 0.0
