"""`sma` command line: up, worker, run, batch, status, approve, reject, retry, demo, config check, db upgrade."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import os
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
import yaml
from typer.core import TyperGroup

from sma import queues
from sma.environment import EnvironmentFault
from sma.models.pipeline import PipelineStatus, Topic
from sma.models.topic import TopicError
from sma.settings import ConfigError, Settings, load_settings, masked_dump

if TYPE_CHECKING:
    from sma.client import RunClient

# Under `python -m sma.cli` capability modules importing `sma.cli` must get this module, not a second copy.
sys.modules.setdefault("sma.cli", sys.modules[__name__])

def fault_line(exc: BaseException) -> str | None:
    """The one line a person can act on for an error of their machine or configuration, or None for a bug.

    Configuration and environment faults carry their line; SQLite's "not a database", "no such table" and
    "readonly" errors and a denied permission are turned into one here, wherever in a command they arose.
    """
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    from sma.db.check import describe_sqlite_error
    from sma.environment import denied

    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            break
        if isinstance(seen, ConfigError):
            return str(seen)
        if isinstance(seen, DBAPIError | sqlite3.DatabaseError):
            orig = seen.orig if isinstance(seen, DBAPIError) else seen
            fault = describe_sqlite_error(str(orig), _state.database_url)
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
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
db_app = typer.Typer(no_args_is_help=True, help="Database migrations.")
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")


def _register_capabilities() -> None:
    """Each capability owns its commands in its own module."""
    from sma.api import cli as api_cli
    from sma.bot import cli as bot_cli
    from sma.dashboard import cli as dashboard_cli
    from sma.mcp import cli as mcp_cli
    from sma.services.intelligence import cli as intelligence_cli
    from sma.services.llm import cli as llm_cli
    from sma.services.media import cli as media_cli
    from sma.services.platforms import cli as platforms_cli
    from sma.services.trends import cli as trends_cli

    for module in (media_cli, llm_cli, bot_cli, platforms_cli, trends_cli, dashboard_cli, intelligence_cli, api_cli,
                   mcp_cli):
        module.register(app)


_register_capabilities()

DEMO_TOPIC = Topic(
    title="Durable workflows for creators",
    summary=(
        "A durable workflow engine remembers every finished step of a long job. "
        "When a machine restarts in the middle of a video render, the job picks up where it stopped. "
        "Nothing is done twice and nothing is lost."
    ),
    facts=["Temporal records each step in an event history.", "A crashed worker is replaced in seconds."],
)


class State:
    config: str | None = None
    secrets: str | None = None
    data_dir: str | None = None
    database_url: str | None = None  # of the settings the command loaded, to name the file in a fault


_state = State()


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def settings(data_dir: str | None = None) -> Settings:
    """Load settings or stop with the key and file that are wrong."""
    from sma.environment import check_data_dir

    try:
        loaded = load_settings(_state.config, _state.secrets, data_dir=data_dir or _state.data_dir)
        _state.database_url = loaded.database_url
        check_data_dir(loaded.data_dir)
    except ConfigError as exc:
        _fail(str(exc))
        raise
    from sma.logging import configure_logging

    configure_logging(loaded)
    return loaded


def _run(coro: Any) -> Any:
    from sma.services.runs import RunError

    try:
        return asyncio.run(coro)
    except RunError as exc:
        _fail(str(exc), 1)
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            _fail(f"cannot reach Temporal: {exc}. Is `sma up` running?", 1)
        raise


@contextlib.asynccontextmanager
async def _runs(loaded: Settings, migrate: bool = False, need_temporal: bool = True) -> AsyncIterator[RunClient]:
    """A run client for one command: the configured Temporal and database. `migrate` creates or upgrades the
    database first (commands that start runs); without it a data dir with no database yet stays empty.
    `need_temporal=False` goes on without Temporal (reads fall back to the database)."""
    from sma.client import RunClient
    from sma.db.check import require_database
    from sma.db.engine import Database
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


@app.callback()
def main(
    config: Annotated[str | None, typer.Option("--config", "-c", help="config YAML (default: config/config.yaml)")]
    = None,
    secrets: Annotated[str | None, typer.Option("--secrets", help="secrets YAML (default config/secrets.yaml)")] = None,
) -> None:
    _state.config = config
    _state.secrets = secrets


# ---------------------------------------------------------------- config and db


@config_app.command("check")
def config_check() -> None:
    """Validate the configuration and print the effective values, secrets masked."""
    loaded = settings()
    typer.echo(yaml.safe_dump(masked_dump(loaded), sort_keys=False).rstrip())
    typer.secho("configuration ok", fg=typer.colors.GREEN, err=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (also run by `sma up`)."""
    from sma.db.migrate import current, upgrade
    from sma.environment import private_logs

    loaded = settings()
    private_logs(loaded.data_dir)  # the data dir and its logs private, also those an older version made
    upgrade(loaded.database_url)
    typer.echo(f"database at revision {current(loaded.database_url)}")


