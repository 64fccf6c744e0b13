"""Retry a failed run from its failed step with a Temporal reset (see sma.services.retry for why a reset).

Same workflow id (the business key), a new Temporal run id; signals sent before the reset point are
reapplied, so a decision already made is not lost.
"""

from __future__ import annotations

import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import ResetReapplyType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from sma.client import handles
from sma.client.types import NotDecidable, Retried, RunNotFound, Unavailable
from sma.models.pipeline import RunState
from sma.services.retry import failed_step


async def reset_to_failed_step(client: Client, wf_id: str, by: str) -> Retried:
    """Reset a failed run to just before its failed step; refuses runs that did not fail."""
    try:
        desc = await handles.describe(client, wf_id)
    except RPCError as exc:
        raise Unavailable(f"could not ask Temporal about {wf_id}: {exc.message}") from exc
    if desc is None:
        raise RunNotFound(wf_id)
    if desc.status == WorkflowExecutionStatus.RUNNING:
        raise NotDecidable(f"run {wf_id} is still running; a failing step retries by itself "
                           f"(see `sma status {wf_id}`)")
    if desc.status == WorkflowExecutionStatus.CANCELED:
        raise NotDecidable(f"run {wf_id} was cancelled; start a new run instead")
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result = await handles.result(client, wf_id, desc.run_id)
        if result.state != RunState.FAILED:
            raise NotDecidable(f"run {wf_id} did not fail (it is {result.state.value}); nothing to retry")
    history = await client.get_workflow_handle(wf_id, run_id=desc.run_id).fetch_history()
    found = failed_step(list(history.events))
    if found is None:
        raise NotDecidable(f"run {wf_id} has no failed step to retry ({handles.closed_as(desc)}); "
                           "start a new run instead")
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
    return Retried(workflow_id=wf_id, step=step, run_id=response.run_id)
