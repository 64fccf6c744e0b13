"""`sma stats`: views, engagement rate and viral score of recent posts."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sma.cli import common

if TYPE_CHECKING:
    from sma.db.engine import Database


def register(app: typer.Typer) -> None:
    """Add this command to the `sma` app."""
    app.command("stats")(stats)


def stats(
    days: Annotated[int, typer.Option("--days", "-d", min=1, help="posts published in the last N days")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
) -> None:
    """Views, engagement rate and viral score of recent posts, per post and per platform."""
    from sma.services.analytics.stats import render, report

    loaded = common.settings()

    async def work(database: Database) -> dict[str, Any]:
        return await report(database, days, project)

    data = asyncio.run(common.with_database(loaded, work))
    typer.echo(json.dumps(data, indent=2) if as_json else render(data))
