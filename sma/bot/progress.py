"""Render percentage in the progress message.

The workflow updates the progress message when a step starts or ends; how far a render has got lives
only in the render activity's heartbeats on the Temporal server. While a run renders, the bot reads them
(`RunClient.progress`) every few seconds and edits the same message: "… render 42%". Best effort:
any failure is logged and the next round tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import structlog
from telegram import Bot
from telegram.error import TelegramError

from sma.bot.context import BotDeps
from sma.client import RunError
from sma.db import repo
from sma.services.telegram import store

log = structlog.get_logger("sma.bot.progress")
_RENDER_LINE = re.compile(r"^… render.*$", flags=re.MULTILINE)  # the workflow writes "… render" while it runs


def with_percent(text: str, fraction: float) -> str:
    return _RENDER_LINE.sub(f"… render {min(max(fraction, 0.0), 1.0):.0%}", text, count=1)


async def refresh_render_progress(deps: BotDeps, bot: Bot) -> int:
    """One pass over the runs that are rendering; returns how many messages were edited."""
    edited = 0
    for project in deps.settings.projects:
        for run in await repo.list_runs(deps.database, project.id, state="running", limit=50):
            row = await store.progress_row(deps.database, run.id)
            if row is None or not _RENDER_LINE.search(row.text):
                continue
            try:
                fraction = (await deps.runs.progress(run.id)).get("render")
            except RunError:
                continue
            if fraction is None:
                continue
            text = with_percent(row.text, fraction)
            if text == row.text:
                continue
            try:
                await bot.edit_message_text(text, chat_id=row.chat_id, message_id=row.message_id)
            except TelegramError as exc:
                log.info("render progress not shown", run=run.id, error=str(exc))
                continue
            await store.save_progress(deps.database, run.project_id, run.id, row.chat_id, row.message_id, text)
            edited += 1
    return edited


async def render_progress_loop(deps: BotDeps, bot: Bot, stop: asyncio.Event) -> None:
    interval = deps.settings.bot.render_progress_s
    while not stop.is_set():
        try:
            await refresh_render_progress(deps, bot)
        except Exception as exc:  # never let a progress glitch stop the bot
            log.warning("render progress pass failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
