"""A person moves a calendar slot (dashboard form or CLI): earlier or later, while it has not published.

The database is the calendar's truth, so a move is a row update; the running workflows are then told so
they act on the new time at once instead of at the old one: the slot workflow (`wake`) re-checks and
sleeps only until the new start, and a finished video held for its slot (`recheck`) asks again when it may
publish. A signal that finds no open workflow is fine: the next check reads the row anyway.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from sma.activities.scheduler import slot_workflow_id
from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.models.autonomy import RecheckSignal
from sma.services.scheduling import store

log = structlog.get_logger("sma.scheduling.moves")
MOVABLE = ("planned", "started")


async def move_slot(database: Database, client: Client | None, project_id: str, item_id: str, at: datetime,
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
    told = await _tell(client, slot_workflow_id(project_id, item_id), slot.workflow_id, by)
    return f"moved to {at:%Y-%m-%d %H:%M} UTC" + ("" if told else " (Temporal unreachable: the move applies "
                                                   "at the slot's next check)")


async def _tell(client: Client | None, slot_wf: str, pipeline_wf: str, by: str) -> bool:
    if client is None:
        return False
    try:
        await _signal(client, slot_wf, "wake", None)
        if pipeline_wf:
            await _signal(client, pipeline_wf, "recheck", RecheckSignal(by=by, reason="calendar slot moved"))
    except RPCError as exc:  # the server itself is down; the row is updated, so nothing is lost
        log.warning("slot move not signalled", error=str(exc)[:200])
        return False
    return True


async def _signal(client: Client, wf_id: str, name: str, arg: object) -> None:
    handle = client.get_workflow_handle(wf_id)
    try:
        if arg is None:
            await handle.signal(name)
        else:
            await handle.signal(name, arg)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return  # finished or never started: nothing to wake
        raise