# ---------------------------------------------------------------- processes


@app.command()
def worker(
    queue: Annotated[str, typer.Option("--queue", "-q", help=f"one of {', '.join(queues.ALL)}")],
    suffix: Annotated[str, typer.Option(help="serve '<queue><suffix>' (per-box or per-test routing)")] = "",
) -> None:
    """Run the worker for one task queue until SIGINT/SIGTERM."""
    if queue not in queues.ALL:
        _fail(f"unknown queue {queue!r}; expected one of {', '.join(queues.ALL)}")
    from sma.db.check import check_database_file, require_database
    from sma.worker import run_worker

    loaded = settings()
    # Fail at start, with the line that names the file, not at the first task that touches the database.
    (require_database if queue == queues.WORKFLOWS else check_database_file)(loaded.database_url)
    asyncio.run(run_worker(loaded, queue, suffix))


@app.command()
def health(
    queue: Annotated[list[str] | None, typer.Option("--queue", "-q", help="queues to check (default: all)")] = None,
) -> None:
    """Check that Temporal answers and every task queue has a polling worker; exit 1 if not."""
    from sma.temporal_client import client_for, pollers

    loaded = settings()
    names = queue or list(queues.ALL)

    async def go() -> dict[str, int]:
        client = await client_for(loaded)
        return {name: await pollers(client, name, workflow_queue=name == queues.WORKFLOWS) for name in names}

    counts = _run(go())
    for name, count in counts.items():
        typer.echo(f"{name:<14} {count} worker(s) polling")
    if not all(counts.values()):
        raise typer.Exit(1)


async def _ensure_schedules(loaded: Settings, address: str) -> dict[str, str]:
    from sma.schedules import ensure_schedules
    from sma.temporal_client import connect

    client = await connect(address, loaded.temporal.namespace, attempts=60, settings=loaded)
    return await ensure_schedules(client, loaded)


@app.command()
def up() -> None:
    """Start the embedded Temporal server (unless temporal.address is set) and all workers, and keep them
    running: a dead child restarts with backoff; Ctrl-C or SIGTERM stops everything."""
    from sma.runtime import Stack, StartAborted
    from sma.supervisor import AlreadyRunning, GaveUp, StopSignals, Supervisor, UpLock

    loaded = settings()
    try:
        lock = UpLock.acquire(loaded.data_dir)
    except AlreadyRunning as exc:
        _fail(str(exc), 1)
        raise
    signals = StopSignals()
    try:
        with signals.installed():
            stack = Stack(loaded, config_path=_state.config, dashboard=True, abort=lambda: signals.requested)
            try:
                stack.setup_token = _dashboard_setup_token(loaded)
                stack.start()
                _announce_up(loaded, stack)
                supervisor = Supervisor(stack, warn=lambda line: typer.secho(line, fg="yellow", err=True))
                supervisor.run(lambda: signals.requested)
            except StartAborted:
                pass
            except EnvironmentFault as exc:  # what was found on disk: the same exit code as every command
                _fail(str(exc))
            except (ConfigError, RuntimeError, GaveUp) as exc:  # a taken port, a child that keeps dying
                _fail(str(exc), 1)
            finally:
                typer.echo("stopping...")
                stack.stop()
    finally:
        lock.release()


def _announce_up(loaded: Settings, stack: Any) -> None:
    for schedule_id, outcome in asyncio.run(_ensure_schedules(loaded, stack.address)).items():
        typer.echo(f"schedule {schedule_id}: {outcome}")
    typer.echo(f"SMA is up: Temporal at {stack.address}"
               + (f", Web UI http://127.0.0.1:{stack.server.ui_port}" if stack.server and stack.server.ui else ""))
    typer.echo(f"data in {loaded.data_dir.resolve()}; workers: {', '.join(stack.workers)}. Ctrl-C stops.")
    _say_dashboard(loaded, stack)


def _dashboard_setup_token(loaded: Settings) -> str | None:
    """A one-time link to set the admin password when the dashboard `sma up` serves has none yet."""
    from sma.dashboard import auth
    from sma.dashboard.cli import _needs_setup

    if not loaded.dashboard.enabled:
        return None
    return auth.new_token() if asyncio.run(_needs_setup(loaded)) else None


