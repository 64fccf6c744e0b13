"""Pipeline runs: `sma run`, `batch`, `status`, `approve`, `reject`, `retry`, `edit-script`, `reopen`."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sma.cli import common
from sma.models.pipeline import PipelineStatus, Topic
from sma.models.topic import TopicError
from sma.settings import ConfigError

if TYPE_CHECKING:
    from sma.client import Retried, RunStatus, Started
    from sma.services import batch as batches


def register(app: typer.Typer) -> None:
    """Add these commands to the `sma` app."""
    for command in (run, batch, status, approve, reject, retry):
        app.command()(command)
    app.command("edit-script")(edit_script)
    app.command()(reopen)


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
    from sma.services.articles import ArticleError, article_topic, check_url

    loaded = common.settings()
    if autonomy is not None and autonomy not in ("manual", "assisted", "autonomous"):
        common.fail(f"--autonomy must be manual, assisted or autonomous, not {autonomy!r}")
    if not topic and not url:
        common.fail("say what the video is about: --topic \"...\" or --url https://...")
    try:
        loaded.project(project)
        checked = check_url(url) if url else Topic.checked(topic, summary)
    except (ConfigError, TopicError, ArticleError) as exc:
        common.fail(str(exc))

    async def go() -> Started:
        chosen = checked
        if isinstance(chosen, str):
            try:
                _, chosen = await article_topic(loaded.articles, chosen, topic, summary)
            except (ArticleError, TopicError) as exc:
                common.fail(str(exc), 1)
        async with common.runs(loaded, migrate=True) as runs:
            return await runs.start(chosen, project, entry="cli", autonomy=autonomy, force=force)

    started = common.run(go())
    if started.existing:
        typer.secho(f"note: {started.note_for()}", fg="yellow", err=True)
    typer.echo(started.workflow_id)


def batch(
    file: Annotated[Path, typer.Argument(help="CSV with a header: topic,url,summary,project,autonomy,force")],
    project: Annotated[str | None, typer.Option("--project", "-p", help="for rows without a project "
                                                "(default: the first configured)")] = None,
) -> None:
    """Start one run per CSV row (a topic or an article url). Safe to repeat: a row already started answers
    with its first run. Prints each row's outcome and a summary; exit 1 if any row was refused."""
    from sma.services import batch as batches

    loaded = common.settings()
    try:
        text = file.read_text(encoding="utf-8")
        default_project = loaded.project(project).id if project else loaded.projects[0].id
        rows, refused = batches.read_rows(text, loaded, default_project)
    except (OSError, UnicodeDecodeError) as exc:
        common.fail(f"cannot read {file}: {exc}")
    except (batches.BatchFileError, ConfigError) as exc:
        common.fail(f"{file}: {exc}")

    async def go() -> list[batches.RowOutcome]:
        async with common.runs(loaded, migrate=True) as runs:
            with typer.progressbar(length=len(rows), label=f"starting {len(rows)} run(s)", file=sys.stderr) as bar:
                return await batches.start_rows(runs.start_input, loaded, runs.database, rows,
                                                on_row=lambda _: bar.update(1))

    outcomes = sorted([*refused, *(common.run(go()) if rows else [])], key=lambda o: o.line)
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


def status(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a run: state, the step running now (and why it is retrying), steps with tiers and timings,
    QA reports, posts. Without a worker it shows the state the run last recorded."""
    from sma.client import RunNotFound
    from sma.db.migrate import require_database

    loaded = common.settings()

    async def go() -> RunStatus:
        async with common.runs(loaded, need_temporal=False) as runs:
            try:
                return await runs.status(run_id)
            except RunNotFound:
                require_database(loaded.database_url)  # no database at all says so, not "no such run"
                raise

    found = common.run(go())
    _print_status(found.status, found.progress, as_json, found.source)


def approve(run_id: str) -> None:
    """Approve the video a run is waiting on."""
    loaded = common.settings()

    async def go() -> int:
        async with common.runs(loaded) as runs:
            return (await runs.approve(run_id, by="cli")).round

    typer.echo(f"approved round {common.run(go())} of {run_id}")


def reject(run_id: str, feedback: Annotated[str, typer.Option("--feedback", "-f")]) -> None:
    """Reject the video a run is waiting on; the script is rewritten with this feedback."""
    loaded = common.settings()

    async def go() -> int:
        async with common.runs(loaded) as runs:
            return (await runs.reject(run_id, feedback, by="cli")).round

    typer.echo(f"rejected round {common.run(go())} of {run_id}")


def retry(run_id: str) -> None:
    """Retry a failed run from the step that failed; the steps that finished are not redone."""
    loaded = common.settings()

    async def go() -> Retried:
        async with common.runs(loaded) as runs:
            return await runs.retry(run_id, by=f"cli:{getpass.getuser()}")

    started = common.run(go())
    typer.echo(f"retrying {run_id} from {started.step}; follow it with: sma status {run_id}")


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
    loaded = common.settings()

    async def go() -> int:
        async with common.runs(loaded) as runs:
            return (await runs.edit_script(run_id, script, by="cli")).round

    typer.echo(f"round {common.run(go())} of {run_id} now re-records the voice from your script")


def reopen(run_id: str) -> None:
    """Re-open a run whose approval expired: it asks for a decision again (bot message, dashboard, CLI)."""
    loaded = common.settings()

    async def go() -> None:
        async with common.runs(loaded) as runs:
            await runs.reopen(run_id, by=f"cli:{getpass.getuser()}")

    common.run(go())
    typer.echo(f"re-opened {run_id}; approve or reject it when the new request arrives")
