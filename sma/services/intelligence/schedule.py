"""The `intelligence` Temporal Schedule: IntelligenceWorkflow every `intelligence.interval_h` (24 h).

Plain functions with the shape of `sma.schedules.ScheduleDef`'s fields (this module does not import
sma.schedules, which imports it), so the entry there is:

    ScheduleDef(id=intelligence_schedule.SCHEDULE_ID, workflow=intelligence_schedule.WORKFLOW,
                interval=intelligence_schedule.interval, make_input=intelligence_schedule.make_input,
                enabled=intelligence_schedule.enabled)

One schedule covers every project: each run analyses each configured project in turn (the input lists them,
so adding a project updates the schedule's definition and `ensure_schedules` applies it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from sma.models.intelligence import IntelligenceInput
from sma.services.intelligence.config import intelligence_settings

SCHEDULE_ID = "intelligence"
WORKFLOW = "IntelligenceWorkflow"


def interval(settings: Any) -> timedelta:
    return timedelta(hours=intelligence_settings(settings).interval_h)


def make_input(settings: Any) -> BaseModel:
    return IntelligenceInput(project_ids=[p.id for p in settings.projects])


def enabled(settings: Any) -> bool:
    return intelligence_settings(settings).enabled
