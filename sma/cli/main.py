"""The `sma` command: the typer app, its global options, one error line for every fault, and its groups.

Each command group lives in its own module with a `register(app)`; this module only assembles them.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from sma.cli import (
    analytics,
    api,
    autonomy,
    bot,
    credentials,
    dashboard,
    insights,
    llm,
    mcp,
    qa,
    runs,
    system,
    trends,
    voice,
)
from sma.cli.common import state
from sma.settings import ConfigError

_state = state  # the name tests and older callers use


def fault_line(exc: BaseException) -> str | None:
    """The one line a person can act on for an error of their machine or configuration, or None for a bug.

    Configuration and environment faults carry their line; SQLite's "not a database", "no such table" and
    "readonly" errors, a database server that is down or lacks its driver, and a denied permission are turned
    into one here, wherever in a command they arose.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    from sma.db.check import describe_exception, describe_sqlite_error
    from sma.environment import denied

    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        if isinstance(seen, ConfigError):
            return str(seen)
        server = describe_exception(seen, state.database_url)
        if server is not None:
            return str(server)
        if isinstance(seen, DBAPIError | sqlite3.DatabaseError):
            orig = seen.orig if isinstance(seen, DBAPIError) else seen
            fault = describe_sqlite_error(str(orig), state.database_url)
            if fault is not None:
                return str(fault)
        if isinstance(seen, PermissionError) and seen.filename:
            return str(denied(Path(seen.filename)))
        seen = seen.__cause__ or seen.__context__
    return None


class _FaultReportingGroup(TyperGroup):
    """Every command's faults of the machine or the configuration end as one red line and exit 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.ClickException, click.Abort):
            raise  # already reported (typer.Exit is a RuntimeError)
        except Exception as exc:
            line = fault_line(exc)
            if line is None:
                raise
            typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None


app = typer.Typer(no_args_is_help=True, add_completion=False, help="SMA: social media automation engine.",
                  cls=_FaultReportingGroup)


@app.callback()
def main(
    config: Annotated[str | None, typer.Option("--config", "-c", help="config YAML (default: config/config.yaml)")]
    = None,
    secrets: Annotated[str | None, typer.Option("--secrets", help="secrets YAML (default config/secrets.yaml)")] = None,
) -> None:
    state.config = config
    state.secrets = secrets


# The order of `sma --help`: commands in this order, then the command groups in this order.
for _group in (system, runs, autonomy, bot, qa, voice, llm, credentials, analytics, insights, trends, dashboard, api,
               mcp):
    _group.register(app)


def entrypoint() -> None:
    """The `sma` command. Ends with os._exit: the Temporal client's Rust threads can abort a normal
    interpreter shutdown of a short-lived process (temporalio/sdk-python#300); everything is flushed first."""
    from sma.environment import private_umask

    private_umask()  # the data dir, logs, database and artifacts of this process and its children
    code: int = 0
    try:
        app()
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:
        line = fault_line(exc) if isinstance(exc, Exception) else None
        if line is None:
            traceback.print_exc()
            code = 1
        else:
            print(f"error: {line}", file=sys.stderr)
            code = 2
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
    os._exit(code)
