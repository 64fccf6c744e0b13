"""A person moves a calendar slot (dashboard form or CLI): earlier or later, while it has not published.

The database is the calendar's truth, so a move is a row update; the running workflows are then told so
they act on the new time at once instead of at the old one: the slot workflow (`wake`) re-checks and
sleeps only until the new start, and a finished video held for its slot (`recheck`) asks again when it may
publish. A signal that finds no open workflow is fine: the next check reads the row anyway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.models.schedule import slot_workflow_id
from sma.services.scheduling import store

MOVABLE = ("planned", "started")
# (slot workflow id, held pipeline run id or "", by) -> whether Temporal was told: `RunClient.slot_moved`
Tell = Callable[[str, str, str], Awaitable[bool]]


async def move_slot(database: Database, tell: Tell | None, project_id: str, item_id: str, at: datetime,
                    by: str, now: datetime | None = None) -> str:
    """Move the slot to `at` (UTC) and tell its workflows; returns what happened. LookupError / ValueError
    say why a move is refused (no such slot, already published, too soon to produce the video)."""
    slot = await store.get_slot(database, project_id, item_id)
    if slot is None:
        raise LookupError(f"no calendar slot {f'{project_id}:{item_id}'!r}")
    if slot.state not in MOVABLE:
        raise ValueError(f"only a slot that has not published can move; this one is {slot.state}")
    now = now or utcnow()
    lead = slot.slot_at - slot.start_at
    if slot.state == "planned" and at - lead < now:
        raise ValueError(f"too soon: the pipeline needs {int(lead.total_seconds() // 60)} min before the slot")
    if slot.state == "started" and at < now:
        raise ValueError("that time has passed; pick a time from now on")
    changes: dict[str, object] = {"slot_at": at}
    if slot.state == "planned":
        changes["start_at"] = at - lead
    await store.update_slot(database, project_id, item_id, note=f"moved to {at:%Y-%m-%d %H:%M} UTC by {by}",
                            **changes)
    told = tell is not None and await tell(slot_workflow_id(project_id, item_id), slot.workflow_id, by)
    return f"moved to {at:%Y-%m-%d %H:%M} UTC" + ("" if told else " (Temporal unreachable: the move applies "
                                                   "at the slot's next check)")
