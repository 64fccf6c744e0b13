"""`sma autonomy [PROJECT] [LEVEL]`: show or set a project's autonomy level."""

from __future__ import annotations

import asyncio
import getpass
from typing import TYPE_CHECKING, Annotated, cast

import typer

from sma.cli import common
from sma.models.autonomy import LEVELS, Level
from sma.settings import ConfigError, Settings

if TYPE_CHECKING:
    from temporalio.client import Client

    from sma.services.autonomy.service import AutonomyService


def register(app: typer.Typer) -> None:
    """Add this command to the `sma` app."""
    app.command("autonomy")(autonomy)


def autonomy(
    project: Annotated[str | None, typer.Argument(help="project id (default: every project)")] = None,
    level: Annotated[str | None, typer.Argument(help="manual | assisted | autonomous (omit to show)")] = None,
) -> None:
    """Show or set a project's autonomy level; a change is recorded with who made it (source: cli)."""
    loaded = common.settings()
    ids = [p.id for p in loaded.projects]
    if project in LEVELS and level is None and project not in ids:
        if len(ids) != 1:
            common.fail(f"which project? sma autonomy <project> {project} (projects: {', '.join(ids)})")
        project, level = ids[0], project
    if project is not None and project not in ids:
        common.fail(f"unknown project {project!r}; configured projects: {', '.join(ids)}")
    if level is not None and level not in LEVELS:
        common.fail(f"level must be manual, assisted or autonomous, not {level!r}")
    try:
        for line in asyncio.run(_autonomy(loaded, [project] if project else ids, level)):
            typer.echo(line)
    except ConfigError as exc:
        common.fail(str(exc))


async def _autonomy(loaded: Settings, projects: list[str], level: str | None) -> list[str]:
    from sma.client import RunClient
    from sma.services.autonomy.service import AutonomyService

    database = await common.open_database(loaded)
    service = AutonomyService(loaded, database)
    try:
        if level is None:
            return await _show(service, projects)
        client = await _client_or_none(loaded)
        by = f"cli:{getpass.getuser()}"
        runs = RunClient(client, loaded, database)
        change = await runs.set_level(projects[0], cast(Level, level), by=by, source="cli", service=service)
        where = (f"{change.signalled} open run(s) told" if client
                 else "Temporal not reachable: open runs pick it up when they next ask")
        return [f"{projects[0]}: {change.previous} -> {level} ({where})"]
    finally:
        await database.close()


async def _show(service: AutonomyService, projects: list[str]) -> list[str]:
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


async def _client_or_none(loaded: Settings) -> Client | None:
    from sma.temporal_client import client_for

    try:
        return await asyncio.wait_for(client_for(loaded, attempts=1), timeout=5)
    except (RuntimeError, OSError, TimeoutError):
        return None
