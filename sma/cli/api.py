"""The public API: `sma api token create|list|revoke` and `sma api serve`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from sma.cli import common

if TYPE_CHECKING:
    from sma.db.engine import Database

T = TypeVar("T")
api_app = typer.Typer(no_args_is_help=True, help="The REST API under /api/v1 (also served by the dashboard).")
token_app = typer.Typer(no_args_is_help=True, help="Bearer tokens for the API and the MCP server.")
api_app.add_typer(token_app, name="token")


def register(app: typer.Typer) -> None:
    """Add this command group to the `sma` app."""
    app.add_typer(api_app, name="api")


def _with_database(work: Callable[[Database], Awaitable[T]]) -> T:
    return asyncio.run(common.with_database(common.settings(), work))


@token_app.command("create")
def create(
    scope: Annotated[str, typer.Option(help="read (look) or write (also start, decide, change levels)")] = "read",
    name: Annotated[str, typer.Option(help="who or what uses it, for the list and the audit trail")] = "",
) -> None:
    """Create a token; it is printed once (only its hash is kept)."""
    from sma.api import tokens

    if scope not in tokens.SCOPES:
        common.fail(f"unknown scope {scope!r}: use --scope read or --scope write")
    token, row = _with_database(lambda db: tokens.create(db, name, scope))
    typer.echo(token)
    typer.secho(f"token {row.id} ({row.scope}) created; copy it now, it is not shown again. "
                f"Use it as 'Authorization: Bearer <token>' or SMA_API_TOKEN for `sma mcp`.", fg="yellow", err=True)


@token_app.command("list")
def list_() -> None:
    """List tokens: id, scope, name, created, last used, revoked."""
    from sma.api import tokens

    rows = _with_database(tokens.list_tokens)
    if not rows:
        typer.echo("no API tokens; create one with `sma api token create --scope read|write`")
        return
    for r in rows:
        used = f"{r.last_used_at:%Y-%m-%d %H:%M}" if r.last_used_at else "never"
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        typer.echo(f"{r.id}  {r.scope:5}  {state:22}  created {r.created_at:%Y-%m-%d %H:%M}  used {used}  {r.name}")


@token_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="the id shown by `sma api token list`")]) -> None:
    """Revoke a token: every later request with it is refused."""
    from sma.api import tokens

    try:
        row = _with_database(lambda db: tokens.revoke(db, token_id))
    except tokens.TokenError as exc:
        common.fail(str(exc))
    typer.echo(f"token {row.id} revoked")


@api_app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="interface (default dashboard.host)")] = None,
    port: Annotated[int, typer.Option(help="port")] = 8081,
) -> None:
    """Serve the API alone (`sma up` already serves it on the dashboard's port under /api/v1)."""
    import uvicorn

    from sma.api.app import PREFIX
    from sma.api.serve import standalone

    loaded = common.settings()
    host = host or loaded.dashboard.host
    _with_database(lambda db: asyncio.sleep(0))  # migrate before the first request
    typer.echo(f"SMA API on http://{host}:{port}{PREFIX}/ (docs: {PREFIX}/docs)")
    uvicorn.run(standalone(loaded), host=host, port=port, log_level="warning")

