"""What the dashboard reads from and asks of Temporal, always with a timeout and never fatal.

Temporal holds the live truth (what is running, heartbeat progress, workers polling, schedules); SQLite
holds the recorded copy. Every read here returns None (or an empty list) when Temporal is unreachable or
slow, and the page falls back to the database and says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import structlog
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from sma import queues
from sma.client import RunClient, RunError
from sma.models.pipeline import PipelineStatus
from sma.services.runs import PendingStep
from sma.settings import Settings
from sma.temporal_client import connect

log = structlog.get_logger("sma.dashboard.temporal")
T = TypeVar("T")
PIPELINE_TYPE = "ContentPipelineWorkflow"
RETRY_CONNECT_S = 10.0
TTL_S = 2.0  # live reads (open runs, heartbeats, status) are at most this old; pages poll every 3 s
SLOW_TTL_S = 5.0  # workers and schedules
MEMO_SIZE = 256


@dataclass(frozen=True)
class OpenRun:
    workflow_id: str
    start_time: datetime | None
    task_queue: str


@dataclass(frozen=True)
class Execution:
    status: str  # running | completed | failed | cancelled | terminated | timed_out | continued_as_new
    start_time: datetime | None
    close_time: datetime | None
    history_length: int
    task_queue: str


@dataclass(frozen=True)
class Poller:
    identity: str
    last_access: datetime | None


@dataclass(frozen=True)
class QueueHealth:
    name: str
    workflow_pollers: list[Poller]
    activity_pollers: list[Poller]

    @property
    def healthy(self) -> bool:
        return bool(self.activity_pollers or self.workflow_pollers)


@dataclass(frozen=True)
class ScheduleView:
    id: str
    paused: bool
    note: str
    workflow_type: str
    spec: str
    next_runs: list[datetime] = field(default_factory=list)
    last_run: datetime | None = None


class TemporalView:
    """A lazily connected client (or an injected one) plus the dashboard's Temporal reads and actions."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self.timeout = settings.dashboard.temporal_timeout_s
        self._client = client
        self._failed_at = 0.0
        self._tried = False
        self._connecting: asyncio.Task[None] | None = None
        self.last_error = ""
        # (what, argument) -> (monotonic deadline, answer or None): pages and polls of several tabs share
        # one Temporal round trip per TTL_S instead of one each; `forget()` after the dashboard's own actions.
        self._memo: dict[tuple[str, str], tuple[float, Any]] = {}
        self._generation = 0

    async def client(self) -> Client | None:
        """The client, connecting on first use; None while Temporal is unreachable.

        Only the first connection attempt is waited for (a reachable server answers in milliseconds);
        after a failure the next attempt runs in the background every 10 s and pages go on without it.
        """
        if self._client is not None:
            return self._client
        if self._connecting is None and time.monotonic() - self._failed_at >= RETRY_CONNECT_S:
            self._connecting = asyncio.create_task(self._connect())
        task = self._connecting
        if task is not None and not self._tried:
            await asyncio.shield(task)
        return self._client

    async def _connect(self) -> None:
        try:
            self._client = await asyncio.wait_for(
                connect(self.settings.temporal_address, self.settings.temporal.namespace, settings=self.settings,
                        role="dashboard"),
                self.timeout * 2)
            self.last_error = ""
        except Exception as exc:  # a background attempt: any failure means "unreachable"
            self._failed_at = time.monotonic()
            self.last_error = f"cannot reach Temporal at {self.settings.temporal_address} ({_short(exc)})"
            log.warning("temporal unreachable", address=self.settings.temporal_address)
        finally:
            self._tried = True
            self._connecting = None

    async def _call(self, work: Callable[[Client], Awaitable[T]], timeout: float | None = None) -> T | None:
        client = await self.client()
        if client is None:
            return None
        try:
            return await asyncio.wait_for(work(client), timeout or self.timeout)
        except (RPCError, RunError, RuntimeError, TimeoutError) as exc:
            self.last_error = _short(exc)
            return None

    async def _shared(self, what: str, arg: str, work: Callable[[Client], Awaitable[T]],
                      ttl: float = TTL_S) -> T | None:
        """`_call`, with its answer (or its failure) kept `ttl` seconds for every page that asks the same."""
        key, now = (what, arg), time.monotonic()
        hit = self._memo.get(key)
        if hit is not None and hit[0] > now:
            answer: T | None = hit[1]  # the memo holds each key's own answer type
            return answer
        generation = self._generation
        value = await self._call(work)
        if generation == self._generation and (value is not None or self._client is not None):
            if len(self._memo) > MEMO_SIZE:
                self._memo = {k: v for k, v in self._memo.items() if v[0] > now}
            self._memo[key] = (time.monotonic() + ttl, value)
        return value

    def forget(self) -> None:
        """Ask Temporal again on the next read (after the dashboard signalled or started something)."""
        self._generation += 1
        self._memo.clear()

    def _runs(self, client: Client) -> RunClient:
        """The run client for the live reads (they need no database: the pages read the record themselves)."""
        return RunClient(client, self.settings, None)

    def _rpc(self) -> timedelta:
        return timedelta(seconds=self.timeout)

    @property
    def ui_base(self) -> str:
        if self.settings.dashboard.temporal_ui_url:
            return self.settings.dashboard.temporal_ui_url.rstrip("/")
        return f"http://127.0.0.1:{self.settings.temporal.ui_port}"

    def ui_url(self, workflow_id: str) -> str:
        namespace = quote(self.settings.temporal.namespace, safe="")
        return f"{self.ui_base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"

    # ------------------------------------------------------------ runs

    async def open_pipelines(self, limit: int = 50) -> list[OpenRun] | None:
        """Pipelines Temporal says are running now (visibility API); None when Temporal cannot say."""
        async def work(client: Client) -> list[OpenRun]:
            found: list[OpenRun] = []
            query = f"WorkflowType = '{PIPELINE_TYPE}' AND ExecutionStatus = 'Running'"
            async for wf in client.list_workflows(query, limit=limit, rpc_timeout=self._rpc()):
                found.append(OpenRun(wf.id, wf.start_time, wf.task_queue))
            return found
        return await self._shared("open", str(limit), work)

    async def execution(self, workflow_id: str) -> Execution | None:
        async def work(client: Client) -> Execution:
            desc = await client.get_workflow_handle(workflow_id).describe(rpc_timeout=self._rpc())
            status = desc.status.name.lower() if isinstance(desc.status, WorkflowExecutionStatus) else "unknown"
            return Execution(status, desc.start_time, desc.close_time, desc.history_length, desc.task_queue)
        return await self._shared("execution", workflow_id, work)

    async def progress(self, workflow_id: str) -> dict[str, float]:
        """Heartbeat progress of the run's running activities, e.g. {"render": 0.42}; {} when unknown."""
        found = await self._shared("progress", workflow_id, lambda c: self._runs(c).progress(workflow_id, self._rpc()))
        return found or {}

    async def pending(self, workflow_id: str) -> dict[str, PendingStep]:
        """Steps Temporal is retrying (attempt, last error, next attempt); {} when unknown."""
        found = await self._shared("pending", workflow_id, lambda c: self._runs(c).pending(workflow_id, self._rpc()))
        return found or {}

    async def progress_many(self, workflow_ids: list[str]) -> dict[str, dict[str, float]]:
        results = await asyncio.gather(*(self.progress(w) for w in workflow_ids))
        return dict(zip(workflow_ids, results, strict=True))

    async def status(self, workflow_id: str) -> PipelineStatus | None:
        """The live `status` query (needs a worker); None when no worker answers in time."""
        return await self._shared("status", workflow_id, lambda c: self._runs(c).live(workflow_id, self._rpc()))

    # ------------------------------------------------------------ workers and schedules

    async def queues(self) -> list[QueueHealth] | None:
        async def work(client: Client) -> list[QueueHealth]:
            return list(await asyncio.gather(*(_queue_health(client, q, self._rpc()) for q in queues.ALL)))
        return await self._shared("queues", "", work, SLOW_TTL_S)

    async def schedules(self) -> list[ScheduleView] | None:
        async def work(client: Client) -> list[ScheduleView]:
            views = []
            async for item in await client.list_schedules(rpc_timeout=self._rpc()):
                views.append(_schedule_view(item))
                if len(views) >= 100:
                    break
            return sorted(views, key=lambda v: v.id)
        return await self._shared("schedules", "", work, SLOW_TTL_S)

    async def server_version(self) -> str:
        async def work(client: Client) -> str:
            from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

            info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=self._rpc())
            return info.server_version or "unknown"
        return await self._shared("version", "", work, SLOW_TTL_S) or ""

    async def schedule_action(self, schedule_id: str, action: str, note: str) -> None:
        """pause | unpause | trigger; raises RuntimeError with a readable message on failure."""
        client = await self.client()
        if client is None:
            raise RuntimeError(self.last_error or "Temporal is unreachable")
        handle = client.get_schedule_handle(schedule_id)
        try:
            if action == "pause":
                await handle.pause(note=note or "paused from the dashboard", rpc_timeout=self._rpc())
            elif action == "unpause":
                await handle.unpause(note=note or "resumed from the dashboard", rpc_timeout=self._rpc())
            elif action == "trigger":
                await handle.trigger(rpc_timeout=self._rpc())
            else:
                raise RuntimeError(f"unknown schedule action {action!r}")
        except RPCError as exc:
            raise RuntimeError(f"schedule {schedule_id}: {exc.message}") from exc
        finally:
            self.forget()


