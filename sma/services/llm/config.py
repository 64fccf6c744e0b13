"""Configuration of the LLM gateway (section `llm:` of config.yaml).

Providers are named; each stage has an ordered chain of `name` or `name:model` entries. Two providers are
built in (`openai`, `anthropic`) and switch on when their API key is in the secrets; a configured provider
with the same name overrides the built-in one field by field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from sma.models.section import Section

ProviderKind = Literal["openai", "anthropic", "openai_compatible"]
StructuredMode = Literal["auto", "json_schema", "json_object", "tools", "prompt"]


class ProviderSettings(Section):
    name: str
    kind: ProviderKind = "openai_compatible"
    model: str = ""
    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:11434/v1 for Ollama")
    api_key_secret: str | None = Field(None, description="field of `secrets` with the key; default per kind")
    enabled: bool = True
    timeout_s: float = 60.0
    max_tokens: int = 2000
    temperature: float | None = 0.7
    structured: StructuredMode = "auto"
    vision: bool = False
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not value or ":" in value or not all(c.isalnum() or c in "-_." for c in value):
            raise ValueError("must be a non-empty name of letters, digits, '-', '_' or '.' (no ':')")
        return value


BUILTIN_PROVIDERS: dict[str, dict[str, Any]] = {
    "openai": {"kind": "openai", "model": "gpt-4o-mini", "vision": True, "input_usd_per_mtok": 0.15,
               "output_usd_per_mtok": 0.60},
    "anthropic": {"kind": "anthropic", "model": "claude-haiku-4-5", "vision": True, "input_usd_per_mtok": 1.0,
                  "output_usd_per_mtok": 5.0},
}


class BreakerSettings(Section):
    failures: int = Field(3, ge=1, description="consecutive failures that open the circuit")
    reset_s: float = Field(120.0, description="seconds a circuit stays open before one trial call")


class ScriptQASettings(Section):
    duration_tolerance: float = Field(0.5, description="band = target * (1 +/- tolerance)")
    duration_slack_s: float = Field(10.0, description="the upper bound is at least target + slack")
    min_seconds: float = 3.0
    max_seconds: float = 90.0
    max_hook_words: int = 22
    profanity: list[str] = Field(default_factory=list, description="extra words on top of the built-in list")
    hype_words: list[str] = Field(default_factory=list, description="extra words for the 'no hype' voice rule")
    check_claims: bool = True


class LLMSettings(Section):
    providers: list[ProviderSettings] = Field(default_factory=list)
    chains: dict[str, list[str]] = Field(
        default_factory=lambda: {"script": ["openai", "anthropic"], "vision": ["openai", "anthropic"]})
    daily_budget_usd: float | None = Field(1.0, description="per project per UTC day; null = unlimited")
    project_budgets: dict[str, float] = Field(default_factory=dict)
    stage_timeout_s: float = Field(150.0, description="whole chain; below the write_script activity timeout")
    repair_attempts: int = Field(1, ge=0, le=3, description="corrective re-asks after invalid JSON")
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    prompts_dir: str | None = Field(None, description="empty: ./prompts, else the repository's prompts/")
    prompt_versions: dict[str, str] = Field(default_factory=lambda: {"script": "v2", "vision": "v1"})
    vision_frames: int = Field(4, ge=1, le=16)
    memories: int = Field(5, description="how many memories to put in the script prompt")
    qa: ScriptQASettings = Field(default_factory=ScriptQASettings)

    def provider_settings(self) -> dict[str, ProviderSettings]:
        """Built-in providers overlaid by the configured ones (same name: configured fields win)."""
        merged = {name: ProviderSettings(name=name, **values) for name, values in BUILTIN_PROVIDERS.items()}
        for provider in self.providers:
            base = merged.get(provider.name)
            if base is None:
                merged[provider.name] = provider
                continue
            changes = provider.model_dump(exclude_unset=True)
            merged[provider.name] = base.model_copy(update=changes)
        return merged

    def budget_for(self, project_id: str) -> float | None:
        return self.project_budgets.get(project_id, self.daily_budget_usd)
