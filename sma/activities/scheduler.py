"""Activities of the content calendar for the sma-workflows worker: plan the calendar, check a slot (wait,
start or stop), record a slot's state, and the publish-time hold for calendar runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from sma.models.ids import slot_workflow_id
from sma.models.schedule import (
    PlanCalendarRequest,
    PlanCalendarResult,
    SlotCheck,
    SlotCheckRequest,
    SlotHold,
    SlotHoldRequest,
    SlotUpdate,
    SlotUpdated,
    StartSlotsRequest,
    StartSlotsResult,
)
from sma.settings import ConfigError

if TYPE_CHECKING:
    from sma.services.scheduling.calendar import CalendarService


class SchedulerActivities:
    def __init__(self, calendar: CalendarService, client: Callable[[], Awaitable[Client]]) -> None:
        self.calendar = calendar
        self.client = client

    @activity.defn(name="calendar_start_slots")
    async def start_slots(self, req: StartSlotsRequest) -> StartSlotsResult:
        """One CalendarSlotWorkflow per slot, started idempotently (REJECT_DUPLICATE on `slot-<project>-<item>`):
        a slot gets one durable timer however often the scheduler runs or this activity is retried. Started
        here, not as children, so a slot's timer outlives the scheduler run with no parent to report to."""
        client = await self.client()
        result = StartSlotsResult()
        for slot in req.slots:
            wf_id = slot_workflow_id(slot.project_id, slot.item_id)
            try:
                await client.start_workflow("CalendarSlotWorkflow", slot, id=wf_id, task_queue=req.task_queue,
                                            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
                result.started.append(wf_id)
            except WorkflowAlreadyStartedError:
                result.already_running.append(wf_id)
        return result

    @activity.defn(name="calendar_plan")
    async def plan(self, req: PlanCalendarRequest) -> PlanCalendarResult:
        try:
            return await self.calendar.plan(req.project_id, req.now)
        except ConfigError as exc:
            raise ApplicationError(str(exc), type="ConfigError", non_retryable=True) from None

    @activity.defn(name="calendar_check_slot")
    async def check_slot(self, req: SlotCheckRequest) -> SlotCheck:
        return await self.calendar.check(req.project_id, req.item_id, req.now)

    @activity.defn(name="calendar_update_slot")
    async def update_slot(self, upd: SlotUpdate) -> SlotUpdated:
        await self.calendar.update(upd)
        return SlotUpdated()

    @activity.defn(name="calendar_slot_hold")
    async def slot_hold(self, req: SlotHoldRequest) -> SlotHold:
        return await self.calendar.hold(req.workflow_id, req.now)

    def all(self) -> list[Callable[..., Any]]:
        return [self.plan, self.start_slots, self.check_slot, self.update_slot, self.slot_hold]
