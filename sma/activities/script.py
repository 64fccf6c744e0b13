"""Steps 1 and 2: media analysis and script writing (queue sma-workflows).

Thin wrappers over VisionService and ScriptService. A budget stop is permanent for the run: it becomes a
non-retryable ApplicationError of type BudgetExceeded whose message says the budget, the spend and how to
raise it; the workflow ends the run `failed` with that message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.models.pipeline import MediaAnalysis, MediaRequest, ScriptRequest, ScriptResult
from sma.settings import Settings

if TYPE_CHECKING:
    from sma.services.llm.vision import VisionService
    from sma.services.llm.writer import ScriptService


def _budget_error(exc: Exception) -> ApplicationError:
    return ApplicationError(str(exc), type="BudgetExceeded", non_retryable=True)


class ScriptActivities:
    def __init__(self, scripts: ScriptService, vision: VisionService) -> None:
        self.scripts = scripts
        self.vision = vision

    @activity.defn(name="analyse_media")
    async def analyse_media(self, req: MediaRequest) -> MediaAnalysis:
        """Skipped (with the reason in notes) when there is no media or no vision provider."""
        from sma.services.llm.errors import BudgetExceeded

        try:
            return await self.vision.analyse(req)
        except BudgetExceeded as exc:
            raise _budget_error(exc) from exc

    @activity.defn(name="write_script")
    async def write_script(self, req: ScriptRequest) -> ScriptResult:
        """One attempt; the workflow retries on QA_SCRIPT failure with the reasons as qa_feedback."""
        from sma.services.llm.errors import BudgetExceeded

        try:
            return await self.scripts.write(req)
        except BudgetExceeded as exc:
            raise _budget_error(exc) from exc


def build_services(settings: Settings, database: Any = None) -> tuple[ScriptService, VisionService]:
    """The script and vision services over one shared gateway (one circuit breaker per process)."""
    from sma.services.intelligence.config import intelligence_settings
    from sma.services.intelligence.guidance import HookGuidance, NoGuidance, guidance_for
    from sma.services.llm.gateway import LLMGateway
    from sma.services.llm.prompts import PromptLibrary
    from sma.services.llm.store import DBUsageStore, MemoryUsageStore, UsageStore
    from sma.services.llm.vision import VisionService
    from sma.services.llm.writer import LLMScriptWriter, ScriptService
    from sma.services.memory.config import memory_settings
    from sma.services.memory.providers import MemoryContext
    from sma.services.memory.service import build_memory_service
    from sma.services.scriptwriter import TemplateScriptWriter

    store: UsageStore = DBUsageStore(database) if database is not None else MemoryUsageStore()
    gateway = LLMGateway(settings.llm, settings.secrets, store)
    prompts = PromptLibrary(settings.llm.prompts_dir, settings.llm.prompt_versions)
    # Memories and insights (Mem0) for both tiers; nothing is loaded until the project has stored some.
    memory = build_memory_service(settings)
    context = MemoryContext(memory) if memory is not None else None
    guidance: HookGuidance = guidance_for(memory.backend, memory_settings(settings).cache_s) if memory else NoGuidance()
    writer = LLMScriptWriter(gateway, settings, prompts, memory=context, insights=context)
    template = TemplateScriptWriter(settings.pipeline, settings.llm.qa, guidance,
                                    intelligence_settings(settings).exploit_max)
    scripts = ScriptService(settings, template, store, writer)
    return scripts, VisionService(gateway, settings, prompts)


def build(settings: Settings, database: object) -> list[Callable[..., Any]]:
    """The activities this module contributes to the sma-workflows worker."""
    scripts, vision = build_services(settings, database)
    acts = ScriptActivities(scripts, vision)
    return [acts.analyse_media, acts.write_script]
