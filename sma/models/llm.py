"""Contracts of the LLM gateway: requests, completions, call records and the structured outputs we ask for."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from sma.models.pipeline import Beat, HookStyle

Role = Literal["user", "assistant"]
Outcome = Literal[
    "ok", "invalid_output", "timeout", "rate_limited", "server_error", "client_error", "connection_error",
    "budget_blocked", "circuit_open",
]


class ImageInput(BaseModel):
    """An image sent to a vision model, already encoded (JPEG or PNG)."""

    media_type: str = "image/jpeg"
    data_b64: str
    label: str = ""


class ChatMessage(BaseModel):
    role: Role
    text: str
    images: list[ImageInput] = Field(default_factory=list)


class LLMRequest(BaseModel):
    """One provider-neutral request; the schema is the output contract when set."""

    system: str
    messages: list[ChatMessage]
    schema_name: str = ""
    json_schema: dict[str, Any] | None = None
    max_tokens: int | None = None


class Completion(BaseModel):
    """What a provider returned: free text, or the arguments of a forced tool call."""

    text: str = ""
    data: dict[str, Any] | None = None
    model: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    finish_reason: str = ""
    refusal: str = ""


class CallContext(BaseModel):
    project_id: str
    run_id: str = ""
    stage: str


class CallRecord(BaseModel):
    """One attempted (or deliberately not made) call, as stored in `llm_calls`."""

    project_id: str
    run_id: str = ""
    stage: str
    provider: str
    model: str
    attempt: int = 1
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    outcome: Outcome
    error: str = ""
    created_at: datetime | None = None


class LLMResult(BaseModel):
    """The successful call of a chain plus the trail of calls it took to get there."""

    provider: str
    model: str
    completion: Completion
    cost_usd: float = 0.0
    calls: list[CallRecord] = Field(default_factory=list)

    @property
    def tier(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def total_cost_usd(self) -> float:
        return round(sum(c.cost_usd for c in self.calls), 6)


class UsageRow(BaseModel):
    day: str
    project_id: str
    provider: str
    model: str
    calls: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


class ScriptAttemptRecord(BaseModel):
    """One write_script attempt with its QA report, kept in `script_attempts`."""

    project_id: str
    run_id: str
    round: int = 1
    attempt: int = 1
    tier: str
    prompt_version: str = ""
    title: str = ""
    script_json: str
    qa_json: str
    passed: bool
    cost_usd: float = 0.0


# ---------------------------------------------------------------- structured outputs


class PlatformCopy(BaseModel):
    platform: str
    hashtags: list[str] = Field(default_factory=list)
    description: str = ""


class ScriptDraft(BaseModel):
    """The output contract of the script stage (a strict JSON schema is derived from it)."""

    title: str = Field(description="at most 80 characters")
    hook: str = Field(description="one sentence, spoken first")
    hook_style: HookStyle
    beats: list[Beat] = Field(description="3 to 7 beats; narration is spoken, visual is what is on screen")
    cta: str = Field(description="one short call to action")
    hashtags: list[str]
    description: str
    platforms: list[PlatformCopy] = Field(description="hashtags and description per target platform")


class VisionDraft(BaseModel):
    """The output contract of the vision stage."""

    context: str = Field(description="what the media shows and what it is about, 1-3 sentences")
    mood: str = Field(description="one to three words")
    subjects: list[str] = Field(description="main subjects, a few words each")


class Memory(BaseModel):
    text: str
    kind: Literal["coverage", "insight", "note"] = "note"
