"""The pure parts of a run that the run client (sma.client) and the services share: ids, the input of a
new run, the once-per-topic duplicate key, and the retry view of a status. Nothing here talks to Temporal."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sma.db.engine import Database
from sma.models.common import StepState
from sma.models.ids import keyed_item_id as topic_item_id
from sma.models.ids import new_item_id
from sma.models.pipeline import Autonomy, PipelineInput, PipelineStatus, Topic
from sma.models.topic import normalise
from sma.services.autonomy.levels import level_for_new_run
from sma.services.routing import gpu_steps
from sma.settings import Settings


class RunError(Exception):
    """A request about a run that cannot be honoured; the message says why in plain words. The run client's
    errors derive from it, so a service handed a way to start runs catches them without importing the client."""


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


def duplicate_key(inp: PipelineInput, bucket: int, pool: str = "") -> str:
    """Project, normalised title and media, within one window bucket: equal keys, one run. `pool` is the
    starting client's worker-pool suffix ('' in a deployment): runs for isolated pools (tests sharing one
    server) never answer for each other."""
    parts = [inp.project_id, normalise(inp.topic.title), *inp.media, str(bucket), *([pool] if pool else [])]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def keyed_item_id(inp: PipelineInput, bucket: int, pool: str = "") -> str:
    """The item id of a once-per-topic run: the topic's slug and its duplicate key in that window bucket."""
    return topic_item_id(inp.topic.title, duplicate_key(inp, bucket, pool))


@dataclass(frozen=True)
class PendingStep:
    """What Temporal knows about a step's activity between attempts (the workflow does not)."""

    name: str
    attempt: int  # the attempt now running or next to run
    error: str = ""  # the last failed attempt's error
    next_attempt_at: str = ""  # set while waiting out the backoff


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


def retry_lines(status: PipelineStatus) -> list[str]:
    """'render retrying: attempt 3 failed (OSError: ...); next attempt 12:01:05' for each retrying step."""
    lines = []
    for step in status.steps.values():
        if step.retrying:
            when = f"; next attempt at {step.next_attempt_at[11:19]} UTC" if step.next_attempt_at else "; retrying now"
            lines.append(f"{step.name} retrying: attempt {step.last_attempt} failed ({step.error}){when}")
    return lines