def _say_dashboard(loaded: Settings, stack: Any) -> None:
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


# ---------------------------------------------------------------- runs


@app.command()
def run(
    topic: Annotated[str, typer.Option("--topic", "-t", help="what the video is about (with --url: its title)")]
    = "",
    url: Annotated[str, typer.Option("--url", "-u", help="an article to make the video from: its facts "
                                     "go into the script, its link into the post")] = "",
    summary: Annotated[str, typer.Option(help="a few sentences of context")] = "",
    project: Annotated[str, typer.Option("--project", "-p")] = "default",
    autonomy: Annotated[str | None, typer.Option(help="manual | assisted | autonomous")] = None,
    force: Annotated[bool, typer.Option("--force", help="start a new run even if this topic was just started")]
    = False,
) -> None:
    """Start a content pipeline and print its workflow id (the first run's id if the topic was just started).
    Its level is the project's (sma autonomy, the bot, the dashboard; the config only until one is set);
    --autonomy pins this one run to another level."""
    from sma.client import Started
    from sma.services.articles import ArticleError, article_topic, check_url

    loaded = settings()
    if autonomy is not None and autonomy not in ("manual", "assisted", "autonomous"):
        _fail(f"--autonomy must be manual, assisted or autonomous, not {autonomy!r}")
    if not topic and not url:
        _fail("say what the video is about: --topic \"...\" or --url https://...")
    try:
        loaded.project(project)
        checked = check_url(url) if url else Topic.checked(topic, summary)
    except (ConfigError, TopicError, ArticleError) as exc:
        _fail(str(exc))
        raise

    async def go() -> Started:
        chosen = checked
        if isinstance(chosen, str):
            try:
                _, chosen = await article_topic(loaded.articles, chosen, topic, summary)
            except (ArticleError, TopicError) as exc:
                _fail(str(exc), 1)
                raise
        async with _runs(loaded, migrate=True) as runs:
            return await runs.start(chosen, project, entry="cli", autonomy=autonomy, force=force)

    started: Started = _run(go())
    if started.existing:
        typer.secho(f"note: {started.note_for()}", fg="yellow", err=True)
    typer.echo(started.workflow_id)


@app.command()
def batch(
    file: Annotated[Path, typer.Argument(help="CSV with a header: topic,url,summary,project,autonomy,force")],
    project: Annotated[str | None, typer.Option("--project", "-p", help="for rows without a project "
                                                "(default: the first configured)")] = None,
) -> None:
    """Start one run per CSV row (a topic or an article url). Safe to repeat: a row already started answers
    with its first run. Prints each row's outcome and a summary; exit 1 if any row was refused."""
    from sma.services import batch as batches

    loaded = settings()
    try:
        text = file.read_text(encoding="utf-8")
        default_project = loaded.project(project).id if project else loaded.projects[0].id
        rows, refused = batches.read_rows(text, loaded, default_project)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {file}: {exc}")
        raise
    except (batches.BatchFileError, ConfigError) as exc:
        _fail(f"{file}: {exc}")
        raise

    async def go() -> list[batches.RowOutcome]:
        async with _runs(loaded, migrate=True) as runs:
            with typer.progressbar(length=len(rows), label=f"starting {len(rows)} run(s)", file=sys.stderr) as bar:
                return await batches.start_rows(runs.start_input, loaded, runs.database, rows,
                                                on_row=lambda _: bar.update(1))

    outcomes = sorted([*refused, *(_run(go()) if rows else [])], key=lambda o: o.line)
    for outcome in outcomes:
        color = {"started": None, "existing": "yellow", "refused": "red"}[outcome.outcome]
        typer.secho(outcome.describe(), fg=color)
    typer.echo(batches.summary(outcomes))
    if any(o.outcome == "refused" for o in outcomes):
        raise typer.Exit(1)


