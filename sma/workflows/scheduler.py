"""ContentSchedulerWorkflow and CalendarSlotWorkflow: the content calendar on durable timers.

The scheduler (a Temporal Schedule, every 12 h per project) plans slots and, through an activity, starts one
CalendarSlotWorkflow per slot (id `slot-<project>-<item>`, REJECT_DUPLICATE: a slot gets one timer however
often the scheduler runs). The slot workflow sleeps on a durable timer until `slot - lead`, then starts the
ContentPipelineWorkflow as an abandoned child with the business-key id `content-<project>-<item>` (also
REJECT_DUPLICATE: never produced twice), and records how it ended. Timers live on the Temporal server,
so restarts of workers lose nothing; a slot missed while everything was down is moved, never rushed.

A waiting slot also wakes on the `wake` signal (sent when a person moves the slot earlier), checks the
calendar again and sleeps only until the new time. Activities and the pipeline child run in the scheduler's
own worker pool (`queues.in_pool`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from sma import queues
    from sma.activities.scheduler import SchedulerActivities
    from sma.models.ids import content_workflow_id
    from sma.models.pipeline import PipelineResult
    from sma.models.schedule import (
        PlanCalendarRequest,
        PlanCalendarResult,
        SchedulerInput,
        SchedulerResult,
        SlotCheck,
        SlotCheckRequest,
        SlotInput,
        SlotResult,
        SlotUpdate,
        StartSlotsRequest,
        StartSlotsResult,
    )

R = TypeVar("R")
PIPELINE = "ContentPipelineWorkflow"
MAX_CHECKS = 50  # wait / reschedule rounds of one slot before it gives up (each is a timer or a move)
_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1),
                     maximum_attempts=20, non_retryable_error_types=["ConfigError"])


@workflow.defn(name="ContentSchedulerWorkflow")
class ContentSchedulerWorkflow:
    @workflow.run
    async def run(self, inp: SchedulerInput) -> SchedulerResult:
        queue = queues.in_pool(queues.WORKFLOWS)
        plan: PlanCalendarResult = await workflow.execute_activity_method(
            SchedulerActivities.plan, PlanCalendarRequest(project_id=inp.project_id, now=workflow.now()),
            task_queue=queue, start_to_close_timeout=timedelta(minutes=2), retry_policy=_RETRY)
        slots = [SlotInput(project_id=s.project_id, item_id=s.item_id) for s in plan.pending]
        started: StartSlotsResult = await workflow.execute_activity_method(
            SchedulerActivities.start_slots, StartSlotsRequest(slots=slots, task_queue=queue),
            task_queue=queue, start_to_close_timeout=timedelta(minutes=2), retry_policy=_RETRY)
        return SchedulerResult(project_id=inp.project_id, planned=plan.new, notes=plan.notes,
                               timers_started=started.started, already_running=started.already_running)


@workflow.defn(name="CalendarSlotWorkflow")
class CalendarSlotWorkflow:
    def __init__(self) -> None:
        self._state = "planned"
        self._woken = False

    @workflow.query
    def state(self) -> str:
        return self._state

    @workflow.signal
    def wake(self) -> None:
        """The slot moved (earlier, usually): check the calendar again now instead of at the old time."""
        self._woken = True

    @workflow.run
    async def run(self, inp: SlotInput) -> SlotResult:
        for _ in range(MAX_CHECKS):
            self._woken = False  # a move that lands while checking is seen by this check
            check: SlotCheck = await self._activity(SchedulerActivities.check_slot, SlotCheckRequest(
                project_id=inp.project_id, item_id=inp.item_id, now=workflow.now()))
            if check.action == "stop":
                self._state = "stopped"
                return SlotResult(project_id=inp.project_id, item_id=inp.item_id, state="stopped",
                                  slot_at=check.slot_at, reason=check.reason)
            if check.action == "wait":
                self._state = "waiting"
                await self._wait(max(1.0, check.wait_s))
                continue
            assert check.pipeline is not None
            return await self._produce(inp, check)
        return SlotResult(project_id=inp.project_id, item_id=inp.item_id, state="gave_up",
                          reason=f"still not due after {MAX_CHECKS} checks")

    async def _produce(self, inp: SlotInput, check: SlotCheck) -> SlotResult:
        pipeline = check.pipeline
        assert pipeline is not None
        wf_id = content_workflow_id(pipeline.project_id, pipeline.item_id)
        try:
            handle = await workflow.start_child_workflow(
                PIPELINE, pipeline, id=wf_id, task_queue=queues.in_pool(queues.WORKFLOWS),
                result_type=PipelineResult, parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            # Someone (a person, an earlier slot) already produces this item: never a second pipeline.
            await self._update(inp, "started", f"{wf_id} already existed; not started again")
            return SlotResult(project_id=inp.project_id, item_id=inp.item_id, state="started", workflow_id=wf_id,
                              slot_at=check.slot_at, reason="pipeline already existed")
        self._state = "started"
        await self._update(inp, "started", f"pipeline {wf_id} started")
        try:
            outcome: PipelineResult = await handle
            state = {"published": "published", "rejected": "rejected"}.get(outcome.state.value, "failed")
            reason = outcome.state.value
        except ChildWorkflowError as exc:
            state, reason = "failed", str(exc.cause or exc)
        self._state = state
        await self._update(inp, state, f"pipeline {reason}")
        return SlotResult(project_id=inp.project_id, item_id=inp.item_id, state=state, workflow_id=wf_id,
                          slot_at=check.slot_at, reason=reason)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await workflow.wait_condition(lambda: self._woken, timeout=timedelta(seconds=seconds))

    async def _update(self, inp: SlotInput, state: str, note: str) -> None:
        await self._activity(SchedulerActivities.update_slot, SlotUpdate(
            project_id=inp.project_id, item_id=inp.item_id, state=state, note=note))  # type: ignore[arg-type]  # str state; pydantic checks the Literal

    async def _activity(self, method: Callable[..., Awaitable[R]], arg: Any) -> R:
        return await workflow.execute_activity_method(method, arg, task_queue=queues.in_pool(queues.WORKFLOWS),
                                                      start_to_close_timeout=timedelta(minutes=1),
                                                      retry_policy=_RETRY)
