"""What every `sma` command shares: the global options, one error line, settings, the database, Temporal.

Command modules import this module and nothing else from `sma.cli`, so a command group can be read (and
moved) on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from sma.environment import EnvironmentFault
from sma.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sma.client import RunClient
    from sma.db.engine import Database

T = TypeVar("T")

Project = Annotated[str, typer.Option("--project", "-p", help="project id")]
AsJson = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@dataclass
class State:
    """The global options of this invocation, and the database its settings name (to name it in a fault)."""

    config: str | None = None
    secrets: str | None = None
    data_dir: str | None = None
    database_url: str | None = None


state = State()


def fail(message: str, code: int = 2) -> NoReturn:
    """One red `error:` line on stderr, then exit: 2 for bad input or configuration, 1 for a failed action."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings(data_dir: str | None = None) -> Settings:
    """Load settings or stop with the key and file that are wrong."""
    from sma.environment import check_data_dir

    try:
        loaded = load_settings(state.config, state.secrets, data_dir=data_dir or state.data_dir)
        state.database_url = loaded.database_url
        check_data_dir(loaded.data_dir)
    except ConfigError as exc:
        fail(str(exc))
    from sma.logging import configure_logging

    configure_logging(loaded)
    return loaded


def project_settings(project: str | None) -> Settings:
    """Settings, stopping with exit 2 when `project` is given and not configured."""
    loaded = settings()
    if project is not None:
        try:
            loaded.project(project)
        except ConfigError as exc:
            fail(str(exc))
    return loaded


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; a refused run action or an unreachable Temporal is one line and exit 1."""
    from sma.services.runs import RunError

    try:
        return asyncio.run(coro)
    except RunError as exc:
        fail(str(exc), 1)
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            fail(f"cannot reach Temporal: {exc}. Is `sma up` running?", 1)
        raise


@contextlib.asynccontextmanager
async def runs(loaded: Settings, migrate: bool = False, need_temporal: bool = True) -> AsyncIterator[RunClient]:
    """A run client for one command: the configured Temporal and database. `migrate` creates or upgrades the
    database first (commands that start runs); without it a data dir with no database yet stays empty.
    `need_temporal=False` goes on without Temporal (reads fall back to the database)."""
    from sma.client import RunClient
    from sma.db.engine import Database
    from sma.db.migrate import require_database
    from sma.temporal_client import client_for

    database: Database | None = None
    if migrate:
        from sma.db.migrate import upgrade

        loaded.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(upgrade, loaded.database_url)
        database = Database(loaded.database_url)
    else:
        with contextlib.suppress(EnvironmentFault):
            require_database(loaded.database_url)
            database = Database(loaded.database_url)
    try:
        try:
            client, reason = await client_for(loaded), ""
        except RuntimeError as exc:
            if need_temporal:
                raise
            client, reason = None, f"cannot reach Temporal: {exc}"
        yield RunClient(client, loaded, database, unavailable=reason)
    finally:
        if database is not None:
            await database.close()


def migrate(loaded: Settings) -> None:
    """Bring the database to the newest revision (a no-op when it is there), in a private data dir."""
    from sma.db.migrate import current, head, upgrade
    from sma.environment import private_dir

    logging.getLogger("alembic").setLevel(logging.WARNING)  # keep the command's output readable
    private_dir(loaded.data_dir)
    if current(loaded.database_url) != head():
        upgrade(loaded.database_url)


async def open_database(loaded: Settings) -> Database:
    """The migrated database of these settings; the caller closes it."""
    from sma.db.engine import Database

    await asyncio.to_thread(migrate, loaded)
    return Database(loaded.database_url)


async def with_database(loaded: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """`work(database)` on the migrated database, closed afterwards."""
    database = await open_database(loaded)
    try:
        return await work(database)
    finally:
        await database.close()
