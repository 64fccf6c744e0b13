"""Progress messages: one per run, edited as the run's recorded steps change.

The workflow records its status in the run table when a step starts and when it ends; how far a render
has got lives only in the render activity's heartbeats on the Temporal server. Every few seconds the bot
reads the runs recorded since its last pass and the runs rendering now, writes their progress text
(`texts.progress_text`, "… render 42%" while rendering) and sends or edits each run's message through the
notifier. The workflow spends no activity on progress. Best effort: a failed pass is logged and the next
one tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from sma.bot.context import BotDeps
from sma.client import RunClient, RunError
from sma.db import repo
from sma.db.engine import Database
from sma.db.tables import PipelineRun, utcnow
from sma.models.pipeline import NotifyRequest, PipelineStatus, RunState
from sma.services.notify.notifier import Notifier
from sma.services.telegram import store
from sma.services.telegram.texts import progress_text
from sma.settings import Settings

log = structlog.get_logger("sma.bot.progress")
_RENDER_LINE = re.compile(r"^… render.*$", flags=re.MULTILINE)  # progress_text writes "… render" while it runs


def with_percent(text: str, fraction: float) -> str:
    return _RENDER_LINE.sub(f"… render {min(max(fraction, 0.0), 1.0):.0%}", text, count=1)


@dataclass
class ProgressPass:
    """What a pass reads (the run table, heartbeats through the run client) and where it writes."""

    settings: Settings
    database: Database
    runs: RunClient
    notifier: Notifier


async def refresh_progress(deps: ProgressPass, since: datetime) -> int:
    """One pass over the runs recorded at or after `since` and the runs rendering now; returns how many
    progress messages were sent or edited."""
    changed = 0
    for project in deps.settings.projects:
        recent = [r for r in await repo.list_runs(deps.database, project.id, limit=50) if r.updated_at >= since]
        seen = {r.id for r in recent}
        rendering = [r for r in await repo.list_runs(deps.database, project.id, state=RunState.RUNNING.value, limit=50)
                     if r.current_step == "render" and r.id not in seen]
        for run in recent + rendering:
            changed += await _refresh_run(deps, run)
    return changed


async def _refresh_run(deps: ProgressPass, run: PipelineRun) -> int:
    if run.status_json in ("", "{}"):
        return 0
    status = PipelineStatus.model_validate_json(run.status_json)
    text = progress_text(status)
    row = await store.progress_row(deps.database, run.id)
    if status.state == RunState.RUNNING and status.current_step == "render":
        fraction = await _render_fraction(deps.runs, run.id)
        shown = _RENDER_LINE.search(row.text) if row is not None else None
        if fraction is not None:
            text = with_percent(text, fraction)
        elif shown is not None:  # no heartbeat to read now: keep the percentage already shown
            text = _RENDER_LINE.sub(lambda _: shown.group(0), text, count=1)
    if row is not None and row.text == text:
        return 0
    req = NotifyRequest(project_id=run.project_id, run_id=run.id, kind="progress", text=text)
    return 1 if (await deps.notifier.send(req)).delivered else 0


async def _render_fraction(runs: RunClient, run_id: str) -> float | None:
    try:
        return (await runs.progress(run_id)).get("render")
    except RunError:
        return None


async def progress_loop(deps: BotDeps, notifier: Notifier, stop: asyncio.Event) -> None:
    """Until `stop`: a pass every `bot.render_progress_s`. Each pass reads back to just before the start of
    the one before, so a record committed while a pass ran is never missed."""
    interval = deps.settings.bot.render_progress_s
    reads = ProgressPass(deps.settings, deps.database, deps.runs, notifier)
    since = utcnow() - timedelta(seconds=interval)
    while not stop.is_set():
        started = utcnow()
        try:
            await refresh_progress(reads, since)
            since = started - timedelta(seconds=1)
        except Exception as exc:  # never let a progress glitch stop the bot
            log.warning("progress pass failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
