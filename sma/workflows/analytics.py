"""AnalyticsCollectorWorkflow: started by the `analytics-collector` Temporal Schedule every few hours.

One run covers one schedule interval (`horizon_s`). It collects every checkpoint already due (missed ones
too: they are stored marked late), then sleeps until the next checkpoint falls due, or at most
`replan_s`, so posts published during the run are picked up and checkpoints are collected on time.
Deterministic and thin: the plan and the collection are activities; the clock is `workflow.now()`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.analytics import AnalyticsActivities
    from sma.models.analytics import CollectorInput, CollectorResult, CollectRequest, PlanRequest

_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                     maximum_interval=timedelta(minutes=1), maximum_attempts=3)


@workflow.defn(name="AnalyticsCollectorWorkflow")
class AnalyticsCollectorWorkflow:
    @workflow.run
    async def run(self, inp: CollectorInput) -> CollectorResult:
        result = CollectorResult()
        deadline = workflow.now() + timedelta(seconds=inp.horizon_s)
        queue = queues.in_pool(queues.WORKFLOWS)
        while True:
            now = workflow.now()
            plan = await workflow.execute_activity_method(
                AnalyticsActivities.plan, PlanRequest(as_of=now, until=deadline, project_ids=inp.project_ids),
                task_queue=queue, start_to_close_timeout=timedelta(minutes=1), retry_policy=_RETRY)
            result.passes += 1
            if plan.due:
                try:
                    collected = await workflow.execute_activity_method(
                        AnalyticsActivities.collect, CollectRequest(as_of=now, items=plan.due), task_queue=queue,
                        start_to_close_timeout=timedelta(minutes=10), retry_policy=_RETRY)
                except ActivityError as exc:  # the next pass plans the same checkpoints again
                    result.failed += len(plan.due)
                    result.notes = [*result.notes, f"collect failed: {exc.cause or exc}"][-20:]
                else:
                    result.collected += collected.collected
                    result.late += collected.late
                    result.failed += collected.failed
                    result.notes = (result.notes + collected.notes)[-20:]
            wake = now + timedelta(seconds=inp.replan_s)
            if plan.next_due_at is not None:
                wake = min(wake, plan.next_due_at)
            if wake >= deadline:
                return result
            await workflow.sleep(max(timedelta(0), wake - workflow.now()))
