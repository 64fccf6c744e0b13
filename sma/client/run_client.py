"""`RunClient`: the one typed client for pipeline runs, shared by the CLI, the bot, the dashboard and any API.

It sits above the workflows (it names the workflow's signals and queries by method, through
`sma.client.handles`) and below every entry point. Services never import it: the pure parts (ids, the
input of a new run, duplicate keys, the failed step of a history) stay in `sma.services.runs`/`retry`.

The rules live here once: a topic starts once per window unless forced; a decision names the round the
person saw and is refused for any other, for a finished run or an expired approval; a status falls back to
the copy the run recorded in the database when no worker answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sma.client import handles
from sma.client.reset import reset_to_failed_step
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
    RunView,
    Started,
    Unavailable,
)
from sma.db import repo
from sma.db.engine import Database
from sma.db.tables import PipelineRun
from sma.models.autonomy import Level, RecheckSignal, ReopenSignal, SetAutonomySignal
from sma.models.cursor import decode_cursor, encode_cursor
from sma.models.ids import content_workflow_id
from sma.models.pipeline import (
    ApproveSignal,
    EditScriptSignal,
    PipelineInput,
    PipelineStatus,
    RejectSignal,
    RunState,
    Script,
    Topic,
)
from sma.services.autonomy.service import AutonomyService
from sma.services.runs import PendingStep, keyed_item_id, new_run_input, with_pending
from sma.settings import Settings

log = structlog.get_logger("sma.client")
LEVELS = ("manual", "assisted", "autonomous")
OPEN_STATES = (RunState.RUNNING, RunState.AWAITING_APPROVAL, RunState.HELD, RunState.EXPIRED)
QUERY_TIMEOUT = timedelta(seconds=10)  # a running workflow's status query; no worker in time: Unavailable


class RunClient:
    """Start, read and steer runs.

    Construct it from a connected temporalio `Client` (or with `connect`). `client=None` (Temporal
    unreachable) still lists runs, reads their recorded status and stores a level change; every call
    that needs Temporal raises `Unavailable` with `unavailable` as the reason."""

    def __init__(self, client: Client | None, settings: Settings, database: Database | None,
                 queue_suffix: str = "", unavailable: str = "") -> None:
        self._client = client
        self.settings = settings
        self._database = database  # None: a command on a data dir with no database yet (nothing recorded)
        self.queue_suffix = queue_suffix  # starts runs on 'sma-workflows<suffix>' (tests run their own workers)
        self.unavailable = unavailable or "Temporal is unreachable; try again in a moment"

    @classmethod
    async def connect(cls, settings: Settings, database: Database | None, attempts: int = 1) -> RunClient:
        from sma.temporal_client import client_for

        return cls(await client_for(settings, attempts=attempts), settings, database)

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def database(self) -> Database:
        if self._database is None:
            raise RunError("no database yet: run `sma db upgrade` (or `sma up`) first")
        return self._database

    @property
    def temporal(self) -> Client:
        if self._client is None:
            raise Unavailable(self.unavailable)
        return self._client

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
        inp = await new_run_input(self.settings, self.database, topic, project_id, entry=entry,
                                  autonomy=autonomy, platforms=platforms, item_id=item_id)
        inp = inp.model_copy(update={"media": list(media)})
        if item_id is not None:
            return await self._start_exact(inp)
        return await self.start_input(inp, force=force)

    async def start_input(self, inp: PipelineInput, force: bool = False, now: datetime | None = None) -> Started:
        """Start a run from a built input, once: the same topic in the same project within
        `pipeline.duplicate_window_h` answers with the first run (`existing=True`) instead of a second video.

        The item id is derived from the topic and the window bucket, so Temporal's duplicate-id rejection
        makes even two racing starts (a double click) start one workflow. The previous bucket's run also
        counts while it is younger than the window. `force` starts a new run under the input's own id."""
        window = timedelta(hours=self.settings.pipeline.duplicate_window_h)
        if force or window <= timedelta(0):
            return await self._start_exact(inp)
        now = now or datetime.now(UTC)
        bucket = int(now.timestamp() // window.total_seconds())
        found = await self._existing(content_workflow_id(inp.project_id,
                                                         keyed_item_id(inp, bucket - 1, self.queue_suffix)))
        if found is not None and found.started_at is not None and now - found.started_at < window:
            return found
        return await self._start_exact(inp.model_copy(
            update={"item_id": keyed_item_id(inp, bucket, self.queue_suffix)}))

    async def _start_exact(self, inp: PipelineInput) -> Started:
        try:
            wf_id = await handles.start_pipeline(self.temporal, inp, self.queue_suffix)
            return Started(workflow_id=wf_id, autonomy=inp.autonomy)
        except WorkflowAlreadyStartedError:
            wf_id = content_workflow_id(inp.project_id, inp.item_id)
            return await self._existing(wf_id) or Started(workflow_id=wf_id, existing=True, state="unknown")
        except RPCError as exc:
            raise Unavailable(f"Temporal refused to start it: {exc.message}") from exc

    async def _existing(self, wf_id: str) -> Started | None:
        desc = await self._describe(wf_id)
        if desc is None:
            return None
        started_at = desc.start_time.astimezone(UTC) if desc.start_time else None
        state = desc.status.name.lower() if desc.status else "unknown"
        return Started(workflow_id=wf_id, existing=True, state=state, started_at=started_at)

    async def _describe(self, wf_id: str, timeout: timedelta | None = None) -> WorkflowExecutionDescription | None:
        try:
            return await handles.describe(self.temporal, wf_id, timeout)
        except RPCError as exc:
            raise Unavailable(f"could not ask Temporal about {wf_id}: {exc.message}") from exc

    # ------------------------------------------------------------------ read

    async def status(self, run_id: str) -> RunStatus:
        """The live status (with retrying steps and heartbeat progress); without a worker to answer (or
        without Temporal), the status the run last recorded in the database. `RunNotFound` when neither
        knows the run."""
        try:
            live = await self.live(run_id)
        except RunError as exc:
            stored = await self._stored_status(run_id)
            if stored is None:
                raise RunNotFound(run_id, str(exc)) from exc
            if self._client is not None:  # the server may be up with no worker: it still knows the retries
                with contextlib.suppress(RPCError):
                    stored = with_pending(stored, await handles.pending_steps(self._client, run_id))
            return RunStatus(run_id=run_id, source="database", status=stored, running=False)
        try:
            pending = await handles.pending_steps(self.temporal, run_id)
            progress = await handles.activity_progress(self.temporal, run_id)
        except RPCError:
            return RunStatus(run_id=run_id, source="live", status=live)
        return RunStatus(run_id=run_id, source="live", status=with_pending(live, pending), progress=progress)

    async def live(self, run_id: str, timeout: timedelta | None = QUERY_TIMEOUT) -> PipelineStatus:
        """The workflow's `status` query, nothing else (`Unavailable` when no worker answers in time)."""
        try:
            return await handles.query_status(self.temporal, run_id, timeout)
        except RPCError as exc:
            raise Unavailable(f"run {run_id}: {exc.message}") from exc

    async def _stored_status(self, run_id: str) -> PipelineStatus | None:
        if self._database is None:
            return None
        row = await repo.get_run(self._database, run_id)
        if row is None or not row.status_json or row.status_json == "{}":
            return None
        return PipelineStatus.model_validate_json(row.status_json)

    async def view(self, run_id: str) -> RunView:
        """Whether the workflow is open (and how it closed), and its status when a worker answers."""
        desc = await self._describe(run_id)
        if desc is None:
            raise RunNotFound(run_id)
        if not handles.is_running(desc):
            status = await handles.closed_status(self.temporal, run_id)
            return RunView(run_id=run_id, running=False, status=status, closed_as=handles.closed_as(desc))
        return RunView(run_id=run_id, running=True, status=await self.live(run_id))

    async def progress(self, run_id: str, timeout: timedelta | None = None) -> dict[str, float]:
        """Heartbeat progress (0..1) of the run's running activities, e.g. {"render": 0.42}."""
        try:
            return await handles.activity_progress(self.temporal, run_id, timeout)
        except RPCError as exc:
            raise Unavailable(f"run {run_id}: {exc.message}") from exc

    async def pending(self, run_id: str, timeout: timedelta | None = None) -> dict[str, PendingStep]:
        """Temporal's view of the run's step activities between attempts (needs the server, not a worker)."""
        try:
            return await handles.pending_steps(self.temporal, run_id, timeout)
        except RPCError as exc:
            raise Unavailable(f"run {run_id}: {exc.message}") from exc

    async def wait(self, run_id: str, timeout: timedelta) -> PipelineStatus:
        """Wait for the run to end and return its final status; after `timeout`, its status then, with an
        error saying it did not finish."""
        try:
            return (await asyncio.wait_for(handles.result(self.temporal, run_id), timeout.total_seconds())).status
        except WorkflowFailureError:
            return await self.live(run_id)
        except TimeoutError:
            status = await self.live(run_id)
            status.error = f"the run did not finish within {timeout}"
            return status

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

    async def check_decidable(self, run_id: str, round: int | None = None) -> PipelineStatus:
        """The live status when the run waits for a decision on `round` (None: whichever round it is on);
        else `NotDecidable` saying why (finished, another round, expired, not waiting)."""
        run = await self.view(run_id)
        if not run.running or run.status is None:
            state = run.status.state.value if run.status else run.closed_as
            raise NotDecidable(f"run {run_id} already finished ({state}); nothing to decide")
        status = run.status
        if round is not None and status.round != round:
            raise NotDecidable(f"you looked at round {round}; the run is on round {status.round} now")
        if status.state == RunState.EXPIRED:
            raise NotDecidable("this approval expired; re-open it first (Re-open button, /queue or sma reopen)")
        if status.state != RunState.AWAITING_APPROVAL:
            raise NotDecidable(f"the run is not waiting for a decision (it is {status.state.value}, "
                               f"step {status.current_step or '-'}); it was already decided or is not due")
        return status

    async def approve(self, run_id: str, round: int | None = None, *, by: str) -> Decision:
        """Approve the video of `round` (None: the round the run waits on now)."""
        decided = (await self.check_decidable(run_id, round)).round
        await self._signal(run_id, ApproveSignal(round=decided, by=by))
        return Decision(run_id=run_id, action="approve", round=decided, by=by)

    async def reject(self, run_id: str, feedback: str, round: int | None = None, *, by: str) -> Decision:
        """Reject the video of `round` (None: the waiting one); the script is rewritten with `feedback`
        (empty: a new version without a reason)."""
        decided = (await self.check_decidable(run_id, round)).round
        await self._signal(run_id, RejectSignal(round=decided, feedback=feedback, by=by))
        return Decision(run_id=run_id, action="reject", round=decided, by=by)

    async def edit_script(self, run_id: str, script: Script, round: int | None = None, *, by: str) -> Decision:
        """Replace the waiting round's script with a person's; the run records the voice again from it."""
        if not script.beats or not script.narration().strip():
            raise NotDecidable("the edited script has no words to record")
        decided = (await self.check_decidable(run_id, round)).round
        await self._signal(run_id, EditScriptSignal(round=decided, script=script, by=by))
        return Decision(run_id=run_id, action="edit_script", round=decided, by=by)

    async def reopen(self, run_id: str, *, by: str) -> PipelineStatus:
        """Re-open an expired approval; returns the status the run had before."""
        run = await self.view(run_id)
        if not run.running and (run.closed_as == "failed" or (run.status and run.status.state == RunState.FAILED)):
            raise NotDecidable("this run failed; retry it from the failed step instead (sma retry, /retry, "
                               "or the run page's Retry button)")
        if not run.running or run.status is None:
            raise NotDecidable("this run already finished; nothing to re-open")
        if run.status.state != RunState.EXPIRED:
            raise NotDecidable(f"the run is not expired (it is {run.status.state.value})")
        await self._signal(run_id, ReopenSignal(by=by))
        return run.status

    async def retry(self, run_id: str, *, by: str) -> Retried:
        """Retry a failed run from its failed step, keeping every finished step."""
        return await reset_to_failed_step(self.temporal, run_id, by)

    async def cancel(self, run_id: str, *, by: str) -> None:
        """Cancel an open run; nothing from it is published."""
        desc = await self._describe(run_id)
        if desc is None:
            raise RunNotFound(run_id)
        if not handles.is_running(desc):
            raise NotDecidable(f"run {run_id} already finished ({handles.closed_as(desc)}); nothing to cancel")
        try:
            await handles.cancel(self.temporal, run_id)
        except RPCError as exc:
            raise Unavailable(f"could not cancel {run_id}: {exc.message}") from exc
        log.info("run cancelled", run=run_id, by=by)

    async def _signal(self, run_id: str, arg: handles.Signal) -> None:
        try:
            await handles.signal(self.temporal, run_id, arg)
        except RPCError as exc:
            raise Unavailable(f"could not reach run {run_id}: {exc.message}; nothing changed") from exc

    # ------------------------------------------------------------------ project-wide

    async def open_runs(self, project_id: str) -> list[str]:
        """The project's runs the database records as open (the ones a level change or recheck tells)."""
        found = []
        for state in OPEN_STATES:
            found += [r.id for r in await repo.list_runs(self.database, project_id, state=state.value, limit=500)]
        return found

    async def set_level(self, project_id: str, level: Level, *, by: str, source: str,
                        service: AutonomyService | None = None) -> LevelChange:
        """Store the project's level (with history) and tell each of its open runs (none without Temporal:
        they pick it up when they next ask)."""
        if level not in LEVELS:
            raise RunError(f"level must be manual, assisted or autonomous, not {level!r}")
        try:  # checked before anything is stored
            signal = SetAutonomySignal(level=level, by=by, source=source)  # type: ignore[arg-type]  # str level and source; pydantic checks the Literals
        except ValidationError:
            raise RunError(f"source must be bot, dashboard, cli, guard or config, not {source!r}") from None
        service = service or AutonomyService(self.settings, self.database)
        previous = await service.level(project_id)
        await service.set_level(project_id, level, by, source)
        told = 0
        if self._client is not None:
            told = await self._signal_all(await self.open_runs(project_id), signal)
        return LevelChange(project_id=project_id, previous=previous, level=level, signalled=told)

    async def recheck(self, project_ids: Sequence[str], *, by: str, reason: str) -> int:
        """Wake the projects' held runs after a guard changed (resume, new limits); returns runs told."""
        if self._client is None:
            return 0
        told = 0
        for project_id in project_ids:
            told += await self._signal_all(await self.open_runs(project_id), RecheckSignal(by=by, reason=reason))
        return told

    async def slot_moved(self, slot_workflow_id: str, run_id: str, by: str) -> bool:
        """Tell a moved calendar slot's workflows: the slot wakes to check its new time, and a video held
        for it (`run_id`, may be "") asks again when it may publish. A workflow that is gone needs nothing
        (the next check reads the row); False when Temporal did not answer."""
        if self._client is None:
            return False
        try:
            await _unless_gone(handles.wake_slot(self._client, slot_workflow_id))
            if run_id:
                await _unless_gone(handles.signal(self._client, run_id,
                                                  RecheckSignal(by=by, reason="calendar slot moved")))
        except RPCError as exc:  # the server itself is down; the row is updated, so nothing is lost
            log.warning("slot move not signalled", error=str(exc)[:200])
            return False
        return True

    async def _signal_all(self, run_ids: list[str], arg: handles.Signal) -> int:
        delivered = 0
        for run_id in run_ids:
            try:
                await handles.signal(self.temporal, run_id, arg)
                delivered += 1
            except RPCError as exc:  # finished since the row was written, or unknown to this cluster
                log.info("signal not delivered", run=run_id, signal=type(arg).__name__, error=exc.message)
        return delivered


async def _unless_gone(call: Awaitable[None]) -> None:
    try:
        await call
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:  # finished or never started: nothing to tell
            raise


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
    return encode_cursor(offset)


def _offset(cursor: str | None) -> int:
    try:
        return decode_cursor(cursor)
    except ValueError as exc:
        raise RunError(str(exc)) from None
