"""Retry a failed run from the step that failed, keeping every step that finished.

A Temporal reset: the run's history already holds each finished step's result, so resetting to the
workflow task completed just before the failed step's activity was scheduled replays those results and
schedules that step again, under the same workflow id (the business key: same run page, database row and
bot messages). A new execution with the same inputs would instead call the script writer again and get a
different script, so every media step after it would be redone. Publishing stays exactly once: a reset
to a point before publish has published nothing, and a retried publish finds the platforms' records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from sma.models.pipeline import STEPS, PipelineResult, RunState
from sma.services.autonomy.actions import NotDecidable

# Activities that are the work of a step (notify and progress are best effort: their failure fails nothing).
RETRYABLE_ACTIVITIES = (frozenset(STEPS) - {"notify"}) | {"check_video", "variant"}
_FAILED = (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)


@dataclass(frozen=True)
class RetryStarted:
    workflow_id: str
    step: str  # the step that runs again
    run_id: str  # the new Temporal run of the same workflow id


def failed_step(events: list[HistoryEvent]) -> tuple[str, int] | None:
    """(activity name, reset event id) for the last failed step activity of a history, or None."""
    scheduled: dict[int, str] = {}
    completed_tasks: list[int] = []
    last: tuple[str, int] | None = None
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completed_tasks.append(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type in _FAILED:
            attrs = (event.activity_task_failed_event_attributes
                     if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                     else event.activity_task_timed_out_event_attributes)
            name = scheduled.get(attrs.scheduled_event_id, "")
            if name in RETRYABLE_ACTIVITIES:
                before = [task for task in completed_tasks if task < attrs.scheduled_event_id]
                if before:
                    last = (name, before[-1])
    return last


async def retry_run(client: Client, wf_id: str, by: str) -> RetryStarted:
    """Reset a failed run to just before its failed step; refuses runs that did not fail."""
    handle = client.get_workflow_handle(wf_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        raise NotDecidable(f"I know no run {wf_id}: {exc.message}") from exc
    if desc.status == WorkflowExecutionStatus.RUNNING:
        raise NotDecidable(f"run {wf_id} is still running; a failing step retries by itself "
                           f"(see `sma status {wf_id}`)")
    if desc.status == WorkflowExecutionStatus.CANCELED:
        raise NotDecidable(f"run {wf_id} was cancelled; start a new run instead")
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result = await client.get_workflow_handle(wf_id, run_id=desc.run_id, result_type=PipelineResult).result()
        if result.state != RunState.FAILED:
            raise NotDecidable(f"run {wf_id} did not fail (it is {result.state.value}); nothing to retry")
    history = await client.get_workflow_handle(wf_id, run_id=desc.run_id).fetch_history()
    found = failed_step(list(history.events))
    if found is None:
        closed = desc.status.name.lower() if desc.status else "closed"
        raise NotDecidable(f"run {wf_id} has no failed step to retry ({closed}); start a new run instead")
    step, event_id = found
    try:
        response = await client.workflow_service.reset_workflow_execution(ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=wf_id, run_id=desc.run_id),
            reason=f"retry from {step} by {by}"[:200],
            workflow_task_finish_event_id=event_id,
            request_id=str(uuid.uuid4()),
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
        ))
    except RPCError as exc:  # retried already (a newer run exists), or the server refused
        raise NotDecidable(f"could not retry {wf_id}: {exc.message}") from exc
    return RetryStarted(workflow_id=wf_id, step=step, run_id=response.run_id)
