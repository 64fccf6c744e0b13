"""The engine itself: `sma up`, `sma worker`, `sma health`, `sma demo`, `sma config check`, `sma db upgrade`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from sma import queues
from sma.cli import common
from sma.environment import EnvironmentFault
from sma.models.pipeline import Topic
from sma.models.topic import TopicError
from sma.settings import ConfigError, Settings, masked_dump

if TYPE_CHECKING:
    from sma.runtime import Stack

config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")

DEMO_TOPIC = Topic(
    title="Durable workflows for creators",
    summary=(
        "A durable workflow engine remembers every finished step of a long job. "
        "When a machine restarts in the middle of a video render, the job picks up where it stopped. "
        "Nothing is done twice and nothing is lost."
    ),
    facts=["Temporal records each step in an event history.", "A crashed worker is replaced in seconds."],
)


def register(app: typer.Typer) -> None:
    """Add these commands to the `sma` app."""
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
    for command in (worker, health, up, demo):
        app.command()(command)


@config_app.command("check")
def config_check() -> None:
    """Validate the configuration and print the effective values, secrets masked."""
    loaded = common.settings()
    typer.echo(yaml.safe_dump(masked_dump(loaded), sort_keys=False).rstrip())
    typer.secho("configuration ok", fg=typer.colors.GREEN, err=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also run by `sma up`)."""
    from sma.db.migrate import current, upgrade
    from sma.environment import private_logs

    loaded = common.settings()
    private_logs(loaded.data_dir)  # the data dir and its logs private, also those an older version made
    upgrade(loaded.database_url)
    typer.echo(f"database at revision {current(loaded.database_url)}")


def worker(
    queue: Annotated[str, typer.Option("--queue", "-q", help=f"one of {', '.join(queues.ALL)}")],
    suffix: Annotated[str, typer.Option(help="serve '<queue><suffix>' (per-box or per-test routing)")] = "",
) -> None:
    """Run the worker for one task queue until SIGINT/SIGTERM."""
    if queue not in queues.ALL:
        common.fail(f"unknown queue {queue!r}; expected one of {', '.join(queues.ALL)}")
    from sma.db.check import check_database_file
    from sma.db.migrate import require_database
    from sma.worker import run_worker

    loaded = common.settings()
    # Fail at start, with the line that names the file, not at the first task that touches the database.
    (require_database if queue == queues.WORKFLOWS else check_database_file)(loaded.database_url)
    asyncio.run(run_worker(loaded, queue, suffix))


def health(
    queue: Annotated[list[str] | None, typer.Option("--queue", "-q", help="queues to check (default: all)")] = None,
) -> None:
    """Check that Temporal answers and every task queue has a polling worker; exit 1 if not."""
    from sma.temporal_client import client_for, pollers

    loaded = common.settings()
    names = queue or list(queues.ALL)

    async def go() -> dict[str, int]:
        client = await client_for(loaded)
        return {name: await pollers(client, name, workflow_queue=name == queues.WORKFLOWS) for name in names}

    counts = common.run(go())
    for name, count in counts.items():
        typer.echo(f"{name:<14} {count} worker(s) polling")
    if not all(counts.values()):
        raise typer.Exit(1)


def up() -> None:
    """Start the embedded Temporal server (unless temporal.address is set) and all workers, and keep them
    running: a dead child restarts with backoff; Ctrl-C or SIGTERM stops everything."""
    from sma.runtime import Stack, StartAborted
    from sma.supervisor import AlreadyRunning, GaveUp, StopSignals, Supervisor, UpLock

    loaded = common.settings()
    try:
        lock = UpLock.acquire(loaded.data_dir)
    except AlreadyRunning as exc:
        common.fail(str(exc), 1)
    signals = StopSignals()
    try:
        with signals.installed():
            stack = Stack(loaded, config_path=common.state.config, dashboard=True, abort=lambda: signals.requested)
            try:
                stack.setup_token = _dashboard_setup_token(loaded)
                stack.start()
                _announce_up(loaded, stack)
                supervisor = Supervisor(stack, warn=lambda line: typer.secho(line, fg="yellow", err=True))
                supervisor.run(lambda: signals.requested)
            except StartAborted:
                pass
            except EnvironmentFault as exc:  # what was found on disk: the same exit code as every command
                common.fail(str(exc))
            except (ConfigError, RuntimeError, GaveUp) as exc:  # a taken port, a child that keeps dying
                common.fail(str(exc), 1)
            finally:
                typer.echo("stopping...")
                stack.stop()
    finally:
        lock.release()


async def _ensure_schedules(loaded: Settings, address: str) -> dict[str, str]:
    from sma.schedules import ensure_schedules
    from sma.temporal_client import connect

    client = await connect(address, loaded.temporal.namespace, attempts=60, settings=loaded)
    return await ensure_schedules(client, loaded)


def _announce_up(loaded: Settings, stack: Stack) -> None:
    for schedule_id, outcome in asyncio.run(_ensure_schedules(loaded, stack.address)).items():
        typer.echo(f"schedule {schedule_id}: {outcome}")
    typer.echo(f"SMA is up: Temporal at {stack.address}"
               + (f", Web UI http://127.0.0.1:{stack.server.ui_port}" if stack.server and stack.server.ui else ""))
    typer.echo(f"data in {loaded.data_dir.resolve()}; workers: {', '.join(stack.workers)}. Ctrl-C stops.")
    _say_dashboard(loaded, stack)


def _dashboard_setup_token(loaded: Settings) -> str | None:
    """A one-time link to set the admin password when the dashboard `sma up` serves has none yet."""
    from sma.dashboard import auth
    from sma.dashboard.app import needs_setup

    if not loaded.dashboard.enabled:
        return None
    return auth.new_token() if asyncio.run(needs_setup(loaded)) else None


def _say_dashboard(loaded: Settings, stack: Stack) -> None:
    from sma.runtime import DASHBOARD

    host = "127.0.0.1" if loaded.dashboard.host in ("0.0.0.0", "::") else loaded.dashboard.host
    url = f"http://{host}:{loaded.dashboard.port}/"
    if DASHBOARD not in stack.workers:
        if loaded.dashboard.enabled:
            typer.secho(f"dashboard not started: port {loaded.dashboard.port} is in use (dashboard.port)",
                        fg=typer.colors.YELLOW, err=True)
        return
    typer.echo(f"dashboard {url}")
    if stack.setup_token:
        typer.secho("No admin password yet. Set it once at (this link works only for this start):", fg="yellow")
        typer.echo(f"  {url}setup?token={stack.setup_token}")


def demo(
    topic: Annotated[str | None, typer.Option("--topic", "-t")] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", "-d")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON summary")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the run")] = 900,
) -> None:
    """Start the embedded stack, produce one video autonomously to the local outbox, print a summary, stop."""
    from sma.demo import run_demo

    loaded = common.settings(data_dir)
    try:
        chosen = DEMO_TOPIC if topic is None else Topic.checked(topic)
    except TopicError as exc:
        common.fail(str(exc))
    if not as_json:
        typer.echo(f"starting the embedded stack in {loaded.data_dir.resolve()} ...", err=True)
    summary = run_demo(loaded, chosen, config_path=common.state.config, timeout=timeout)
    typer.echo(json.dumps(summary, indent=2))
    if summary.get("state") != "published":
        raise typer.Exit(1)
