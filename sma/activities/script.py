"""Steps 1 and 2: media analysis and script writing (queue sma-workflows).

Thin wrappers over VisionService and ScriptService. The step's Temporal retry policy is the only retry of
LLM calls: when every provider failed and one failure was transient (429, 5xx, timeout), an attempt that
is not the last raises a retryable ApplicationError of type LLMUnavailable (honouring a provider's
Retry-After); the last attempt falls back instead (the template script, a skipped analysis). A budget stop
is permanent for the run: a non-retryable ApplicationError of type BudgetExceeded whose message says the
budget, the spend and how to raise it; the workflow ends the run `failed` with that message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sma.activities.attempts import retries_left
from sma.models.pipeline import MediaAnalysis, MediaRequest, ScriptRequest, ScriptResult
from sma.services.llm.errors import AllProvidersFailed, BudgetExceeded

if TYPE_CHECKING:
    from sma.services.llm.vision import VisionService
    from sma.services.script.llm import ScriptService


def _budget_error(exc: Exception) -> ApplicationError:
    return ApplicationError(str(exc), type="BudgetExceeded", non_retryable=True)


# A provider's Retry-After is honoured up to this; a longer wait ends in the fallback on the last attempt.
MAX_RETRY_AFTER = timedelta(seconds=60)


def _unavailable(exc: AllProvidersFailed) -> ApplicationError:
    delay = min(timedelta(seconds=exc.retry_after), MAX_RETRY_AFTER) if exc.retry_after else None
    return ApplicationError(str(exc), type="LLMUnavailable", next_retry_delay=delay)


class ScriptActivities:
    def __init__(self, scripts: ScriptService, vision: VisionService) -> None:
        self.scripts = scripts
        self.vision = vision

    @activity.defn(name="analyse_media")
    async def analyse_media(self, req: MediaRequest) -> MediaAnalysis:
        """Skipped (with the reason in notes) when there is no media or no vision provider."""
        try:
            return await self.vision.analyse(req, may_retry=retries_left())
        except BudgetExceeded as exc:
            raise _budget_error(exc) from exc
        except AllProvidersFailed as exc:
            raise _unavailable(exc) from exc

    @activity.defn(name="write_script")
    async def write_script(self, req: ScriptRequest) -> ScriptResult:
        """One attempt; the workflow retries on QA_SCRIPT failure with the reasons as qa_feedback."""
        try:
            return await self.scripts.write(req, may_retry=retries_left())
        except BudgetExceeded as exc:
            raise _budget_error(exc) from exc
        except AllProvidersFailed as exc:
            raise _unavailable(exc) from exc
