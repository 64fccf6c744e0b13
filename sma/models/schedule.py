"""Contracts of the content calendar: the scheduler's plan, a slot's life, and the publish hold.

They cross Temporal, so every new field gets a default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from sma.models.pipeline import PipelineInput

SlotState = Literal["planned", "started", "published", "failed", "rejected", "cancelled"]


class PlannedSlot(BaseModel):
    project_id: str
    item_id: str
    workflow_id: str
    title: str
    slot_at: datetime
    start_at: datetime
    platforms: list[str] = Field(default_factory=list)
    score: float = 0.0
    slot_score: float = 0.0
    state: SlotState = "planned"
    reschedules: int = 0
    reasons: list[str] = Field(default_factory=list)


class SchedulerInput(BaseModel):
    project_id: str = "default"


class PlanCalendarRequest(BaseModel):
    project_id: str
    now: datetime


class PlanCalendarResult(BaseModel):
    new: list[PlannedSlot] = Field(default_factory=list)
    pending: list[PlannedSlot] = Field(default_factory=list, description="planned slots whose pipeline has "
                                       "not started: each needs its slot workflow (started idempotently)")
    notes: list[str] = Field(default_factory=list)


class SchedulerResult(BaseModel):
    project_id: str
    planned: list[PlannedSlot] = Field(default_factory=list)
    timers_started: list[str] = Field(default_factory=list)
    already_running: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class SlotInput(BaseModel):
    project_id: str
    item_id: str


class StartSlotsRequest(BaseModel):
    slots: list[SlotInput] = Field(default_factory=list)
    task_queue: str


class StartSlotsResult(BaseModel):
    started: list[str] = Field(default_factory=list)
    already_running: list[str] = Field(default_factory=list)


class SlotCheckRequest(BaseModel):
    project_id: str
    item_id: str
    now: datetime


class SlotCheck(BaseModel):
    """What the slot workflow does next: sleep `wait_s`, start the pipeline, or stop."""

    action: Literal["wait", "start", "stop"]
    wait_s: float = 0.0
    slot_at: datetime | None = None
    pipeline: PipelineInput | None = None
    reason: str = ""


class SlotUpdate(BaseModel):
    project_id: str
    item_id: str
    state: SlotState
    note: str = ""


class SlotUpdated(BaseModel):
    ok: bool = True


class SlotResult(BaseModel):
    project_id: str
    item_id: str
    state: str
    workflow_id: str = ""
    slot_at: datetime | None = None
    reason: str = ""


class SlotHoldRequest(BaseModel):
    workflow_id: str
    now: datetime


class SlotHold(BaseModel):
    """How long a finished video waits for its calendar slot (0 = publish now)."""

    wait_s: float = 0.0
    slot_at: datetime | None = None
    rescheduled: bool = False
    reason: str = ""

