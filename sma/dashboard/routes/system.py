"""System: workers per task queue, Temporal schedules (pause, resume, trigger), recent errors, the audit
log and versions."""

from __future__ import annotations

import asyncio
import platform
import time
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from sma import __version__
from sma.dashboard import queries
from sma.dashboard.deps import client_of, dash, require_user, user_of
from sma.dashboard.logs import run_lines
from sma.dashboard.templating import redirect, render
from sma.services import audit

router = APIRouter(dependencies=[Depends(require_user)], tags=["system"])
SCHEDULE_ACTIONS = ("pause", "unpause", "trigger")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


@router.get("/system")
async def system(request: Request) -> Response:
    d = dash(request)
    queues_, schedules, server = await asyncio.gather(d.temporal.queues(), d.temporal.schedules(),
                                                      d.temporal.server_version())
    errors = await asyncio.to_thread(run_lines, d.settings.data_dir / "logs", "", 30, ("error", "critical"))
    async with d.database.session() as db:
        failed_runs = await queries.runs_in_state(db, ["failed"], limit=10)
        failed_steps = await queries.failed_steps(db, 15)
        recent = await audit.recent(db, 50)
        total = await queries.run_total(db)
    return render(request, "pages/system.html", {
        "queues": queues_, "schedules": schedules, "temporal_error": d.temporal.last_error,
        "failed_runs": failed_runs, "failed_steps": failed_steps, "error_lines": list(reversed(errors)),
        "audit": recent, "run_total": total,
        "versions": {"sma": __version__, "temporalio (SDK)": _version("temporalio"),
                     "Temporal server": server or "unknown (unreachable)", "fastapi": _version("fastapi"),
                     "python": platform.python_version()},
        "temporal_address": d.settings.temporal_address, "temporal_ui": d.temporal.ui_base,
        "uptime": time.time() - d.started,
    })


@router.post("/system/schedules/{schedule_id}/{action}")
async def schedule_action(request: Request, schedule_id: str, action: str, note: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    if action not in SCHEDULE_ACTIONS:
        ok, message = False, f"unknown schedule action {action!r}"
    else:
        try:
            await d.temporal.schedule_action(schedule_id, action, note.strip()[:200] or f"{action} by {user.by}")
            ok, message = True, {"pause": f"Schedule {schedule_id} paused.",
                                 "unpause": f"Schedule {schedule_id} resumed.",
                                 "trigger": f"Schedule {schedule_id} triggered now."}[action]
        except RuntimeError as exc:
            ok, message = False, str(exc)
    await audit.record(d.database, user.name, f"schedule_{action}", target=schedule_id,
                       outcome="ok" if ok else "refused", client=client_of(request))
    return redirect("/system", message if ok else "!" + message)
