"""Typed calls on a pipeline's workflow handle: start, the `status` query, the signals, describe reads.

The one module that signals or queries a ContentPipelineWorkflow: every call names the workflow's method
(`ContentPipelineWorkflow.approve`), never a string, so a renamed signal fails type checks, not at runtime.
Heartbeats and retry attempts live on the server, not in the workflow, so they come from describe.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from sma import queues
from sma.models.autonomy import RecheckSignal, ReopenSignal, SetAutonomySignal
from sma.models.ids import content_workflow_id
from sma.models.pipeline import (
    STEPS,
    ApproveSignal,
    EditScriptSignal,
    PipelineInput,
    PipelineResult,
    PipelineStatus,
    RejectSignal,
    StatusQuery,
)
from sma.services.runs import PendingStep
from sma.workflows.pipeline import ContentPipelineWorkflow
from sma.workflows.scheduler import CalendarSlotWorkflow

Signal = ApproveSignal | RejectSignal | EditScriptSignal | ReopenSignal | SetAutonomySignal | RecheckSignal


async def start_pipeline(client: Client, inp: PipelineInput, suffix: str = "") -> str:
    """Start the run under its business key; a second start with the same id is refused by Temporal.
    `suffix` picks a suffixed worker pool (tests run their own); the run's steps stay in that pool."""
    wf_id = content_workflow_id(inp.project_id, inp.item_id)
    await client.start_workflow(
        ContentPipelineWorkflow.run, inp, id=wf_id, task_queue=queues.WORKFLOWS + suffix,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return wf_id


async def describe(client: Client, wf_id: str, timeout: timedelta | None = None) -> WorkflowExecutionDescription | None:
    """The execution's description; None when Temporal knows no such workflow (other RPC errors propagate)."""
    try:
        return await client.get_workflow_handle(wf_id).describe(rpc_timeout=timeout)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def is_running(desc: WorkflowExecutionDescription) -> bool:
    return desc.status == WorkflowExecutionStatus.RUNNING


def closed_as(desc: WorkflowExecutionDescription) -> str:
    return desc.status.name.lower() if desc.status else "closed"


async def query_status(client: Client, wf_id: str, timeout: timedelta | None = None) -> PipelineStatus:
    """The workflow's `status` query (needs a worker to answer; RPCError when none does in time)."""
    return await client.get_workflow_handle(wf_id).query(ContentPipelineWorkflow.status, StatusQuery(),
                                                         rpc_timeout=timeout)


async def closed_status(client: Client, wf_id: str) -> PipelineStatus | None:
    """A closed run's status: a worker replays it to answer; do not wait long for one."""
    try:
        return await query_status(client, wf_id, timedelta(seconds=3))
    except (RPCError, WorkflowQueryFailedError):
        return None


async def result(client: Client, wf_id: str, run_id: str | None = None) -> PipelineResult:
    done: PipelineResult = await client.get_workflow_handle(wf_id, run_id=run_id, result_type=PipelineResult).result()
    return done


async def signal(client: Client, wf_id: str, arg: Signal) -> None:
    """Send the signal whose input model is `arg` (each signal has its own input model)."""
    handle = client.get_workflow_handle(wf_id)
    wf = ContentPipelineWorkflow
    match arg:
        case ApproveSignal():
            await handle.signal(wf.approve, arg)
        case RejectSignal():
            await handle.signal(wf.reject, arg)
        case EditScriptSignal():
            await handle.signal(wf.edit_script, arg)
        case ReopenSignal():
            await handle.signal(wf.reopen, arg)
        case SetAutonomySignal():
            await handle.signal(wf.set_autonomy, arg)
        case RecheckSignal():
            await handle.signal(wf.recheck, arg)


async def wake_slot(client: Client, slot_wf_id: str) -> None:
    """Tell a calendar slot's workflow that its slot moved (it checks the calendar again now)."""
    await client.get_workflow_handle(slot_wf_id).signal(CalendarSlotWorkflow.wake)


async def cancel(client: Client, wf_id: str) -> None:
    await client.get_workflow_handle(wf_id).cancel()


async def activity_progress(client: Client, wf_id: str, timeout: timedelta | None = None) -> dict[str, float]:
    """Latest heartbeat progress (0..1) of the run's running activities, e.g. {"render": 0.42}."""
    desc = await client.get_workflow_handle(wf_id).describe(rpc_timeout=timeout)
    progress: dict[str, float] = {}
    converter = client.data_converter.payload_converter
    for pending in desc.raw_description.pending_activities:
        payloads = pending.heartbeat_details.payloads
        if not payloads:
            continue
        try:
            [value] = converter.from_payloads(payloads[:1], [float])
        except Exception:  # a heartbeat that is not a fraction (a step name, say) carries no progress
            continue
        progress[pending.activity_type.name] = float(value)
    return progress


async def pending_steps(client: Client, wf_id: str, timeout: timedelta | None = None) -> dict[str, PendingStep]:
    """The run's pending step activities from the describe API (needs the server, not a worker)."""
    desc = await client.get_workflow_handle(wf_id).describe(rpc_timeout=timeout)
    found: dict[str, PendingStep] = {}
    for pending in desc.raw_description.pending_activities:
        name = pending.activity_type.name
        if name not in STEPS or name == "notify":  # notices are best effort, not a step to report
            continue
        error, failure = "", pending.last_failure
        if failure.message:
            kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
            error = f"{kind}: {failure.message}" if kind and not failure.message.startswith(kind) else failure.message
        waiting = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED and pending.attempt > 1
        next_at = ""
        if waiting and pending.HasField("next_attempt_schedule_time"):
            next_at = pending.next_attempt_schedule_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")
        step = PendingStep(name=name, attempt=pending.attempt, error=error.splitlines()[0] if error else "",
                           next_attempt_at=next_at)
        if name not in found or step.attempt > found[name].attempt:
            found[name] = step
    return found

