"""Starting and steering pipeline runs: the one API the CLI, the bot and the dashboard share."""

from __future__ import annotations

import re
import uuid

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from sma import queues
from sma.db.engine import Database
from sma.models.pipeline import (
    ApproveSignal,
    Autonomy,
    EditScriptSignal,
    PipelineInput,
    PipelineStatus,
    RejectSignal,
    RunState,
    Script,
    StatusQuery,
    Topic,
)
from sma.services.autonomy.levels import level_for_new_run
from sma.services.routing import gpu_steps
from sma.settings import Settings
from sma.workflows.content_pipeline import ContentPipelineWorkflow


class RunError(Exception):
    """A request about a run that cannot be honoured; the message says why in plain words."""


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "topic"


def workflow_id(project_id: str, item_id: str) -> str:
    """Business key (DESIGN.md convention 6)."""
    return f"content-{project_id}-{item_id}"


def new_item_id(title: str) -> str:
    return f"{slug(title)}-{uuid.uuid4().hex[:6]}"


def pipeline_input(settings: Settings, topic: Topic, project_id: str = "default", autonomy: Autonomy | None = None,
                   platforms: list[str] | None = None, item_id: str | None = None,
                   pinned: bool | None = None) -> PipelineInput:
    """Build a run's input. It does not read the stored level: entry points use `new_run_input`. An explicit
    `autonomy` pins the run to it unless `pinned` says otherwise; without one the run follows its project."""
    project = settings.project(project_id)
    return PipelineInput(
        project_id=project.id,
        item_id=item_id or new_item_id(topic.title),
        topic=topic,
        autonomy=autonomy or project.autonomy,
        autonomy_pinned=autonomy is not None if pinned is None else pinned,
        platforms=platforms or project.platforms,
        max_rounds=settings.pipeline.max_rounds,
        max_script_attempts=settings.pipeline.max_script_attempts,
        gpu_steps=gpu_steps(settings),
    )


async def new_run_input(settings: Settings, database: Database, topic: Topic, project_id: str = "default", *,
                        entry: str, autonomy: str | None = None, platforms: list[str] | None = None,
                        item_id: str | None = None) -> PipelineInput:
    """The input of a new run from any entry point (`entry` names it in the log): its level comes from
    `level_for_new_run`, the one source of truth; `autonomy` is an explicit, logged per-run override."""
    chosen = await level_for_new_run(settings, database, project_id, entry, override=autonomy)
    return pipeline_input(settings, topic, project_id, chosen.level, platforms, item_id, pinned=chosen.pinned)


async def start_pipeline(client: Client, inp: PipelineInput) -> str:
    wf_id = workflow_id(inp.project_id, inp.item_id)
    await client.start_workflow(
        ContentPipelineWorkflow.run, inp, id=wf_id, task_queue=queues.WORKFLOWS + inp.queue_suffix,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return wf_id


async def get_status(client: Client, wf_id: str) -> PipelineStatus:
    handle = client.get_workflow_handle(wf_id)
    try:
        return await handle.query(ContentPipelineWorkflow.status, StatusQuery())
    except RPCError as exc:
        raise RunError(f"run {wf_id}: {exc.message}") from exc


async def _waiting_round(client: Client, wf_id: str) -> int:
    handle = client.get_workflow_handle(wf_id)
    try:
        desc = await handle.describe()
    except RPCError as exc:
        raise RunError(f"no run {wf_id}: {exc.message}") from exc
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise RunError(f"run {wf_id} is finished ({desc.status.name.lower()}); nothing to decide")
    status = await get_status(client, wf_id)
    if status.state != RunState.AWAITING_APPROVAL:
        raise RunError(f"run {wf_id} is not waiting for approval (it is {status.state.value}, "
                       f"step {status.current_step or '-'}); the decision was already made or is not due")
    return status.round


async def approve(client: Client, wf_id: str, by: str = "cli") -> int:
    round_no = await _waiting_round(client, wf_id)
    await client.get_workflow_handle(wf_id).signal(ContentPipelineWorkflow.approve,
                                                   ApproveSignal(round=round_no, by=by))
    return round_no


async def reject(client: Client, wf_id: str, feedback: str, by: str = "cli") -> int:
    round_no = await _waiting_round(client, wf_id)
    await client.get_workflow_handle(wf_id).signal(ContentPipelineWorkflow.reject,
                                                   RejectSignal(round=round_no, feedback=feedback, by=by))
    return round_no


async def edit_script(client: Client, wf_id: str, script: Script, by: str = "cli",
                      round_no: int | None = None) -> int:
    """Replace the waiting round's script with a person's: the run records the voice again from it.
    `round_no` is the round the person looked at; a run that has moved on refuses it."""
    current = await _waiting_round(client, wf_id)
    if round_no is not None and round_no != current:
        raise RunError(f"you edited round {round_no}; the run is on round {current} now")
    if not script.beats or not script.narration().strip():
        raise RunError("the edited script has no words to record")
    await client.get_workflow_handle(wf_id).signal(ContentPipelineWorkflow.edit_script,
                                                   EditScriptSignal(round=current, script=script, by=by))
    return current


async def activity_progress(client: Client, wf_id: str) -> dict[str, float]:
    """Latest heartbeat progress (0..1) of the run's running activities, e.g. {"render": 0.42}.

    Heartbeats live on the server, not in the workflow, so this reads them from the describe API.
    """
    desc = await client.get_workflow_handle(wf_id).describe()
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
