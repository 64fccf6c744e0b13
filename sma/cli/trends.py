"""Trends and the content calendar: `sma trends scan|list|schedules`, `sma schedule [show|plan]`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sma.cli import common
from sma.cli.common import AsJson, Project
from sma.models.ids import content_scheduler_id, manual_run_id, trend_scan_id

if TYPE_CHECKING:
    from sma.db.engine import Database
    from sma.db.tables_trends import CalendarSlot, TrendResult, TrendScan

trends_app = typer.Typer(no_args_is_help=True, help="Trend discovery: scan now, list ranked topics.")
schedule_app = typer.Typer(invoke_without_command=True, help="The content calendar: upcoming posting slots.")

# ---------------------------------------------------------------- sma trends


@trends_app.command("scan")
def scan(project: Project = "default", wait: Annotated[bool, typer.Option(help="wait for the result")] = True,
         as_json: AsJson = False) -> None:
    """Run a trend scan now (the same workflow the 4-hourly schedule starts)."""
    from sma import queues
    from sma.models.trends import TrendScanInput, TrendScanResult
    from sma.temporal_client import client_for

    loaded = common.project_settings(project)

    async def go() -> TrendScanResult | str:
        client = await client_for(loaded)
        wf_id = manual_run_id(trend_scan_id(project), datetime.now(UTC))
        handle = await client.start_workflow("TrendScanWorkflow", TrendScanInput(project_id=project), id=wf_id,
                                             task_queue=queues.WORKFLOWS, result_type=TrendScanResult)
        return await handle.result() if wait else wf_id

    result = common.run(go())
    if isinstance(result, str):
        typer.echo(result)
    elif as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        for report in result.reports:
            state = "ok" if report.ok else ("skipped" if report.skipped else "FAILED")
            typer.echo(f"{report.source:14} {state:8} {report.items:4} items  {report.error}")
        typer.echo(f"scan {result.scan_id}: {result.raw_items} items in, {result.stored} ranked")
        for note in result.notes:
            typer.echo(f"  note: {note}")
        for i, title in enumerate(result.top, 1):
            typer.echo(f"  {i}. {title}")


@trends_app.command("list")
def list_trends(project: Project = "default", limit: Annotated[int, typer.Option(min=1)] = 20,
                as_json: AsJson = False) -> None:
    """The latest scan's ranked topics with the breakdown of their score."""
    from sma.services.trends.store import latest_scan, scan_results

    loaded = common.project_settings(project)

    async def work(db: Database) -> tuple[TrendScan | None, list[TrendResult]]:
        found = await latest_scan(db, project)
        return found, (await scan_results(db, found.id, limit) if found else [])

    found, rows = asyncio.run(common.with_database(loaded, work))
    if found is None:
        common.fail(f"no trend scan yet for project {project!r}; run `sma trends scan -p {project}`", 1)
    if as_json:
        typer.echo(json.dumps({"scan": _scan_dict(found), "items": [_result_dict(r) for r in rows]}, indent=2))
        return
    typer.echo(f"scan {found.id} at {found.started_at:%Y-%m-%d %H:%M} UTC; answered: "
               f"{', '.join(json.loads(found.answered)) or '-'}; failed: {', '.join(json.loads(found.failed)) or '-'}")
    for note in json.loads(found.notes):
        typer.echo(f"  note: {note}")
    typer.echo(f"{'#':>3} {'score':>6} {'pop':>5} {'vel':>5} {'fresh':>5} {'multi':>5} {'cover':>5}  title [sources]")
    for r in rows:
        typer.echo(f"{r.rank:>3} {r.score:6.3f} {r.popularity:5.2f} {r.velocity:5.2f} {r.freshness:5.2f} "
                   f"{r.multi_source:5.2f} {r.coverage_penalty:5.2f}  {r.title[:70]} "
                   f"[{', '.join(json.loads(r.sources))}]")


def _scan_dict(scan: TrendScan) -> dict[str, Any]:
    data = scan.model_dump(mode="json")
    for key in ("answered", "failed", "reports", "notes"):
        data[key] = json.loads(data[key])
    return data


def _result_dict(row: TrendResult) -> dict[str, Any]:
    data = row.model_dump(mode="json", exclude={"id"})
    for key in ("sources", "links", "keyword_hits"):
        data[key] = json.loads(data[key])
    return data


@trends_app.command("schedules")
def schedules() -> None:
    """Create or update the trend-scan (4 h) and content-scheduler (12 h) Temporal Schedules of every project."""
    from sma.schedules import TREND_KINDS, ensure_schedules
    from sma.temporal_client import client_for

    loaded = common.settings()

    async def go() -> dict[str, str]:
        return await ensure_schedules(await client_for(loaded), loaded, kinds=TREND_KINDS)

    for schedule_id, outcome in common.run(go()).items():
        typer.echo(f"{schedule_id}: {outcome}")


# ---------------------------------------------------------------- sma schedule


@schedule_app.callback()
def schedule(ctx: typer.Context, project: Project = "default", as_json: AsJson = False) -> None:
    """Show the calendar (same as `sma schedule show`)."""
    if ctx.invoked_subcommand is None:
        show(project, as_json)


@schedule_app.command("show")
def show(project: Project = "default", as_json: AsJson = False) -> None:
    """Upcoming slots (and the last day's), with each slot's state and why it was chosen."""
    from sma.services.scheduling.store import list_slots, to_planned

    loaded = common.project_settings(project)

    async def work(db: Database) -> list[CalendarSlot]:
        return await list_slots(db, project, since=datetime.now(UTC) - timedelta(days=1))

    rows = asyncio.run(common.with_database(loaded, work))
    if as_json:
        typer.echo(json.dumps([to_planned(r).model_dump(mode="json") for r in rows], indent=2))
        return
    if not rows:
        typer.echo(f"no slots for project {project!r}; the content scheduler fills the calendar every "
                   f"{loaded.scheduler.interval_h:g} h (or `sma schedule plan -p {project}`)")
        return
    zone = loaded.project(project).guards.zone()
    for r in rows:
        local = r.slot_at.astimezone(zone)
        typer.echo(f"{local:%a %Y-%m-%d %H:%M} {zone.key:>10}  {r.state:9}  {r.title[:60]}  "
                   f"[{', '.join(json.loads(r.platforms))}]  start {r.start_at.astimezone(zone):%H:%M}")


@schedule_app.command("plan")
def plan(project: Project = "default", as_json: AsJson = False) -> None:
    """Run the content scheduler now (the same workflow the 12-hourly schedule starts)."""
    from sma import queues
    from sma.models.schedule import SchedulerInput, SchedulerResult
    from sma.temporal_client import client_for

    loaded = common.project_settings(project)

    async def go() -> SchedulerResult:
        client = await client_for(loaded)
        wf_id = manual_run_id(content_scheduler_id(project), datetime.now(UTC))
        result: SchedulerResult = await client.execute_workflow(
            "ContentSchedulerWorkflow", SchedulerInput(project_id=project), id=wf_id, task_queue=queues.WORKFLOWS,
            result_type=SchedulerResult)
        return result

    result = common.run(go())
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    for slot in result.planned:
        typer.echo(f"planned {slot.slot_at:%Y-%m-%d %H:%M} UTC  {slot.title}")
    typer.echo(f"{len(result.timers_started)} slot timers started, {len(result.already_running)} already running")
    for note in result.notes:
        typer.echo(f"  note: {note}")


def register(app: typer.Typer) -> None:
    """Add these command groups to the `sma` app."""
    app.add_typer(trends_app, name="trends")
    app.add_typer(schedule_app, name="schedule")
