"""`sma mcp`: the MCP server over stdio (token from SMA_API_TOKEN) or, with --http, streamable HTTP."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Annotated

import typer

from sma.cli import common

if TYPE_CHECKING:
    from sma.api.context import ApiContext
    from sma.settings import Settings


def register(app: typer.Typer) -> None:
    """Add this command to the `sma` app."""
    app.command("mcp")(mcp)


def mcp(
    http: Annotated[bool, typer.Option("--http", help="serve streamable HTTP instead of stdio")] = False,
    host: Annotated[str, typer.Option(help="interface for --http")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port for --http")] = 8765,
) -> None:
    """Serve SMA's tools to AI agents over MCP (same tokens as the API)."""
    from sma.api.context import ApiContext
    from sma.mcp.server import TOKEN_ENV

    loaded = common.settings()
    asyncio.run(_migrate(loaded))
    api = ApiContext(loaded)
    if http:
        import uvicorn

        from sma.mcp.http import PATH, http_app

        typer.echo(f"SMA MCP server on http://{host}:{port}{PATH} (bearer token required)", err=True)
        uvicorn.run(http_app(api, host), host=host, port=port, log_level="warning")
        return
    token = os.environ.get(TOKEN_ENV, "")
    problem = asyncio.run(_token_problem(api, token))
    if problem:
        common.fail(problem)
    from sma.mcp.server import build_server

    asyncio.run(build_server(ApiContext(loaded)).run_stdio_async())  # a fresh context for the serving loop


async def _migrate(loaded: Settings) -> None:
    database = await common.open_database(loaded)
    await database.close()


async def _token_problem(api: ApiContext, token: str) -> str:
    """Why the stdio server cannot start with this token, or ''."""
    from sma.api import tokens
    from sma.mcp.server import TOKEN_ENV

    try:
        if not token:
            return f"set {TOKEN_ENV} to an API token (create one with `sma api token create --scope write`)"
        if await tokens.verify(await api.database(), token) is None:
            return f"{TOKEN_ENV} is not a live API token (unknown or revoked): see `sma api token list`"
        return ""
    finally:
        await api.close()

