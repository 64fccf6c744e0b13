"""Starting and steering pipeline runs: the one API the CLI, the bot and the dashboard share."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sma import queues
from sma.db.engine import Database
from sma.models.common import StepState
from sma.models.pipeline import (
    STEPS,
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
from sma.models.topic import normalise
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


@dataclass(frozen=True)
class Started:
    """What `submit` did: started `workflow_id`, or found it already started from the same topic."""

    workflow_id: str
    existing: bool = False
    state: str = "running"
    started_at: datetime | None = None

    def note(self, force_hint: str = "--force") -> str:
        """One line for a person: empty for a new run, else which run answered and how to get a new one."""
        if not self.existing:
            return ""
        when = f" at {self.started_at:%Y-%m-%d %H:%M} UTC" if self.started_at else ""
        return (f"This topic was already started{when} as {self.workflow_id} ({self.state}), so no second run "
                f"was made; to make another video anyway, use {force_hint}")


def duplicate_key(inp: PipelineInput, bucket: int) -> str:
    """Project, normalised title, media and queue name, within one window bucket: equal keys, one run."""
    parts = [inp.project_id, normalise(inp.topic.title), *inp.media, inp.queue_suffix, str(bucket)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


async def _existing(client: Client, wf_id: str) -> Started | None:
    try:
        desc = await client.get_workflow_handle(wf_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    started_at = desc.start_time.astimezone(UTC) if desc.start_time else None
    state = desc.status.name.lower() if desc.status else "unknown"
    return Started(wf_id, existing=True, state=state, started_at=started_at)


async def submit(client: Client, settings: Settings, inp: PipelineInput, force: bool = False,
                 now: datetime | None = None) -> Started:
    """Start a run from a person's topic, once: the same topic in the same project within
    `pipeline.duplicate_window_h` answers with the first run (`existing=True`) instead of a second video.

    The item id is derived from the topic and the window bucket, so Temporal's duplicate-id rejection
    makes even two racing submissions (a double click) start one workflow. The previous bucket's run also
    counts while it is younger than the window. `force` starts a new run with a random id.
    """
    window = timedelta(hours=settings.pipeline.duplicate_window_h)
    if force or window <= timedelta(0):
        return Started(await start_pipeline(client, inp))
    now = now or datetime.now(UTC)
    bucket = int(now.timestamp() // window.total_seconds())
    previous = workflow_id(inp.project_id, _keyed_item(inp, bucket - 1))
    found = await _existing(client, previous)
    if found is not None and found.started_at is not None and now - found.started_at < window:
        return found
    keyed = inp.model_copy(update={"item_id": _keyed_item(inp, bucket)})
    try:
        return Started(await start_pipeline(client, keyed))
    except WorkflowAlreadyStartedError:
        wf_id = workflow_id(keyed.project_id, keyed.item_id)
        return await _existing(client, wf_id) or Started(wf_id, existing=True, state="unknown")


def _keyed_item(inp: PipelineInput, bucket: int) -> str:
    return f"{slug(inp.topic.title)}-{duplicate_key(inp, bucket)[:8]}"


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


@dataclass(frozen=True)
class PendingStep:
    """What Temporal knows about a step's activity between attempts (the workflow does not)."""

    name: str
    attempt: int  # the attempt now running or next to run
    error: str = ""  # the last failed attempt's error
    next_attempt_at: str = ""  # set while waiting out the backoff


async def pending_steps(client: Client, wf_id: str) -> dict[str, PendingStep]:
    """The run's pending step activities from the describe API (needs the server, not a worker)."""
    desc = await client.get_workflow_handle(wf_id).describe()
    found: dict[str, PendingStep] = {}
    for pending in desc.raw_description.pending_activities:
        name = pending.activity_type.name
        if name not in STEPS or name == "notify":  # notify also sends best-effort progress messages
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


def with_pending(status: PipelineStatus, pending: dict[str, PendingStep]) -> PipelineStatus:
    """The status with each retrying step marked: attempt number, last error, next attempt time."""
    status = status.model_copy(deep=True)
    for name, info in pending.items():
        step = status.steps.get(name)
        if step is None or info.attempt <= 1 or not info.error:
            continue
        step.state, step.retrying, step.last_attempt = StepState.RUNNING, True, info.attempt - 1
        step.error, step.next_attempt_at = info.error, info.next_attempt_at
        status.current_step = status.current_step or name
    return status


async def live_status(client: Client, wf_id: str) -> PipelineStatus:
    """The `status` query plus Temporal's view of retrying steps (what `sma status` and the pages show)."""
    status = await get_status(client, wf_id)
    try:
        return with_pending(status, await pending_steps(client, wf_id))
    except RPCError:
        return status


def retry_lines(status: PipelineStatus) -> list[str]:
    """'render retrying: attempt 3 failed (OSError: ...); next attempt 12:01:05' for each retrying step."""
    lines = []
    for step in status.steps.values():
        if step.retrying:
            when = f"; next attempt at {step.next_attempt_at[11:19]} UTC" if step.next_attempt_at else "; retrying now"
            lines.append(f"{step.name} retrying: attempt {step.last_attempt} failed ({step.error}){when}")
    return lines
