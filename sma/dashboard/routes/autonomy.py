"""Autonomy and guards: level per project with its history, caps, quiet hours, blocklist, kill switch.

Every change goes through the autonomy service (which logs the change with who made it) and, for levels
and guard changes, the run client (`RunClient.set_level`, `recheck`) tells the project's open runs so a
waiting run reacts at once.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from sma.dashboard.cache import remember
from sma.dashboard.deps import Dashboard, User, client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.models.autonomy import LEVELS
from sma.services import audit
from sma.services.autonomy.service import AutonomyService
from sma.settings import ConfigError

router = APIRouter(dependencies=[Depends(require_user)], tags=["autonomy"])
SOURCE = "dashboard"


def _service(d: Dashboard) -> AutonomyService:
    return AutonomyService(d.settings, d.database)


@router.get("/autonomy")
async def autonomy(request: Request) -> Response:
    d = dash(request)
    items = await remember(d.database, ("autonomy.page",), partial(_read, d))  # until the database changes
    return render(request, "pages/autonomy.html", {"items": items, "levels": LEVELS})


async def _read(d: Dashboard) -> list[dict[str, Any]]:
    """Each project's level, pause, caps and history, read side by side."""
    service, projects = _service(d), d.settings.projects
    found = await asyncio.gather(*(service.overview(p.id) for p in projects),
                                 *(service.history(p.id, limit=15) for p in projects))
    return [{"settings": p, "state": found[i], "history": found[len(projects) + i]} for i, p in enumerate(projects)]


async def _done(request: Request, user: User, action: str, project_id: str, ok: bool, message: str,
                **detail: Any) -> Response:
    await audit.record(dash(request).database, user.name, action, target=project_id, project_id=project_id,
                       outcome="ok" if ok else "refused", client=client_of(request), **detail)
    return redirect("/autonomy", message if ok else "!" + message)


@router.post("/autonomy/{project_id}/level")
async def set_level(request: Request, project_id: str, level: str = Form(...)) -> Response:
    d, user = dash(request), user_of(request)
    if level not in LEVELS:
        return await _done(request, user, "autonomy_level", project_id, False, f"unknown level {level!r}")
    try:
        change = await (await d.runs()).set_level(project_id, level, by=user.by, source=SOURCE,
                                                  service=_service(d))
    except ConfigError as exc:
        return await _done(request, user, "autonomy_level", project_id, False, str(exc))
    return await _done(request, user, "autonomy_level", project_id, True,
                       f"{project_id}: {change.previous} → {level}; {change.signalled} open run(s) told.",
                       old=change.previous, new=level)


async def _recheck(d: Dashboard, project_ids: list[str], user: User, reason: str) -> int:
    return await (await d.runs()).recheck(project_ids, by=user.by, reason=reason)


@router.post("/autonomy/{project_id}/pause")
async def pause(request: Request, project_id: str, reason: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    try:
        changed = await _service(d).pause([project_id], user.by, SOURCE, reason.strip()[:300])
    except ConfigError as exc:
        return await _done(request, user, "pause", project_id, False, str(exc))
    message = f"{project_id}: publishing paused." if changed else f"{project_id} was already paused."
    return await _done(request, user, "pause", project_id, True, message, reason=reason)


@router.post("/autonomy/{project_id}/resume")
async def resume(request: Request, project_id: str) -> Response:
    d, user = dash(request), user_of(request)
    try:
        changed = await _service(d).resume([project_id], user.by, SOURCE)
    except ConfigError as exc:
        return await _done(request, user, "resume", project_id, False, str(exc))
    told = await _recheck(d, [project_id], user, "resumed from the dashboard") if changed else 0
    message = f"{project_id}: publishing resumed; {told} held run(s) told." if changed else \
        f"{project_id} was not paused."
    return await _done(request, user, "resume", project_id, True, message)


@router.post("/autonomy/kill-switch")
async def kill_switch(request: Request, action: str = Form(...), reason: str = Form("")) -> Response:
    """Pause (or resume) every project at once."""
    d, user = dash(request), user_of(request)
    ids = [p.id for p in d.settings.projects]
    service = _service(d)
    if action == "pause":
        changed = await service.pause(ids, user.by, SOURCE, reason.strip()[:300] or "kill switch")
        message = f"Kill switch on: {len(changed)} project(s) paused."
    elif action == "resume":
        changed = await service.resume(ids, user.by, SOURCE)
        told = await _recheck(d, changed, user, "kill switch off") if changed else 0
        message = f"Kill switch off: {len(changed)} project(s) resumed; {told} held run(s) told."
    else:
        return await _done(request, user, "kill_switch", "", False, f"unknown action {action!r}")
    return await _done(request, user, "kill_switch", "", True, message, switch=action, projects=changed)


def _cap(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        cap = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if cap < 0:
        raise ValueError("a cap cannot be negative")
    return cap


@router.post("/autonomy/{project_id}/limits")
async def limits(request: Request, project_id: str) -> Response:
    """Daily cap and per-platform caps (fields `daily_cap`, `cap_<platform>`; empty = keep/drop override)."""
    d, user = dash(request), user_of(request)
    form = await request.form()
    try:
        project = d.settings.project(project_id)
        reset = form.get("reset") == "1"
        daily = _cap(str(form.get("daily_cap", "")))
        platform_caps: dict[str, int | None] = {}
        for platform in sorted(set(project.platforms) | set(project.guards.platform_caps)):
            raw = form.get(f"cap_{platform}")
            if raw is not None:
                platform_caps[platform] = _cap(str(raw))
        await _service(d).set_limits(project_id, user.by, SOURCE, daily_cap=daily, platform_caps=platform_caps,
                                     reset=reset)
    except (ValueError, ConfigError) as exc:
        return await _done(request, user, "limits", project_id, False, f"caps not changed: {exc}")
    told = await _recheck(d, [project_id], user, "limits changed from the dashboard")
    return await _done(request, user, "limits", project_id, True, f"{project_id}: caps saved; {told} run(s) told.",
                       daily_cap=daily, platform_caps=platform_caps, reset=reset)
