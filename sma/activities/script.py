"""Steps 1 and 2: media analysis and script writing (queue sma-workflows).

Thin wrappers over VisionService and ScriptService. A budget stop is permanent for the run: it becomes a
non-retryable ApplicationError of type BudgetExceeded whose message says the budget, the spend and how to
raise it; the workflow ends the run `failed` with that message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.models.pipeline import MediaAnalysis, MediaRequest, ScriptRequest, ScriptResult

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
