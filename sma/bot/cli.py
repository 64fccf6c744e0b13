"""Commands of the bot and autonomy (issue 5): 'sma bot', 'sma autonomy'."""

from __future__ import annotations

import asyncio
import getpass
from typing import Annotated

import typer

from sma.models.autonomy import LEVELS


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
    app.command("bot")(bot)
    app.command("autonomy")(autonomy)
    app.command("reopen")(reopen)


def bot() -> None:
    """Run the Telegram bot (needs secrets.telegram_bot_token and bot.allowed_user_ids) until Ctrl-C."""
    from sma.bot.runner import run_bot
    from sma.cli import _fail, settings
    from sma.settings import ConfigError

    loaded = settings()
    try:
        asyncio.run(run_bot(loaded))
    except ConfigError as exc:
        _fail(str(exc))


def reopen(run_id: str) -> None:
    """Re-open a run whose approval expired: it asks for a decision again (bot message, dashboard, CLI)."""
    from sma.cli import _run, _runs, settings

    loaded = settings()

    async def go() -> None:
        async with _runs(loaded) as runs:
            await runs.reopen(run_id, by=f"cli:{getpass.getuser()}")

    _run(go())
    typer.echo(f"re-opened {run_id}; approve or reject it when the new request arrives")


def autonomy(
    project: Annotated[str | None, typer.Argument(help="project id (default: every project)")] = None,
    level: Annotated[str | None, typer.Argument(help="manual | assisted | autonomous (omit to show)")] = None,
) -> None:
    """Show or set a project's autonomy level; a change is recorded with who made it (source: cli)."""
    from sma.cli import _fail, settings
    from sma.settings import ConfigError

    loaded = settings()
    ids = [p.id for p in loaded.projects]
    if project in LEVELS and level is None and project not in ids:
        if len(ids) != 1:
            _fail(f"which project? sma autonomy <project> {project} (projects: {', '.join(ids)})")
        project, level = ids[0], project
    if project is not None and project not in ids:
        _fail(f"unknown project {project!r}; configured projects: {', '.join(ids)}")
    if level is not None and level not in LEVELS:
        _fail(f"level must be manual, assisted or autonomous, not {level!r}")
    try:
        for line in asyncio.run(_autonomy(loaded, [project] if project else ids, level)):
            typer.echo(line)
    except ConfigError as exc:
        _fail(str(exc))


async def _autonomy(loaded: object, projects: list[str], level: str | None) -> list[str]:
    from sma.client import RunClient
    from sma.db.engine import Database
    from sma.db.migrate import upgrade
    from sma.services.autonomy.service import AutonomyService
    from sma.settings import Settings

    assert isinstance(loaded, Settings)
    from sma.environment import private_dir

    private_dir(loaded.data_dir)
    await asyncio.to_thread(upgrade, loaded.database_url)
    database = Database(loaded.database_url)
    service = AutonomyService(loaded, database)
    try:
        if level is None:
            return await _show(service, projects)
        client = await _client_or_none(loaded)
        by = f"cli:{getpass.getuser()}"
        runs = RunClient(client, loaded, database)  # type: ignore[arg-type]  # untyped client and database of the CLI
        change = await runs.set_level(projects[0], level, by=by, source="cli", service=service)  # type: ignore[arg-type]  # str from the command line; set_level rejects others
        where = (f"{change.signalled} open run(s) told" if client
                 else "Temporal not reachable: open runs pick it up when they next ask")
        return [f"{projects[0]}: {change.previous} -> {level} ({where})"]
    finally:
        await database.close()


async def _show(service: object, projects: list[str]) -> list[str]:
    from sma.services.autonomy.service import AutonomyService

    assert isinstance(service, AutonomyService)
    lines = []
    for project_id in projects:
        view = await service.overview(project_id)
        paused = f", publishing paused by {view.paused_by}" if view.paused else ""
        lines.append(f"{project_id}: {view.level} (configured {view.configured}{paused})")
        for event in await service.history(project_id, limit=5):
            when = event.at.strftime("%Y-%m-%d %H:%M UTC")
            reason = f" ({event.reason})" if event.reason else ""
            lines.append(f"  {when}  {event.kind}: {event.old} -> {event.new}  by {event.by} "
                         f"via {event.source}{reason}")
    return lines


async def _client_or_none(loaded: object) -> object | None:
    from sma.temporal_client import client_for

    try:
        return await asyncio.wait_for(client_for(loaded, attempts=1), timeout=5)  # type: ignore[arg-type]  # the CLI passes its settings untyped
    except (RuntimeError, OSError, TimeoutError):
        return None
