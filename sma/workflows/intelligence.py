"""IntelligenceWorkflow: started by the `intelligence` Temporal Schedule every 24 h (interval configurable).

For each project: analyse its performance history (activity `intelligence_analyse`: hooks per platform,
content features, audience fingerprint, report saved), then remember the confident findings in Mem0
(`intelligence_remember`: superseded insights updated by key, stale ones removed, covered topics added).
One project's failure is noted and the others go on. Deterministic and thin: the clock is workflow.now().
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.intelligence import IntelligenceActivities
    from sma.models.intelligence import (
        AnalyseRequest,
        IntelligenceInput,
        IntelligenceResult,
        ProjectOutcome,
        RememberRequest,
    )

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                     maximum_interval=timedelta(minutes=2), maximum_attempts=3,
                     non_retryable_error_types=["ConfigError"])


@workflow.defn(name="IntelligenceWorkflow")
class IntelligenceWorkflow:
    def __init__(self) -> None:
        self._result = IntelligenceResult()

    @workflow.run
    async def run(self, inp: IntelligenceInput) -> IntelligenceResult:
        queue = queues.in_pool(queues.WORKFLOWS)
        for project_id in inp.project_ids:
            outcome = ProjectOutcome(project_id=project_id)
            self._result.projects.append(outcome)
            as_of = workflow.now()
            try:
                analysed = await workflow.execute_activity_method(
                    IntelligenceActivities.analyse, AnalyseRequest(project_id=project_id, as_of=as_of),
                    task_queue=queue, start_to_close_timeout=timedelta(minutes=10), retry_policy=_RETRY)
                outcome.posts = analysed.posts
                outcome.insights = [i.text for i in analysed.insights]
                outcome.remembered = await workflow.execute_activity_method(
                    IntelligenceActivities.remember,
                    RememberRequest(project_id=project_id, as_of=as_of, insights=analysed.insights),
                    task_queue=queue, start_to_close_timeout=timedelta(minutes=10), retry_policy=_RETRY)
            except ActivityError as exc:
                outcome.error = str(exc.cause or exc)[:500]
                workflow.logger.warning("intelligence failed for %s: %s", project_id, outcome.error)
        return self._result
