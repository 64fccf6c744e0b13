"""Calendar: a week of planned slots per platform; reschedule a slot with a plain form (no drag and drop)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from sma.dashboard.deps import client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.services import audit

router = APIRouter(dependencies=[Depends(require_user)], tags=["calendar"])


def _week_start(value: str) -> date:
    try:
        day = date.fromisoformat(value) if value else datetime.now(UTC).date()
    except ValueError:
        day = datetime.now(UTC).date()
    return day - timedelta(days=day.weekday())


@router.get("/calendar")
async def calendar(request: Request, week: str = "", project: str = "") -> Response:
    d = dash(request)
    start = _week_start(week)
    begin = datetime.combine(start, time(), tzinfo=UTC)
    slots = await d.sources.calendar.slots(begin, begin + timedelta(days=7), project)
    days = [start + timedelta(days=i) for i in range(7)]
    grid: dict[date, dict[str, list[Any]]] = {day: defaultdict(list) for day in days}
    platforms = sorted({s.platform for s in slots})
    for slot in sorted(slots, key=lambda s: s.at):
        grid.setdefault(slot.at.astimezone(UTC).date(), defaultdict(list))[slot.platform].append(slot)
    return render(request, "pages/calendar.html", {
        "days": days, "grid": grid, "platforms": platforms, "source": d.sources.calendar, "project": project,
        "prev": (start - timedelta(days=7)).isoformat(), "next": (start + timedelta(days=7)).isoformat(),
        "week": start, "count": len(slots),
    })


@router.post("/calendar/{slot_id}/reschedule")
async def reschedule(request: Request, slot_id: str, at: str = Form(...), week: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    back = f"/calendar?week={week}" if week else "/calendar"
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        await audit.record(d.database, user.name, "reschedule", target=slot_id, outcome="refused",
                           client=client_of(request), at=at[:40])
        return redirect(back, f"!{at[:40]!r} is not a date and time")
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    try:
        done = await d.sources.calendar.reschedule(slot_id, when, user.by, client=await d.temporal.client())
        ok, message = True, f"Slot {done}."
    except (LookupError, ValueError) as exc:
        ok, message = False, str(exc)
    await audit.record(d.database, user.name, "reschedule", target=slot_id, outcome="ok" if ok else "refused",
                       client=client_of(request), at=when.isoformat())
    return redirect(back, message if ok else "!" + message)
