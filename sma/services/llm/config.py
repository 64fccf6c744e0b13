"""Configuration of the LLM gateway (section `llm:` of config.yaml)."""

from __future__ import annotations

from sma.models.section import Section


class LLMSettings(Section):
    """Filled in by the LLM gateway issue."""
