"""`sma tts usage`: TTS calls, characters, seconds and cost per UTC day and engine (the dashboard's table)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from sma.cli import common

tts_app = typer.Typer(no_args_is_help=True, help="Voice chain: TTS usage and cost.")


def register(app: typer.Typer) -> None:
    """Add this command group to the `sma` app."""
    app.add_typer(tts_app, name="tts")


@tts_app.command("usage")
def usage_command(
    days: Annotated[int, typer.Option(min=1, help="this many UTC days, today included")] = 30,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Calls, failures, characters, audio seconds and cost per day and engine; today's spend per project."""
    from sma.services.voice.usage import TTSUsageStore, start_of_day

    loaded = common.settings()
    common.migrate(loaded)  # like `sma llm usage`, so the table exists to be read
    store = TTSUsageStore.from_settings(loaded)
    try:
        rows = store.usage_by_day(start_of_day() - timedelta(days=days - 1), project)
        spent = store.spent_by_project(start_of_day())
    finally:
        store.close()
    ids = [project] if project else sorted({p.id for p in loaded.projects} | set(spent))
    budget = loaded.tts.daily_budget_usd
    today = {pid: round(spent.get(pid, 0.0), 6) for pid in ids}
    if as_json:
        typer.echo(json.dumps({"rows": [r.model_dump() for r in rows],
                               "today": {pid: {"spent_usd": v, "budget_usd": budget} for pid, v in today.items()}},
                              indent=2))
        return
    typer.echo(f"{'day':<11} {'engine':<11} {'calls':>5} {'failed':>6} {'qa_fail':>7} {'chars':>9} "
               f"{'audio s':>9} {'wall s':>8} {'cost $':>9}")
    for r in rows:
        typer.echo(f"{r.day:<11} {r.engine:<11} {r.calls:>5} {r.failed:>6} {r.qa_failed:>7} {r.characters:>9} "
                   f"{r.audio_s:>9.1f} {r.wall_s:>8.1f} {r.cost_usd:>9.4f}")
    if not rows:
        typer.echo("(no TTS calls in this period)")
    limit = "unlimited" if budget is None else f"${budget:.2f}"
    for pid, value in today.items():
        typer.echo(f"today {pid}: TTS spent ${value:.4f} of {limit}")
