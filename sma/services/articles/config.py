"""Configuration of article fetching (section `articles:`): limits that keep a hostile or huge page harmless."""

from __future__ import annotations

from pydantic import Field

from sma.models.section import Section


class ArticleSettings(Section):
    timeout_s: float = Field(15.0, gt=0, description="connect, each read, and (doubled) the whole download")
    max_bytes: int = Field(3_000_000, ge=1024, description="a longer page is refused, not cut")
    max_redirects: int = Field(5, ge=0)
    content_types: list[str] = Field(default_factory=lambda: ["text/html", "application/xhtml+xml"],
                                     description="media types accepted as an article")
    user_agent: str = "sma-articles/0.1 (self-hosted social media automation)"
    min_chars: int = Field(200, ge=1, description="less extracted text than this is 'no article found'")
    max_facts: int = Field(8, ge=1, le=50, description="sentences kept as the topic's facts")
