"""Where to retry a failed run from: the step that failed, keeping every step that finished.

A Temporal reset: the run's history already holds each finished step's result, so resetting to the
workflow task completed just before the failed step's activity was scheduled replays those results and
schedules that step again, under the same workflow id (the business key: same run page, database row and
bot messages). A new execution with the same inputs would instead call the script writer again and get a
different script, so every media step after it would be redone. Publishing stays exactly once: a reset
to a point before publish has published nothing, and a retried publish finds the platforms' records.
The reset itself is the run client's (`RunClient.retry`); this module only reads a history.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from sma.models.pipeline import STEPS

# Activities that are the work of a step (notify and progress are best effort: their failure fails nothing).
RETRYABLE_ACTIVITIES = (frozenset(STEPS) - {"notify"}) | {"check_video", "variant"}
_FAILED = (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)


def failed_step(events: list[HistoryEvent]) -> tuple[str, int] | None:
    """(activity name, reset event id) for the last failed step activity of a history, or None."""
    scheduled: dict[int, str] = {}
    completed_tasks: list[int] = []
    last: tuple[str, int] | None = None
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            completed_tasks.append(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type in _FAILED:
            attrs = (event.activity_task_failed_event_attributes
                     if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                     else event.activity_task_timed_out_event_attributes)
            name = scheduled.get(attrs.scheduled_event_id, "")
            if name in RETRYABLE_ACTIVITIES:
                before = [task for task in completed_tasks if task < attrs.scheduled_event_id]
                if before:
                    last = (name, before[-1])
    return last
