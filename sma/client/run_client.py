"""`RunClient`: the one typed client for pipeline runs, shared by the CLI, the bot, the dashboard and any API.

It sits above the workflows (it names the workflow's signals and queries by method, never by string) and
below every entry point. Services never import it: the pure parts (ids, inputs, duplicate keys) stay there.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from sma.client.types import (
    Decision,
    LevelChange,
    NotDecidable,
    Retried,
    RunError,
    RunNotFound,
    RunPage,
    RunStatus,
    RunSummary,
    Started,
)
from sma.db import repo
from sma.db.engine import Database
from sma.db.tables import PipelineRun
from sma.models.autonomy import Level
from sma.models.pipeline import PipelineInput, PipelineStatus, Script, Topic
from sma.services import retry as retry_service
from sma.services import runs
from sma.services.autonomy import actions
from sma.services.autonomy.service import AutonomyService
from sma.settings import Settings

LEVELS = ("manual", "assisted", "autonomous")


class RunClient:
    """Start, read and steer runs. Construct it from a connected temporalio `Client` (or `connect`)."""

    def __init__(self, client: Client, settings: Settings, database: Database, queue_suffix: str = "") -> None:
        self.temporal = client
        self.settings = settings
        self.database = database
        self.queue_suffix = queue_suffix  # routes new runs' activities to '<queue><suffix>' workers

    @classmethod
    async def connect(cls, settings: Settings, database: Database, attempts: int = 1) -> RunClient:
        from sma.temporal_client import client_for

        return cls(await client_for(settings, attempts=attempts), settings, database)

    # ------------------------------------------------------------------ start

    async def start(self, topic: Topic, project_id: str, *, entry: str, autonomy: str | None = None,
                    platforms: list[str] | None = None, media: Sequence[str] = (), force: bool = False,
                    item_id: str | None = None) -> Started:
        """Start a run for `topic` in `project_id` (`entry` names the entry point in the level log).

        Without `item_id` a topic starts once per `pipeline.duplicate_window_h` (the first run answers,
        `existing=True`); `force` starts another anyway. With `item_id` (a caller's business key) the run
        gets exactly that id, and an existing run with it answers instead of a second one."""
        if autonomy is not None and autonomy not in LEVELS:
            raise RunError(f"autonomy must be manual, assisted or autonomous, not {autonomy!r}")
        inp = await runs.new_run_input(self.settings, self.database, topic, project_id, entry=entry,
                                       autonomy=autonomy, platforms=platforms, item_id=item_id)
        inp = inp.model_copy(update={"media": list(media), "queue_suffix": self.queue_suffix or inp.queue_suffix})
        if item_id is not None:
            return await self._start_exact(inp)
        return await self.start_input(inp, force=force)

    async def start_input(self, inp: PipelineInput, force: bool = False) -> Started:
        """Start a run from a built input, once per topic unless `force` (see `start`)."""
        found = await runs.submit(self.temporal, self.settings, inp, force=force)
        return Started(workflow_id=found.workflow_id, existing=found.existing, state=found.state,
                       started_at=found.started_at, autonomy="" if found.existing else inp.autonomy)

    async def _start_exact(self, inp: PipelineInput) -> Started:
        try:
            wf_id = await runs.start_pipeline(self.temporal, inp)
        except WorkflowAlreadyStartedError:
            wf_id = runs.workflow_id(inp.project_id, inp.item_id)
            return Started(workflow_id=wf_id, existing=True, state="running")
        return Started(workflow_id=wf_id, autonomy=inp.autonomy)

    # ------------------------------------------------------------------ read

    async def status(self, run_id: str) -> RunStatus:
        """The live status (with retrying steps and heartbeat progress); without a worker to answer, the
        status the run last recorded in the database. `RunNotFound` when neither knows the run."""
        try:
            live = await runs.live_status(self.temporal, run_id)
            try:
                progress = await runs.activity_progress(self.temporal, run_id)
            except RPCError:
                progress = {}
            return RunStatus(run_id=run_id, source="live", status=live, progress=progress)
        except (runs.RunError, RPCError) as exc:
            stored = await self._stored_status(run_id)
            if stored is None:
                raise RunNotFound(run_id, getattr(exc, "message", str(exc))) from exc
        with contextlib.suppress(RPCError):  # the server is up but no worker answered: it knows the retries
            stored = runs.with_pending(stored, await runs.pending_steps(self.temporal, run_id))
        return RunStatus(run_id=run_id, source="database", status=stored, running=False)

    async def _stored_status(self, run_id: str) -> PipelineStatus | None:
        row = await repo.get_run(self.database, run_id)
        if row is None or not row.status_json or row.status_json == "{}":
            return None
        return PipelineStatus.model_validate_json(row.status_json)

    async def progress(self, run_id: str) -> dict[str, float]:
        """Heartbeat progress (0..1) of the run's running activities, e.g. {"render": 0.42}."""
        return await runs.activity_progress(self.temporal, run_id)

    async def pending(self, run_id: str) -> dict[str, runs.PendingStep]:
        """Temporal's view of the run's step activities between attempts (needs the server, not a worker)."""
        return await runs.pending_steps(self.temporal, run_id)

    async def list_runs(self, project_id: str | None = None, state: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> RunPage:
        """Runs from the database's run table, most recently updated first; `cursor` is the previous
        page's `next_cursor`."""
        limit = max(1, min(limit, 500))
        offset = _offset(cursor)
        rows = await repo.list_runs(self.database, project_id, state=state, limit=limit + 1, offset=offset)
        more = len(rows) > limit
        return RunPage(runs=[_summary(r) for r in rows[:limit]],
                       next_cursor=_cursor(offset + limit) if more else None)

    # ------------------------------------------------------------------ decide

    async def approve(self, run_id: str, round: int | None = None, *, by: str) -> Decision:
        """Approve the video of `round` (None: the round the run waits on now)."""
        with _errors():
            if round is None:
                decided = await runs.approve(self.temporal, run_id, by=by)
            else:
                await actions.approve(self.temporal, run_id, round, by)
                decided = round
        return Decision(run_id=run_id, action="approve", round=decided, by=by)

    async def reject(self, run_id: str, feedback: str, round: int | None = None, *, by: str) -> Decision:
        """Reject the video of `round` (None: the waiting one); the script is rewritten with `feedback`."""
        if not feedback.strip():
            raise NotDecidable("say what to change: the feedback goes to the script writer")
        with _errors():
            if round is None:
                decided = await runs.reject(self.temporal, run_id, feedback, by=by)
            else:
                await actions.reject(self.temporal, run_id, round, feedback, by)
                decided = round
        return Decision(run_id=run_id, action="reject", round=decided, by=by)

    async def edit_script(self, run_id: str, script: Script, round: int | None = None, *, by: str) -> Decision:
        """Replace the waiting round's script with a person's; the run records the voice again from it."""
        with _errors():
            decided = await runs.edit_script(self.temporal, run_id, script, by=by, round_no=round)
        return Decision(run_id=run_id, action="edit_script", round=decided, by=by)

    async def reopen(self, run_id: str, *, by: str) -> PipelineStatus:
        """Re-open an expired approval; returns the status the run had before."""
        with _errors():
            return await actions.reopen(self.temporal, run_id, by)

    async def retry(self, run_id: str, *, by: str) -> Retried:
        """Retry a failed run from its failed step, keeping every finished step."""
        with _errors():
            found = await retry_service.retry_run(self.temporal, run_id, by)
        return Retried(workflow_id=found.workflow_id, step=found.step, run_id=found.run_id)

    async def cancel(self, run_id: str, *, by: str) -> None:
        """Cancel an open run; nothing from it is published."""
        with _errors():
            await actions.cancel(self.temporal, run_id)

    # ------------------------------------------------------------------ project-wide

    async def set_level(self, project_id: str, level: Level, *, by: str, source: str,
                        service: AutonomyService | None = None) -> LevelChange:
        """Store the project's level (with history) and tell each of its open runs."""
        if level not in LEVELS:
            raise RunError(f"level must be manual, assisted or autonomous, not {level!r}")
        service = service or AutonomyService(self.settings, self.database)
        previous, told = await actions.change_level(service, self.temporal, project_id, level, by, source)
        return LevelChange(project_id=project_id, previous=previous, level=level, signalled=told)

    async def recheck(self, project_ids: Sequence[str], *, by: str, reason: str) -> int:
        """Wake the projects' held runs after a guard changed (resume, new limits); returns runs told."""
        return await actions.recheck(self.temporal, self.database, list(project_ids), by, reason)


class _errors:
    """Turn the services' errors into the client's typed ones."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, actions.NotDecidable):
            raise NotDecidable(str(exc)) from exc
        if isinstance(exc, runs.RunError):
            text = str(exc)
            if text.startswith("no run "):
                raise RunNotFound(text.split()[2].rstrip(":"), text.split(":", 1)[-1].strip()) from exc
            raise NotDecidable(text) from exc
        return False


def _summary(row: PipelineRun) -> RunSummary:
    try:
        platforms = [str(p) for p in json.loads(row.platforms or "[]")]
    except ValueError:
        platforms = []
    return RunSummary(id=row.id, project_id=row.project_id, item_id=row.item_id, title=row.title, state=row.state,
                      current_step=row.current_step, round=row.round, autonomy=row.autonomy, platforms=platforms,
                      started_at=row.started_at, updated_at=row.updated_at, finished_at=row.finished_at,
                      video_path=row.video_path, error=row.error)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "o" and int(value) >= 0:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise RunError(f"cursor {cursor!r} is not one this API gave out; start again without a cursor")