def _print_status(status: PipelineStatus, progress: dict[str, float], as_json: bool, source: str = "live") -> None:
    from sma.services.runs import retry_lines

    if as_json:
        data = status.model_dump(mode="json")
        data["progress"] = progress
        data["source"] = source
        typer.echo(json.dumps(data, indent=2))
        return
    now = f"  step {status.current_step}" if status.current_step and status.state.value == "running" else ""
    typer.echo(f"{status.workflow_id}  [{status.state.value}]  round {status.round}  {status.title}{now}")
    if source != "live":
        typer.echo("  (recorded state: no worker answered the status query)")
    for line in retry_lines(status):
        typer.echo(f"  {line}")
    for step in status.steps.values():
        extra = f" {step.error}" if step.error and not step.retrying else ""
        if step.retrying:
            extra += f" retrying (attempt {step.last_attempt} failed)"
        if step.name in progress and step.state == "running":
            extra += f" {progress[step.name]:.0%}"
        typer.echo(f"  {step.name:<14} {step.state.value:<8} {step.tier:<28} {step.seconds:7.2f}s{extra}")
    for qa in status.qa:
        verdict = "pass" if qa.passed else "FAIL"
        typer.echo(f"  {qa.gate:<14} {verdict}  {'; '.join(qa.reasons)}")
    for post in status.posts:
        typer.echo(f"  posted to {post.platform}: {post.status} {post.url or post.reason}")
    if status.error:
        typer.echo(f"  error: {status.error}")
    if status.state.value == "failed":
        typer.echo(f"  retry it from the failed step: sma retry {status.workflow_id}")


@app.command()
def status(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a run: state, the step running now (and why it is retrying), steps with tiers and timings,
    QA reports, posts. Without a worker it shows the state the run last recorded."""
    from sma.client import RunNotFound, RunStatus
    from sma.db.check import require_database

    loaded = settings()

    async def go() -> RunStatus:
        async with _runs(loaded, need_temporal=False) as runs:
            try:
                return await runs.status(run_id)
            except RunNotFound:
                require_database(loaded.database_url)  # no database at all says so, not "no such run"
                raise

    found = _run(go())
    _print_status(found.status, found.progress, as_json, found.source)


@app.command()
def approve(run_id: str) -> None:
    """Approve the video a run is waiting on."""
    loaded = settings()

    async def go() -> int:
        async with _runs(loaded) as runs:
            return (await runs.approve(run_id, by="cli")).round

    typer.echo(f"approved round {_run(go())} of {run_id}")


@app.command()
def reject(run_id: str, feedback: Annotated[str, typer.Option("--feedback", "-f")]) -> None:
    """Reject the video a run is waiting on; the script is rewritten with this feedback."""
    loaded = settings()

    async def go() -> int:
        async with _runs(loaded) as runs:
            return (await runs.reject(run_id, feedback, by="cli")).round

    typer.echo(f"rejected round {_run(go())} of {run_id}")


@app.command()
def retry(run_id: str) -> None:
    """Retry a failed run from the step that failed; the steps that finished are not redone."""
    from sma.client import Retried

    loaded = settings()

    async def go() -> Retried:
        async with _runs(loaded) as runs:
            return await runs.retry(run_id, by=f"cli:{getpass.getuser()}")

    started = _run(go())
    typer.echo(f"retrying {run_id} from {started.step}; follow it with: sma status {run_id}")


@app.command("edit-script")
def edit_script(
    run_id: str,
    script_file: Annotated[Path, typer.Argument(help="JSON with title, hook, beats[{narration}], cta")],
) -> None:
    """Replace the waiting video's script with your own; the run records the voice again from it."""
    from pydantic import ValidationError

    from sma.models.pipeline import Script

    try:
        script = Script.model_validate_json(script_file.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise typer.BadParameter(f"{script_file}: not a script: {exc}") from exc
    loaded = settings()

    async def go() -> int:
        async with _runs(loaded) as runs:
            return (await runs.edit_script(run_id, script, by="cli")).round

    typer.echo(f"round {_run(go())} of {run_id} now re-records the voice from your script")


# ---------------------------------------------------------------- demo


@app.command()
def demo(
    topic: Annotated[str | None, typer.Option("--topic", "-t")] = None,
    data_dir: Annotated[str | None, typer.Option("--data-dir", "-d")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print only the JSON summary")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the run")] = 900,
) -> None:
    """Start the embedded stack, produce one video autonomously to the local outbox, print a summary, stop."""
    from sma.demo import run_demo

    loaded = settings(data_dir)
    try:
        chosen = DEMO_TOPIC if topic is None else Topic.checked(topic)
    except TopicError as exc:
        _fail(str(exc))
        raise
    if not as_json:
        typer.echo(f"starting the embedded stack in {loaded.data_dir.resolve()} ...", err=True)
    summary = run_demo(loaded, chosen, config_path=_state.config, timeout=timeout)
    typer.echo(json.dumps(summary, indent=2))
    if summary.get("state") != "published":
        raise typer.Exit(1)


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


if __name__ == "__main__":
    entrypoint()