def _short(exc: BaseException) -> str:
    """A one-line reason: 'connection refused', 'timeout', or the server's message, at most 160 characters."""
    text = getattr(exc, "message", "") or str(exc)
    if isinstance(exc, TimeoutError) or not text:
        return "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    return text.splitlines()[0][:160]


async def _queue_health(client: Client, name: str, timeout: timedelta) -> QueueHealth:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    async def pollers(kind: Any) -> list[Poller]:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=name), task_queue_type=kind),
            timeout=timeout)
        return [Poller(p.identity, p.last_access_time.ToDatetime(tzinfo=UTC) if p.HasField("last_access_time")
                       else None) for p in response.pollers]

    wf, act = await asyncio.gather(pollers(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                                   pollers(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    return QueueHealth(name, wf, act)


def _schedule_view(item: Any) -> ScheduleView:
    sched = item.schedule
    action = getattr(sched, "action", None) if sched else None
    workflow_type = getattr(action, "workflow", "") if action is not None else ""
    state = getattr(sched, "state", None)
    info = item.info
    recent = [a.started_at for a in (info.recent_actions if info else []) if getattr(a, "started_at", None)]
    return ScheduleView(
        id=item.id, paused=bool(state and state.paused), note=(state.note or "") if state else "",
        workflow_type=str(workflow_type or ""), spec=_describe_spec(getattr(sched, "spec", None)),
        next_runs=list(info.next_action_times[:3]) if info else [], last_run=max(recent) if recent else None)


def _describe_spec(spec: Any) -> str:
    if spec is None:
        return ""
    parts = [f"every {_human(iv.every)}" for iv in getattr(spec, "intervals", []) or []]
    parts += list(getattr(spec, "cron_expressions", []) or [])
    return ", ".join(parts)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
