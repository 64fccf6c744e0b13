"""The web dashboard: `sma dashboard` serves it; `sma dashboard password` resets the login."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from sma.cli import common

dashboard_app = typer.Typer(help="The web dashboard: see and steer everything from the browser.")


def register(app: typer.Typer) -> None:
    """Add this command group to the `sma` app."""
    app.add_typer(dashboard_app, name="dashboard")


@dashboard_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="interface (default dashboard.host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default dashboard.port, 8080)")] = None,
) -> None:
    """Serve the dashboard until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    from sma.dashboard import auth
    from sma.dashboard.app import needs_setup
    from sma.dashboard.server import serve as run_server
    from sma.runtime import SETUP_TOKEN_ENV

    loaded = common.settings()
    host = host or loaded.dashboard.host
    port = port or loaded.dashboard.port
    token, from_up = None, False
    if asyncio.run(needs_setup(loaded)):
        from_up = bool(os.environ.get(SETUP_TOKEN_ENV))
        token = os.environ.get(SETUP_TOKEN_ENV) or auth.new_token()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"SMA dashboard on http://{shown}:{port}/")
    if token and from_up:
        # Under `sma up` this output is data/logs/dashboard.log: the link, which claims the admin password,
        # stays on the console of the person who started it.
        typer.echo("No admin password yet: setup link printed on the console")
    elif token:
        typer.secho("No admin password yet. Set it once at (this link works only for this start):", fg="yellow")
        typer.echo(f"  http://{shown}:{port}/setup?token={token}")
        typer.echo("  or put admin_password in the secrets file and restart.")
    run_server(loaded, host, port, setup_token=token)


@dashboard_app.command("password")
def password() -> None:
    """Set a new admin password (asks twice, hidden) and log every session out."""
    from sma.dashboard import auth

    loaded = common.settings()
    if loaded.secrets.admin_password is not None:
        typer.secho("secrets.admin_password is set: change it in the secrets file instead (it wins at start).",
                    fg="red", err=True)
        raise typer.Exit(1)
    new = typer.prompt("new admin password", hide_input=True)
    problem = auth.password_problem(new, typer.prompt("again", hide_input=True))
    if problem:
        common.fail(problem)

    async def go() -> None:
        database = await common.open_database(loaded)
        try:
            await auth.store_admin(database, await asyncio.to_thread(auth.hash_password, new), "cli")
            await auth.delete_all_sessions(database)
        finally:
            await database.close()

    asyncio.run(go())
    typer.echo("admin password changed; every dashboard session was logged out")

